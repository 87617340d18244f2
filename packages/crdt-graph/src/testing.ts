/**
 * The acceptance suite every {@link GraphStore} implementation runs, published so a third-party store can
 * run it too (`@araliya/crdt-graph/testing`; it needs `vitest`).
 *
 * @example
 * ```ts
 * import { storeAcceptance } from '@araliya/crdt-graph/testing'
 * import { memoryStore } from '@araliya/crdt-graph'
 *
 * storeAcceptance('memory', () => {
 *   const store = memoryStore()
 *   return { store, reopen: () => store }
 * })
 * ```
 *
 * @packageDocumentation
 */
import { describe, expect, it } from 'vitest'
import type { GraphStore, StoredCommit } from './store/types.js'
import { runWithFixture as run, type StoreFixture } from './testing/fixture.js'

export type { StoreFixture }

function fakeCommit(space: string, author: string, seq: number, fill: number): StoredCommit {
  const envelope = new Uint8Array(100).fill(fill)
  return { id: new Uint8Array(32).fill(fill), space, author, seq, envelope }
}

/**
 * Registers the GraphStore acceptance tests (under `describe('GraphStore acceptance: <name>')`). `setup`
 * gives each test a fresh store, a way to reopen the same data, and an optional teardown.
 */
export function storeAcceptance(name: string, setup: () => StoreFixture | Promise<StoreFixture>): void {
  describe(`GraphStore acceptance: ${name}`, () => {
    it('starts empty', () =>
      run(setup, async ({ store }) => {
        await store.open()
        expect(await store.readState()).toBeUndefined()
        const batches: Uint8Array[][] = []
        for await (const batch of store.replay()) batches.push(batch)
        expect(batches.flat()).toHaveLength(0)
        expect(await store.readChain('s', 'a', 1, 10)).toEqual([])
        await store.close()
      }))

    it('appends in order, replays in order and serves chains', () =>
      run(setup, async ({ store }) => {
        await store.open()
        await store.append([fakeCommit('S', 'A', 1, 1), fakeCommit('S', 'B', 1, 2)], { clock: 10 })
        await store.append([fakeCommit('S', 'A', 2, 3)], { clock: 20 })
        const all: number[] = []
        for await (const batch of store.replay())
          for (const envelope of batch) all.push(envelope[0] as number)
        expect(all).toEqual([1, 2, 3])
        expect((await store.readChain('S', 'A', 1, 2)).map((e) => e[0])).toEqual([1, 3])
        expect((await store.readChain('S', 'A', 2, 9)).map((e) => e[0])).toEqual([3])
        expect((await store.readChain('S', 'B', 1, 1)).map((e) => e[0])).toEqual([2])
        expect(await store.readState()).toEqual({ clock: 20 })
        await store.close()
      }))

    it('keeps everything across close and reopen; the clock never goes back', () =>
      run(setup, async ({ store, reopen }) => {
        await store.open()
        await store.append([fakeCommit('S', 'A', 1, 1)], { clock: 50 })
        await store.append([fakeCommit('S', 'A', 2, 2)], { clock: 40 })
        await store.close()
        await store.close()
        const again = reopen()
        await again.open()
        await again.open()
        expect((await again.readState())?.clock).toBe(50)
        expect((await again.readChain('S', 'A', 1, 5)).map((e) => e[0])).toEqual([1, 2])
        await again.append([fakeCommit('S', 'A', 3, 3)], { clock: 60 })
        const all: number[] = []
        for await (const batch of again.replay())
          for (const envelope of batch) all.push(envelope[0] as number)
        expect(all).toEqual([1, 2, 3])
        await again.close()
      }))

    it('applies concurrent appends in call order and acknowledges each', () =>
      run(setup, async ({ store }) => {
        await store.open()
        const writes: Promise<void>[] = []
        for (let i = 1; i <= 200; i++)
          writes.push(store.append([fakeCommit('S', 'A', i, i % 250)], { clock: i }))
        await Promise.all(writes)
        const chain = await store.readChain('S', 'A', 1, 200)
        expect(chain.map((e) => e[0])).toEqual(Array.from({ length: 200 }, (_, i) => (i + 1) % 250))
        expect((await store.readState())?.clock).toBe(200)
        await store.close()
      }))

    it('keeps every commit of a position that holds several (a forked key), each once', () =>
      run(setup, async ({ store, reopen }) => {
        await store.open()
        await store.append([fakeCommit('S', 'A', 1, 1), fakeCommit('S', 'A', 2, 2)], { clock: 1 })
        await store.append([fakeCommit('S', 'A', 2, 7), fakeCommit('S', 'A', 3, 8)], { clock: 2 })
        await store.append([fakeCommit('S', 'A', 2, 7)], { clock: 3 })
        const read = async (from: GraphStore, a: number, b: number) =>
          (await from.readChain('S', 'A', a, b)).map((e) => e[0] as number)
        expect(await read(store, 1, 3)).toEqual([1, expect.any(Number), expect.any(Number), 8])
        expect((await read(store, 2, 2)).sort()).toEqual([2, 7])
        expect(await read(store, 3, 3)).toEqual([8])
        await store.close()
        const again = reopen()
        await again.open()
        expect((await read(again, 2, 2)).sort()).toEqual([2, 7])
        await again.close()
      }))

    it('refuses appends when closed', () =>
      run(setup, async ({ store }) => {
        await expect(store.append([fakeCommit('S', 'A', 1, 1)], { clock: 1 })).rejects.toThrow(/open|closed/)
      }))
  })
}
