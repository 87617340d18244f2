/** Settings of a per-sender token bucket. */
export interface RateLimitInit {
  /** Tokens added per second. Default 20. */
  ratePerSecond?: number
  /** Bucket size: the largest burst. Default 50. */
  burst?: number
  /** Most senders tracked at once; the least recently seen are forgotten (they start full again). Default 10,000. */
  maxSenders?: number
  /** The clock, in ms (inject in tests). */
  now?: () => number
}

interface Bucket {
  tokens: number
  at: number
}

/**
 * Token buckets keyed by sender: `take(sender)` is true while the sender is within its rate. Memory is
 * bounded by `maxSenders`.
 */
export class RateLimiter {
  readonly #rate: number
  readonly #burst: number
  readonly #maxSenders: number
  readonly #now: () => number
  readonly #buckets = new Map<string, Bucket>()

  constructor(init: RateLimitInit = {}) {
    this.#rate = init.ratePerSecond ?? 20
    this.#burst = init.burst ?? 50
    this.#maxSenders = init.maxSenders ?? 10_000
    this.#now = init.now ?? Date.now
  }

  /** Takes one token from `sender`'s bucket; false when it is empty (the message is over-rate). */
  take(sender: string): boolean {
    const now = this.#now()
    let bucket = this.#buckets.get(sender)
    if (bucket === undefined) {
      bucket = { tokens: this.#burst, at: now }
      if (this.#buckets.size >= this.#maxSenders) {
        const oldest = this.#buckets.keys().next().value
        if (oldest !== undefined) this.#buckets.delete(oldest)
      }
    } else {
      // Re-insert so the map's order is least-recently-seen first.
      this.#buckets.delete(sender)
      bucket.tokens = Math.min(this.#burst, bucket.tokens + ((now - bucket.at) / 1000) * this.#rate)
      bucket.at = now
    }
    this.#buckets.set(sender, bucket)
    if (bucket.tokens < 1) return false
    bucket.tokens -= 1
    return true
  }

  /** How many senders are tracked. */
  get size(): number {
    return this.#buckets.size
  }
}
