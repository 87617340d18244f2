import { createGraph, type Graph } from '@araliya/crdt-graph'
import type { TestNetwork } from '@araliya/dht-node/testing'
import { encodeCanonical, generateIdentity, identityFromSeed } from '@araliya/identity'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createMemory,
  type Memory,
  type MemoryReplication,
  memoryReplication,
  NoReplicaError,
  type RestoreProgress,
  restoreMemory
} from '../src/index.js'
import {
  decodeMessage,
  decodeReply,
  encodeMessage,
  encodeSignedOrder,
  MAX_REQUEST_BYTES,
  REPLICATION_CONTEXT,
  signOrder,
  verifyOrder
} from '../src/replication/request.js'
import { syncPair } from './helpers.js'
import {
  addNode,
  createSwarm,
  eventAfter,
  holdsSpace,
  type SwarmNode,
  sendRaw,
  storedBytes,
  whenGraph
} from './swarm.js'

const SECRETS = [
  'my bank PIN is 4711',
  'the spare key is under the third flowerpot',
  'call me Ishmael',
  'allergic to penicillin'
]

let net: TestNetwork
let full: SwarmNode[] = []
const fullGraphs: Graph[] = []
const cleanup: Array<() => Promise<void>> = []
let seed: Uint8Array
let laptop: Memory
let device: SwarmNode

beforeAll(async () => {
  net = await createSwarm()
  full = [await addNode(net, 'full'), await addNode(net, 'full')]
  for (const f of full) {
    const graph = createGraph({ identity: f.identity })
    await graph.start()
    cleanup.push(() => graph.stop())
    fullGraphs.push(graph)
    // Serving makes a full node announce that it takes requests.
    await eventAfter<{ owner?: string }>(
      f.replication,
      'replica:provided',
      (d) => d.owner === undefined,
      () => f.replication.serve(graph)
    )
  }

  // The owner's two devices share one key; they wrote offline and made a conflict, then met.
  seed = globalThis.crypto.getRandomValues(new Uint8Array(32))
  laptop = createMemory({ identity: await identityFromSeed(seed), device: 'laptop' })
  const phone = createMemory({ identity: await identityFromSeed(seed), device: 'phone' })
  await laptop.start()
  await phone.start()
  cleanup.push(() => phone.stop())
  await laptop.remember(SECRETS[0] as string)
  await laptop.remember(SECRETS[1] as string, { tags: ['home'] })
  await laptop.session('chat').append({ role: 'user', content: SECRETS[2] as string })
  await laptop.relate('user', 'allergy', SECRETS[3] as string, { single: true })
  await laptop.relate('user', 'favourite colour', 'blue', { single: true })
  await syncPair(laptop.graph, phone.graph)
  const colour = laptop.facts({ subject: 'user', relation: 'favourite colour' })[0]?.id as string
  await laptop.correct(colour, { object: 'green' })
  await phone.correct(colour, { object: 'red' })
  await syncPair(laptop.graph, phone.graph)
  expect(laptop.conflicts()).toHaveLength(1)

  // The laptop joins the swarm (a light node) and asks two full nodes to keep its memory.
  device = await addNode(net, 'light', {}, await identityFromSeed(seed))
  await device.replication.serve(laptop.graph, { spaces: [laptop.owner] })
}, 180_000)

afterAll(async () => {
  for (const stop of cleanup.reverse()) await stop()
  await laptop?.stop()
  await net?.stop()
}, 60_000)

