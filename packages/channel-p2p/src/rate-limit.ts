import { RateLimiter } from '@araliya/dht-node'

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

/** A per-sender limiter with the channel's defaults (dht-node's bounded token buckets). */
export function senderLimiter(init: RateLimitInit = {}): RateLimiter {
  return new RateLimiter(
    init.ratePerSecond ?? 20,
    init.burst ?? 50,
    init.maxSenders ?? 10_000,
    init.now ?? Date.now
  )
}
