import { encodeCanonical, generateIdentity, type Identity, linkEthereumAddress } from '@araliya/identity'
import { Record as Libp2pRecord } from '@libp2p/kad-dht'
import { MemoryDatastore } from 'datastore-core'
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { createEthRecord, encodeEthRecord, ethKey, validateEthRecord } from '../src/eth-record.ts'
import { InvalidRecordError, InvalidSkillNameError } from '../src/errors.ts'
import { RateLimiter } from '@araliya/interface'
import {
  comparePresenceBytes,
  createPresenceRecord,
  encodePresenceRecord,
  type PresenceRecord,
  presenceKey,
  presenceSigningBytes,
  validatePresenceRecord
} from '../src/presence.ts'
import { araliyaRecordRules, recordDatastoreKey } from '../src/records.ts'
import { normalizeSkillName, skillKey } from '../src/skills.ts'

const HOUR = 60 * 60 * 1000

async function reason(promise: Promise<unknown>): Promise<string> {
  try {
    await promise
  } catch (err) {
    if (InvalidRecordError.isInstance(err)) return err.reason
    throw err
  }
  return 'accepted'
}

describe('presence records', () => {
  let alice: Identity
  let mallory: Identity
  let record: PresenceRecord
  let bytes: Uint8Array

  beforeAll(async () => {
    alice = await generateIdentity()
    mallory = await generateIdentity()
    record = await createPresenceRecord(alice, {
      multiaddrs: ['/ip4/127.0.0.1/tcp/4001'],
      skills: ['Translate', 'code-review'],
      seq: 5,
      expires: Date.now() + HOUR
    })
    bytes = encodePresenceRecord(record)
  })

  it('round-trips a signed record with normalised, sorted skills', async () => {
    const back = await validatePresenceRecord(presenceKey(alice.address), bytes)
    expect(back.address).toBe(alice.address)
    expect(back.skills).toEqual(['code-review', 'translate'])
    expect(back.seq).toBe(5)
  })

  it('rejects oversized records before decoding them', async () => {
    // 5000 bytes of garbage: would be "malformed" if it were decoded; the size check comes first.
    const junk = new Uint8Array(5000).fill(0xff)
    expect(await reason(validatePresenceRecord(presenceKey(alice.address), junk))).toBe('too-large')
    expect(
      await reason(validatePresenceRecord(presenceKey(alice.address), bytes, { maxRecordBytes: 64 }))
    ).toBe('too-large')
  })

  it('rejects unsigned, wrongly signed, expired, far-future and mismatched records', async () => {
    const key = presenceKey(alice.address)
    const { sig: _sig, ...unsigned } = record
    expect(await reason(validatePresenceRecord(key, encodeCanonical({ ...unsigned })))).toBe('unsigned')
    const wrongSig = await mallory.sign('araliya/presence/v1', presenceSigningBytes(record))
    expect(
      await reason(validatePresenceRecord(key, encodePresenceRecord({ ...record, sig: wrongSig })))
    ).toBe('bad-signature')
    expect(
      await reason(
        validatePresenceRecord(key, encodePresenceRecord({ ...record, sig: record.sig.slice(0, 63) }))
      )
    ).toBe('bad-signature')
    const expired = await createPresenceRecord(alice, { multiaddrs: [], seq: 6, expires: Date.now() - 1 })
    expect(await reason(validatePresenceRecord(key, encodePresenceRecord(expired)))).toBe('expired')
    const forever = await createPresenceRecord(alice, {
      multiaddrs: [],
      seq: 6,
      expires: Date.now() + 1000 * HOUR
    })
    expect(await reason(validatePresenceRecord(key, encodePresenceRecord(forever)))).toBe('expiry-too-far')
    const malloryRecord = await createPresenceRecord(mallory, {
      multiaddrs: [],
      seq: 9,
      expires: Date.now() + HOUR
    })
    expect(await reason(validatePresenceRecord(key, encodePresenceRecord(malloryRecord)))).toBe(
      'key-mismatch'
    )
    expect(
      await reason(validatePresenceRecord(presenceKey(alice.address), bytes, { now: record.expires }))
    ).toBe('expired')
  })

  it('rejects any single flipped field of the signed body', async () => {
    const key = presenceKey(alice.address)
    const variants: PresenceRecord[] = [
      { ...record, multiaddrs: ['/ip4/10.0.0.1/tcp/1'] },
      { ...record, skills: ['code-review'] },
      { ...record, seq: record.seq + 1 },
      { ...record, expires: record.expires - 1 }
    ]
    for (const variant of variants) {
      expect(await reason(validatePresenceRecord(key, encodePresenceRecord(variant)))).toBe('bad-signature')
    }
  })

  it('never throws anything but InvalidRecordError for random bytes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 6000 }), async (junk) => {
        const result = await reason(validatePresenceRecord(presenceKey(alice.address), junk))
        expect(result).not.toBe('accepted')
      }),
      { numRuns: 300 }
    )
  })

  it('selects the highest sequence with a deterministic tie-break, in any order', async () => {
    const make = (seq: number, expires: number, addr: string) =>
      createPresenceRecord(alice, { multiaddrs: [addr], seq, expires }).then(encodePresenceRecord)
    const now = Date.now()
    const records = await Promise.all([
      make(3, now + HOUR, '/ip4/1.1.1.1/tcp/1'),
      make(7, now + HOUR, '/ip4/1.1.1.1/tcp/2'),
      make(7, now + HOUR, '/ip4/1.1.1.1/tcp/3'),
      make(7, now + HOUR - 5, '/ip4/1.1.1.1/tcp/4'),
      make(1, now + 2 * HOUR, '/ip4/1.1.1.1/tcp/5')
    ])
    const rules = araliyaRecordRules()
    const select = rules.selectors.araliya!
    const key = presenceKey(alice.address)
    const winners = new Set<string>()
    await fc.assert(
      fc.asyncProperty(fc.shuffledSubarray(records, { minLength: 5, maxLength: 5 }), async (order) => {
        const index = await select(key, order)
        winners.add(Buffer.from(order[index]!).toString('hex'))
      }),
      { numRuns: 50 }
    )
    expect(winners.size).toBe(1)
    const [winner] = [...winners]
    const best = records.filter((r) => comparePresenceBytes(r, Buffer.from(winner!, 'hex')) > 0)
    expect(best).toEqual([])
  })

  it('refuses to replace a stored record with an older one, even validly signed', async () => {
    const datastore = new MemoryDatastore()
    const rules = araliyaRecordRules({ datastore })
    const validate = rules.validators.araliya!
    const key = presenceKey(alice.address)
    const newer = encodePresenceRecord(
      await createPresenceRecord(alice, { multiaddrs: [], seq: 10, expires: Date.now() + HOUR })
    )
    const older = encodePresenceRecord(
      await createPresenceRecord(alice, { multiaddrs: [], seq: 9, expires: Date.now() + HOUR })
    )
    await validate(key, older)
    await datastore.put(recordDatastoreKey(key), new Libp2pRecord(key, newer, new Date()).serialize())
    await expect(validate(key, older)).rejects.toThrow(/newer record/)
    await validate(key, newer)
    const newest = encodePresenceRecord(
      await createPresenceRecord(alice, { multiaddrs: [], seq: 11, expires: Date.now() + HOUR })
    )
    await validate(key, newest)
    await expect(validate(new TextEncoder().encode('/araliya/other/x'), newest)).rejects.toThrow(/no Araliya/)
  })
})