describe('replication and restore over the swarm', () => {
  it('two full nodes accept a signed request, sync the encrypted space and announce themselves', async () => {
    const owner = laptop.owner
    const provided = full.map((f) =>
      eventAfter<{ owner?: string }>(
        f.replication,
        'replica:provided',
        (d) => d.owner === owner,
        () => undefined
      )
    )
    const receipt = await device.replication.request(device.identity, { replicas: 2, ttlMs: 3_600_000 })
    expect(receipt.accepted.map((a) => a.peer).sort()).toEqual(full.map((f) => f.identity.address).sort())
    for (const f of full) expect(f.replication.replicated().map((r) => r.owner)).toEqual([owner])
    await Promise.all(fullGraphs.map((g) => whenGraph(g, () => holdsSpace(g, laptop.graph, owner))))
    await Promise.all(provided)
    const replicas = await device.replication.findReplicas(owner)
    expect(replicas.map((r) => r.address).sort()).toEqual(full.map((f) => f.identity.address).sort())
  }, 120_000)

  it("a replica's stored bytes contain none of the plaintext", async () => {
    for (const graph of fullGraphs) {
      const bytes = Buffer.from(await storedBytes(graph))
      expect(bytes.byteLength).toBeGreaterThan(1000)
      for (const secret of [...SECRETS, 'favourite colour', 'green', 'laptop'])
        expect(bytes.includes(Buffer.from(secret))).toBe(false)
    }
  })

  it('a fresh device with only the key restores from the two replicas: memories equal, conflicts identical', async () => {
    const fresh = await addNode(net, 'light')
    const steps: RestoreProgress[] = []
    const restored = await restoreMemory({
      identity: await identityFromSeed(seed),
      node: fresh.node.libp2p as unknown as { services: { memoryReplication: SwarmNode['replication'] } },
      onProgress: (p) => steps.push(p),
      signal: AbortSignal.timeout(90_000)
    })
    cleanup.push(() => restored.stop())
    expect(restored.readable).toBe(true)
    expect(restored.list()).toEqual(laptop.list())
    expect(restored.list().map((m) => m.kind === 'note' && m.text)).toContain(SECRETS[0])
    expect(restored.conflicts()).toEqual(laptop.conflicts())
    expect(restored.conflicts()).toHaveLength(1)
    expect(
      restored
        .session('chat')
        .turns()
        .map((t) => t.content)
    ).toEqual([SECRETS[2]])
    expect(steps.find((s) => s.phase === 'replicas')).toEqual({ phase: 'replicas', found: 2 })
    expect(steps.map((s) => s.phase)).toEqual(expect.arrayContaining(['commits', 'decrypted', 'done']))
    const done = steps.at(-1)
    expect(done).toMatchObject({ phase: 'done', replicas: 2, memories: laptop.list().length })
  }, 120_000)

  it('a device without the content key syncs the space but reads nothing', async () => {
    const stranger = await addNode(net, 'light')
    const restored = await restoreMemory({
      identity: stranger.identity,
      owner: laptop.owner,
      node: stranger.replication,
      signal: AbortSignal.timeout(90_000)
    })
    cleanup.push(() => restored.stop())
    expect(holdsSpace(restored.graph, laptop.graph, laptop.owner)).toBe(true)
    expect(restored.readable).toBe(false)
    expect(restored.list()).toEqual([])
    const bytes = Buffer.from(await storedBytes(restored.graph))
    for (const secret of SECRETS) expect(bytes.includes(Buffer.from(secret))).toBe(false)
  }, 120_000)

  it('a cold miss is fetched from a replica through the remote', async () => {
    const other = await addNode(net, 'light')
    const note = await laptop.remember('the boat is moored at pier 9')
    await Promise.all(fullGraphs.map((g) => whenGraph(g, () => holdsSpace(g, laptop.graph, laptop.owner))))
    // A device of the owner that keeps no copy of the space: it fetches what it misses.
    const cold = createMemory({ identity: await identityFromSeed(seed), remote: other.replication })
    await cold.start()
    cleanup.push(() => cold.stop())
    await other.replication.serve(cold.graph)
    expect(cold.get(note.id)).toBeUndefined()
    const item = await cold.fetch(note.id, { signal: AbortSignal.timeout(60_000) })
    expect(item).toMatchObject({ kind: 'note', text: 'the boat is moored at pier 9' })
  }, 120_000)

  it('with no replica anywhere, a fetch fails with a typed error', async () => {
    const nobody = await generateIdentity()
    await expect(
      device.replication.fetchSpace(nobody.address, { signal: AbortSignal.timeout(30_000) })
    ).rejects.toThrow(NoReplicaError)
  }, 60_000)

  it('a light node refuses requests and keeps no foreign space after syncing with replicas', async () => {
    // Another agent, B, whose second device is a light node; the full nodes carry A's space too.
    const bOwner = await generateIdentity()
    const b = createMemory({ identity: bOwner })
    await b.start()
    cleanup.push(() => b.stop())
    await b.remember('B remembers this')
    const bNode = await addNode(net, 'light', {}, bOwner)
    await bNode.replication.serve(b.graph, { spaces: [b.owner] })
    await bNode.replication.request(bOwner, { replicas: 1, peers: [full[0]?.identity.address as string] })
    const fullGraph = fullGraphs[0] as Graph
    await whenGraph(fullGraph, () => holdsSpace(fullGraph, b.graph, b.owner))

    // B's second device, a light node, syncs B's space from full node 0, which also holds A's space.
    const light = await addNode(net, 'light')
    const graph = createGraph({ identity: light.identity })
    await graph.start()
    cleanup.push(() => graph.stop())
    await light.replication.serve(graph, { spaces: [b.owner] })
    await light.node.libp2p.dial(full[1]?.identity.peerId as never)
    const result = await light.replication.syncSpace(b.owner, {
      wait: 'all',
      signal: AbortSignal.timeout(60_000)
    })
    expect(result.synced).toEqual([full[0]?.identity.address])
    expect(holdsSpace(graph, b.graph, b.owner)).toBe(true)
    expect(holdsSpace(fullGraph, laptop.graph, laptop.owner)).toBe(true)
    const spaces = new Set([...graph.souls()].map((soul) => soul.split('/')[0]))
    expect([...spaces]).toEqual([b.owner])
    expect(graph.versionVector().every((head) => head.space === b.owner)).toBe(true)

    // It refuses replication requests.
    const order = await signOrder(bOwner, {
      op: 'replicate',
      owner: b.owner,
      seq: Date.now(),
      replicas: 1,
      expiresAt: Date.now() + 60_000
    })
    const reply = await sendRaw(bNode, light, encodeMessage({ op: 'order', order: encodeSignedOrder(order) }))
    expect(reply).toEqual({ ok: false, reason: 'light' })
    expect(light.replication.replicated()).toEqual([])
  }, 120_000)

  it('the owner renews (a higher seq extends) and revokes through the service', async () => {
    const owner = laptop.owner
    const before = full.map((f) => f.replication.replicated().find((r) => r.owner === owner))
    const renewed = await device.replication.request(device.identity, { replicas: 2, ttlMs: 7_200_000 })
    expect(renewed.accepted).toHaveLength(2)
    for (const [i, f] of full.entries()) {
      const entry = f.replication.replicated().find((r) => r.owner === owner)
      expect(entry?.seq).toBeGreaterThan(before[i]?.seq as number)
      expect(entry?.expiresAt).toBeGreaterThan(before[i]?.expiresAt as number)
    }
    const ended = full.map((f) =>
      eventAfter<{ owner: string; reason: string }>(
        f.replication,
        'replication:ended',
        (d) => d.owner === owner && d.reason === 'revoked',
        () => undefined
      )
    )
    const revoked = await device.replication.revoke(device.identity)
    expect(revoked.accepted.map((a) => a.peer).sort()).toEqual(full.map((f) => f.identity.address).sort())
    await Promise.all(ended)
    for (const f of full) expect(f.replication.replicated().map((r) => r.owner)).not.toContain(owner)
  }, 120_000)
})

