/**
 * How a retry delay grows: `initialDelayMs` after the first failure, `factor` times longer after each
 * further one, never more than `maxDelayMs`, then spread by ±`jitter` so many peers that failed
 * together do not retry together.
 */
export interface BackoffPolicy {
  /** Delay after the first failure, ms. */
  readonly initialDelayMs: number
  /** Largest delay before jitter, ms. */
  readonly maxDelayMs: number
  /** Growth per further failure (2 doubles it). */
  readonly factor: number
  /** Relative spread, 0 (none) to 1: the delay is multiplied by a random number in `[1 - jitter, 1 + jitter)`. */
  readonly jitter: number
}

/**
 * The delay before retry number `attempt` (1 for the retry after the first failure), under `policy`:
 * `min(maxDelayMs, initialDelayMs × factor^(attempt - 1))`, then jittered and rounded to a whole ms.
 * Every Araliya package that retries or paces work with capped exponential backoff uses this one
 * function, so the rule is written once.
 *
 * @example
 * ```ts
 * import { backoffDelay } from '@araliya/interface'
 *
 * const policy = { initialDelayMs: 1000, maxDelayMs: 60_000, factor: 2, jitter: 0 }
 * backoffDelay(1, policy) // 1000
 * backoffDelay(3, policy) // 4000
 * backoffDelay(30, policy) // 60000
 * ```
 */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy,
  random: () => number = Math.random
): number {
  const exponent = Math.max(0, Math.floor(attempt) - 1)
  // Past the cap the power is not needed (and may overflow to Infinity, which min() handles anyway).
  const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.factor ** exponent)
  const spread = policy.jitter > 0 ? 1 - policy.jitter + 2 * policy.jitter * random() : 1
  return Math.max(0, Math.round(base * spread))
}
