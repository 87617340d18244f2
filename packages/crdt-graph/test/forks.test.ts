import type { Identity } from '@araliya/identity'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { COMMIT_CONTEXT, encodeCommitBody, makeEnvelope } from '../src/commit.js'
import {
  createSyncPeer,
  type Graph,
  type ChainForked,
  type GraphStore,
  type GraphValue,
  InvalidSignatureError,
  memoryStore,
  type SyncPeer,
  SyncProtocolError,
  UnauthorizedWriteError
} from '../src/index.js'
import { decodeSyncMessage, encodeHello, encodeProbe } from '../src/sync.js'
import {
  allEnvelopes,
  forge,
  fromHex,
  headIds,
  ManualClock,
  seeded,
  shuffle,
  snapshot,
  startGraph,
  testIdentity
} from './helpers.js'

describe('framing an honest key', () => {
  it('a forged commit at a known position is refused for its signature and never reported as a fork', async () => {
    const [honest, framer] = [await testIdentity(300), await testIdentity(301)]
    const source = await startGraph(honest)
    await source.put(`${honest.address}/a`, { v: 1 })
    const replica = await startGraph(framer)
    const ingested = await replica.ingest(await allEnvelopes(source), { kind: 'remote', peer: 'honest' })
    expect(ingested.accepted).toBe(1)
    // held waiting for seq 2, so the pending position is known too
    const waiting = await forge(honest, {
      space: honest.address,
      seq: 3,
      prev: new Uint8Array(32).fill(3),
      clock: 1_750_000_000_001 * 1024,
      ops: [['a', 'v', 0, 3]]
    })
    expect((await replica.ingest([waiting])).pending).toBe(1)
    const reports: unknown[] = []
    replica.events.addEventListener('chain:forked', ({ detail: event }) => reports.push(event))
    const refused: Error[] = []
    replica.events.addEventListener('commit:rejected', ({ detail: event }) => refused.push(event.error))

    const forgeries: Uint8Array[] = []
    for (const seq of [1, 3]) {
      const body = encodeCommitBody({
        space: honest.address,
        author: honest.address,
        seq,
        prev: seq === 1 ? null : new Uint8Array(32).fill(9),
        clock: 1_750_000_000_000 * 1024,
        dep: 0,
        ops: [['a', 'v', 0, 'framed']]
      })
      // no signature at all, and a valid signature by another key
      forgeries.push(makeEnvelope(new Uint8Array(64), body))
      forgeries.push(makeEnvelope(await framer.sign(COMMIT_CONTEXT, body), body))
    }
    // one per call: a batch stops at its first commit that does not verify
    for (const forgery of forgeries) {
      const result = await replica.ingest([forgery], { kind: 'remote', peer: 'framer' })
      expect(result.accepted).toBe(0)
      expect(result.duplicates).toBe(0)
      expect(result.rejected).toHaveLength(1)
      expect(result.rejected[0]?.error).toBeInstanceOf(InvalidSignatureError)
    }
    expect(refused).toHaveLength(forgeries.length)
    expect(refused.every((error) => error instanceof InvalidSignatureError)).toBe(true)
    expect(reports).toEqual([])
    expect(replica.forks()).toEqual([])
    // the honest commit is still the one kept, and a real replay is still a duplicate
    expect(replica.get(`${honest.address}/a`)).toEqual({ v: 1 })
    expect((await replica.ingest(await allEnvelopes(source))).duplicates).toBe(1)
    await source.stop()
    await replica.stop()
  })
})

const BASE = 1_760_000_000_000

/** Two sync peers wired back to back, counting what each sends. */
function wire(a: Graph, b: Graph) {
  const peerA: SyncPeer = createSyncPeer(a, { peer: 'B', send: (bytes) => void peerB.receive(bytes) })
  const peerB: SyncPeer = createSyncPeer(b, { peer: 'A', send: (bytes) => void peerA.receive(bytes) })
  return {
    peerA,
    peerB,
    async settle() {
      for (let i = 0; i < 20; i++) {
        await Promise.all([peerA.idle(), peerB.idle()])
        await new Promise((resolve) => setImmediate(resolve))
      }
    }
  }
}

interface Device {
  readonly name: string
  readonly identity: Identity
  readonly store: GraphStore
  graph: Graph
}

interface Acked {
  readonly soul: string
  readonly field: string
  readonly value: GraphValue
  readonly commit: string
}

