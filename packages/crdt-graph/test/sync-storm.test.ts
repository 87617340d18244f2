import type { Identity } from '@araliya/identity'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createSyncPeer, encodeCommits, type Graph, type SyncPeer } from '../src/index.js'
import { decodeCommit } from '../src/commit.js'
import { decodeSyncMessage, encodeHello, encodeProbe } from '../src/sync.js'
import { allEnvelopes, forge, ManualClock, seeded, startGraph, testIdentity } from './helpers.js'

/** A transport that delivers every message twice, the copy at a random later point, and reorders. */
class DuplicatingNetwork {
  readonly queue: Array<{ to: SyncPeer; bytes: Uint8Array; copy: boolean }> = []
  constructor(
    readonly random: () => number,
    readonly reorder: boolean
  ) {}

  send(to: SyncPeer, bytes: Uint8Array): void {
    this.queue.push({ to, bytes, copy: false })
  }

  async run(maxSteps = 200_000): Promise<void> {
    let steps = 0
    while (this.queue.length > 0 && steps++ < maxSteps) {
      const index = this.reorder ? Math.floor(this.random() * this.queue.length) : 0
      const [message] = this.queue.splice(index, 1) as [{ to: SyncPeer; bytes: Uint8Array; copy: boolean }]
      if (!message.copy) {
        const at = Math.floor(this.random() * (this.queue.length + 1))
        this.queue.splice(at, 0, { ...message, copy: true })
      }
      await message.to.receive(message.bytes)
      await message.to.idle()
    }
  }
}

/** A validly signed commit of `signer`'s own chain at seq 2 whose seq 1 nobody has: it waits forever. */
async function plantStuckCommit(graph: Graph, signer: Identity): Promise<void> {
  const stuck = await forge(signer, {
    space: signer.address,
    seq: 2,
    prev: new Uint8Array(32).fill(7),
    clock: 1,
    ops: [['x', 'v', 0, 1]]
  })
  const result = await graph.ingest([stuck], { kind: 'remote', peer: 'someone' })
  expect(result.held).toBe(1)
  expect(graph.pendingCount).toBe(1)
}

/** Small messages (8 KiB, a few dozen commits each): many messages, so many duplicates. */
function wire(a: Graph, b: Graph, network: DuplicatingNetwork) {
  const targetMessageBytes = 8192
  const peerA: SyncPeer = createSyncPeer(a, {
    peer: 'B',
    targetMessageBytes,
    send: (bytes) => network.send(peerB, bytes)
  })
  const peerB: SyncPeer = createSyncPeer(b, {
    peer: 'A',
    targetMessageBytes,
    send: (bytes) => network.send(peerA, bytes)
  })
  return { peerA, peerB }
}

