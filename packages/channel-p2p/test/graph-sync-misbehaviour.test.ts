import {
  createGraph,
  encodeCommits,
  type Graph,
  graphSyncEndpoint,
  SYNC_PROTOCOL_ID,
  UnauthorizedWriteError
} from '@araliya/crdt-graph'
import type { SyncMisbehaviourReport } from '@araliya/interface'
import type { Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { forge } from '../../crdt-graph/test/helpers.ts'
import { type GraphSyncHandle, InvalidGraphSyncOptionsError } from '../src/index.js'
import { type ChannelNetwork, createChannelNetwork, type Peer, waitFor } from './helpers.js'

let swarm: ChannelNetwork
/** The node that is lied to; it has the lower address of the pair, so it is the side that opens sessions. */
let victim: Peer
/** A node with no Araliya graph: it speaks graph sync by hand. */
let hostile: Peer
let honest: Peer
let victimGraph: Graph
let honestGraph: Graph
const handles: GraphSyncHandle[] = []

beforeAll(async () => {
  swarm = await createChannelNetwork({ nodes: 3 })
  const [, first, second, third] = swarm.peers as [Peer, Peer, Peer, Peer]
  ;[victim, hostile] = first.node.address < second.node.address ? [first, second] : [second, first]
  honest = third
  victimGraph = createGraph({ identity: victim.node.identity })
  honestGraph = createGraph({ identity: honest.node.identity })
  await victimGraph.start()
  await honestGraph.start()
}, 120_000)

afterAll(async () => {
  for (const handle of handles) await handle.stop()
  await victimGraph?.stop()
  await honestGraph?.stop()
  await swarm?.stop()
})

/** Dials `to` from `from` (again) and waits until both sides see the connection. */
async function connect(from: Peer, to: Peer): Promise<void> {
  const address = to.node.getMultiaddrs()[0]
  if (address === undefined) throw new Error(`${to.node.address} listens nowhere`)
  await from.node.libp2p.dial(address, { signal: AbortSignal.timeout(20_000) })
  await waitFor(
    () => to.node.libp2p.getConnections(from.node.libp2p.peerId).length > 0,
    20_000,
    'the connection on both sides'
  )
}

async function disconnect(from: Peer, to: Peer): Promise<void> {
  await from.node.libp2p.hangUp(to.node.libp2p.peerId)
  await waitFor(
    () =>
      from.node.libp2p.getConnections(to.node.libp2p.peerId).length === 0 &&
      to.node.libp2p.getConnections(from.node.libp2p.peerId).length === 0,
    20_000,
    'the hang-up on both sides'
  )
}

/** Opens a raw graph-sync stream from `from` to `to`, as any libp2p peer can. */
async function rawStream(from: Peer, to: Peer): Promise<Stream> {
  const connection = from.node.libp2p.getConnections(to.node.libp2p.peerId)[0]
  if (connection === undefined) throw new Error('not connected')
  return connection.newStream(SYNC_PROTOCOL_ID, { signal: AbortSignal.timeout(20_000) })
}

/**
 * Reads frames until the remote ends the stream. Resolves with the number of frames read before the end,
 * or with `'open'` when the stream is still open after `timeoutMs`.
 */
async function framesUntilEnd(lp: ReturnType<typeof lpStream>, timeoutMs: number): Promise<number | 'open'> {
  const signal = AbortSignal.timeout(timeoutMs)
  let frames = 0
  for (;;) {
    try {
      await lp.read({ signal })
      frames++
    } catch (err) {
      if (signal.aborted) return 'open'
      expect(err).toBeInstanceOf(Error)
      return frames
    }
  }
}

describe('graph sync: a peer that sends what no honest peer sends', () => {
  it('loses its session and is refused for the cool-off, across reconnects; honest sync goes on', async () => {
    const reports: SyncMisbehaviourReport[] = []
    const victimSync = await victim.channel.syncGraph(graphSyncEndpoint(victimGraph), {
      onMisbehaviour: (report) => reports.push(report)
    })
    handles.push(victimSync, await honest.channel.syncGraph(graphSyncEndpoint(honestGraph)))
    await connect(victim, honest)
    await connect(hostile, victim)

    // The hostile node answers graph-sync streams only to count the sessions the victim opens to it.
    let opensFromVictim = 0
    await hostile.node.libp2p.handle(SYNC_PROTOCOL_ID, (_stream: Stream, connection) => {
      if (connection.remotePeer.equals(victim.node.libp2p.peerId)) opensFromVictim++
    })

    const refused: Array<{ error: Error; peer: string | undefined }> = []
    victimGraph.events.addEventListener('commit:rejected', ({ detail: { error, origin } }) =>
      refused.push({ error, peer: origin.kind === 'remote' ? origin.peer : undefined })
    )

    // Commits validly signed by the hostile node's own key, into spaces it holds no grant for.
    const clock = Date.now() * 1024
    const intoVictim = await forge(hostile.node.identity, {
      space: victim.node.address,
      seq: 1,
      prev: null,
      clock,
      ops: [['profile', 'name', 0, 'owned']]
    })
    const intoHonest = await forge(hostile.node.identity, {
      space: honest.node.address,
      seq: 1,
      prev: null,
      clock,
      ops: [['profile', 'name', 0, 'owned too']]
    })
    const stream = await rawStream(hostile, victim)
    const lp = lpStream(stream)
    await lp.write(encodeCommits([intoVictim, intoHonest]))

    await waitFor(() => refused.length > 0, 20_000, 'the victim to refuse the forged commit')
    expect(refused[0]?.error).toBeInstanceOf(UnauthorizedWriteError)
    expect(refused[0]?.peer).toBe(hostile.node.address)
    // Nothing of it is stored.
    expect(victimGraph.get(`${victim.node.address}/profile`)).toBeUndefined()
    expect(victimGraph.chainLength(victim.node.address, hostile.node.address)).toBe(0)
    expect(victimGraph.chainLength(honest.node.address, hostile.node.address)).toBe(0)

    // The victim ends the session (the hello it sent on opening may arrive first).
    expect(await framesUntilEnd(lp, 20_000)).not.toBe('open')
    await waitFor(
      () => !victimSync.sessions().some((s) => s.peer === hostile.node.address),
      20_000,
      'the session with the hostile peer to end'
    )
    opensFromVictim = 0

    // It is listed, with one offence (however many bad commits the message held) and a 10-minute cool-off.
    const listed = victimSync.misbehaving()
    expect(listed).toHaveLength(1)
    expect(listed[0]).toMatchObject({ peer: hostile.node.address, reason: 'unauthorized', offences: 1 })
    expect(listed[0]?.until).toBeGreaterThan(Date.now() + 9 * 60_000)
    expect(listed[0]?.until).toBeLessThanOrEqual(Date.now() + 10 * 60_000)
    expect(reports.length).toBeGreaterThanOrEqual(1)
    expect(reports[0]).toMatchObject({ peer: hostile.node.address, reason: 'unauthorized' })

    // A new stream is refused at once: no session, not even a hello.
    const again = lpStream(await rawStream(hostile, victim))
    expect(await framesUntilEnd(again, 20_000)).toBe(0)

    // Reconnecting does not wash the record: the victim opens nothing and refuses what the peer opens.
    await disconnect(hostile, victim)
    await connect(hostile, victim)
    const afterReconnect = lpStream(await rawStream(hostile, victim))
    expect(await framesUntilEnd(afterReconnect, 20_000)).toBe(0)
    expect(opensFromVictim).toBe(0)
    expect(victimSync.sessions().some((s) => s.peer === hostile.node.address)).toBe(false)
    expect(victimSync.misbehaving()).toMatchObject([{ peer: hostile.node.address, offences: 1 }])

    // Honest sync with the third peer keeps working, both ways.
    await victimSync.whenSessionOpen(honest.node.address, { signal: AbortSignal.timeout(20_000) })
    await honestGraph.put(`${honest.node.address}/notes/1`, { text: 'from the honest peer' })
    await victimGraph.put(`${victim.node.address}/notes/1`, { text: 'from the victim' })
    await waitFor(
      () =>
        victimGraph.get(`${honest.node.address}/notes/1`) !== undefined &&
        honestGraph.get(`${victim.node.address}/notes/1`) !== undefined,
      20_000,
      'the victim and the honest peer to sync'
    )
    expect(victimSync.misbehaving().map((m) => m.peer)).toEqual([hostile.node.address])
    await hostile.node.libp2p.unhandle(SYNC_PROTOCOL_ID)
  }, 180_000)

  it('refuses a cool-off that is not a finite number of ms >= 0', async () => {
    for (const misbehaviourCooldownMs of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      await expect(
        honest.channel.syncGraph(graphSyncEndpoint(honestGraph), { misbehaviourCooldownMs })
      ).rejects.toBeInstanceOf(InvalidGraphSyncOptionsError)
    }
  })
})