/** A network that delivers in random order, duplicates, and drops what `drop` says. */
class Network {
  readonly queue: Array<{ to: SyncPeer; bytes: Uint8Array }> = []
  drop = 0
  constructor(
    readonly random: () => number,
    readonly duplicate: number
  ) {}

  async run(maxSteps = 20_000): Promise<void> {
    let steps = 0
    while (this.queue.length > 0 && steps++ < maxSteps) {
      const index = Math.floor(this.random() * this.queue.length)
      const [message] = this.queue.splice(index, 1) as [{ to: SyncPeer; bytes: Uint8Array }]
      if (this.random() < this.duplicate) this.queue.push({ ...message })
      if (this.random() < this.drop) continue
      await message.to.receive(message.bytes).catch(() => {})
      await message.to.idle()
      await new Promise((resolve) => setImmediate(resolve))
    }
  }
}

function connect(devices: Device[], network: Network, now: () => number): SyncPeer[] {
  const peers = new Map<string, SyncPeer>()
  for (const from of devices) {
    for (const to of devices) {
      if (from === to) continue
      const peer = createSyncPeer(from.graph, {
        peer: to.name,
        now,
        send: (bytes) => {
          const target = peers.get(`${to.name}>${from.name}`)
          if (target !== undefined) network.queue.push({ to: target, bytes })
        }
      })
      peers.set(`${from.name}>${to.name}`, peer)
    }
  }
  return [...peers.values()]
}

async function syncAll(devices: Device[], random: () => number): Promise<void> {
  const network = new Network(random, 0.3)
  // the sessions' clock: a retry comes after the window in which a repeated request counts as a duplicate
  const clock = new ManualClock()
  const peers = connect(devices, network, clock.now)
  // first over a lossy network, then retries over one that still duplicates and reorders
  network.drop = 0.2
  for (const peer of shuffle(peers, random)) await peer.start()
  await network.run()
  network.drop = 0
  for (let round = 0; round < 3; round++) {
    clock.advance(60_000)
    for (const peer of shuffle(peers, random)) await peer.sync()
    await network.run()
  }
  for (const peer of peers) peer.stop()
}

function expectNothingLost(devices: Device[], acked: Acked[]): void {
  for (const device of devices) {
    for (const write of acked) {
      const found = device.graph
        .history(write.soul, write.field)
        .some((entry) => entry.commit === write.commit && entry.value === write.value)
      expect(found, `${device.name}: ${write.field} from ${write.commit.slice(0, 8)}`).toBe(true)
    }
  }
}

