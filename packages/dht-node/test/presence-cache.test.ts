import { generateIdentity, type Identity, identityFromSeed } from '@araliya/identity'
import { InvalidInputError } from '@araliya/interface'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { InvalidRecordError } from '../src/errors.ts'
import type { DhtNode } from '../src/node.ts'
import {
  createPresenceRecord,
  encodePresenceRecord,
  type PresenceRecord,
  presenceKey
} from '../src/presence.ts'
import { PresenceCache } from '../src/presence-cache.ts'
import { createTestNetwork, type TestNetwork } from '../src/testing.ts'
import { fastNode, nextEvent } from './helpers.ts'

const NOW = 1_750_000_000_000
const HOUR = 3_600_000
const alice = await identityFromSeed(new Uint8Array(32).fill(21))
const mallory = await identityFromSeed(new Uint8Array(32).fill(22))

async function recordBytes(
  signer: Identity,
  init: { seq: number; expires?: number; multiaddrs?: string[] }
): Promise<Uint8Array> {
  return encodePresenceRecord(
    await createPresenceRecord(signer, {
      multiaddrs: init.multiaddrs ?? ['/ip4/192.0.2.1/tcp/4001'],
      seq: init.seq,
      expires: init.expires ?? NOW + HOUR
    })
  )
}

/** A cache on a clock the test moves. */
function cacheAt(init: { maxEntries?: number; maxAgeMs?: number } = {}): {
  cache: PresenceCache
  clock: { now: number }
} {
  const clock = { now: NOW }
  return { cache: new PresenceCache({ ...init, now: () => clock.now }), clock }
}

async function refused(promise: Promise<unknown>): Promise<InvalidRecordError['reason']> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e
  )
  expect(InvalidRecordError.isInstance(err), String(err)).toBe(true)
  return (err as InvalidRecordError).reason
}

