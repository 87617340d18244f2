import { SubsystemTimeoutError } from './errors.js'
import { withTimeout } from './run.js'
import type { HealthReport, HealthStatus, Subsystem, SubsystemStatus } from './supervisor-types.js'

/**
 * Asks one subsystem for its health, with a deadline. Never rejects: a throw, a timeout or an invalid
 * answer comes back as `'unhealthy'` with a detail. A subsystem without `health()` is healthy.
 */
export async function checkHealth(
  subsystem: Subsystem,
  timeoutMs: number,
  signal?: AbortSignal
): Promise<HealthReport> {
  const check = subsystem.health
  if (check === undefined) return { status: 'healthy' }
  const controller = new AbortController()
  const onAbort = (): void => controller.abort(signal?.reason)
  signal?.addEventListener('abort', onAbort, { once: true })
  try {
    const report = await withTimeout(
      () => check.call(subsystem, { signal: controller.signal }),
      timeoutMs,
      () => new SubsystemTimeoutError(subsystem.name, 'its health check', timeoutMs),
      controller
    )
    if (report === null || typeof report !== 'object' || !isHealthStatus(report.status)) {
      return { status: 'unhealthy', detail: 'health() returned no valid { status }' }
    }
    return report
  } catch (err) {
    return { status: 'unhealthy', detail: err instanceof Error ? err.message : String(err) }
  } finally {
    signal?.removeEventListener('abort', onAbort)
  }
}

/**
 * Sums subsystem snapshots up into one status: the worst of them, where a subsystem that does not run
 * counts as unhealthy, and everything is unhealthy while the supervisor itself does not run.
 */
export function aggregateHealth(running: boolean, subsystems: readonly SubsystemStatus[]): HealthStatus {
  let status: HealthStatus = running ? 'healthy' : 'unhealthy'
  for (const subsystem of subsystems) {
    const own = subsystem.state === 'running' ? (subsystem.health?.status ?? 'healthy') : 'unhealthy'
    if (own === 'unhealthy') status = 'unhealthy'
    else if (own === 'degraded' && status === 'healthy') status = 'degraded'
  }
  return status
}

function isHealthStatus(value: unknown): value is HealthStatus {
  return value === 'healthy' || value === 'degraded' || value === 'unhealthy'
}