describe('forks (one key signing two commits at one position)', () => {
  it('both commits are accepted, the fork is reported as an event and a status, and rebuilt on restart', async () => {
    const [key, watcher] = [await testIdentity(302), await testIdentity(303)]
    const laptop = await startGraph(key)
    const phone = await startGraph(key)
    await laptop.put(`${key.address}/shared`, { v: 0 })
    await phone.ingest(await allEnvelopes(laptop))
    const a = await laptop.put(`${key.address}/a`, { v: 'laptop' })
    const b = await phone.put(`${key.address}/b`, { v: 'phone' })
    expect(a.seq).toBe(2)
    expect(b.seq).toBe(2)

    const store = memoryStore()
    const replica = await startGraph(watcher, { store })
    const forked: ChainForked[] = []
    replica.events.addEventListener('chain:forked', ({ detail: event }) => forked.push(event))
    await replica.ingest(await allEnvelopes(laptop))
    await replica.ingest(await allEnvelopes(phone))
    expect(replica.get(`${key.address}/a`)).toEqual({ v: 'laptop' })
    expect(replica.get(`${key.address}/b`)).toEqual({ v: 'phone' })
    const expected = {
      space: key.address,
      author: key.address,
      seq: 2,
      commits: [a.id, b.id].sort()
    }
    expect(forked).toHaveLength(1)
    expect(forked[0]).toMatchObject({ space: key.address, author: key.address, seq: 2 })
    expect([...(forked[0]?.commits ?? [])].sort()).toEqual(expected.commits)
    expect(replica.forks()).toEqual([expected])
    expect(replica.forkStatus(key.address, key.address)).toEqual(expected)
    expect(replica.forkStatus(watcher.address, watcher.address)).toBeUndefined()
    // a replay of either proof is a duplicate, not a new report
    const again = await replica.ingest([...(await allEnvelopes(phone)), ...(await allEnvelopes(laptop))])
    expect(again.duplicates).toBe(4)
    expect(forked).toHaveLength(1)

    await replica.stop()
    const restarted = await startGraph(watcher, { store })
    expect(restarted.forks()).toEqual([expected])
    await restarted.stop()
    await laptop.stop()
    await phone.stop()
  })

  it('replicas where one key signed different commits converge through sync in any order, report the fork everywhere and lose no acknowledged write', async () => {
    const key = await testIdentity(304)
    const other = await testIdentity(305)
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
          prefix: fc.integer({ min: 0, max: 3 }),
          laptop: fc.integer({ min: 1, max: 4 }),
          phone: fc.integer({ min: 1, max: 4 }),
          third: fc.integer({ min: 0, max: 2 })
        }),
        async ({ seed, prefix, laptop, phone, third }) => {
          const random = seeded(seed)
          let now = BASE
          const make = async (name: string, identity: Identity): Promise<Device> => {
            const store = memoryStore()
            const graph = await startGraph(identity, { store, now: () => now })
            return { name, identity, store, graph }
          }
          const devices = [await make('laptop', key), await make('phone', key), await make('other', other)]
          const [one, two, three] = devices as [Device, Device, Device]
          const acked: Acked[] = []
          const write = async (device: Device, space: string, i: number): Promise<void> => {
            now += Math.floor(random() * 3)
            const field = `f${Math.floor(random() * 3)}`
            const value = `${device.name}-${i}`
            const receipt = await device.graph.put(`${space}/doc`, { [field]: value })
            acked.push({ soul: `${space}/doc`, field, value, commit: receipt.id })
          }
          // a shared beginning, then the same key writes on two devices that do not see each other
          for (let i = 0; i < prefix; i++) await write(one, key.address, i)
          await two.graph.ingest(await allEnvelopes(one.graph))
          for (let i = 0; i < laptop; i++) await write(one, key.address, 100 + i)
          for (let i = 0; i < phone; i++) await write(two, key.address, 200 + i)
          for (let i = 0; i < third; i++) await write(three, other.address, 300 + i)

          await syncAll(devices, random)
          const state = snapshot(one.graph)
          for (const device of devices) expect(snapshot(device.graph), device.name).toBe(state)
          expectNothingLost(devices, acked)
          const forks = one.graph.forks()
          expect(forks).toHaveLength(1)
          expect(forks[0]).toMatchObject({ space: key.address, author: key.address, seq: prefix + 1 })
          for (const device of devices) {
            expect(device.graph.forks(), device.name).toEqual(forks)
            expect(device.graph.pendingCount).toBe(0)
          }

          // restarts rebuild the fork report from the store
          if (random() < 0.5) {
            for (const device of devices) {
              await device.graph.stop()
              device.graph = await startGraph(device.identity, { store: device.store, now: () => now })
              expect(device.graph.forks(), device.name).toEqual(forks)
            }
          }
          // after syncing, both devices extend the same tip: later writes do not fork again
          await write(two, key.address, 400)
          await syncAll(devices, random)
          await write(one, key.address, 500)
          await syncAll(devices, random)
          for (const device of devices) {
            expect(snapshot(device.graph), device.name).toBe(snapshot(one.graph))
            expect(device.graph.forks(), device.name).toEqual(forks)
          }
          expectNothingLost(devices, acked)
          for (const device of devices) await device.graph.stop()
        }
      ),
      { numRuns: process.env.ARALIYA_BIG === '1' ? 100 : 15, seed: 304 }
    )
  })

  it("the owner's chain forked: a grantee's writes are judged by the owner commits it named, alike in every delivery order", async () => {
    const [owner, grantee, observer] = [
      await testIdentity(306),
      await testIdentity(307),
      await testIdentity(308)
    ]
    const clock = new ManualClock()
    const desk = await startGraph(owner, { now: clock.now })
    const backup = await startGraph(owner, { now: clock.now })
    const device = await startGraph(grantee, { now: clock.now })
    const grant = await desk.grant(
      grantee.address,
      { pathPrefix: 'shared/', rights: ['write'] },
      { expiresAt: clock.ms + 3_600_000 }
    )
    await backup.ingest(await allEnvelopes(desk))
    clock.advance(10)
    // the fork: the desk writes on (its branch is the longer one), a restored backup revokes the grant
    await desk.put(`${owner.address}/notes`, { n: 1 })
    await desk.put(`${owner.address}/notes`, { n: 2 })
    await backup.revoke(grant)
    clock.advance(10)
    // the grantee has seen only the desk's branch (with the grant): its write counts
    await device.ingest(await allEnvelopes(desk))
    const before = await device.put(`${owner.address}/shared/x`, { v: 'before' })
    // once it has seen the revocation on the other branch it may not write, although the tip is elsewhere
    await device.ingest(await allEnvelopes(backup))
    await expect(device.put(`${owner.address}/shared/y`, { v: 'after' })).rejects.toBeInstanceOf(
      UnauthorizedWriteError
    )
    expect(device.forkStatus(owner.address, owner.address)?.seq).toBe(2)
    // a commit that names both branches (so it has seen the revocation) is refused on every replica
    const heads = headIds(device, owner.address, owner.address)
    expect(heads).toHaveLength(2)
    const forged = await forge(grantee, {
      space: owner.address,
      seq: 2,
      prev: fromHex(before.id),
      clock: clock.ms * 1024,
      dep: 3,
      seen: heads,
      ops: [['shared/z', 'v', 0, 'forged']]
    })
    // and one that names only the branch with the grant still counts (it had not seen the revocation)
    const concurrent = await forge(grantee, {
      space: owner.address,
      seq: 2,
      prev: fromHex(before.id),
      clock: clock.ms * 1024 + 1,
      dep: 3,
      seen: headIds(desk, owner.address, owner.address),
      ops: [['shared/w', 'v', 0, 'concurrent']]
    })
    const all = [
      ...(await allEnvelopes(desk)),
      ...(await allEnvelopes(backup)),
      ...(await allEnvelopes(device)),
      forged,
      concurrent
    ]
    const states = new Set<string>()
    await fc.assert(
      fc.asyncProperty(fc.integer(), fc.integer({ min: 1, max: 4 }), async (seed, chunk) => {
        const order = shuffle([...all, ...all.slice(0, 2)], seeded(seed))
        const replica = await startGraph(observer, { now: clock.now })
        for (let i = 0; i < order.length; i += chunk) await replica.ingest(order.slice(i, i + chunk))
        expect(replica.pendingCount).toBe(0)
        expect(replica.get(`${owner.address}/shared/x`)).toEqual({ v: 'before' })
        expect(replica.get(`${owner.address}/shared/w`)).toEqual({ v: 'concurrent' })
        expect(replica.get(`${owner.address}/shared/z`)).toBeUndefined()
        expect(replica.get(`${owner.address}/notes`)).toEqual({ n: 2 })
        expect(replica.forkStatus(owner.address, owner.address)?.seq).toBe(2)
        // the commit that names the revocation is refused as a whole (never stored): no fork of the grantee
        expect(replica.forkStatus(owner.address, grantee.address)).toBeUndefined()
        expect(await allEnvelopes(replica)).not.toContainEqual(forged)
        states.add(snapshot(replica))
        await replica.stop()
      }),
      { numRuns: 25, seed: 306 }
    )
    expect(states.size).toBe(1)
    for (const graph of [desk, backup, device]) await graph.stop()
  })

  it('finding the fork point through sync sends no more than twice what each side lacks', async () => {
    const key = await testIdentity(309)
    for (const [common, left, right] of [
      [300, 3, 2],
      [100, 50, 1],
      [0, 2, 5]
    ] as const) {
      const laptop = await startGraph(key)
      const phone = await startGraph(key)
      for (let i = 0; i < common; i++) await laptop.put(`${key.address}/c`, { i })
      await phone.ingest(await allEnvelopes(laptop))
      for (let i = 0; i < left; i++) await laptop.put(`${key.address}/l`, { i })
      for (let i = 0; i < right; i++) await phone.put(`${key.address}/r`, { i })
      const link = wire(laptop, phone)
      await link.peerA.start()
      await link.peerB.start()
      await link.settle()
      expect(snapshot(laptop)).toBe(snapshot(phone))
      expect(laptop.forks()).toEqual(phone.forks())
      expect(laptop.forks()).toHaveLength(1)
      // each side sent at most twice what the other lacked
      expect(link.peerA.stats.commitsSent).toBeLessThanOrEqual(2 * left)
      expect(link.peerB.stats.commitsSent).toBeLessThanOrEqual(2 * right)
      // and a later exchange sends nothing at all
      const sent = link.peerA.stats.commitsSent + link.peerB.stats.commitsSent
      await link.peerA.sync()
      await link.peerB.sync()
      await link.settle()
      expect(link.peerA.stats.commitsSent + link.peerB.stats.commitsSent).toBe(sent)
      await laptop.stop()
      await phone.stop()
    }
  })

  it('without a fork, a replica that is behind gets each missing commit once, whichever side starts first', async () => {
    const [owner, device] = [await testIdentity(313), await testIdentity(314)]
    for (const awaitDelivery of [true, false]) {
      const a = await startGraph(owner)
      const b = await startGraph(device)
      await a.grant(device.address, { pathPrefix: '', rights: ['write'] }, { expiresAt: Date.now() + 60_000 })
      await b.ingest(await allEnvelopes(a))
      for (let i = 0; i < 30; i++) await a.put(`${owner.address}/a${i}`, { i })
      for (let i = 0; i < 20; i++) await b.put(`${owner.address}/b${i}`, { i })
      const types: number[] = []
      const peerA: SyncPeer = createSyncPeer(a, {
        peer: 'B',
        send: (bytes) => {
          types.push(bytes[1] as number)
          return awaitDelivery ? peerB.receive(bytes) : void peerB.receive(bytes)
        }
      })
      const peerB: SyncPeer = createSyncPeer(b, {
        peer: 'A',
        send: (bytes) => {
          types.push(bytes[1] as number)
          return awaitDelivery ? peerA.receive(bytes) : void peerA.receive(bytes)
        }
      })
      await peerA.start()
      await peerB.start()
      for (let i = 0; i < 20; i++) {
        await Promise.all([peerA.idle(), peerB.idle()])
        await new Promise((resolve) => setImmediate(resolve))
      }
      expect(snapshot(a)).toBe(snapshot(b))
      expect(peerA.stats.commitsSent).toBe(30)
      expect(peerB.stats.commitsSent).toBe(20)
      // no probe (message type 4)
      expect(types).not.toContain(4)
      for (const graph of [a, b]) await graph.stop()
    }
  })

  it('a fork made while connected reaches the other side live', async () => {
    const [key, watcher] = [await testIdentity(310), await testIdentity(311)]
    const laptop = await startGraph(key)
    const phone = await startGraph(key)
    const replica = await startGraph(watcher)
    await laptop.put(`${key.address}/x`, { v: 0 })
    await phone.ingest(await allEnvelopes(laptop))
    const link = wire(laptop, replica)
    await link.peerA.start()
    await link.peerB.start()
    await link.settle()
    await laptop.put(`${key.address}/x`, { v: 1 })
    await link.settle()
    // the phone's commit at the same position reaches the laptop, which forwards it to the replica
    const fork = await phone.put(`${key.address}/x`, { v: 2 })
    await laptop.ingest(await allEnvelopes(phone), { kind: 'remote', peer: 'phone' })
    await link.settle()
    expect(replica.forkStatus(key.address, key.address)?.commits).toContain(fork.id)
    expect(snapshot(replica)).toBe(snapshot(laptop))
    for (const graph of [laptop, phone, replica]) await graph.stop()
  })
})

