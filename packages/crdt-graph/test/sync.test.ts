import { describe, expect, it } from 'vitest'
import { createSyncPeer, type Graph, type SyncPeer } from '../src/index.js'
import { decodeSyncMessage } from '../src/sync.js'
import { snapshot, startGraph, testIdentity } from './helpers.js'

/** Two sync peers wired back to back through a channel we control. */
function wire(a: Graph, b: Graph, options: { spacesA?: string[]; spacesB?: string[] } = {}) {
  let connected = true
  const sent = { ab: 0, ba: 0, abBytes: 0, baBytes: 0 }
  const peerA: SyncPeer = createSyncPeer(a, {
    peer: 'B',
    ...(options.spacesA === undefined ? {} : { spaces: options.spacesA }),
    send: (bytes) => {
      if (!connected) return
      sent.ab++
      sent.abBytes += bytes.byteLength
      void peerB.receive(bytes)
    }
  })
  const peerB: SyncPeer = createSyncPeer(b, {
    peer: 'A',
    ...(options.spacesB === undefined ? {} : { spaces: options.spacesB }),
    send: (bytes) => {
      if (!connected) return
      sent.ba++
      sent.baBytes += bytes.byteLength
      void peerA.receive(bytes)
    }
  })
  return {
    peerA,
    peerB,
    sent,
    disconnect() {
      connected = false
    },
    connect() {
      connected = true
    },
    async settle() {
      for (let i = 0; i < 20; i++) {
        await Promise.all([peerA.idle(), peerB.idle()])
        await new Promise((resolve) => setImmediate(resolve))
      }
    }
  }
}

describe('sync', () => {
  it('two replicas converge and then stay in sync live', async () => {
    const [ia, ib] = [await testIdentity(30), await testIdentity(31)]
    const a = await startGraph(ia)
    const b = await startGraph(ib)
    await a.put(`${ia.address}/x`, { v: 1 })
    await b.put(`${ib.address}/y`, { v: 2 })
    const link = wire(a, b)
    await link.peerA.start()
    await link.peerB.start()
    await link.settle()
    expect(b.get(`${ia.address}/x`)).toEqual({ v: 1 })
    expect(a.get(`${ib.address}/y`)).toEqual({ v: 2 })
    const changes: string[] = []
    b.subscribe(`${ia.address}/x`, (change) => changes.push(`${change.origin.kind}:${String(change.value)}`))
    await a.put(`${ia.address}/x`, { v: 3 })
    await link.settle()
    expect(b.get(`${ia.address}/x`)).toEqual({ v: 3 })
    expect(changes).toEqual(['remote:3'])
    expect(snapshot(a)).toBe(snapshot(b))
    link.peerA.stop()
    link.peerB.stop()
    await a.stop()
    await b.stop()
  })

  it('resumes after an interruption and sends only what the other side lacks', async () => {
    const [ia, ib] = [await testIdentity(32), await testIdentity(33)]
    const a = await startGraph(ia)
    const b = await startGraph(ib)
    for (let i = 0; i < 50; i++) await a.put(`${ia.address}/n${i}`, { i })
    const link = wire(a, b)
    await link.peerA.start()
    await link.peerB.start()
    await link.settle()
    expect(b.chainLength(ia.address, ia.address)).toBe(50)
    link.disconnect()
    for (let i = 0; i < 10; i++) await a.put(`${ia.address}/m${i}`, { i })
    await link.settle()
    expect(b.chainLength(ia.address, ia.address)).toBe(50)
    link.connect()
    const before = link.peerA.stats.commitsSent
    await link.peerB.sync()
    await link.settle()
    expect(b.chainLength(ia.address, ia.address)).toBe(60)
    expect(link.peerA.stats.commitsSent - before).toBe(10)
    expect(snapshot(a)).toBe(snapshot(b))
    await a.stop()
    await b.stop()
  })

  it('can be limited to chosen subgraphs (spaces)', async () => {
    const [ia, ib, ic] = [await testIdentity(34), await testIdentity(35), await testIdentity(36)]
    const a = await startGraph(ia)
    const c = await startGraph(ic)
    await c.put(`${ic.address}/c`, { v: 'c' })
    // a holds its own data and c's
    const ac = wire(a, c)
    await ac.peerA.start()
    await ac.peerB.start()
    await ac.settle()
    await a.put(`${ia.address}/a`, { v: 'a' })
    const b = await startGraph(ib)
    const link = wire(a, b, { spacesB: [ic.address] })
    await link.peerA.start()
    await link.peerB.start()
    await link.settle()
    expect(b.get(`${ic.address}/c`)).toEqual({ v: 'c' })
    expect(b.get(`${ia.address}/a`)).toBeUndefined()
    await a.put(`${ia.address}/a2`, { v: 'a2' })
    await link.settle()
    expect(b.get(`${ia.address}/a2`)).toBeUndefined()
    for (const g of [a, b, c]) await g.stop()
  })

  it('round-trips its messages and refuses unknown versions', () => {
    expect(() => decodeSyncMessage(new Uint8Array([2, 1]))).toThrow(/version/)
    expect(() => decodeSyncMessage(new Uint8Array([1, 9]))).toThrow(/type/)
  })
})
