import { plaintext } from '@libp2p/plaintext'
import type { DhtNode, DhtNodeEvents, DhtNodeInit } from '../src/node.ts'

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

/** A small seeded PRNG (mulberry32) so "random" node choices are reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