describe('ethereum lookup records', () => {
  it('validates the link, the key and the agent signature', async () => {
    const agent = await generateIdentity()
    const other = await generateIdentity()
    const link = await linkEthereumAddress(agent, new Uint8Array(32).fill(3))
    const record = await createEthRecord(agent, link, { seq: 1, expires: Date.now() + HOUR })
    const verified = await validateEthRecord(ethKey(link.eth), encodeEthRecord(record))
    expect(verified.agent).toBe(agent.address)
    const otherLink = await linkEthereumAddress(agent, new Uint8Array(32).fill(4))
    expect(await reason(validateEthRecord(ethKey(otherLink.eth), encodeEthRecord(record)))).toBe(
      'key-mismatch'
    )
    const forged = await createEthRecord(other, link, { seq: 2, expires: Date.now() + HOUR })
    expect(await reason(validateEthRecord(ethKey(link.eth), encodeEthRecord(forged)))).toBe('bad-signature')
    const tampered = { ...link, issuedAt: link.issuedAt + 1 }
    const bad = await createEthRecord(agent, tampered, { seq: 3, expires: Date.now() + HOUR })
    expect(await reason(validateEthRecord(ethKey(link.eth), encodeEthRecord(bad)))).toBe('bad-signature')
  })
})

describe('skills and rate limits', () => {
  it('normalises skill names and derives one key per skill', async () => {
    expect(normalizeSkillName('  Code-Review ')).toBe('code-review')
    expect(() => normalizeSkillName('')).toThrow(InvalidSkillNameError)
    expect(() => normalizeSkillName('has space')).toThrow(InvalidSkillNameError)
    expect(() => normalizeSkillName('x'.repeat(65))).toThrow(InvalidSkillNameError)
    expect((await skillKey('Translate')).toString()).toBe((await skillKey('translate')).toString())
    expect((await skillKey('translate')).toString()).not.toBe((await skillKey('summarize')).toString())
  })

  it('token buckets refill over time and stay bounded in number', () => {
    let now = 0
    const limiter = new RateLimiter({ ratePerSecond: 10, burst: 5, maxKeys: 100, now: () => now })
    let allowed = 0
    for (let i = 0; i < 20; i++) if (limiter.take('a')) allowed++
    expect(allowed).toBe(5)
    now += 1000
    allowed = 0
    for (let i = 0; i < 20; i++) if (limiter.take('a')) allowed++
    expect(allowed).toBe(5)
    for (let i = 0; i < 1000; i++) limiter.take(`peer-${i}`)
    expect(limiter.size).toBeLessThanOrEqual(100)
  })
})
