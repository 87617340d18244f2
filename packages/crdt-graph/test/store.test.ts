import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { memoryStore, StoreLockedError } from '../src/index.js'
import { levelStore } from '../src/store/level.js'
import { graphStoreAcceptance } from './store-acceptance.js'
import { startGraph, testIdentity } from './helpers.js'

graphStoreAcceptance('memory', async () => {
  const store = memoryStore()
  return { store, reopen: () => store }
})

graphStoreAcceptance('level (classic-level)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'araliya-graph-'))
  return {
    store: levelStore(dir),
    reopen: () => levelStore(dir),
    cleanup: () => rm(dir, { recursive: true, force: true })
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