describe('waiting for the replicas to sync (waitForSync)', () => {
  it('resolves once each accepting full node holds every head of the space', async () => {
    const key = await generateIdentity()
    const mem = createMemory({ identity: key })
    await mem.start()
    cleanup.push(() => mem.stop())
    for (const secret of SECRETS) await mem.remember(secret)
    const owner = await addNode(net, 'light', {}, key)
    await owner.replication.serve(mem.graph, { spaces: [mem.owner] })
    const receipt = await owner.replication.request(key, {
      replicas: 2,
      peers: full.map((f) => f.identity.address),
      waitForSync: true,
      signal: AbortSignal.timeout(90_000)
    })
    expect(receipt.accepted).toHaveLength(2)
    for (const a of receipt.accepted) expect(a.synced).toBe(true)
    // No waiting here: the receipt means the replicas hold the space.
    for (const g of fullGraphs) expect(holdsSpace(g, mem.graph, mem.owner)).toBe(true)
    // Without the option the receipt says nothing of syncing.
    const plain = await owner.replication.request(key, {
      replicas: 1,
      peers: [full[0]?.identity.address as string]
    })
    expect(plain.accepted[0]?.synced).toBeUndefined()

    // A replica shows the owner's signed order with its heads: how many replicas the owner asked for,
    // which a restore verifies and uses to stop looking once that many are synced.
    const shown = await sendRaw(owner, full[1] as SwarmNode, encodeMessage({ op: 'heads', owner: mem.owner }))
    expect(shown.ok).toBe(true)
    const order = await verifyOrder(shown.order as Uint8Array)
    expect(order).toMatchObject({ op: 'replicate', owner: mem.owner, replicas: 2 })
  }, 120_000)

  it('a reply whose order is not a small byte string is malformed', () => {
    expect(decodeReply(encodeCanonical({ ok: true, heads: [], order: 'not bytes' }))).toBeUndefined()
    expect(
      decodeReply(encodeCanonical({ ok: true, heads: [], order: new Uint8Array(MAX_REQUEST_BYTES + 1) }))
    ).toBeUndefined()
    expect(decodeReply(encodeCanonical({ ok: true, synced: 1 }))).toBeUndefined()
    expect(
      decodeMessage(encodeCanonical({ op: 'order', order: new Uint8Array(4), sync: false }))
    ).toBeUndefined()
    expect(decodeMessage(encodeCanonical({ op: 'order', order: new Uint8Array(4), sync: true }))).toEqual({
      op: 'order',
      order: new Uint8Array(4),
      sync: true
    })
  })

  it('a full node that cannot sync in its bound answers synced: false; the owner signal bounds the wait', async () => {
    const key = await generateIdentity()
    const mem = createMemory({ identity: key })
    await mem.start()
    cleanup.push(() => mem.stop())
    await mem.remember('kept only on this device')
    const owner = await addNode(net, 'light', {}, key)
    await owner.replication.serve(mem.graph, { spaces: [mem.owner] })
    // A full node whose graph-sync carrier never syncs: it accepts, but never receives the space.
    const stuckKey = await generateIdentity()
    const stuckNode = await net.addNode('full', {
      identity: stuckKey,
      services: {
        graphSync: () => ({ sync: async () => ({ stop: async () => undefined }) }),
        memoryReplication: memoryReplication({ role: 'full', queryTimeoutMs: 1500 })
      }
    })
    const stuck = {
      identity: stuckKey,
      replication: (stuckNode.libp2p.services as unknown as { memoryReplication: MemoryReplication })
        .memoryReplication
    }
    const graph = createGraph({ identity: stuck.identity })
    await graph.start()
    cleanup.push(() => graph.stop())
    await stuck.replication.serve(graph)
    // Connected first, so the owner's node knows where the new node is.
    await owner.node.libp2p.dial(stuckNode.libp2p.getMultiaddrs())
    const peers = [stuck.identity.address]
    const receipt = await owner.replication.request(key, {
      replicas: 1,
      peers,
      waitForSync: true,
      signal: AbortSignal.timeout(60_000)
    })
    expect({ accepted: receipt.accepted, refused: receipt.refused }).toEqual({
      accepted: [{ peer: stuck.identity.address, expiresAt: expect.any(Number), synced: false }],
      refused: []
    })
    expect(holdsSpace(graph, mem.graph, mem.owner)).toBe(false)
    // The owner's own signal ends the wait first: the request rejects.
    await expect(
      owner.replication.request(key, {
        replicas: 1,
        peers,
        waitForSync: true,
        signal: AbortSignal.timeout(300)
      })
    ).rejects.toThrow()
  }, 120_000)
})

