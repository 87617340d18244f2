import { generateIdentity, type Identity } from '@araliya/identity'
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { senderLimiter } from '../src/rate-limit.js'
import {
  CBOR_CONTENT,
  encodeEnvelope,
  InboundPipeline,
  SeenSet,
  signEnvelope,
  type UnsignedEnvelope
} from './internal.js'

const NET = 'test-net'
const START = 1_800_000_000_000
const SKEW = 60_000

let alice: Identity
let bob: Identity

beforeAll(async () => {
  alice = await generateIdentity()
  bob = await generateIdentity()
})

function unsigned(from: string, at: number, ttl: number): UnsignedEnvelope {
  const id = new Uint8Array(16)
  globalThis.crypto.getRandomValues(id)
  return {
    net: NET,
    chan: 'agent-messages',
    from,
    id,
    hlc: at * 1024,
    ttl,
    topic: 'agents/hello',
    ct: CBOR_CONTENT,
    body: new Uint8Array([0xf6])
  }
}

async function envelopeBytes(identity: Identity, at: number, ttl: number): Promise<Uint8Array> {
  return encodeEnvelope(await signEnvelope(identity, unsigned(identity.address, at, ttl)))
}

describe('replay protection when the seen-set is full', () => {
  it('throwaway keys that fill the seen-set never reopen a replay; new envelopes are refused until entries expire', async () => {
    let clock = START
    const now = () => clock
    const seen = new SeenSet({ maxEntries: 400, now })
    const pipeline = new InboundPipeline({
      network: NET,
      maxClockSkewMs: SKEW,
      seen,
      // Generous per-sender limits: the attack uses many keys, each within its own rate.
      limiter: senderLimiter({ now, burst: 50, ratePerSecond: 20 }),
      now
    })

    // An envelope that stays valid for an hour is accepted once.
    const old = await envelopeBytes(alice, clock, 3_600_000)
    expect((await pipeline.check(old, 'agent-messages')).action).toBe('accept')

    // 40 throwaway keys, 10 short-lived envelopes each: more than the seen-set can hold.
    const reasons = new Map<string, number>()
    for (let k = 0; k < 40; k++) {
      const throwaway = await generateIdentity()
      for (let i = 0; i < 10; i++) {
        clock += 1
        const verdict = await pipeline.check(await envelopeBytes(throwaway, clock, 60_000), 'agent-messages')
        const key = verdict.action === 'accept' ? 'accept' : verdict.reason
        reasons.set(key, (reasons.get(key) ?? 0) + 1)
      }
    }
    expect(reasons.get('accept')).toBe(399)
    expect(reasons.get('seen-set-full')).toBe(1)
    expect(seen.size).toBe(400)
    expect(seen.refused).toBe(1)

    // The old envelope replayed: still known, so it is a duplicate and is not delivered again.
    expect(await pipeline.check(old, 'agent-messages')).toMatchObject({
      action: 'ignore',
      reason: 'duplicate'
    })

    // A fresh envelope from an honest sender is refused (ignored, no penalty) while the set is full.
    const fresh = await envelopeBytes(bob, clock, 60_000)
    expect(await pipeline.check(fresh, 'agent-messages')).toMatchObject({
      action: 'ignore',
      reason: 'seen-set-full'
    })
    expect(seen.refused).toBe(2)

    // Once the throwaway entries expire (stamp + ttl + skew), there is room again; the old one is still known.
    clock += 60_000 + SKEW + 1000
    const later = await envelopeBytes(bob, clock, 60_000)
    expect((await pipeline.check(later, 'agent-messages')).action).toBe('accept')
    expect(await pipeline.check(old, 'agent-messages')).toMatchObject({
      action: 'ignore',
      reason: 'duplicate'
    })
    expect(seen.size).toBe(2)
  })

  it('never forgets an unexpired id, whatever the order of adds and clock steps (property)', () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('add' as const),
        id: fc.nat({ max: 60 }),
        ttl: fc.integer({ min: 1, max: 500 })
      }),
      fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 300 }) })
    )
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.array(op, { maxLength: 200 }), (maxEntries, ops) => {
        let clock = START
        const seen = new SeenSet({ maxEntries, now: () => clock })
        const model = new Map<string, number>()
        for (const step of ops) {
          if (step.kind === 'tick') clock += step.ms
          else {
            const id = `k${step.id}`
            const expiresAt = clock + step.ttl
            if (seen.add(id, expiresAt)) model.set(id, Math.max(model.get(id) ?? 0, expiresAt))
          }
          for (const [id, expiresAt] of model) {
            if (expiresAt > clock) expect(seen.has(id)).toBe(true)
            else model.delete(id)
          }
          expect(seen.size).toBeLessThanOrEqual(maxEntries)
          expect(seen.size).toBe(model.size)
        }
      }),
      { numRuns: 300 }
    )
  })
})
