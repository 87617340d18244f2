import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { InvalidGraphSyncOptionsError } from '../src/errors.js'
import {
  DEFAULT_MISBEHAVIOUR_COOLDOWN_MS,
  MAX_MISBEHAVIOUR_COOLDOWN_MS,
  MisbehaviourRecord
} from '../src/misbehaviour.js'

const MINUTE = 60_000
const HOUR = 60 * MINUTE

function manualClock(start = 1_750_000_000_000): { now: () => number; advance: (ms: number) => void } {
  let ms = start
  return {
    now: () => ms,
    advance: (by) => {
      ms += by
    }
  }
}

describe('the record of misbehaving graph-sync peers', () => {
  it('refuses a peer for 10 minutes, doubling per repeat offence up to 24 hours', () => {
    const clock = manualClock()
    const record = new MisbehaviourRecord({ now: clock.now })
    const cooloffs: number[] = []
    for (let i = 0; i < 12; i++) {
      const entry = record.offend('peer-a', 'unauthorized')
      expect(entry.offences).toBe(i + 1)
      cooloffs.push(entry.until - clock.now())
      // Refused until the cool-off ends, and not a millisecond longer.
      clock.advance(entry.until - clock.now() - 1)
      expect(record.refused('peer-a')).toEqual(entry)
      clock.advance(1)
      expect(record.refused('peer-a')).toBeUndefined()
      expect(record.list()).toEqual([])
    }
    expect(cooloffs.map((ms) => ms / MINUTE)).toEqual([
      10, 20, 40, 80, 160, 320, 640, 1280, 1440, 1440, 1440, 1440
    ])
    expect(DEFAULT_MISBEHAVIOUR_COOLDOWN_MS).toBe(10 * MINUTE)
    expect(MAX_MISBEHAVIOUR_COOLDOWN_MS).toBe(24 * HOUR)
  })

  it('cool-off n is min(max(first, 24 h), first × 2^(n-1)), for any first cool-off', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 48 * HOUR }), fc.integer({ min: 1, max: 40 }), (first, n) => {
        const clock = manualClock()
        const record = new MisbehaviourRecord({ cooldownMs: first, now: clock.now })
        let entry = record.offend('p', 'backdated')
        for (let i = 1; i < n; i++) entry = record.offend('p', 'backdated')
        const expected = Math.min(Math.max(first, MAX_MISBEHAVIOUR_COOLDOWN_MS), first * 2 ** (n - 1))
        expect(entry.until - clock.now()).toBe(Math.round(expected))
        expect(entry.offences).toBe(n)
        expect(record.refused('p') !== undefined).toBe(expected > 0)
      })
    )
  })

  it('keeps the reason of the last offence, and lists the peers refused now, the latest offender first', () => {
    const clock = manualClock()
    const record = new MisbehaviourRecord({ cooldownMs: MINUTE, now: clock.now })
    record.offend('a', 'unauthorized')
    clock.advance(1000)
    record.offend('b', 'invalid-signature')
    clock.advance(1000)
    record.offend('a', 'backdated')
    expect(record.list().map(({ peer, reason, offences }) => [peer, reason, offences])).toEqual([
      ['a', 'backdated', 2],
      ['b', 'invalid-signature', 1]
    ])
    // b's minute is over; a's second offence doubled its cool-off.
    clock.advance(MINUTE)
    expect(record.list().map((entry) => entry.peer)).toEqual(['a'])
    // Past offences are remembered after the cool-off: b's next one is its second.
    expect(record.offend('b', 'unauthorized').offences).toBe(2)
  })

  it('holds at most maxPeers peers, forgetting the one whose last offence is oldest', () => {
    const clock = manualClock()
    const record = new MisbehaviourRecord({ maxPeers: 100, now: clock.now })
    record.offend('first', 'unauthorized')
    record.offend('second', 'unauthorized')
    // Looking peers up does not keep them; offending again does.
    for (let i = 0; i < 1000; i++) expect(record.refused('second')).toBeDefined()
    record.offend('first', 'unauthorized')
    for (let i = 0; i < 99; i++) record.offend(`flood-${i}`, 'invalid-signature')
    expect(record.size).toBe(100)
    expect(record.refused('second')).toBeUndefined()
    expect(record.refused('first')?.offences).toBe(2)
    for (let i = 0; i < 10_000; i++) record.offend(`more-${i}`, 'invalid-signature')
    expect(record.size).toBe(100)
    expect(record.list()).toHaveLength(100)
  })

  it('refuses out-of-range settings with a typed error', () => {
    for (const cooldownMs of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => new MisbehaviourRecord({ cooldownMs })).toThrow(InvalidGraphSyncOptionsError)
    }
    for (const maxPeers of [0, 1.5, -3]) {
      expect(() => new MisbehaviourRecord({ maxPeers })).toThrow(InvalidGraphSyncOptionsError)
    }
  })
})
