import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { backoffDelay } from '../src/index.js'

describe('backoffDelay', () => {
  const policy = { initialDelayMs: 1000, maxDelayMs: 60_000, factor: 2, jitter: 0 }

  it('grows by the factor from the initial delay and stops at the cap', () => {
    expect([1, 2, 3, 4, 6, 7, 8, 100, 5000].map((attempt) => backoffDelay(attempt, policy))).toEqual([
      1000, 2000, 4000, 8000, 32_000, 60_000, 60_000, 60_000, 60_000
    ])
    expect(backoffDelay(0, policy)).toBe(1000)
  })

  it('jitter stays within ±jitter of the capped delay, and is monotonic in attempts without it', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 100_000 }),
        fc.double({ min: 1, max: 4, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 0.999_999, noNaN: true }),
        fc.integer({ min: 1, max: 60 }),
        (initialDelayMs, extra, factor, jitter, random, attempt) => {
          const p = { initialDelayMs, maxDelayMs: initialDelayMs + extra, factor, jitter }
          const base = backoffDelay(attempt, { ...p, jitter: 0 })
          expect(base).toBeLessThanOrEqual(p.maxDelayMs)
          expect(base).toBeGreaterThanOrEqual(initialDelayMs)
          expect(backoffDelay(attempt + 1, { ...p, jitter: 0 })).toBeGreaterThanOrEqual(base)
          const jittered = backoffDelay(attempt, p, () => random)
          expect(jittered).toBeGreaterThanOrEqual(Math.floor(base * (1 - jitter)) - 1)
          expect(jittered).toBeLessThanOrEqual(Math.ceil(base * (1 + jitter)) + 1)
        }
      ),
      { numRuns: 500, seed: 1 }
    )
  })
})
