import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { storeAcceptance } from '@araliya/crdt-graph/testing'
import { describe, expect, it } from 'vitest'
import { memoryStore, StoreLockedError } from '../src/index.js'
import { levelStore } from '../src/store/level.js'
import { startGraph, testIdentity } from './helpers.js'

storeAcceptance('memory', async () => {
  const store = memoryStore()
  return { store, reopen: () => store }
})

storeAcceptance('level (classic-level)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'araliya-graph-'))
  return {
    store: levelStore(dir),
    reopen: () => levelStore(dir),
    teardown: () => rm(dir, { recursive: true, force: true })
  }
})

describe('level store', () => {
  it('gives a typed, actionable error when the store is already open elsewhere', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'araliya-graph-'))
    const first = levelStore(dir)
    await first.open()
    const second = levelStore(dir)
    const error = await second.open().catch((err: unknown) => err)
    expect(StoreLockedError.isInstance(error)).toBe(true)
    expect((error as Error).message).toMatch(/another process/)
    await first.close()
    await second.open()
    await second.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('persists a graph across restarts', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'araliya-graph-'))
    const me = await testIdentity(20)
    const graph = await startGraph(me, { store: levelStore(dir) })
    for (let i = 0; i < 20; i++) await graph.put(`${me.address}/n${i % 3}`, { i })
    await graph.transact((tx) => {
      for (let i = 0; i < 100; i++) tx.set(`${me.address}/bulk`, `f${i}`, i)
    })
    const clock = graph.clock
    await graph.stop()
    const again = await startGraph(me, { store: levelStore(dir) })
    expect(again.get(`${me.address}/n1`)).toEqual({ i: 19 })
    expect(Object.keys(again.get(`${me.address}/bulk`) ?? {})).toHaveLength(100)
    expect(again.history(`${me.address}/n0`, 'i')).toHaveLength(7)
    expect(again.clock).toBeGreaterThanOrEqual(clock)
    await again.put(`${me.address}/n0`, { i: 'new' })
    expect(again.chainLength(me.address, me.address)).toBe(22)
    await again.stop()
    await rm(dir, { recursive: true, force: true })
  })
})

describe('level store damage', () => {
  it('opens a store with a damaged block, reports it, keeps the rest, refuses to fork its own chain and heals from a peer', async () => {
    const { readdirSync, readFileSync, writeFileSync } = await import('node:fs')
    const { ChainError } = await import('../src/index.js')
    const { allEnvelopes } = await import('./helpers.js')
    const dir = await mkdtemp(join(tmpdir(), 'araliya-damage-'))
    const me = await testIdentity(21)
    const graph = await startGraph(me, { store: levelStore(dir) })
    for (let i = 0; i < 200; i++) await graph.put(`${me.address}/k${i}`, { v: i })
    const backup = await allEnvelopes(graph)
    await graph.stop()
    // a second open compacts the write-ahead log into a table file; damage a block in the middle of it
    await (await startGraph(me, { store: levelStore(dir) })).stop()
    const table = readdirSync(dir).find((f) => f.endsWith('.ldb')) as string
    const bytes = readFileSync(join(dir, table))
    bytes.fill(0xab, Math.floor(bytes.byteLength / 2), Math.floor(bytes.byteLength / 2) + 100)
    writeFileSync(join(dir, table), bytes)

    const problems: string[] = []
    const damaged = (await import('../src/index.js')).createGraph({ identity: me, store: levelStore(dir) })
    damaged.events.addEventListener('store:damaged', ({ detail: problem }) => problems.push(problem.where))
    await damaged.start()
    expect(problems.length).toBeGreaterThan(0)
    const have = damaged.chainLength(me.address, me.address)
    expect(have).toBeGreaterThan(0)
    expect(have).toBeLessThan(200)
    expect(damaged.get(`${me.address}/k0`)).toEqual({ v: 0 })
    await expect(damaged.put(`${me.address}/new`, { v: 1 })).rejects.toBeInstanceOf(ChainError)
    // a peer that has everything fills the hole
    await damaged.ingest(backup)
    expect(damaged.chainLength(me.address, me.address)).toBe(200)
    expect(damaged.pendingCount).toBe(0)
    await damaged.put(`${me.address}/new`, { v: 1 })
    await damaged.stop()
    await rm(dir, { recursive: true, force: true })
  })
})

describe('level store state record', () => {
  it('finds the end of the log when the state record is lost, and never overwrites entries', async () => {
    const { ClassicLevel } = await import('classic-level')
    const dir = await mkdtemp(join(tmpdir(), 'araliya-state-'))
    for (const count of [0, 1, 5, 37]) {
      const location = join(dir, String(count))
      const store = levelStore(location)
      await store.open()
      for (let i = 1; i <= count; i++) {
        await store.append(
          [{ id: new Uint8Array(32), space: 'S', author: 'A', seq: i, envelope: new Uint8Array([i]) }],
          {
            clock: i
          }
        )
      }
      await store.close()
      const raw = new ClassicLevel(location)
      await raw.del('s')
      await raw.close()
      const again = levelStore(location)
      await again.open()
      await again.append(
        [{ id: new Uint8Array(32), space: 'S', author: 'A', seq: count + 1, envelope: new Uint8Array([99]) }],
        {
          clock: 1
        }
      )
      const seen: number[] = []
      for await (const batch of again.replay()) for (const envelope of batch) seen.push(envelope[0] as number)
      expect(seen).toEqual([...Array.from({ length: count }, (_, i) => i + 1), 99])
      await again.close()
    }
    await rm(dir, { recursive: true, force: true })
  })
})
