import type { Identity } from '@araliya/identity'
import type { SyncEndpoint, SyncMisbehaviourReport, SyncSession } from '@araliya/interface'
import { describe, expect, it } from 'vitest'
import {
  createSyncPeer,
  encodeCommits,
  type Graph,
  graphSyncEndpoint,
  SYNC_PROTOCOL_ID,
  type SyncPeer
} from '../src/index.js'
import { forgeUngranted, ManualClock, snapshot, startGraph, testIdentity } from './helpers.js'

/** Waits (event-driven, generous deadline) until no session sends or receives anything more. */
async function settle(sessions: SyncPeer[]): Promise<void> {
  const deadline = Date.now() + 30_000
  for (let quiet = 0; quiet < 5 && Date.now() < deadline; ) {
    const before = sessions.map((s) => s.stats.messagesSent + s.stats.messagesReceived).join()
    await Promise.all(sessions.map((s) => s.idle()))
    await new Promise((resolve) => setImmediate(resolve))
    const after = sessions.map((s) => s.stats.messagesSent + s.stats.messagesReceived).join()
    quiet = before === after ? quiet + 1 : 0
  }
}

/** Two endpoints back to back, the way a transport would carry their bytes (tagged with the peer). */
function pair(a: Graph, b: Graph, reports: SyncMisbehaviourReport[]): [SyncPeer, SyncPeer] {
  const endpointA: SyncEndpoint = graphSyncEndpoint(a)
  const endpointB = graphSyncEndpoint(b)
  const toB = endpointA.open({
    peer: b.address,
    send: (bytes) => void toA.receive(bytes),
    onMisbehaviour: (report) => reports.push(report)
  }) as SyncPeer
  const toA = endpointB.open({
    peer: a.address,
    send: (bytes) => void toB.receive(bytes),
    onMisbehaviour: (report) => reports.push(report)
  })
  return [toB, toA]
}

describe('graphSyncEndpoint', () => {
  it('speaks the graph-sync protocol id, and a sync peer is a SyncSession', async () => {
    const graph = await startGraph(await testIdentity(140))
    const endpoint = graphSyncEndpoint(graph)
    expect(endpoint.protocol).toBe('/araliya/graph-sync/1.0.0')
    expect(endpoint.protocol).toBe(SYNC_PROTOCOL_ID)
    const session: SyncSession = endpoint.open({ peer: 'elsewhere', send: () => {} })
    expect(session.peer).toBe('elsewhere')
    expect(session.stats.messagesSent).toBe(0)
    // createSyncPeer's session is a SyncSession as it is, without the endpoint
    const plain: SyncSession = createSyncPeer(graph, { peer: 'direct', send: () => {} })
    expect(plain.peer).toBe('direct')
    await graph.stop()
  })

  it('two graphs wired through two endpoints back to back converge, then stay in sync live', async () => {
    const [alice, bob] = (await Promise.all([141, 142].map(testIdentity))) as [Identity, Identity]
    const a = await startGraph(alice)
    const b = await startGraph(bob)
    await a.put(`${alice.address}/notes/1`, { title: 'from a' })
    await b.put(`${bob.address}/notes/1`, { title: 'from b' })
    const reports: SyncMisbehaviourReport[] = []
    const [toB, toA] = pair(a, b, reports)
    await toB.start()
    await toA.start()
    await settle([toB, toA])
    expect(snapshot(a)).toBe(snapshot(b))
    expect(b.get(`${alice.address}/notes/1`)).toEqual({ title: 'from a' })

    await a.put(`${alice.address}/notes/2`, { title: 'live' })
    await settle([toB, toA])
    expect(b.get(`${alice.address}/notes/2`)).toEqual({ title: 'live' })
    expect(reports).toEqual([])
    toB.stop()
    toA.stop()
    await a.stop()
    await b.stop()
  })

  it('serves only what share() allows each peer', async () => {
    const [alice, bob] = (await Promise.all([143, 144].map(testIdentity))) as [Identity, Identity]
    const a = await startGraph(alice)
    const b = await startGraph(bob)
    await a.put(`${alice.address}/x`, { v: 1 })
    const toB = graphSyncEndpoint(a, { share: (_space, peer) => peer !== bob.address }).open({
      peer: bob.address,
      send: (bytes) => void toA.receive(bytes)
    })
    const toA = graphSyncEndpoint(b).open({ peer: alice.address, send: (bytes) => void toB.receive(bytes) })
    await toB.start()
    await toA.start()
    await settle([toB, toA])
    expect(b.get(`${alice.address}/x`)).toBeUndefined()
    toB.stop()
    toA.stop()
    await a.stop()
    await b.stop()
  })

  it('a forged, unauthorised commit reaches onMisbehaviour with the peer tag, and is not applied', async () => {
    const [owner, stranger] = (await Promise.all([145, 146].map(testIdentity))) as [Identity, Identity]
    const clock = new ManualClock()
    const a = await startGraph(owner, { now: clock.now })
    await a.put(`${owner.address}/x`, { v: 'owner' })
    const reports: SyncMisbehaviourReport[] = []
    const errors: Error[] = []
    const session = graphSyncEndpoint(a).open({
      peer: stranger.address,
      send: () => {},
      onMisbehaviour: (report) => reports.push(report),
      onError: (error) => errors.push(error)
    })
    await session.start()
    clock.advance(10)
    const forged = await forgeUngranted(stranger, a, owner, clock, ['x', 'v', 'stranger'])
    await session.receive(encodeCommits([forged]))
    expect(reports).toEqual([expect.objectContaining({ peer: stranger.address, reason: 'unauthorized' })])
    expect(reports[0]?.error.name).toBe('UnauthorizedWriteError')
    expect(a.get(`${owner.address}/x`)).toEqual({ v: 'owner' })
    expect(a.chainLength(owner.address, stranger.address)).toBe(0)
    session.stop()
    await a.stop()
  })
})
