import type { Identity } from '@araliya/identity'
import { describe, expect, it } from 'vitest'
import {
  createSyncPeer,
  encodeCommits,
  type Graph,
  type SyncMisbehaviour,
  type SyncPeer
} from '../src/index.js'
import { decodeCommit } from '../src/commit.js'
import { toHex } from '../src/hash.js'
import {
  allEnvelopes,
  forge,
  forgeUngranted,
  fromHex,
  headIds,
  ManualClock,
  startGraph,
  testIdentity
} from './helpers.js'

function idOf(envelope: Uint8Array): string {
  return toHex(decodeCommit(envelope).id)
}

async function storedIds(graph: Graph): Promise<string[]> {
  return (await allEnvelopes(graph)).map(idOf)
}

/** Two graphs' sync peers wired back to back in memory. */
function wire(a: Graph, b: Graph, tags: [string, string]) {
  const reports: SyncMisbehaviour[] = []
  const peerA: SyncPeer = createSyncPeer(a, {
    peer: tags[1],
    send: (bytes) => void peerB.receive(bytes),
    onMisbehaviour: (report) => reports.push(report)
  })
  const peerB: SyncPeer = createSyncPeer(b, {
    peer: tags[0],
    send: (bytes) => void peerA.receive(bytes),
    onMisbehaviour: (report) => reports.push(report)
  })
  return {
    peerA,
    peerB,
    reports,
    async start() {
      await peerA.start()
      await peerB.start()
    },
    stop() {
      peerA.stop()
      peerB.stop()
    }
  }
}

/** Waits (event-driven, generous deadline) until every peer has nothing left to do. */
async function settle(peers: SyncPeer[]): Promise<void> {
  const deadline = Date.now() + 30_000
  for (let quiet = 0; quiet < 5 && Date.now() < deadline; ) {
    const before = peers.map((p) => p.stats.messagesSent + p.stats.messagesReceived).join()
    await Promise.all(peers.map((p) => p.idle()))
    await new Promise((resolve) => setImmediate(resolve))
    const after = peers.map((p) => p.stats.messagesSent + p.stats.messagesReceived).join()
    quiet = before === after ? quiet + 1 : 0
  }
}