describe('what an attacker can do to a full node', () => {
  let target: SwarmNode
  let targetGraph: Graph
  let attacker: SwarmNode
  let clock = Date.now()

  beforeAll(async () => {
    target = await addNode(net, 'full', { maxOwners: 2, now: () => clock })
    targetGraph = createGraph({ identity: target.identity })
    await targetGraph.start()
    cleanup.push(() => targetGraph.stop())
    await target.replication.serve(targetGraph)
    attacker = await addNode(net, 'light')
  }, 120_000)

  const order = (bytes: Uint8Array): Uint8Array => encodeMessage({ op: 'order', order: bytes })

  it('refuses a request not signed by the owner', async () => {
    const victim = await generateIdentity()
    const body = encodeCanonical({
      v: 1,
      op: 'replicate',
      owner: victim.address,
      seq: 1,
      replicas: 1,
      expiresAt: clock + 60_000
    })
    const sig = await attacker.identity.sign(REPLICATION_CONTEXT, body)
    expect(await sendRaw(attacker, target, order(encodeCanonical({ body, sig })))).toEqual({
      ok: false,
      reason: 'unsigned'
    })
    // signed by the owner under another context: refused too
    const other = await victim.sign('araliya/other/v1', body)
    expect(await sendRaw(attacker, target, order(encodeCanonical({ body, sig: other })))).toEqual({
      ok: false,
      reason: 'unsigned'
    })
    expect(target.replication.replicated()).toEqual([])
  }, 60_000)

  it('bounds the request size', async () => {
    const owner = await generateIdentity()
    const big = await signOrder(owner, {
      op: 'replicate',
      owner: owner.address,
      seq: 1,
      replicas: 1,
      expiresAt: clock + 60_000
    })
    const padded = encodeCanonical({
      body: big.body,
      sig: big.signature,
      pad: new Uint8Array(MAX_REQUEST_BYTES)
    })
    expect(await sendRaw(attacker, target, order(padded))).toEqual({ ok: false, reason: 'too-large' })
    await expect(sendRaw(attacker, target, order(new Uint8Array(200_000)))).rejects.toThrow()
    expect(target.replication.replicated()).toEqual([])
  }, 60_000)

  it('a replayed or older order has no effect; a higher one renews; a signed revoke ends it', async () => {
    const owner = await generateIdentity()
    const first = await signOrder(owner, {
      op: 'replicate',
      owner: owner.address,
      seq: 10,
      replicas: 1,
      expiresAt: clock + 60_000
    })
    const renewal = await signOrder(owner, {
      op: 'replicate',
      owner: owner.address,
      seq: 11,
      replicas: 1,
      expiresAt: clock + 120_000
    })
    expect(await sendRaw(attacker, target, order(encodeSignedOrder(first)))).toMatchObject({
      ok: true,
      expiresAt: clock + 60_000
    })
    expect(await sendRaw(attacker, target, order(encodeSignedOrder(first)))).toEqual({
      ok: false,
      reason: 'stale'
    })
    expect(await sendRaw(attacker, target, order(encodeSignedOrder(renewal)))).toMatchObject({
      ok: true,
      expiresAt: clock + 120_000
    })
    expect(await sendRaw(attacker, target, order(encodeSignedOrder(first)))).toEqual({
      ok: false,
      reason: 'stale'
    })
    expect(target.replication.replicated()).toEqual([
      { owner: owner.address, seq: 11, replicas: 1, expiresAt: clock + 120_000 }
    ])

    const revoke = await signOrder(owner, { op: 'revoke', owner: owner.address, seq: 12 })
    expect(await sendRaw(attacker, target, order(encodeSignedOrder(revoke)))).toEqual({ ok: true })
    expect(target.replication.replicated()).toEqual([])
    // the old requests, replayed after the revocation, do not bring it back
    expect(await sendRaw(attacker, target, order(encodeSignedOrder(renewal)))).toEqual({
      ok: false,
      reason: 'stale'
    })
    expect(target.replication.replicated()).toEqual([])
    // a revoke signed by someone else is refused
    const forged = encodeCanonical({ v: 1, op: 'revoke', owner: owner.address, seq: 99 })
    const sig = await attacker.identity.sign(REPLICATION_CONTEXT, forged)
    expect(await sendRaw(attacker, target, order(encodeCanonical({ body: forged, sig })))).toEqual({
      ok: false,
      reason: 'unsigned'
    })
  }, 60_000)

  it('a restarted full node resumes what it accepted, and old orders stay stale', async () => {
    const owner = await generateIdentity()
    const first = await signOrder(owner, {
      op: 'replicate',
      owner: owner.address,
      seq: 5,
      replicas: 1,
      expiresAt: clock + 60_000
    })
    expect(await sendRaw(attacker, target, order(encodeSignedOrder(first)))).toMatchObject({ ok: true })
    await target.replication.stop()
    await target.replication.start()
    await target.replication.serve(targetGraph)
    expect(target.replication.replicated()).toEqual([
      { owner: owner.address, seq: 5, replicas: 1, expiresAt: clock + 60_000 }
    ])
    expect(await sendRaw(attacker, target, order(encodeSignedOrder(first)))).toEqual({
      ok: false,
      reason: 'stale'
    })
    const revoke = await signOrder(owner, { op: 'revoke', owner: owner.address, seq: 6 })
    expect(await sendRaw(attacker, target, order(encodeSignedOrder(revoke)))).toEqual({ ok: true })
    await target.replication.stop()
    await target.replication.start()
    await target.replication.serve(targetGraph)
    expect(target.replication.replicated()).toEqual([])
    expect(await sendRaw(attacker, target, order(encodeSignedOrder(first)))).toEqual({
      ok: false,
      reason: 'stale'
    })
  }, 60_000)

  it('a flood of owners is bounded: new ones are refused while full, expired ones make room', async () => {
    const owners = await Promise.all([0, 1, 2].map(() => generateIdentity()))
    const replies = []
    for (const [i, o] of owners.entries()) {
      const signed = await signOrder(o, {
        op: 'replicate',
        owner: o.address,
        seq: 1,
        replicas: 1,
        expiresAt: clock + (i + 1) * 10_000
      })
      replies.push(await sendRaw(attacker, target, order(encodeSignedOrder(signed))))
    }
    expect(replies.map((r) => r.ok)).toEqual([true, true, false])
    expect(replies[2]).toEqual({ ok: false, reason: 'full' })
    expect(target.replication.replicated()).toHaveLength(2)

    // The first request expires: replication of it stops, and a newcomer fits.
    clock += 15_000
    expect(target.replication.replicated().map((r) => r.owner)).toEqual([owners[1]?.address])
    const heads = await sendRaw(
      attacker,
      target,
      encodeMessage({ op: 'heads', owner: owners[0]?.address as string })
    )
    expect(heads).toEqual({ ok: false, reason: 'not-replicated' })
    const late = owners[2] as (typeof owners)[number]
    const again = await signOrder(late, {
      op: 'replicate',
      owner: late.address,
      seq: 2,
      replicas: 1,
      expiresAt: clock + 10_000
    })
    expect(await sendRaw(attacker, target, order(encodeSignedOrder(again)))).toMatchObject({ ok: true })
    // an already expired request is refused
    const stale = await generateIdentity()
    const expired = await signOrder(stale, {
      op: 'replicate',
      owner: stale.address,
      seq: 1,
      replicas: 1,
      expiresAt: clock - 1
    })
    expect(await sendRaw(attacker, target, order(encodeSignedOrder(expired)))).toEqual({
      ok: false,
      reason: 'expired'
    })
  }, 60_000)

  it('malformed messages are refused', async () => {
    expect(await sendRaw(attacker, target, new Uint8Array([1, 2, 3]))).toEqual({
      ok: false,
      reason: 'malformed'
    })
    expect(await sendRaw(attacker, target, order(new Uint8Array([0xa0])))).toEqual({
      ok: false,
      reason: 'malformed'
    })
  }, 60_000)
})
