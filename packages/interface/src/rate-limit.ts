import { LRUCache } from 'lru-cache'

/** Settings of a {@link RateLimiter}. */
export interface RateLimiterInit {
  /** Tokens added to each bucket per second. */
  readonly ratePerSecond: number
  /** Bucket size: the largest burst a key may send at once. */
  readonly burst: number
  /**
   * Most keys tracked at once; the least recently seen key is forgotten first (and starts full again),
   * so a flood of fresh keys costs bounded memory. Default 10,000.
   */
  readonly maxKeys?: number
  /** The clock, in ms (inject one in tests). Default `Date.now`. */
  readonly now?: () => number
}

interface Bucket {
  tokens: number
  at: number
}

/**
 * A token bucket per key (a sender, a peer), bounded in the number of keys with `lru-cache`. Every Araliya
 * package that rate-limits per sender uses this one implementation (dht-node's gossip layer, channel-p2p's
 * inbound pipeline).
 *
 * @example
 * ```ts
 * import { RateLimiter } from '@araliya/interface'
 *
 * const limiter = new RateLimiter({ ratePerSecond: 1, burst: 2 })
 * limiter.take('peer-a') // true
 * limiter.take('peer-a') // true
 * limiter.take('peer-a') // false: burst used up, one token a second from now on
 * ```
 */
export class RateLimiter {
  readonly #rate: number
  readonly #burst: number
  readonly #now: () => number
  readonly #buckets: LRUCache<string, Bucket>

  constructor(init: RateLimiterInit) {
    this.#rate = init.ratePerSecond
    this.#burst = init.burst
    this.#now = init.now ?? Date.now
    this.#buckets = new LRUCache({ max: init.maxKeys ?? 10_000 })
  }

  /** Takes one token for `key`; false when its bucket is empty. */
  take(key: string): boolean {
    const now = this.#now()
    // `get` marks the key as recently seen, as every take does.
    let bucket = this.#buckets.get(key)
    if (bucket === undefined) {
      bucket = { tokens: this.#burst, at: now }
      this.#buckets.set(key, bucket)
    } else {
      bucket.tokens = Math.min(this.#burst, bucket.tokens + ((now - bucket.at) / 1000) * this.#rate)
      bucket.at = now
    }
    if (bucket.tokens < 1) return false
    bucket.tokens -= 1
    return true
  }

  /** Keys tracked now (at most `maxKeys`). */
  get size(): number {
    return this.#buckets.size
  }
}
