import { LRUCache } from 'lru-cache'

/** Settings of the per-sender token bucket applied to inbound envelopes. */
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

/** Anything that says whether a sender is within its rate. */
export interface SenderLimiter {
  /** Takes one token for `sender`; false when its bucket is empty. */
  take(sender: string): boolean
}

interface Bucket {
  tokens: number
  at: number
}

/** @internal A token bucket per sender, bounded with `lru-cache` (the least recently seen sender is forgotten first). */
export class RateLimiter implements SenderLimiter {
  readonly #rate: number
  readonly #burst: number
  readonly #now: () => number
  readonly #buckets: LRUCache<string, Bucket>

  constructor(init: RateLimitInit = {}) {
    this.#rate = init.ratePerSecond ?? 20
    this.#burst = init.burst ?? 50
    this.#now = init.now ?? Date.now
    this.#buckets = new LRUCache({ max: init.maxSenders ?? 10_000 })
  }

  take(sender: string): boolean {
    const now = this.#now()
    // `get` marks the sender as recently seen, as every take does.
    let bucket = this.#buckets.get(sender)
    if (bucket === undefined) {
      bucket = { tokens: this.#burst, at: now }
      this.#buckets.set(sender, bucket)
    } else {
      bucket.tokens = Math.min(this.#burst, bucket.tokens + ((now - bucket.at) / 1000) * this.#rate)
      bucket.at = now
    }
    if (bucket.tokens < 1) return false
    bucket.tokens -= 1
    return true
  }

  /** Senders tracked (bounded by `maxSenders`). */
  get size(): number {
    return this.#buckets.size
  }
}

/** @internal A per-sender limiter with the channel's defaults. */
export function senderLimiter(init: RateLimitInit = {}): RateLimiter {
  return new RateLimiter(init)
}