describe('fork discovery on the wire', () => {
  it('hello entries carry head ids and probes carry commits; both decode strictly', async () => {
    const me = await testIdentity(312)
    const id = new Uint8Array(32).fill(5)
    const hello = encodeHello({ vector: [[me.address, me.address, 3, id]], spaces: null, reply: true })
    expect(decodeSyncMessage(hello)).toEqual({
      type: 'hello',
      vector: [[me.address, me.address, 3, id]],
      spaces: null,
      reply: true
    })
    const probe = encodeProbe({
      chains: [
        [
          me.address,
          me.address,
          [
            [3, id],
            [1, id]
          ]
        ]
      ],
      reply: false
    })
    expect(decodeSyncMessage(probe)).toEqual({
      type: 'probe',
      chains: [
        [
          me.address,
          me.address,
          [
            [3, id],
            [1, id]
          ]
        ]
      ],
      reply: false
    })
    const bad = [
      encodeHello({ vector: [[me.address, me.address, 3, new Uint8Array(31)]], spaces: null, reply: true }),
      encodeHello({ vector: [[me.address, me.address, 0, id]], spaces: null, reply: true }),
      encodeProbe({ chains: [[me.address, me.address, [[0, id]]]], reply: true }),
      encodeProbe({
        chains: [[me.address, me.address, Array.from({ length: 129 }, (_, i) => [i + 1, id] as const)]],
        reply: true
      })
    ]
    for (const message of bad) expect(() => decodeSyncMessage(message)).toThrow(SyncProtocolError)
  })
})
