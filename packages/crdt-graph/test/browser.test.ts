import { join } from 'node:path'
import { expect, it } from 'vitest'
import { describeInBrowser } from '@araliya/test-support/browser'
import { createGraph, memoryStore } from '../src/index.js'
import { testIdentity } from './helpers.js'

type Api = typeof import('../src/index.js') & {
  levelStore: typeof import('../src/store/level.js').levelStore
  identity: typeof import('@araliya/identity')
}
declare const araliya: Api

describeInBrowser('@araliya/crdt-graph', join(import.meta.dirname, 'browser', 'page.ts'), (tab) => {
  it('persists a graph in IndexedDB (browser-level) across a reload; its commits verify in Node', async () => {
    const seed = Array.from({ length: 32 }, (_, i) => i + 1)
    const write = async (seedBytes: number[]) => {
      const me = await araliya.identity.identityFromSeed(Uint8Array.from(seedBytes))
      const graph = araliya.createGraph({
        identity: me,
        store: araliya.levelStore('araliya-graph-browser-test')
      })
      await graph.start()
      const soul = `${me.address}/notes/1`
      const before = graph.get(soul)
      await graph.transact((tx) => {
        tx.put(soul, { title: 'from the browser', bytes: new Uint8Array([1, 2, 3]) })
        tx.link(soul, 'next', `${me.address}/notes/2`)
      })
      const envelopes = await graph.readChain(me.address, me.address, 1, 100)
      await graph.stop()
      return {
        before,
        count: envelopes.length,
        envelopes: envelopes.map((e) => Array.from(e)),
        address: me.address
      }
    }
    const first = await tab().page.evaluate(write, seed)
    expect(first.before).toBeUndefined()
    expect(first.count).toBe(1)
    await tab().reload()
    const second = await tab().page.evaluate(write, seed)
    expect(second.before).toEqual({
      title: 'from the browser',
      bytes: new Uint8Array([1, 2, 3]),
      next: { '#': `${first.address}/notes/2` }
    })
    expect(second.count).toBe(2)
    // the browser's commits (signed with WebCrypto) are accepted by a Node replica
    const node = createGraph({ identity: await testIdentity(80), store: memoryStore() })
    await node.start()
    const result = await node.ingest(second.envelopes.map((e) => Uint8Array.from(e)))
    expect(result.accepted).toBe(2)
    expect(node.get(`${first.address}/notes/1`)?.title).toBe('from the browser')
    await node.stop()
  })
})
