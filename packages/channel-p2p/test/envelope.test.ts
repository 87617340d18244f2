import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateIdentity, type Identity } from '@araliya/identity'
import { MemoryDatastore } from 'datastore-core'
import { senderLimiter } from '../src/rate-limit.js'
import { LevelDatastore } from 'datastore-level'
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  CBOR_CONTENT,
  decodeEnvelope,
  type Envelope,
  encodeEnvelope,
  InboundPipeline,
  SeenSet,
  signEnvelope,
  type UnsignedEnvelope
} from './internal.js'

const NET = 'test-net'
const NOW = 1_800_000_000_000
let alice: Identity
let mallory: Identity

beforeAll(async () => {
  alice = await generateIdentity()
  mallory = await generateIdentity()
})

function unsigned(overrides: Partial<UnsignedEnvelope> = {}): UnsignedEnvelope {
  const id = new Uint8Array(16)
  globalThis.crypto.getRandomValues(id)
  return {
    net: NET,
    chan: 'agent-messages',
    from: alice.address,
    id,
    hlc: NOW * 1024,
    ttl: 60_000,
    topic: 'agents/hello',
    ct: CBOR_CONTENT,
    body: new Uint8Array([0xa1, 0x61, 0x61, 0x01]),
    ...overrides
  }
}

function pipeline(options: { now?: () => number; seen?: SeenSet; burst?: number } = {}): InboundPipeline {
  const now = options.now ?? (() => NOW)
  return new InboundPipeline({
    network: NET,
    seen: options.seen ?? new SeenSet({ now }),
    limiter: senderLimiter({ now, burst: options.burst ?? 10_000, ratePerSecond: 1 }),
    now
  })
}

describe('envelope codec', () => {
  it('round-trips and verifies', async () => {
    const envelope = await signEnvelope(alice, unsigned({ to: mallory.address }))
    const back = decodeEnvelope(encodeEnvelope(envelope))
    expect(back).toEqual(envelope)
    const verdict = await pipeline().check(encodeEnvelope(envelope), 'agent-messages')
    expect(verdict.action).toBe('accept')
  })

  it('hostile bytes: garbage is rejected, never thrown (property)', async () => {
    const p = pipeline()
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 400 }), async (bytes) => {
        const verdict = await p.check(bytes, 'agent-messages')
        expect(verdict.action).toBe('reject')
      }),
      { numRuns: 300 }
    )
  })

  it('oversized envelopes are rejected before decoding', async () => {
    const big = new Uint8Array(64 * 1024 + 1)
    const verdict = await pipeline().check(big, 'agent-messages')
    expect(verdict).toMatchObject({ action: 'reject', reason: 'too-large' })
  })

  it('flipping any byte of a signed envelope is rejected (property)', async () => {
    const envelope = await signEnvelope(alice, unsigned())
    const bytes = encodeEnvelope(envelope)
    const p = pipeline()
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: bytes.byteLength - 1 }),
        fc.integer({ min: 1, max: 255 }),
        async (at, xor) => {
          const bad = Uint8Array.from(bytes)
          bad[at] = (bad[at] as number) ^ xor
          const verdict = await p.check(bad, 'agent-messages')
          expect(verdict.action).toBe('reject')
        }
      ),
      { numRuns: 300 }
    )
  })

  it('every signed field changed in turn is rejected', async () => {
    const envelope = await signEnvelope(alice, unsigned())
    const changes: Array<Partial<Envelope>> = [
      { net: 'other' },
      { chan: 'node-status' },
      { from: mallory.address },
      { id: new Uint8Array(16) },
      { hlc: envelope.hlc + 1 },
      { ttl: envelope.ttl + 1 },
      { to: mallory.address },
      { topic: 'agents/other' },
      { ct: 'text/plain' },
      { body: new Uint8Array([1]) },
      { sig: new Uint8Array(64) }
    ]
    for (const change of changes) {
      const verdict = await pipeline().check(encodeEnvelope({ ...envelope, ...change }), 'agent-messages')
      expect(verdict).toMatchObject({ action: 'reject' })
    }
  })

  it('an envelope signed for another network or channel is rejected', async () => {
    const other = await signEnvelope(alice, unsigned({ net: 'elsewhere' }))
    expect(await pipeline().check(encodeEnvelope(other), 'agent-messages')).toMatchObject({
      action: 'reject',
      reason: 'wrong-channel'
    })
    const status = await signEnvelope(alice, unsigned({ chan: 'node-status' }))
    expect(await pipeline().check(encodeEnvelope(status), 'agent-messages')).toMatchObject({
      action: 'reject',
      reason: 'wrong-channel'
    })
  })
})

