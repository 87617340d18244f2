import { describe, expect, it } from 'vitest'
import {
  createGraph,
  GraphError,
  type GraphStore,
  InvalidGraphInputError,
  link,
  memoryStore,
  StoreClosedError
} from '../src/index.js'
import { allEnvelopes, startGraph, testIdentity } from './helpers.js'

describe('graph API', () => {
  it('puts, gets, links, traverses, removes and keeps history', async () => {
    const me = await testIdentity(1)
    const graph = await startGraph(me)
    const ada = `${me.address}/people/ada`
    const alan = `${me.address}/people/alan`
    const receipt = await graph.put(ada, {
      name: 'Ada',
      born: 1815,
      alive: false,
      photo: new Uint8Array([1, 2])
    })
    expect(receipt).toMatchObject({ space: me.address, author: me.address, seq: 1, ops: 4 })
    expect(graph.get(ada)).toEqual({ name: 'Ada', born: 1815, alive: false, photo: new Uint8Array([1, 2]) })
    await graph.put(alan, { name: 'Alan' })
    await graph.link(ada, 'friend', alan)
    expect(graph.follow(ada, 'friend')).toBe(alan)
    expect(graph.get(ada)?.friend).toEqual(link(alan))
    expect(graph.traverse(ada).map((s) => s.soul)).toEqual([ada, alan])
    await graph.put(ada, { name: 'Ada Lovelace' })
    await graph.remove(ada, 'alive')
    expect(graph.get(ada)?.name).toBe('Ada Lovelace')
    expect(graph.get(ada)?.alive).toBeUndefined()
    expect(graph.getField(ada, 'alive')?.deleted).toBe(true)
    const history = graph.history(ada, 'name')
    expect(history.map((h) => h.value)).toEqual(['Ada Lovelace', 'Ada'])
    expect(history[0]?.winner).toBe(true)
    expect(graph.history(ada, 'alive').map((h) => h.deleted)).toEqual([true, false])
    await graph.remove(ada)
    expect(graph.get(ada)).toBeUndefined()
    await graph.stop()
  })

  it('transact writes many fields in one commit and notifies subscribers', async () => {
    const me = await testIdentity(2)
    const graph = await startGraph(me)
    const seen: string[] = []
    const soul = `${me.address}/a`
    const stop = graph.subscribe(soul, (change) => seen.push(`${change.field}=${String(change.value)}`))
    const spaceSeen: string[] = []
    graph.subscribe({ space: me.address }, (change) => spaceSeen.push(change.soul))
    const receipts = await graph.transact((tx) => {
      for (let i = 0; i < 50; i++) tx.set(`${me.address}/a`, `f${i % 5}`, i)
      tx.put(`${me.address}/b`, { x: 1 })
    })
    expect(receipts).toHaveLength(1)
    expect(receipts[0]?.ops).toBe(51)
    expect(graph.get(soul)).toEqual({ f0: 45, f1: 46, f2: 47, f3: 48, f4: 49 })
    expect(seen).toHaveLength(50)
    expect(spaceSeen).toHaveLength(51)
    stop()
    await graph.put(soul, { f0: 'x' })
    expect(seen).toHaveLength(50)
    expect(await allEnvelopes(graph)).toHaveLength(2)
    await graph.stop()
  })

  it('rejects malformed souls, fields and values with typed errors', async () => {
    const me = await testIdentity(3)
    const graph = await startGraph(me)
    await expect(graph.put('not-a-soul', { a: 1 })).rejects.toBeInstanceOf(InvalidGraphInputError)
    await expect(graph.put(`${me.address}/`, { a: 1 })).rejects.toBeInstanceOf(InvalidGraphInputError)
    await expect(graph.put(`${me.address}/x`, { '': 1 })).rejects.toBeInstanceOf(InvalidGraphInputError)
    await expect(graph.put(`${me.address}/x`, { a: Number.NaN })).rejects.toBeInstanceOf(
      InvalidGraphInputError
    )
    await expect(graph.put(`${me.address}/x`, { a: { nested: true } as never })).rejects.toBeInstanceOf(
      InvalidGraphInputError
    )
    await expect(graph.link(`${me.address}/x`, 'l', 'nowhere')).rejects.toBeInstanceOf(InvalidGraphInputError)
    expect(graph.get(`${me.address}/x`)).toBeUndefined()
    await graph.stop()
    await expect(graph.put(`${me.address}/x`, { a: 1 })).rejects.toBeInstanceOf(StoreClosedError)
  })

  it('restarts on the same store with the same state and a clock that does not go back', async () => {
    const me = await testIdentity(4)
    const store = memoryStore()
    let now = 2_000_000_000_000
    const graph = createGraph({ identity: me, store, now: () => now })
    await graph.start()
    await graph.put(`${me.address}/x`, { a: 1 })
    await graph.put(`${me.address}/x`, { a: 2 })
    const clock = graph.clock
    await graph.stop()
    now -= 3_600_000 // the machine's clock went back an hour
    const again = createGraph({ identity: me, store, now: () => now })
    await again.start()
    expect(again.get(`${me.address}/x`)).toEqual({ a: 2 })
    expect(again.clock).toBeGreaterThanOrEqual(clock)
    await again.put(`${me.address}/x`, { a: 3 })
    expect(again.getField(`${me.address}/x`, 'a')?.hlc).toBeGreaterThan(clock)
    expect(again.get(`${me.address}/x`)).toEqual({ a: 3 })
    expect(again.chainLength(me.address, me.address)).toBe(3)
    await again.stop()
  })
})

describe('store failures', () => {
  it('a write that cannot be made durable is not acknowledged; the graph refuses more writes until reloaded', async () => {
    const me = await testIdentity(5)
    const inner = memoryStore()
    let fail = false
    const store: GraphStore = {
      open: (options) => inner.open(options),
      close: () => inner.close(),
      readState: (options) => inner.readState(options),
      replay: (options) => inner.replay(options),
      readChain: (...args) => inner.readChain(...args),
      append: (commits, state, options) =>
        fail ? Promise.reject(new Error('disk full')) : inner.append(commits, state, options)
    }
    const graph = createGraph({ identity: me, store })
    await graph.start()
    await graph.put(`${me.address}/a`, { v: 1 })
    fail = true
    await expect(graph.put(`${me.address}/a`, { v: 2 })).rejects.toThrow('disk full')
    fail = false
    await expect(graph.put(`${me.address}/a`, { v: 3 })).rejects.toBeInstanceOf(GraphError)
    await graph.stop()
    await expect(graph.start()).rejects.toBeInstanceOf(GraphError)
    const again = createGraph({ identity: me, store })
    await again.start()
    expect(again.get(`${me.address}/a`)).toEqual({ v: 1 })
    await again.put(`${me.address}/a`, { v: 4 })
    expect(again.chainLength(me.address, me.address)).toBe(2)
    await again.stop()
  })
})
