import { describe, expect, it } from 'vitest'
import { generateIdentity } from '../src/index.js'

// libp2p 3 uses Promise.withResolvers, which Node 20 lacks.
if (typeof (Promise as { withResolvers?: unknown }).withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value<T>() {
      let resolve!: (value: T | PromiseLike<T>) => void
      let reject!: (reason?: unknown) => void
      const promise = new Promise<T>((res, rej) => {
        resolve = res
        reject = rej
      })
      return { promise, resolve, reject }
    }
  })
}

describe('a real libp2p node', () => {
  it('started with identity.privateKey has peerId === identity.address', async () => {
    const { createLibp2p } = await import('libp2p')
    const id = await generateIdentity()
    const node = await createLibp2p({ privateKey: id.privateKey })
    try {
      await node.start()
      expect(node.peerId.toString()).toBe(id.address)
      expect(node.peerId.publicKey?.raw).toEqual(id.publicKey)
    } finally {
      await node.stop()
    }
  })
})
