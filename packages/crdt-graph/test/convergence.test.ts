import type { Identity } from '@araliya/identity'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  createGraph,
  createSyncPeer,
  type Graph,
  type GraphStore,
  type GraphValue,
  memoryStore,
  type SyncPeer
} from '../src/index.js'
import { allEnvelopes, seeded, shuffle, snapshot, startGraph, testIdentity } from './helpers.js'

interface Replica {
  identity: Identity
  store: GraphStore
  graph: Graph
  offsetMs: number
}

interface Acked {
  soul: string
  field: string
  value: GraphValue | undefined
  commit: string
}

const BASE = 1_760_000_000_000

/** A lossy, duplicating, reordering network between sync peers. */
class Network {
  readonly queue: Array<{ to: SyncPeer; bytes: Uint8Array }> = []
  drop = 0
  duplicate = 0
  constructor(readonly random: () => number) {}

  async run(maxSteps = 20_000): Promise<void> {
    let steps = 0
    while (this.queue.length > 0 && steps++ < maxSteps) {
      const index = Math.floor(this.random() * this.queue.length)
      const [message] = this.queue.splice(index, 1) as [{ to: SyncPeer; bytes: Uint8Array }]
      if (this.random() < this.drop) continue
      if (this.random() < this.duplicate) this.queue.push(message)
      await message.to.receive(message.bytes).catch(() => {})
      await message.to.idle()
      await new Promise((resolve) => setImmediate(resolve))
    }
  }
}

function connect(replicas: Replica[], network: Network): SyncPeer[] {
  const peers = new Map<string, SyncPeer>()
  const all: SyncPeer[] = []
  for (const from of replicas) {
    for (const to of replicas) {
      if (from === to) continue
      const peer = createSyncPeer(from.graph, {
        peer: to.identity.address,
        send: (bytes) => {
          const target = peers.get(`${to.identity.address}>${from.identity.address}`)
          if (target !== undefined) network.queue.push({ to: target, bytes })
        }
      })
      peers.set(`${from.identity.address}>${to.identity.address}`, peer)
      all.push(peer)
    }
  }
  return all
}

async function converge(seed: number, rounds: number, opsPerRound: number): Promise<void> {
  const random = seeded(seed)
  let now = BASE
  const identities = [await testIdentity(70), await testIdentity(71), await testIdentity(72)]
  const replicas: Replica[] = []
  for (const [i, identity] of identities.entries()) {
    const store = memoryStore()
    const offsetMs = [0, -7_000, 12_000][i] as number
    const graph = createGraph({ identity, store, now: () => now + offsetMs })
    await graph.start()
    replicas.push({ identity, store, graph, offsetMs })
  }
  const owner = replicas[0] as Replica
  // the owner lets the two others write its shared space
  for (const other of replicas.slice(1)) {
    await owner.graph.grant(
      other.identity.address,
      { pathPrefix: 'shared/', rights: ['write', 'delete'] },
      {
        expiresAt: BASE + 86_400_000
      }
    )
  }
  const ownerCommits = await allEnvelopes(owner.graph)
  for (const other of replicas.slice(1)) await other.graph.ingest(ownerCommits)

  const acked: Acked[] = []
  const souls = (replica: Replica): string[] => [
    `${owner.identity.address}/shared/a`,
    `${owner.identity.address}/shared/b`,
    `${replica.identity.address}/own`
  ]
  for (let round = 0; round < rounds; round++) {
    // offline writes
    for (const replica of replicas) {
      const count = 1 + Math.floor(random() * opsPerRound)
      for (let i = 0; i < count; i++) {
        now += Math.floor(random() * 3)
        const candidates = souls(replica)
        const soul = candidates[Math.floor(random() * candidates.length)] as string
        const field = `f${Math.floor(random() * 3)}`
        const roll = random()
        const value: GraphValue | undefined =
          roll < 0.15
            ? undefined
            : roll < 0.5
              ? Math.floor(random() * 100)
              : roll < 0.8
                ? `s${round}-${i}`
                : roll < 0.9
                  ? null
                  : true
        const batch = random() < 0.3
        const receipts = await replica.graph.transact((tx) => {
          if (value === undefined) tx.remove(soul, field)
          else tx.set(soul, field, value)
          if (batch) tx.set(soul, 'extra', round)
        })
        acked.push({ soul, field, value, commit: receipts[0]?.id as string })
        if (batch) acked.push({ soul, field: 'extra', value: round, commit: receipts[0]?.id as string })
      }
    }
    // lossy sync
    const network = new Network(random)
    network.drop = 0.2
    network.duplicate = 0.2
    let peers = connect(replicas, network)
    for (const peer of shuffle(peers, random)) await peer.start()
    await network.run()
    // save / load between rounds: every replica restarts from its store
    if (random() < 0.7) {
      for (const peer of peers) peer.stop()
      for (const replica of replicas) {
        await replica.graph.stop()
        const offset = replica.offsetMs
        replica.graph = createGraph({
          identity: replica.identity,
          store: replica.store,
          now: () => now + offset
        })
        await replica.graph.start()
      }
      peers = connect(replicas, network)
      for (const peer of peers) await peer.start()
    }
    // retries until quiet, over a network that still duplicates and reorders but stops dropping
    network.drop = 0
    for (let attempt = 0; attempt < 3; attempt++) {
      for (const peer of shuffle(peers, random)) await peer.sync()
      await network.run()
    }
    for (const peer of peers) peer.stop()
    now += 1000
  }
  const states = replicas.map((r) => snapshot(r.graph))
  expect(states[1]).toBe(states[0])
  expect(states[2]).toBe(states[0])
  for (const replica of replicas) {
    expect(replica.graph.pendingCount).toBe(0)
    // lost = none: every acknowledged write is in every replica's history
    for (const write of acked) {
      const history = replica.graph.history(write.soul, write.field)
      const found = history.some(
        (entry) =>
          entry.commit === write.commit &&
          (write.value === undefined ? entry.deleted : entry.value === write.value)
      )
      expect(found, `${write.soul}.${write.field} from ${write.commit}`).toBe(true)
    }
  }
  for (const replica of replicas) await replica.graph.stop()
}

