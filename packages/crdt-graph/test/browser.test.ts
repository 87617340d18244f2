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

  it('ingests a large batch in the browser (no worker threads: verified on the page), refusing a forgery as Node does', async () => {
    const author = await testIdentity(81)
    const source = createGraph({ identity: author, store: memoryStore() })
    await source.start()
    for (let i = 0; i < 120; i++) await source.put(`${author.address}/n${i % 9}`, { v: i })
    const honest = await source.readChain(author.address, author.address, 1, 120)
    await source.stop()
    const forged = honest.map((e) => Array.from(e))
    const target = forged[90] as number[]
    target[5] = (target[5] as number) ^ 1
    const ingest = async (batch: number[][]) => {
      const me = await araliya.identity.generateIdentity()
      const graph = araliya.createGraph({ identity: me, store: araliya.memoryStore(), verifyWorkers: 2 })
      await graph.start()
      const result = await graph.ingest(batch.map((e) => Uint8Array.from(e)))
      await graph.stop()
      return {
        accepted: result.accepted,
        dropped: result.dropped,
        rejected: result.rejected.map((r) => (r.error as { code?: string }).code)
      }
    }
    expect(await tab().page.evaluate(ingest, forged)).toEqual({
      accepted: 90,
      dropped: 29,
      rejected: ['ERR_GRAPH_SIGNATURE']
    })
    const node = createGraph({ identity: await testIdentity(82), store: memoryStore() })
    await node.start()
    const inNode = await node.ingest(forged.map((e) => Uint8Array.from(e)))
    await node.stop()
    expect({ accepted: inNode.accepted, dropped: inNode.dropped }).toEqual({ accepted: 90, dropped: 29 })
  })
})