describe('sync storms', () => {
  it('a duplicating transport and one stuck pending commit: commits sent stay within a small factor of what is lacking', async () => {
    const n = 1000
    const [ia, ib, stranger] = [await testIdentity(410), await testIdentity(411), await testIdentity(412)]
    const a = await startGraph(ia)
    const b = await startGraph(ib)
    for (let i = 0; i < n; i++) await a.put(`${ia.address}/n${i % 100}`, { v: i })
    await plantStuckCommit(b, stranger)
    const network = new DuplicatingNetwork(seeded(1), false)
    const { peerA, peerB } = wire(a, b, network)
    await peerA.start()
    await peerB.start()
    await network.run()
    expect(b.chainLength(ia.address, ia.address)).toBe(n)
    expect(b.pendingCount).toBe(1)
    expect(peerA.stats.commitsSent).toBeLessThan(3 * n)
    await a.stop()
    await b.stop()
  }, 120_000)

  it('property: duplicating, reordering transports never make a side send more than 3x what the other lacks', async () => {
    const [ia, ib, stranger] = [await testIdentity(413), await testIdentity(414), await testIdentity(415)]
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        fc.integer({ min: 100, max: 300 }),
        fc.integer({ min: 0, max: 200 }),
        fc.boolean(),
        async (seed, na, nb, stuck) => {
          const a = await startGraph(ia)
          const b = await startGraph(ib)
          for (let i = 0; i < na; i++) await a.put(`${ia.address}/n${i % 20}`, { v: i })
          for (let i = 0; i < nb; i++) await b.put(`${ib.address}/n${i % 20}`, { v: i })
          if (stuck) await plantStuckCommit(b, stranger)
          const network = new DuplicatingNetwork(seeded(seed), true)
          const { peerA, peerB } = wire(a, b, network)
          await peerA.start()
          await peerB.start()
          await network.run()
          expect(b.chainLength(ia.address, ia.address)).toBe(na)
          expect(a.chainLength(ib.address, ib.address)).toBe(nb)
          expect(peerA.stats.commitsSent).toBeLessThanOrEqual(3 * na)
          // b also forwards nothing it was not asked for: a lacked nb commits
          expect(peerB.stats.commitsSent).toBeLessThanOrEqual(Math.max(3 * nb, 64))
          await a.stop()
          await b.stop()
        }
      ),
      { numRuns: 8, seed: 11 }
    )
  }, 300_000)

  it('a peer repeating one hello gets the missing commits about once, not once per hello', async () => {
    const n = 300
    const me = await testIdentity(416)
    const graph = await startGraph(me)
    for (let i = 0; i < n; i++) await graph.put(`${me.address}/n${i % 30}`, { v: i })
    const sent = { hellos: 0, commits: 0 }
    const clock = new ManualClock()
    const peer = createSyncPeer(graph, {
      peer: 'hostile',
      now: clock.now,
      compress: false,
      send: (bytes) => {
        const message = decodeSyncMessage(bytes)
        if (message.type === 'hello') sent.hellos++
        else if (message.type === 'commits') sent.commits += message.envelopes.length
      }
    })
    const hello = encodeHello({ vector: [], spaces: null, reply: true })
    for (let i = 0; i < 200; i++) {
      await peer.receive(hello)
      await peer.idle()
    }
    // within the window every repeat is a duplicate: the commits went out once
    expect(sent.commits).toBe(n)
    expect(peer.stats.commitsSent).toBe(sent.commits)
    // and it is not answered with our own (unchanged) hello every time either
    expect(sent.hellos).toBeLessThanOrEqual(2)
    // asked again after the window (a lost answer?): resent once, then the allowance is used up
    for (let round = 0; round < 5; round++) {
      clock.advance(120_000)
      for (let i = 0; i < 20; i++) await peer.receive(hello)
      await peer.idle()
    }
    expect(sent.commits).toBe(2 * n)
    expect(peer.stats.commitsResent).toBe(n)
    expect(sent.hellos).toBeLessThanOrEqual(7)
    await graph.stop()
  }, 60_000)

  it('a peer repeating probes gets the missing commits about once, not once per probe', async () => {
    const n = 300
    const me = await testIdentity(422)
    const graph = await startGraph(me)
    for (let i = 0; i < n; i++) await graph.put(`${me.address}/n${i % 30}`, { v: i })
    const ids = (await allEnvelopes(graph)).map((envelope) => decodeCommit(envelope).id)
    const sent = { commits: 0, other: 0 }
    const clock = new ManualClock()
    const peer = createSyncPeer(graph, {
      peer: 'hostile',
      now: clock.now,
      compress: false,
      send: (bytes) => {
        const message = decodeSyncMessage(bytes)
        if (message.type === 'commits') sent.commits += message.envelopes.length
        else sent.other++
      }
    })
    // "I hold commit `seq` of your chain; send me what is above it"
    const probe = (seq: number) =>
      encodeProbe({ chains: [[me.address, me.address, [[seq, ids[seq - 1] as Uint8Array]]]], reply: true })
    // the same probe over and over within its window: the chain goes out once
    for (let i = 0; i < 200; i++) {
      await peer.receive(probe(1))
      await peer.idle()
    }
    expect(sent.commits).toBe(n - 1)
    expect(peer.stats.commitsSent).toBe(sent.commits)
    // every ref is known here: no probe back
    expect(sent.other).toBe(0)
    // different probes, and the same ones after their window: resent once, then the allowance is used up
    for (let round = 0; round < 5; round++) {
      clock.advance(120_000)
      for (const seq of [1, 2, 3, 4]) await peer.receive(probe(seq))
      await peer.idle()
    }
    expect(sent.commits).toBeLessThanOrEqual(2 * (n - 1) + 64)
    expect(peer.stats.commitsResent).toBeLessThanOrEqual(n - 1 + 64)
    expect(peer.stats.resendsRefused).toBeGreaterThan(0)
    await graph.stop()
  }, 60_000)

  it('gap hellos: one for newly held commits, none for duplicates, at most one per backoff window', async () => {
    const [me, writer] = [await testIdentity(417), await testIdentity(418)]
    const source = await startGraph(writer)
    for (let i = 0; i < 10; i++) await source.put(`${writer.address}/n`, { v: i })
    const chain = await source.readChain(writer.address, writer.address, 1, 10)
    const graph = await startGraph(me)
    const clock = new ManualClock()
    let hellos = 0
    const peer = createSyncPeer(graph, {
      peer: 'source',
      now: clock.now,
      send: (bytes) => {
        if (decodeSyncMessage(bytes).type === 'hello') hellos++
      }
    })
    // seq 3 without 1 and 2: held, so we ask once
    await peer.receive(encodeCommits([chain[2] as Uint8Array]))
    await peer.idle()
    expect(hellos).toBe(1)
    // the same message again and again: nothing newly held, nothing asked
    for (let i = 0; i < 20; i++) await peer.receive(encodeCommits([chain[2] as Uint8Array]))
    await peer.idle()
    expect(hellos).toBe(1)
    // newly held within the backoff window: deferred while the first hello is outstanding
    await peer.receive(encodeCommits([chain[4] as Uint8Array]))
    await peer.idle()
    expect(hellos).toBe(1)
    // once the window has passed, the next message sends the deferred hello
    clock.advance(60_000)
    await peer.receive(encodeCommits([chain[2] as Uint8Array]))
    await peer.idle()
    expect(hellos).toBe(2)
    // when the gap is filled, nothing is left to ask for
    await peer.receive(encodeCommits(chain.slice(0, 10) as Uint8Array[]))
    await peer.idle()
    expect(graph.pendingCount).toBe(0)
    expect(graph.chainLength(writer.address, writer.address)).toBe(10)
    expect(hellos).toBe(2)
    await source.stop()
    await graph.stop()
  })

  it('a deferred gap hello goes out by itself once the backoff window has passed', async () => {
    const [me, writer] = [await testIdentity(419), await testIdentity(420)]
    const source = await startGraph(writer)
    for (let i = 0; i < 6; i++) await source.put(`${writer.address}/n`, { v: i })
    const chain = await source.readChain(writer.address, writer.address, 1, 6)
    const graph = await startGraph(me)
    let hellos = 0
    const peer = createSyncPeer(graph, {
      peer: 'source',
      send: (bytes) => {
        if (decodeSyncMessage(bytes).type === 'hello') hellos++
      }
    })
    await peer.receive(encodeCommits([chain[2] as Uint8Array]))
    await peer.receive(encodeCommits([chain[4] as Uint8Array]))
    await peer.idle()
    expect(hellos).toBe(1)
    // nothing else arrives: the timer of the backoff window sends the second one
    const deadline = Date.now() + 30_000
    while (hellos < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
    expect(hellos).toBe(2)
    expect(peer.stats.gapHellosSent).toBe(2)
    peer.stop()
    await source.stop()
    await graph.stop()
  }, 60_000)
})