describe('convergence', () => {
  it('3 replicas with lossy, duplicating, reordering sync and restarts converge and lose no acknowledged write', async () => {
    const runs = process.env.ARALIYA_BIG === '1' ? 100 : 12
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 2 ** 31 - 1 }), async (seed) => converge(seed, 3, 8)),
      { numRuns: runs, seed: 7 }
    )
  })

  it('merge is commutative, associative and idempotent', async () => {
    const writers = [await testIdentity(73), await testIdentity(74), await testIdentity(75)]
    const sets: Uint8Array[][] = []
    for (const [i, writer] of writers.entries()) {
      const graph = await startGraph(writer, { now: () => BASE + (i % 2) })
      for (let k = 0; k < 10; k++)
        await graph.put(`${writer.address}/k${k % 3}`, { v: k * (i + 1), w: `${i}` })
      sets.push(await allEnvelopes(graph))
      await graph.stop()
    }
    const observer = await testIdentity(76)
    const merge = async (parts: Uint8Array[][]): Promise<string> => {
      const graph = await startGraph(observer)
      for (const part of parts) await graph.ingest(part)
      const state = snapshot(graph)
      await graph.stop()
      return state
    }
    const [x, y, z] = sets as [Uint8Array[], Uint8Array[], Uint8Array[]]
    const reference = await merge([x, y, z])
    expect(await merge([z, y, x])).toBe(reference)
    expect(await merge([[...x, ...y], z])).toBe(reference)
    expect(await merge([x, [...y, ...z]])).toBe(reference)
    expect(await merge([x, y, z, z, y, x])).toBe(reference)
    await fc.assert(
      fc.asyncProperty(fc.integer(), async (seed) => {
        const all = shuffle([...x, ...y, ...z, ...x.slice(0, 3)], seeded(seed))
        expect(await merge([all])).toBe(reference)
      }),
      { numRuns: 20, seed: 8 }
    )
  })

  it('a concurrent update and delete of one field resolve the same way everywhere; the loser stays in history', async () => {
    const [owner, device] = [await testIdentity(77), await testIdentity(78)]
    const now = BASE
    const a = await startGraph(owner, { now: () => now })
    const b = await startGraph(device, { now: () => now })
    await a.grant(
      device.address,
      { pathPrefix: '', rights: ['write', 'delete'] },
      { expiresAt: now + 60_000 }
    )
    const soul = `${owner.address}/doc`
    await a.put(soul, { title: 'v1' })
    await b.ingest(await allEnvelopes(a))
    // concurrently: a updates, b deletes (b's clock stamp is the same millisecond)
    await a.put(soul, { title: 'v2' })
    await b.remove(soul, 'title')
    await a.ingest(await allEnvelopes(b))
    await b.ingest(await allEnvelopes(a))
    expect(snapshot(a)).toBe(snapshot(b))
    const winnerA = a.getField(soul, 'title')
    const winnerB = b.getField(soul, 'title')
    expect(winnerA).toEqual(winnerB)
    const history = a.history(soul, 'title')
    expect(history).toHaveLength(3)
    expect(history.some((h) => h.deleted)).toBe(true)
    expect(history.some((h) => h.value === 'v2')).toBe(true)
    await a.stop()
    await b.stop()
  })
})
