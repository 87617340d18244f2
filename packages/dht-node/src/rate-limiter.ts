import { LRUCache } from 'lru-cache'

interface Bucket {
  tokens: number
  at: number
}

/** Token buckets per key, bounded in number (least recently used buckets are dropped first). */
export class RateLimiter {
  readonly #rate: number
  readonly #burst: number
  readonly #buckets: LRUCache<string, Bucket>
  readonly #now: () => number

  constructor(ratePerSecond: number, burst: number, maxKeys = 10_000, now: () => number = Date.now) {
    this.#rate = ratePerSecond
    this.#burst = burst
    this.#buckets = new LRUCache({ max: maxKeys })
    this.#now = now
  }

  /** Takes one token for `key`; false when the bucket is empty. */
  take(key: string): boolean {
    const now = this.#now()
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

  /** Number of tracked keys (bounded by `maxKeys`). */
  get size(): number {
    return this.#buckets.size
  }
}