describe('the presence cache, attacked', () => {
  it('keeps a valid record and answers with it', async () => {
    const { cache } = cacheAt()
    const record = await cache.offer(alice.address, await recordBytes(alice, { seq: 5 }))
    expect(record.seq).toBe(5)
    expect(cache.get(alice.address)?.seq).toBe(5)
  })

  it('never keeps an announcement whose signature is forged', async () => {
    const { cache } = cacheAt()
    const bytes = await recordBytes(alice, { seq: 7 })
    // Flip one bit of the signature (the last bytes of the encoding are not the signature, so find it).
    const record = await createPresenceRecord(alice, {
      multiaddrs: ['/ip4/192.0.2.1/tcp/4001'],
      seq: 7,
      expires: NOW + HOUR
    })
    const sig = new Uint8Array(record.sig)
    sig[0] = (sig[0] as number) ^ 1
    const forged = encodePresenceRecord({ ...record, sig })
    expect(forged.byteLength).toBe(bytes.byteLength)
    expect(await refused(cache.offer(alice.address, forged))).toBe('bad-signature')
    expect(cache.get(alice.address)).toBeUndefined()
    expect(cache.size).toBe(0)
  })

  it('never keeps a record signed by someone else for an address, or offered under another address', async () => {
    const { cache } = cacheAt()
    // Mallory signs a record naming Alice: the signature does not verify for Alice's key.
    const claimed = await createPresenceRecord(mallory, {
      multiaddrs: ['/memory/evil'],
      seq: 9,
      expires: NOW + HOUR
    })
    const impersonation = encodePresenceRecord({ ...claimed, address: alice.address })
    expect(await refused(cache.offer(alice.address, impersonation))).toBe('bad-signature')
    // Mallory's genuine record offered as Alice's (a gossip sender other than the record's owner).
    const own = await recordBytes(mallory, { seq: 9, multiaddrs: ['/memory/evil'] })
    expect(await refused(cache.offer(alice.address, own))).toBe('key-mismatch')
    expect(cache.get(alice.address)).toBeUndefined()
    expect(cache.get(mallory.address)).toBeUndefined()
  })

  it('a replayed older (validly signed) record never replaces a newer one, nor does an equal seq', async () => {
    const { cache } = cacheAt()
    await cache.offer(alice.address, await recordBytes(alice, { seq: 10, multiaddrs: ['/memory/new'] }))
    const older = await recordBytes(alice, { seq: 9, multiaddrs: ['/memory/stale'] })
    // Valid, so offer returns it; but the cache keeps the newer record.
    expect((await cache.offer(alice.address, older)).seq).toBe(9)
    const sameSeq = await recordBytes(alice, { seq: 10, multiaddrs: ['/memory/other'] })
    await cache.offer(alice.address, sameSeq)
    expect(cache.get(alice.address)?.multiaddrs).toEqual(['/memory/new'])
    // A newer one does replace it.
    await cache.offer(alice.address, await recordBytes(alice, { seq: 11, multiaddrs: ['/memory/newer'] }))
    expect(cache.get(alice.address)?.multiaddrs).toEqual(['/memory/newer'])
  })

  it('never returns an expired record, and refuses records that are expired or live too long', async () => {
    const { cache, clock } = cacheAt({ maxAgeMs: 10 * HOUR })
    await cache.offer(alice.address, await recordBytes(alice, { seq: 1, expires: NOW + 1000 }))
    expect(cache.get(alice.address)?.seq).toBe(1)
    clock.now = NOW + 1000
    expect(cache.get(alice.address)).toBeUndefined()
    expect(cache.newest(alice.address)).toBeUndefined()
    expect(cache.size).toBe(0)
    expect(
      await refused(cache.offer(alice.address, await recordBytes(alice, { seq: 2, expires: NOW })))
    ).toBe('expired')
    const tooFar = await recordBytes(alice, { seq: 3, expires: clock.now + 49 * HOUR })
    expect(await refused(cache.offer(alice.address, tooFar))).toBe('expiry-too-far')
    expect(cache.size).toBe(0)
  })

  it('an expired newer record does not block a valid older one (as on a DHT server)', async () => {
    const { cache, clock } = cacheAt()
    await cache.offer(alice.address, await recordBytes(alice, { seq: 20, expires: NOW + 1000 }))
    clock.now = NOW + 2000
    await cache.offer(alice.address, await recordBytes(alice, { seq: 19, expires: NOW + HOUR }))
    expect(cache.get(alice.address)?.seq).toBe(19)
  })

  it('stops answering after maxAgeMs but still keeps the newer record as a floor against replays', async () => {
    const { cache, clock } = cacheAt({ maxAgeMs: 60_000 })
    const bytes = await recordBytes(alice, { seq: 30 })
    await cache.offer(alice.address, bytes)
    clock.now = NOW + 60_000
    expect(cache.get(alice.address)).toBeUndefined()
    expect(cache.newest(alice.address)?.seq).toBe(30)
    await cache.offer(alice.address, await recordBytes(alice, { seq: 29 }))
    expect(cache.newest(alice.address)?.seq).toBe(30)
    expect(cache.get(alice.address)).toBeUndefined()
    // The same record confirmed again (a DHT lookup found it) answers lookups again.
    await cache.offer(alice.address, bytes)
    expect(cache.get(alice.address)?.seq).toBe(30)
  })

  it('a flood of far more distinct valid announcements than it holds keeps it at its size', async () => {
    const maxEntries = 32
    const { cache } = cacheAt({ maxEntries })
    const flood = 10 * maxEntries
    let last: Identity | undefined
    for (let i = 0; i < flood; i++) {
      last = await generateIdentity()
      await cache.offer(last.address, await recordBytes(last, { seq: 1 }))
      expect(cache.size).toBeLessThanOrEqual(maxEntries)
    }
    expect(cache.size).toBe(maxEntries)
    // The most recent ones are the ones kept.
    expect(cache.get((last as Identity).address)?.seq).toBe(1)
  })

  it('has a documented default size and refuses a nonsensical one', () => {
    expect(new PresenceCache().maxEntries).toBe(10_000)
    expect(() => new PresenceCache({ maxEntries: -1 })).toThrowError(InvalidInputError)
    expect(() => new PresenceCache({ maxEntries: 1.5 })).toThrowError(InvalidInputError)
    expect(() => new PresenceCache({ maxAgeMs: Number.NaN })).toThrowError(InvalidInputError)
  })
})

