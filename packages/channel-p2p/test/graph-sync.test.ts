import { createGraph, type Graph, graphSyncEndpoint } from '@araliya/crdt-graph'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { GraphSyncHandle } from '../src/index.js'
import { type ChannelNetwork, createChannelNetwork, type Peer, waitFor } from './helpers.js'

let swarm: ChannelNetwork
let a: Peer
let b: Peer
let graphA: Graph
let graphB: Graph
const handles: GraphSyncHandle[] = []

beforeAll(async () => {
  swarm = await createChannelNetwork({ nodes: 2 })
  ;[, a, b] = swarm.peers as [Peer, Peer, Peer]
  graphA = createGraph({ identity: a.node.identity })
  graphB = createGraph({ identity: b.node.identity })
  await graphA.start()
  await graphB.start()
}, 90_000)

afterAll(async () => {
  for (const handle of handles) await handle.stop()
  await graphA?.stop()
  await graphB?.stop()
  await swarm?.stop()
})

describe('graph sync over /araliya/graph-sync/1.0.0', () => {
  it('two nodes write offline, then converge once sync runs; and again after a reconnect', async () => {
    const noteA = `${a.node.address}/notes/from-a`
    const noteB = `${b.node.address}/notes/from-b`
    // Offline: no sync session exists yet.
    for (let i = 0; i < 20; i++) await graphA.put(`${a.node.address}/items/${i}`, { n: i, by: 'a' })
    await graphA.put(noteA, { text: 'written by A offline' })
    await graphB.put(noteB, { text: 'written by B offline' })
    expect(graphB.get(noteA)).toBeUndefined()

    handles.push(
      await a.channel.syncGraph(graphSyncEndpoint(graphA)),
      await b.channel.syncGraph(graphSyncEndpoint(graphB))
    )
    await waitFor(
      () =>
        graphB.get(noteA) !== undefined &&
        graphA.get(noteB) !== undefined &&
        graphB.get(`${a.node.address}/items/19`) !== undefined,
      20_000,
      'both graphs to converge'
    )
    expect(graphB.get(noteA)).toEqual({ text: 'written by A offline' })
    expect(graphA.get(noteB)).toEqual({ text: 'written by B offline' })

    // Cut the connection, write on both sides, reconnect: the new session sends only what is missing.
    await a.node.libp2p.hangUp(b.node.libp2p.peerId)
    await waitFor(
      () => a.node.libp2p.getConnections(b.node.libp2p.peerId).length === 0,
      10_000,
      'the hang-up'
    )
    await graphA.put(noteA, { text: 'edited by A while apart' })
    await graphB.put(noteB, { text: 'edited by B while apart' })
    await a.node.libp2p.dial(b.node.libp2p.peerId)
    await waitFor(
      () =>
        graphB.get(noteA)?.text === 'edited by A while apart' &&
        graphA.get(noteB)?.text === 'edited by B while apart',
      20_000,
      'convergence after the reconnect'
    )
    const sessions = handles.flatMap((h) => h.sessions())
    expect(sessions.length).toBeGreaterThanOrEqual(2)
    // The second session carried only the new commits, not the 22 from before.
    const sent = sessions.reduce((n, s) => n + (s.stats.commitsSent ?? 0), 0)
    expect(sent).toBeLessThanOrEqual(4)
  })
})
