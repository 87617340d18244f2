import type { AbortOptions, Startable } from '@araliya/interface'
import type { ComponentLogger } from '@libp2p/logger'
import type { SystemEvents } from './types.js'

/** How a subsystem's health looks. */
export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy'

/** What a subsystem's `health()` returns. */
export interface HealthReport {
  readonly status: HealthStatus
  /** A short human-readable explanation, shown in logs and on the dashboard. */
  readonly detail?: string
}

/** What a subsystem gets when it starts. */
export interface SubsystemContext {
  /** Aborted when this run of the subsystem ends: on stop, on restart, or when its start times out. */
  readonly signal: AbortSignal
  /** Reports that the running subsystem broke; the supervisor stops it and restarts it per its policy. */
  fail(error: unknown): void
}

/** When and how often a failed subsystem is restarted. */
export interface RestartPolicy {
  /** Most restarts within `windowMs` before the supervisor gives up (default 5; 0 never restarts). */
  maxRestarts: number
  /** The sliding window restarts are counted in, in ms (default 60 000). */
  windowMs: number
  /** Delay before the first restart in the window, in ms (default 100). */
  initialDelayMs: number
  /** Upper bound of the delay, in ms (default 30 000). */
  maxDelayMs: number
  /** Each further restart in the window waits this many times longer (default 2). */
  factor: number
}

/** A part of the node with a lifecycle: agents, LLM, tools, memory, comms. */
export interface Subsystem {
  /** Unique name, used in `dependsOn`, logs and events. */
  readonly name: string
  /** Names of subsystems that must be running before this one starts (and that stop after it). */
  readonly dependsOn?: readonly string[]
  /** Starts it. Throwing or rejecting counts as a failure (restarted per policy). */
  start(context: SubsystemContext): void | Promise<void>
  /** Stops it and releases what it holds. `options.signal` fires when the stop timeout expires. */
  stop(options: { readonly signal: AbortSignal }): void | Promise<void>
  /** Reports its health; `'unhealthy'`, a throw or a timeout counts as a failure when the supervisor polls. */
  health?(options: { readonly signal: AbortSignal }): HealthReport | Promise<HealthReport>
  /** Overrides the supervisor's restart policy for this subsystem. */
  readonly restart?: Partial<RestartPolicy>
}

/** Where a subsystem is in its lifecycle. */
export type SubsystemState =
  | 'idle'
  | 'starting'
  | 'running'
  | 'backoff'
  | 'stopping'
  | 'stopped'
  | 'failed'
  | 'blocked'

/** A snapshot of one subsystem. */
export interface SubsystemStatus {
  readonly name: string
  readonly state: SubsystemState
  /** Restarts within the current policy window. */
  readonly restarts: number
  /** The last failure, if any. */
  readonly lastError?: Error
  /** Its latest health report (from `health()` or the periodic check). */
  readonly health?: HealthReport
}

/** The answer of {@link Supervisor.health}. */
export interface SupervisorHealth {
  /** `'healthy'` only when the supervisor runs and every subsystem runs and reports healthy. */
  readonly status: HealthStatus
  readonly subsystems: readonly SubsystemStatus[]
}

/** Where the supervisor publishes `subsystem:*` events; any `Bus` fits. */
export interface SystemEventSink {
  publish<T extends keyof SystemEvents>(topic: T, payload: SystemEvents[T]): unknown
}

/** Options of {@link createSupervisor}. */
export interface SupervisorInit {
  /** The bus to publish `subsystem:started`, `subsystem:stopped` and `subsystem:failed` on. */
  bus?: SystemEventSink
  /** Default restart policy (each field optional). */
  restart?: Partial<RestartPolicy>
  /** A start that takes longer fails, in ms (default 30 000). */
  startTimeoutMs?: number
  /** A stop that takes longer is abandoned (and reported), in ms (default 10 000). */
  stopTimeoutMs?: number
  /** How often running subsystems' `health()` is polled, in ms (default 10 000; 0 turns polling off). */
  healthCheckIntervalMs?: number
  /** A health check that takes longer counts as unhealthy, in ms (default 5 000). */
  healthTimeoutMs?: number
  /** Where logs go (default `@libp2p/logger`, namespace `araliya:bus:supervisor`). */
  logger?: ComponentLogger
}

/** Starts, stops, watches and restarts subsystems. */
export interface Supervisor extends Startable {
  /**
   * Adds a subsystem. Only while stopped.
   *
   * @returns A function that removes it again (also only while stopped).
   * @throws SubsystemConfigError for a duplicate name or when the supervisor is not stopped.
   */
  register(subsystem: Subsystem): () => void
  /**
   * Starts every subsystem in dependency order, retrying failed starts per the restart policy. Resolves
   * when all run. Calling it twice is safe.
   *
   * @throws SubsystemConfigError for an unknown dependency or a cycle (nothing is started then).
   * @throws SubsystemStartError when some subsystems could not start; the others keep running.
   * @throws AbortedError when `options.signal` fires; what had started is stopped again.
   */
  start(options?: AbortOptions): Promise<void>
  /**
   * Stops every subsystem in reverse dependency order. Never throws for a subsystem's failure. Safe to call
   * twice. When `options.signal` fires, each remaining stop is still called but with its signal aborted, so
   * subsystems cut their cleanup short.
   */
  stop(options?: AbortOptions): Promise<void>
  /** Asks every running subsystem for its health (with a timeout) and sums it up. */
  health(options?: AbortOptions): Promise<SupervisorHealth>
  /** A synchronous snapshot of every subsystem, in start order. */
  status(): SubsystemStatus[]
}
