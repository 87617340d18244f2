import { describe, expect, it } from 'vitest'
import { RateLimiter } from '../src/index.js'

describe('RateLimiter', () => {
  it('lets a burst through, then one token per 1/rate seconds, per key', () => {
    let now = 0
    const limiter = new RateLimiter({ ratePerSecond: 2, burst: 3, now: () => now })
    expect([1, 2, 3, 4].map(() => limiter.take('a'))).toEqual([true, true, true, false])
    expect(limiter.take('b')).toBe(true) // another key has its own bucket
    now = 499
    expect(limiter.take('a')).toBe(false)
    now = 500
    expect(limiter.take('a')).toBe(true)
    now = 60_000 // a long pause refills to the burst, never beyond it
    expect([1, 2, 3, 4].map(() => limiter.take('a'))).toEqual([true, true, true, false])
  })

  it('tracks at most maxKeys keys: a flood of fresh keys costs bounded memory', () => {
    const limiter = new RateLimiter({ ratePerSecond: 1, burst: 1, maxKeys: 100 })
    for (let i = 0; i < 10_000; i++) limiter.take(`sender-${i}`)
    expect(limiter.size).toBe(100)
  })
})