describe('replay and time', () => {
  it('the same envelope 1,000 times: accepted once, then ignored (no penalty)', async () => {
    const bytes = encodeEnvelope(await signEnvelope(alice, unsigned()))
    const p = pipeline()
    const actions = []
    for (let i = 0; i < 1000; i++) actions.push((await p.check(bytes, 'agent-messages')).action)
    expect(actions.filter((a) => a === 'accept')).toHaveLength(1)
    expect(actions.filter((a) => a === 'ignore')).toHaveLength(999)
  })

  it('replays are still refused after a restart (persistent seen-set on disk)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'araliya-seen-'))
    try {
      const bytes = encodeEnvelope(await signEnvelope(alice, unsigned({ ttl: 3_600_000 })))
      let clock = NOW
      const now = () => clock
      const first = new LevelDatastore(dir)
      await first.open()
      const seen = new SeenSet({ datastore: first, now })
      await seen.load()
      expect((await pipeline({ now, seen }).check(bytes, 'agent-messages')).action).toBe('accept')
      await seen.close()
      await first.close()
      // Ten minutes later — far beyond gossipsub's two-minute duplicate cache — after a restart.
      clock += 10 * 60_000
      const second = new LevelDatastore(dir)
      await second.open()
      const reloaded = new SeenSet({ datastore: second, now })
      await reloaded.load()
      expect(await pipeline({ now, seen: reloaded }).check(bytes, 'agent-messages')).toMatchObject({
        action: 'ignore',
        reason: 'duplicate'
      })
      await reloaded.close()
      await second.close()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('expired envelopes are ignored; far-future stamps are ignored with a clock-skew reason', async () => {
    const old = await signEnvelope(alice, unsigned({ hlc: (NOW - 120_000) * 1024, ttl: 60_000 }))
    expect(await pipeline().check(encodeEnvelope(old), 'agent-messages')).toMatchObject({
      action: 'ignore',
      reason: 'expired'
    })
    const future = await signEnvelope(alice, unsigned({ hlc: (NOW + 3_600_000) * 1024 }))
    expect(await pipeline().check(encodeEnvelope(future), 'agent-messages')).toMatchObject({
      action: 'ignore',
      reason: 'clock-skew'
    })
    const slightlyAhead = await signEnvelope(alice, unsigned({ hlc: (NOW + 30_000) * 1024 }))
    expect((await pipeline().check(encodeEnvelope(slightlyAhead), 'agent-messages')).action).toBe('accept')
  })

  it('options passed as undefined still get their defaults (skew and expiry are enforced)', async () => {
    const now = () => NOW
    const p = new InboundPipeline({
      network: NET,
      seen: new SeenSet({ now }),
      limiter: senderLimiter({ now }),
      now,
      maxClockSkewMs: undefined,
      maxEnvelopeBytes: undefined
    })
    const future = await signEnvelope(alice, unsigned({ hlc: (NOW + 3_600_000) * 1024 }))
    expect(await p.check(encodeEnvelope(future), 'agent-messages')).toMatchObject({ reason: 'clock-skew' })
    const bytes = encodeEnvelope(await signEnvelope(alice, unsigned()))
    expect((await p.check(bytes, 'agent-messages')).action).toBe('accept')
    expect(await p.check(bytes, 'agent-messages')).toMatchObject({ reason: 'duplicate' })
  })

  it('a flooding sender is rate limited (ignored, not rejected) while others get through', async () => {
    const p = pipeline({ burst: 5 })
    const verdicts = []
    for (let i = 0; i < 20; i++) {
      verdicts.push(
        (await p.check(encodeEnvelope(await signEnvelope(alice, unsigned())), 'agent-messages')).action
      )
    }
    expect(verdicts.filter((v) => v === 'accept')).toHaveLength(5)
    expect(verdicts.filter((v) => v === 'ignore')).toHaveLength(15)
    const other = await signEnvelope(mallory, unsigned({ from: mallory.address }))
    expect((await p.check(encodeEnvelope(other), 'agent-messages')).action).toBe('accept')
  })
})

describe('bounded state', () => {
  it('the seen-set never holds more than maxEntries: it refuses new ids when full and forgets only expired ones', () => {
    let clock = NOW
    const seen = new SeenSet({ maxEntries: 1000, now: () => clock })
    for (let i = 0; i < 5000; i++) seen.add(`k${i}`, clock + 1000)
    expect(seen.size).toBe(1000)
    expect(seen.refused).toBe(4000)
    expect(seen.has('k0')).toBe(true)
    expect(seen.has('k999')).toBe(true)
    expect(seen.has('k1000')).toBe(false)
    clock += 2000
    for (let i = 0; i < 1024; i++) seen.add(`n${i}`, clock + 1000)
    expect(seen.has('k0')).toBe(false)
    expect(seen.has('n999')).toBe(true)
    expect(seen.size).toBe(1000)
  })

  it('the rate limiter tracks at most maxSenders', () => {
    const limiter = senderLimiter({ maxSenders: 100 })
    for (let i = 0; i < 10_000; i++) limiter.take(`s${i}`)
    expect(limiter.size).toBe(100)
  })

  it('a memory datastore works too', async () => {
    const seen = new SeenSet({ datastore: new MemoryDatastore(), flushIntervalMs: 1 })
    seen.add('a', Date.now() + 10_000)
    await seen.close()
    expect(seen.has('a')).toBe(true)
  })
})
