import { plaintext } from '@libp2p/plaintext'
import type { DhtNode, DhtNodeEvents, DhtNodeInit } from '../src/node.ts'
import { seededRandom } from '@araliya/test-support/random'

/**
 * In-process networks use plaintext instead of noise: encryption is not what these tests exercise and the
 * noise handshakes of hundreds of in-process connections would dominate the run time on 2 cores. The
 * loopback-TCP and browser suites use noise.
 */
export const fastNode: Partial<DhtNodeInit> = { libp2p: { connectionEncrypters: [plaintext()] } }

/** Resolves with the first event `name` on `node` whose detail passes `filter`. */
export function nextEvent<K extends keyof DhtNodeEvents>(
  node: DhtNode,
  name: K,
  filter: (detail: DhtNodeEvents[K]['detail']) => boolean = () => true,
  timeoutMs = 20_000
): Promise<DhtNodeEvents[K]['detail']> {
  return new Promise((resolve, reject) => {
    const fn = (event: DhtNodeEvents[K]): void => {
      if (!filter(event.detail)) return
      clearTimeout(timer)
      node.removeEventListener(name, fn as never)
      resolve(event.detail)
    }
    const timer = setTimeout(() => {
      node.removeEventListener(name, fn as never)
      reject(new Error(`no ${name} event within ${timeoutMs} ms`))
    }, timeoutMs)
    node.addEventListener(name, fn as never)
  })
}

export { seededRandom }

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
