import { RateLimiter } from '@araliya/interface'

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

/** @internal A per-sender limiter (interface's `RateLimiter`) with the channel's defaults. */
export function senderLimiter(init: RateLimitInit = {}): RateLimiter {
  return new RateLimiter({
    ratePerSecond: init.ratePerSecond ?? 20,
    burst: init.burst ?? 50,
    maxKeys: init.maxSenders ?? 10_000,
    ...(init.now === undefined ? {} : { now: init.now })
  })
}
