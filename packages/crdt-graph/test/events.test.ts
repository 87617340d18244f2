import type { ComponentLogger } from '@libp2p/interface'
import { defaultLogger } from '@libp2p/logger'
import { describe, expect, it } from 'vitest'
import {
  type CommitAccepted,
  createGraph,
  createSyncPeer,
  type GraphChange,
  graphSyncEndpoint
} from '../src/index.js'
import { testIdentity } from './helpers.js'

describe('graph events and logging', () => {
  it('emits field:changed and commit:accepted as typed CustomEvents; removed listeners hear nothing', async () => {
    const me = await testIdentity(150)
    const graph = createGraph({ identity: me })
    await graph.start()
    const changes: GraphChange[] = []
    const accepted: CommitAccepted[] = []
    const onChange = (event: CustomEvent<GraphChange>): void => {
      changes.push(event.detail)
    }
    graph.events.addEventListener('field:changed', onChange)
    graph.events.addEventListener('commit:accepted', (event) => accepted.push(event.detail))
    const receipt = await graph.put(`${me.address}/notes/1`, { title: 'hello' })
    expect(changes).toEqual([
      expect.objectContaining({
        soul: `${me.address}/notes/1`,
        field: 'title',
        value: 'hello',
        origin: { kind: 'local' }
      })
    ])
    expect(accepted.map((event) => event.commit.seq)).toEqual([receipt.seq])
    graph.events.removeEventListener('field:changed', onChange)
    await graph.put(`${me.address}/notes/1`, { title: 'again' })
    expect(changes).toHaveLength(1)
    expect(accepted).toHaveLength(2)
    await graph.stop()
  })

  it('logs through the injected logger, per component', async () => {
    const components: string[] = []
    const logger: ComponentLogger = {
      forComponent(name) {
        components.push(name)
        return defaultLogger().forComponent(name)
      }
    }
    const graph = createGraph({ identity: await testIdentity(151), logger })
    await graph.start()
    createSyncPeer(graph, { peer: 'p', send: () => {}, logger })
    graphSyncEndpoint(graph, { logger }).open({ peer: 'q', send: () => {} })
    expect(components).toEqual(['araliya:graph', 'araliya:graph:sync', 'araliya:graph:sync'])
    await graph.stop()
  })
})
