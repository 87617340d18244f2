import { backoffDelay } from '@araliya/interface'
import { SubsystemConfigError } from './errors.js'
import type { RestartPolicy } from './supervisor-types.js'

/** The restart policy used where neither the supervisor nor the subsystem sets a field. */
export const DEFAULT_POLICY: RestartPolicy = {
  maxRestarts: 5,
  windowMs: 60_000,
  initialDelayMs: 100,
  maxDelayMs: 30_000,
  factor: 2
}

/** What the restart bookkeeping reads and updates on a subsystem's entry. */
export interface RestartHistory {
  readonly policy: RestartPolicy
  /** When each restart within the current window happened (ms since the epoch), oldest first. */
  restartTimes: number[]
}

/** Drops restarts older than the policy window and returns how many are left. */
export function restartsInWindow(entry: RestartHistory): number {
  const since = Date.now() - entry.policy.windowMs
  while (entry.restartTimes.length > 0 && (entry.restartTimes[0] as number) <= since)
    entry.restartTimes.shift()
  return entry.restartTimes.length
}

/** Records a restart and returns its delay, or undefined when the policy allows no more. */
export function nextRestartDelay(entry: RestartHistory): number | undefined {
  const policy = entry.policy
  const count = restartsInWindow(entry)
  if (count >= policy.maxRestarts) return undefined
  entry.restartTimes.push(Date.now())
  return backoffDelay(count + 1, { ...policy, jitter: 0 })
}

/** Waits `ms`; resolves false early when `signal` fires. */
export function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false)
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer)
      resolve(false)
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve(true)
    }, ms)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

/** Merges `override` into `base` and checks the result. */
export function resolvePolicy(
  base: RestartPolicy,
  override: Partial<RestartPolicy> | undefined
): RestartPolicy {
  const policy = { ...base, ...override }
  if (!Number.isInteger(policy.maxRestarts) || policy.maxRestarts < 0) {
    throw new SubsystemConfigError(
      `restart.maxRestarts must be a whole number >= 0, got ${policy.maxRestarts}`
    )
  }
  for (const key of ['windowMs', 'initialDelayMs', 'maxDelayMs'] as const) {
    if (!(policy[key] >= 0)) throw new SubsystemConfigError(`restart.${key} must be >= 0, got ${policy[key]}`)
  }
  if (!(policy.factor >= 1))
    throw new SubsystemConfigError(`restart.factor must be >= 1, got ${policy.factor}`)
  return policy
}