describe('presence lookups with the cache (a 6-node network)', () => {
  let net: TestNetwork
  let victim: DhtNode
  let watcher: DhtNode
  /** A DHT client: it hears announcements but, storing nothing for others, no PUTs. */
  let client: DhtNode

  beforeAll(async () => {
    net = await createTestNetwork({ nodes: 4, lightNodes: 1, node: fastNode })
    ;[victim, watcher, client] = [net.full[0]!, net.full[1]!, net.light[0]!]
    await net.waitForMesh('agent-announcements', { timeoutMs: 60_000 })
  }, 120_000)

  afterAll(async () => {
    await net?.stop()
  }, 60_000)

  /** Publishes presence as the node does on its own (DHT put + announcement) and waits until `on` heard it. */
  async function announce(node: DhtNode, on: DhtNode): Promise<PresenceRecord> {
    const heard = nextEvent(on, 'agent:announce', (d) => d.record.address === node.address, 30_000)
    const record = await node.publishPresence()
    await heard
    return record
  }

  /** Stores `bytes` under the agent's key on the DHT only (no announcement), as a lost gossip would leave it. */
  async function putOnDhtOnly(from: DhtNode, address: string, bytes: Uint8Array): Promise<void> {
    for await (const _ of from.dht.put(presenceKey(address), bytes, {
      signal: AbortSignal.timeout(30_000)
    })) {
      // drain the query
    }
  }

  it('answers a lookup of an agent that announced from the cache, with the announced record', async () => {
    const record = await announce(victim, watcher)
    const info = await watcher.findAgent(victim.address)
    expect(info.seq).toBe(record.seq)
    expect(info.multiaddrs.map(String)).toEqual([...record.multiaddrs])
  })

  it('a forged announcement is refused on gossip and never answers a lookup', async () => {
    const attacker = net.full[2]!
    const genuine = await announce(attacker, watcher)
    const record = await createPresenceRecord(attacker.identity, {
      multiaddrs: ['/memory/evil'],
      seq: genuine.seq + 1000,
      expires: Date.now() + HOUR
    })
    const sig = new Uint8Array(record.sig)
    sig[10] = (sig[10] as number) ^ 0xff
    const rejected = new Promise<void>((resolve) => {
      const check = (): void => {
        if (watcher.gossip.getScore(attacker.address) < 0) resolve()
        else setTimeout(check, 50)
      }
      check()
    })
    await attacker.gossip.publish('agent-announcements', encodePresenceRecord({ ...record, sig }))
    await rejected
    for (const cache of [true, false]) {
      const info = await watcher.findAgent(attacker.address, { cache })
      expect(info.seq).toBe(genuine.seq)
      expect(info.multiaddrs.map(String)).not.toContain('/memory/evil')
    }
  })

  it('a newer record on the DHT wins once the DHT is asked, and replaces the cached one', async () => {
    const announced = await announce(victim, client)
    // The agent moved and its announcement was lost: only the DHT has the newer record.
    const newer = await recordBytes(victim.identity, {
      seq: announced.seq + 1,
      expires: Date.now() + HOUR,
      multiaddrs: ['/memory/moved-here']
    })
    await putOnDhtOnly(victim, victim.address, newer)
    // A DHT server that stored the newer record (its validator accepted the PUT) answers with it at once.
    expect((await watcher.findAgent(victim.address)).seq).toBe(announced.seq + 1)
    // A client stores nothing for others: within maxAgeMs its cache answers with what was announced
    // (documented) …
    expect((await client.findAgent(victim.address)).seq).toBe(announced.seq)
    // … and asking the DHT finds the newer record, which then replaces the cached one.
    const fresh = await client.findAgent(victim.address, { cache: false })
    expect(fresh.seq).toBe(announced.seq + 1)
    expect(fresh.multiaddrs.map(String)).toEqual(['/memory/moved-here'])
    expect((await client.findAgent(victim.address)).seq).toBe(announced.seq + 1)
  })

  it('an older record served by the DHT never displaces the newer one the cache holds', async () => {
    const third = net.full[3]!
    const announced = await announce(third, watcher)
    // A replay of an older, validly signed record, stored by a node that holds nothing newer for the key.
    const older = await recordBytes(third.identity, {
      seq: announced.seq - 1,
      expires: Date.now() + HOUR,
      multiaddrs: ['/memory/stale']
    })
    const lookup = await watcher.findAgent(third.address, { cache: false })
    expect(lookup.seq).toBeGreaterThanOrEqual(announced.seq)
    await putOnDhtOnly(watcher, third.address, older)
    for (const cache of [false, true]) {
      const info = await watcher.findAgent(third.address, { cache })
      expect(info.seq).toBe(announced.seq)
      expect(info.multiaddrs.map(String)).not.toContain('/memory/stale')
    }
  })

  it('a node without the cache (or with an empty one) still finds agents through the DHT', async () => {
    const plain = await net.addNode('full', { ...fastNode, presence: { cache: false } })
    const info = await plain.findAgent(victim.address)
    expect(info.address).toBe(victim.address)
    const newcomer = await net.addNode('full', fastNode)
    expect((await newcomer.findAgent(watcher.address, { cache: true })).address).toBe(watcher.address)
  })
})