describe('unauthorised commits through sync', () => {
  it("a stranger's validly signed commit into someone's space is neither stored nor forwarded, and its sender is reported", async () => {
    const [owner, relay, third, stranger] = (await Promise.all([120, 121, 122, 123].map(testIdentity))) as [
      Identity,
      Identity,
      Identity,
      Identity
    ]
    const clock = new ManualClock()
    const a = await startGraph(owner, { now: clock.now })
    const b = await startGraph(relay, { now: clock.now })
    const c = await startGraph(third, { now: clock.now })
    await a.put(`${owner.address}/x`, { v: 'owner' })
    const ab = wire(a, b, ['A', 'B'])
    const bc = wire(b, c, ['B', 'C'])
    await ab.start()
    await bc.start()
    await settle([ab.peerA, ab.peerB, bc.peerA, bc.peerB])
    expect(c.get(`${owner.address}/x`)).toEqual({ v: 'owner' })

    // the stranger speaks the sync protocol to the relay directly (no graph of its own is needed)
    const reports: SyncMisbehaviour[] = []
    const strangerSide = createSyncPeer(b, {
      peer: 'S',
      send: () => {},
      onMisbehaviour: (report) => reports.push(report)
    })
    await strangerSide.start()
    clock.advance(10)
    const forged = await forgeUngranted(stranger, b, owner, clock, ['x', 'v', 'stranger'])
    await strangerSide.receive(encodeCommits([forged]))
    await settle([ab.peerA, ab.peerB, bc.peerA, bc.peerB, strangerSide])

    for (const g of [a, b, c]) {
      expect(g.get(`${owner.address}/x`)).toEqual({ v: 'owner' })
      expect(g.chainLength(owner.address, stranger.address)).toBe(0)
      expect(await storedIds(g)).not.toContain(idOf(forged))
    }
    expect(bc.peerB.stats.commitsReceived).toBe(1) // only the owner's commit ever reached the third replica
    expect(reports).toEqual([
      expect.objectContaining({ peer: 'S', reason: 'unauthorized', commit: idOf(forged) })
    ])
    expect(strangerSide.stats.misbehaviours).toBe(1)
    // honest peers are never reported
    expect(ab.reports).toEqual([])
    expect(bc.reports).toEqual([])
    strangerSide.stop()
    ab.stop()
    bc.stop()
    for (const g of [a, b, c]) await g.stop()
  })

  it("an expired or revoked grantee's backdated commit is refused everywhere", async () => {
    const [owner, relay, third, phone, laptop] = (await Promise.all(
      [124, 125, 126, 127, 128].map(testIdentity)
    )) as [Identity, Identity, Identity, Identity, Identity]
    const space = owner.address
    const clock = new ManualClock()
    const t0 = clock.ms
    const a = await startGraph(owner, { now: clock.now })
    const b = await startGraph(relay, { now: clock.now })
    const c = await startGraph(third, { now: clock.now })
    const p = await startGraph(phone, { now: clock.now })
    const l = await startGraph(laptop, { now: clock.now })
    await a.grant(phone.address, { pathPrefix: 'notes/', rights: ['write'] }, { expiresAt: t0 + 60_000 })
    const laptopGrant = await a.grant(
      laptop.address,
      { pathPrefix: 'notes/', rights: ['write'] },
      {
        expiresAt: t0 + 3_600_000
      }
    )
    const links = [
      wire(a, b, ['A', 'B']),
      wire(b, c, ['B', 'C']),
      wire(p, b, ['P', 'B']),
      wire(l, b, ['L', 'B'])
    ]
    const peers = links.flatMap((w) => [w.peerA, w.peerB])
    for (const w of links) await w.start()
    await settle(peers)
    clock.advance(10)
    const fromPhone = await p.put(`${space}/notes/1`, { text: 'phone' })
    const fromLaptop = await l.put(`${space}/notes/2`, { text: 'laptop' })
    await settle(peers)
    clock.advance(10)
    await a.revoke(laptopGrant)
    clock.advance(120_000) // the phone's grant has expired
    await a.put(`${space}/tick`, { n: 1 })
    await settle(peers)
    const ownerHead = a.chainLength(space, space)
    expect(p.chainLength(space, space)).toBe(ownerHead)
    expect(l.chainLength(space, space)).toBe(ownerHead)

    // both devices have seen the owner's later commits; each stamps a commit back inside its window
    const backdated = [
      await forge(phone, {
        space,
        seq: 2,
        prev: fromHex(fromPhone.id),
        clock: (t0 + 30) * 1024,
        dep: ownerHead,
        seen: headIds(a, space, space),
        ops: [['notes/1', 'text', 0, 'backdated by the phone']]
      }),
      await forge(laptop, {
        space,
        seq: 2,
        prev: fromHex(fromLaptop.id),
        clock: (t0 + 30) * 1024,
        dep: ownerHead,
        seen: headIds(a, space, space),
        ops: [['notes/2', 'text', 0, 'backdated by the laptop']]
      })
    ]
    // a device (or its compromised key) pushes them to the relay through its sync session
    const pb = links[2]
    await pb?.peerB.receive(encodeCommits(backdated))
    await settle(peers)
    for (const g of [a, b, c]) {
      expect(g.get(`${space}/notes/1`)).toEqual({ text: 'phone' })
      expect(g.get(`${space}/notes/2`)).toEqual({ text: 'laptop' })
      const stored = await storedIds(g)
      for (const e of backdated) expect(stored).not.toContain(idOf(e))
    }
    expect(pb?.reports.map((r) => [r.peer, r.reason])).toEqual([
      ['P', 'backdated'],
      ['P', 'backdated']
    ])
    expect(pb?.peerB.stats.misbehaviours).toBe(2)
    for (const w of links) w.stop()
    for (const g of [a, b, c, p, l]) await g.stop()
  })
})
