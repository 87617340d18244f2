import { encodeCanonical, generateIdentity } from '@araliya/identity'
import { identify } from '@libp2p/identify'
import { type KadDHT, kadDHT, passthroughMapper, Record as Libp2pRecord } from '@libp2p/kad-dht'
import { memory } from '@libp2p/memory'
import { ping } from '@libp2p/ping'
import { plaintext } from '@libp2p/plaintext'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createPresenceRecord,
  encodePresenceRecord,
  type PresenceRecord,
  presenceKey,
  presenceSigningBytes,
  validatePresenceRecord
} from '../src/presence.ts'
import type { DhtNode } from '../src/node.ts'
import { recordDatastoreKey } from '../src/records.ts'
import { createTestNetwork, memoryAddress, type TestNetwork } from '../src/testing.ts'
import { fastNode } from './helpers.ts'

const HOUR = 60 * 60 * 1000

describe('hostile DHT records (8 honest nodes + 1 attacker with no validation)', () => {
  let net: TestNetwork
  let attacker: Libp2p<{ dht: KadDHT }>

  beforeAll(async () => {
    net = await createTestNetwork({ nodes: 7, node: fastNode })
    // The attacker runs plain kad-dht that accepts anything under /araliya/, on the same DHT protocol.
    attacker = await createLibp2p({
      privateKey: (await generateIdentity()).privateKey,
      addresses: { listen: [memoryAddress()] },
      transports: [memory()],
      connectionEncrypters: [plaintext()],
      streamMuxers: [yamux()],
      services: {
        identify: identify(),
        ping: ping(),
        dht: kadDHT({
          protocol: `/araliya/${net.network}/kad/1.0.0`,
          clientMode: false,
          validators: { araliya: async () => {} },
          selectors: { araliya: () => 0 },
          peerInfoMapper: passthroughMapper,
          initialQuerySelfInterval: 0
        })
      }
    })
    await attacker.dial(multiaddr(net.bootstrapAddrs[0]!))
    for (const node of net.full) await attacker.dial(node.getMultiaddrs()[0]!).catch(() => {})
  }, 120_000)

  afterAll(async () => {
    await attacker?.stop()
    await net?.stop()
  }, 60_000)

  async function attackerPut(
    key: Uint8Array,
    value: Uint8Array
  ): Promise<{ accepted: number; errors: number }> {
    let accepted = 0
    let errors = 0
    for await (const event of attacker.services.dht.put(key, value, {
      signal: AbortSignal.timeout(30_000)
    })) {
      if (event.name === 'PEER_RESPONSE' && event.messageName === 'PUT_VALUE') accepted++
      if (event.name === 'QUERY_ERROR') errors++
    }
    return { accepted, errors }
  }

  /** Every copy honest nodes hold must be a genuine record of the victim, at least as new as `seq`. */
  async function expectOnlyGenuine(address: string, seq: number): Promise<void> {
    const values = await storedOn(address)
    expect(values.length).toBeGreaterThan(0)
    for (const value of values) {
      const record = await validatePresenceRecord(presenceKey(address), value)
      expect(record.seq).toBeGreaterThanOrEqual(seq)
      expect(record.multiaddrs.some((ma) => ma.includes('evil') || ma.includes('stale'))).toBe(false)
    }
  }

  async function holdersOf(address: string): Promise<Map<DhtNode, Uint8Array>> {
    const key = presenceKey(address)
    const holders = new Map<DhtNode, Uint8Array>()
    for (const node of [...net.bootstraps, ...net.full]) {
      try {
        holders.set(node, Libp2pRecord.deserialize(await node.datastore.get(recordDatastoreKey(key))).value)
      } catch {}
    }
    return holders
  }

  async function storedOn(address: string): Promise<Uint8Array[]> {
    const key = presenceKey(address)
    const values: Uint8Array[] = []
    for (const node of [...net.bootstraps, ...net.full]) {
      try {
        values.push(Libp2pRecord.deserialize(await node.datastore.get(recordDatastoreKey(key))).value)
      } catch {}
    }
    return values
  }

  it('rejects oversized, unsigned, wrongly signed, expired, mismatched and older records on PUT', async () => {
    const victim = net.full[2]!
    const key = presenceKey(victim.address)
    const mallory = await generateIdentity()
    const { sig: _sig, ...body } = victim.presence!
    const forged: Array<[string, Uint8Array]> = [
      ['oversized', new Uint8Array(8000).fill(1)],
      ['unsigned', encodeCanonical({ ...body, seq: body.seq + 1 })],
      [
        'wrongly signed',
        encodePresenceRecord({
          ...victim.presence!,
          seq: body.seq + 1,
          sig: await mallory.sign('araliya/presence/v1', presenceSigningBytes({ ...body, seq: body.seq + 1 }))
        })
      ],
      [
        'expired',
        encodePresenceRecord(
          await createPresenceRecord(victim.identity, {
            multiaddrs: [],
            seq: body.seq + 1,
            expires: Date.now() - 10
          })
        )
      ],
      [
        'mismatched',
        encodePresenceRecord(
          await createPresenceRecord(mallory, {
            multiaddrs: ['/memory/evil'],
            seq: body.seq + 1,
            expires: Date.now() + HOUR
          })
        )
      ]
    ]
    for (const [what, value] of forged) {
      const result = await attackerPut(key, value)
      expect(result.accepted, `${what}: no honest node accepts it`).toBe(0)
      expect(result.errors, `${what}: refusals are reported`).toBeGreaterThan(0)
      await expectOnlyGenuine(victim.address, body.seq)
    }

    // A validly signed older record: a node that holds the newer one refuses it (a node that holds nothing
    // for this key may take it, as it cannot know better); the newest record still wins every lookup.
    const older = encodePresenceRecord(
      await createPresenceRecord(victim.identity, {
        multiaddrs: ['/memory/stale'],
        seq: body.seq - 1,
        expires: Date.now() + HOUR
      })
    )
    const holders = await holdersOf(victim.address)
    expect(holders.size).toBeGreaterThan(0)
    await attackerPut(key, older)
    for (const [node, before] of holders) {
      const after = Libp2pRecord.deserialize(await node.datastore.get(recordDatastoreKey(key))).value
      expect(Buffer.from(after).equals(Buffer.from(before)), 'a newer record was replaced').toBe(true)
    }
    for (const node of [net.full[5]!, net.bootstraps[0]!]) {
      const info = await node.findAgent(victim.address)
      expect(info.seq).toBeGreaterThanOrEqual(body.seq)
      expect(info.multiaddrs.map(String)).not.toContain('/memory/stale')
    }
  })

  it('discards forged records served on GET and still resolves the real one', async () => {
    const victim = net.full[4]!
    const key = presenceKey(victim.address)
    const evil: PresenceRecord = await createPresenceRecord(await generateIdentity(), {
      multiaddrs: ['/memory/evil'],
      seq: Number.MAX_SAFE_INTEGER,
      expires: Date.now() + HOUR
    })
    // The attacker's own put stores the forgery locally first, so it serves it to every GET.
    await attackerPut(key, encodePresenceRecord(evil))
    const asker = net.full[6]!
    let fromAttacker = 0
    for await (const event of asker.dht.get(key, { signal: AbortSignal.timeout(30_000) })) {
      if (event.name === 'QUERY_ERROR' && event.from.equals(attacker.peerId)) fromAttacker++
      if (event.name === 'VALUE') expect(event.from.equals(attacker.peerId)).toBe(false)
    }
    expect(fromAttacker).toBeGreaterThan(0)
    const info = await asker.findAgent(victim.address)
    expect(info.record.address).toBe(victim.address)
    expect(info.seq).toBe(victim.presence!.seq)
    // The honest nodes kept the real record.
    await expectOnlyGenuine(victim.address, victim.presence!.seq)
  })
})
