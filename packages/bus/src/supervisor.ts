import {
  AbortedError,
  type AbortOptions,
  backoffDelay,
  type Startable,
  throwIfAborted
} from '@araliya/interface'
import { type ComponentLogger, logger as defaultLogger, type Logger } from '@libp2p/logger'
import {
  SubsystemConfigError,
  SubsystemFailedError,
  SubsystemStartError,
  SubsystemTimeoutError
} from './errors.js'
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

const DEFAULT_POLICY: RestartPolicy = {
  maxRestarts: 5,
  windowMs: 60_000,
  initialDelayMs: 100,
  maxDelayMs: 30_000,
  factor: 2
}

/** One run of a subsystem, from start to stop or failure. */
class Run {
  readonly controller = new AbortController()
  /** The first failure reported through the context. */
  failure: { error: unknown } | undefined
  /** Told about a failure reported once the run is up. */
  onFail: ((error: unknown) => void) | undefined

  readonly context: SubsystemContext = {
    signal: this.controller.signal,
    fail: (error) => {
      if (this.controller.signal.aborted || this.failure !== undefined) return
      this.failure = { error }
      this.onFail?.(error)
    }
  }
}

interface Entry {
  readonly subsystem: Subsystem
  readonly policy: RestartPolicy
  state: SubsystemState
  run: Run | undefined
  restartTimes: number[]
  lastError: Error | undefined
  lastHealth: HealthReport | undefined
  /** Set while a failure is being handled in the background (stop waits for it). */
  recovery: Promise<void> | undefined
}

/**
 * Creates a supervisor. Construction does no I/O and starts no timers.
 *
 * @example
 * ```ts
 * const supervisor = createSupervisor({ bus })
 * supervisor.register({ name: 'llm', start: () => llm.start(), stop: () => llm.stop() })
 * supervisor.register({ name: 'agents', dependsOn: ['llm'], start: () => agents.start(), stop: () => agents.stop() })
 * await supervisor.start() // llm, then agents
 * ```
 */
export function createSupervisor(init: SupervisorInit = {}): Supervisor {
  return new SupervisorImpl(init)
}

class SupervisorImpl implements Supervisor {
  readonly #log: Logger
  readonly #bus: SystemEventSink | undefined
  readonly #policy: RestartPolicy
  readonly #startTimeoutMs: number
  readonly #stopTimeoutMs: number
  readonly #healthCheckIntervalMs: number
  readonly #healthTimeoutMs: number

  readonly #entries = new Map<string, Entry>()
  #order: Entry[] = []
  #phase: 'stopped' | 'starting' | 'running' | 'stopping' = 'stopped'
  #starting: Promise<void> | undefined
  #stopping: Promise<void> | undefined
  /** Aborted by stop(): ends backoff waits and the start loop. */
  #lifecycle = new AbortController()
  #healthTimer: ReturnType<typeof setTimeout> | undefined

  constructor(init: SupervisorInit) {
    this.#log = init.logger?.forComponent('araliya:bus:supervisor') ?? defaultLogger('araliya:bus:supervisor')
    this.#bus = init.bus
    this.#policy = resolvePolicy(DEFAULT_POLICY, init.restart)
    this.#startTimeoutMs = milliseconds(init.startTimeoutMs, 30_000, 'startTimeoutMs')
    this.#stopTimeoutMs = milliseconds(init.stopTimeoutMs, 10_000, 'stopTimeoutMs')
    this.#healthCheckIntervalMs = milliseconds(
      init.healthCheckIntervalMs,
      10_000,
      'healthCheckIntervalMs',
      true
    )
    this.#healthTimeoutMs = milliseconds(init.healthTimeoutMs, 5_000, 'healthTimeoutMs')
  }

  register(subsystem: Subsystem): () => void {
    if (this.#phase !== 'stopped') {
      throw new SubsystemConfigError(
        `Cannot register "${subsystem.name}" while the supervisor is ${this.#phase}; register before start(), or stop() first`
      )
    }
    if (typeof subsystem.name !== 'string' || subsystem.name.length === 0) {
      throw new SubsystemConfigError('A subsystem needs a non-empty name')
    }
    if (typeof subsystem.start !== 'function' || typeof subsystem.stop !== 'function') {
      throw new SubsystemConfigError(`Subsystem "${subsystem.name}" needs start() and stop() functions`)
    }
    if (this.#entries.has(subsystem.name)) {
      throw new SubsystemConfigError(
        `A subsystem named "${subsystem.name}" is already registered; give each subsystem a unique name`
      )
    }
    const entry: Entry = {
      subsystem,
      policy: resolvePolicy(this.#policy, subsystem.restart),
      state: 'idle',
      run: undefined,
      restartTimes: [],
      lastError: undefined,
      lastHealth: undefined,
      recovery: undefined
    }
    this.#entries.set(subsystem.name, entry)
    this.#order = []
    return () => {
      if (this.#entries.get(subsystem.name) !== entry) return
      if (this.#phase !== 'stopped') {
        throw new SubsystemConfigError(
          `Cannot unregister "${subsystem.name}" while the supervisor is ${this.#phase}; stop() first`
        )
      }
      this.#entries.delete(subsystem.name)
      this.#order = []
    }
  }

  async start(options: AbortOptions = {}): Promise<void> {
    throwIfAborted(options.signal)
    if (this.#phase === 'running') return
    if (this.#phase === 'starting') return this.#starting
    if (this.#phase === 'stopping') await this.#stopping
    this.#order = this.#sort()
    this.#phase = 'starting'
    this.#lifecycle = new AbortController()
    const signal = options.signal
    const onAbort = (): void => {
      void this.stop()
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    this.#starting = this.#startAll().finally(() => {
      signal?.removeEventListener('abort', onAbort)
    })
    try {
      await this.#starting
    } finally {
      this.#starting = undefined
    }
    if (this.#lifecycle.signal.aborted) {
      await this.stop()
      throw new AbortedError(
        signal?.aborted === true
          ? 'Supervisor start was aborted by its signal; every subsystem was stopped again'
          : 'stop() was called before start() finished; every subsystem was stopped again',
        { cause: signal?.reason }
      )
    }
  }

  async #startAll(): Promise<void> {
    const failures: Array<{ name: string; error: Error }> = []
    for (const entry of this.#order) {
      if (this.#lifecycle.signal.aborted) break
      const blocker = (entry.subsystem.dependsOn ?? [])
        .map((name) => this.#entries.get(name) as Entry)
        .find((dependency) => dependency.state !== 'running')
      if (blocker !== undefined) {
        entry.state = 'blocked'
        entry.lastError = new SubsystemFailedError(
          entry.subsystem.name,
          'was not started',
          new Error(`its dependency "${blocker.subsystem.name}" is ${blocker.state}`)
        )
        failures.push({ name: entry.subsystem.name, error: entry.lastError })
        continue
      }
      const error = await this.#runStart(entry)
      if (error !== undefined) await this.#recover(entry, error)
      if (entry.state !== 'running' && !this.#lifecycle.signal.aborted) {
        failures.push({ name: entry.subsystem.name, error: entry.lastError ?? new Error('not running') })
      }
    }
    if (this.#lifecycle.signal.aborted) return
    this.#phase = 'running'
    this.#scheduleHealthCheck()
    if (failures.length > 0) throw new SubsystemStartError(failures)
  }

  /** Starts one run of a subsystem; resolves with the error if it failed (never rejects). */
  async #runStart(entry: Entry): Promise<Error | undefined> {
    const name = entry.subsystem.name
    const run = new Run()
    entry.run = run
    entry.state = 'starting'
    this.#log('starting %s', name)
    try {
      await withTimeout(
        () => entry.subsystem.start(run.context),
        this.#startTimeoutMs,
        () => new SubsystemTimeoutError(name, 'starting', this.#startTimeoutMs),
        run.controller
      )
      // A failure reported while starting counts as a failed start.
      if (run.failure !== undefined) throw run.failure.error
    } catch (err) {
      run.controller.abort()
      const error = new SubsystemFailedError(name, 'failed to start', err)
      entry.lastError = error
      entry.state = 'stopped'
      this.#log.error('%s failed to start: %e', name, err)
      return error
    }
    entry.state = 'running'
    run.onFail = (error) =>
      this.#failed(entry, run, new SubsystemFailedError(name, 'reported a failure', error))
    this.#log('started %s', name)
    this.#notify('subsystem:started', { name, restarts: this.#restartsInWindow(entry) })
    return undefined
  }

  /** A running subsystem failed: stop it, then restart it in the background. */
  #failed(entry: Entry, run: Run, error: Error): void {
    if (entry.run !== run || entry.state !== 'running' || this.#phase === 'stopping') return
    this.#log.error('%s failed: %e', entry.subsystem.name, error)
    entry.recovery = (async () => {
      await this.#runStop(entry, false)
      await this.#recover(entry, error)
    })().finally(() => {
      entry.recovery = undefined
    })
  }

  /** Restarts with backoff until the subsystem runs, the policy gives up, or the supervisor stops. */
  async #recover(entry: Entry, firstError: Error): Promise<void> {
    let error = firstError
    for (;;) {
      entry.lastError = error
      const restarts = this.#restartsInWindow(entry)
      const delay = this.#lifecycle.signal.aborted ? undefined : this.#nextRestartDelay(entry)
      this.#notify('subsystem:failed', {
        name: entry.subsystem.name,
        error,
        restarts,
        ...(delay === undefined ? {} : { restartInMs: delay })
      })
      if (this.#lifecycle.signal.aborted) {
        entry.state = 'stopped'
        return
      }
      if (delay === undefined) {
        entry.state = 'failed'
        this.#log.error('%s failed for good: the restart policy is exhausted', entry.subsystem.name)
        return
      }
      entry.state = 'backoff'
      this.#log('restarting %s in %d ms', entry.subsystem.name, delay)
      if (!(await sleep(delay, this.#lifecycle.signal))) {
        entry.state = 'stopped'
        return
      }
      const next = await this.#runStart(entry)
      if (next === undefined) return
      if (this.#lifecycle.signal.aborted) return
      error = next
    }
  }

  #restartsInWindow(entry: Entry): number {
    const since = Date.now() - entry.policy.windowMs
    while (entry.restartTimes.length > 0 && (entry.restartTimes[0] as number) <= since)
      entry.restartTimes.shift()
    return entry.restartTimes.length
  }

  /** Records a restart and returns its delay, or undefined when the policy allows no more. */
  #nextRestartDelay(entry: Entry): number | undefined {
    const policy = entry.policy
    const count = this.#restartsInWindow(entry)
    if (count >= policy.maxRestarts) return undefined
    entry.restartTimes.push(Date.now())
    return backoffDelay(count + 1, { ...policy, jitter: 0 })
  }

  async stop(options: AbortOptions = {}): Promise<void> {
    if (this.#phase === 'stopped') return
    if (this.#phase === 'stopping') return this.#stopping
    this.#phase = 'stopping'
    this.#lifecycle.abort()
    if (this.#healthTimer !== undefined) clearTimeout(this.#healthTimer)
    this.#healthTimer = undefined
    this.#stopping = this.#stopAll(options.signal).finally(() => {
      this.#phase = 'stopped'
      this.#stopping = undefined
    })
    return this.#stopping
  }

  async #stopAll(signal: AbortSignal | undefined): Promise<void> {
    // Hurry a start in progress, then wait for it and for background recoveries to settle.
    for (const entry of this.#order) if (entry.state === 'starting') entry.run?.controller.abort()
    await this.#starting?.catch(() => undefined)
    await Promise.all(this.#order.map((entry) => entry.recovery))
    for (const entry of [...this.#order].reverse()) {
      if (entry.state === 'running') await this.#runStop(entry, true, signal)
      else entry.state = 'stopped'
      entry.restartTimes = []
    }
  }

  /**
   * Stops one run; errors and timeouts are logged and reported, never thrown. `hurry` (the caller's stop
   * signal) fires the stop's own signal early, so the subsystem cuts its cleanup short.
   */
  async #runStop(entry: Entry, announce: boolean, hurry?: AbortSignal): Promise<void> {
    const name = entry.subsystem.name
    entry.state = 'stopping'
    // The run is over: its context signal fires first, so loops the subsystem started wind down.
    entry.run?.controller.abort()
    const controller = new AbortController()
    const onHurry = (): void => controller.abort(hurry?.reason)
    if (hurry?.aborted === true) onHurry()
    else hurry?.addEventListener('abort', onHurry, { once: true })
    let error: Error | undefined
    try {
      await withTimeout(
        () => entry.subsystem.stop({ signal: controller.signal }),
        this.#stopTimeoutMs,
        () => new SubsystemTimeoutError(name, 'stopping', this.#stopTimeoutMs),
        controller
      )
    } catch (err) {
      error = new SubsystemFailedError(name, 'failed to stop', err)
      this.#log.error('%s failed to stop: %e', name, err)
    } finally {
      hurry?.removeEventListener('abort', onHurry)
      entry.state = 'stopped'
    }
    if (announce || error !== undefined) {
      this.#notify('subsystem:stopped', error === undefined ? { name } : { name, error })
    }
  }

  async health(options: AbortOptions = {}): Promise<SupervisorHealth> {
    throwIfAborted(options.signal)
    await Promise.all(
      [...this.#entries.values()].map(async (entry) => {
        if (entry.state === 'running') entry.lastHealth = await this.#checkHealth(entry, options.signal)
      })
    )
    const subsystems = this.status()
    let status: HealthStatus = this.#phase === 'running' ? 'healthy' : 'unhealthy'
    for (const subsystem of subsystems) {
      const own = subsystem.state === 'running' ? (subsystem.health?.status ?? 'healthy') : 'unhealthy'
      if (own === 'unhealthy') status = 'unhealthy'
      else if (own === 'degraded' && status === 'healthy') status = 'degraded'
    }
    return { status, subsystems }
  }

  status(): SubsystemStatus[] {
    const entries = this.#order.length > 0 ? this.#order : [...this.#entries.values()]
    return entries.map((entry) => ({
      name: entry.subsystem.name,
      state: entry.state,
      restarts: this.#restartsInWindow(entry),
      ...(entry.lastError === undefined ? {} : { lastError: entry.lastError }),
      ...(entry.lastHealth === undefined ? {} : { health: entry.lastHealth })
    }))
  }

  async #checkHealth(entry: Entry, signal?: AbortSignal): Promise<HealthReport> {
    const check = entry.subsystem.health
    if (check === undefined) return { status: 'healthy' }
    const controller = new AbortController()
    const onAbort = (): void => controller.abort(signal?.reason)
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      const report = await withTimeout(
        () => check.call(entry.subsystem, { signal: controller.signal }),
        this.#healthTimeoutMs,
        () => new SubsystemTimeoutError(entry.subsystem.name, 'its health check', this.#healthTimeoutMs),
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

  #scheduleHealthCheck(): void {
    if (this.#healthCheckIntervalMs === 0 || this.#phase !== 'running') return
    if (![...this.#entries.values()].some((entry) => entry.subsystem.health !== undefined)) return
    this.#healthTimer = setTimeout(() => {
      void this.#pollHealth().finally(() => this.#scheduleHealthCheck())
    }, this.#healthCheckIntervalMs)
  }

  async #pollHealth(): Promise<void> {
    await Promise.all(
      this.#order.map(async (entry) => {
        const run = entry.run
        if (entry.state !== 'running' || run === undefined || entry.subsystem.health === undefined) return
        const report = await this.#checkHealth(entry)
        if (entry.run !== run) return
        entry.lastHealth = report
        if (report.status === 'unhealthy') {
          const cause = new Error(report.detail ?? 'health() reported unhealthy')
          this.#failed(entry, run, new SubsystemFailedError(entry.subsystem.name, 'is unhealthy', cause))
        }
      })
    )
  }

  /** Orders subsystems so each comes after its dependencies; ties keep registration order. */
  #sort(): Entry[] {
    const entries = [...this.#entries.values()]
    for (const entry of entries) {
      for (const dependency of entry.subsystem.dependsOn ?? []) {
        if (!this.#entries.has(dependency)) {
          throw new SubsystemConfigError(
            `Subsystem "${entry.subsystem.name}" depends on "${dependency}", which is not registered; register it or fix dependsOn`
          )
        }
      }
    }
    const sorted: Entry[] = []
    const done = new Set<string>()
    while (sorted.length < entries.length) {
      const next = entries.find(
        (entry) =>
          !done.has(entry.subsystem.name) && (entry.subsystem.dependsOn ?? []).every((name) => done.has(name))
      )
      if (next === undefined) {
        const stuck = entries.filter((entry) => !done.has(entry.subsystem.name)).map((e) => e.subsystem.name)
        throw new SubsystemConfigError(
          `The dependencies of ${stuck.join(', ')} form a cycle; remove one of the dependsOn links`
        )
      }
      done.add(next.subsystem.name)
      sorted.push(next)
    }
    return sorted
  }

  #notify<T extends keyof SystemEvents>(topic: T, payload: SystemEvents[T]): void {
    if (this.#bus === undefined) return
    try {
      this.#bus.publish(topic, payload)
    } catch (err) {
      // A closed bus must not stop the supervisor from shutting subsystems down.
      this.#log('could not publish %s: %e', topic, err)
    }
  }
}

/** Runs `fn` with a deadline; on timeout rejects with `timeoutError()` and aborts `controller`. */
async function withTimeout<T>(
  fn: () => T | Promise<T>,
  timeoutMs: number,
  timeoutError: () => Error,
  controller?: AbortController
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    return await Promise.race([
      Promise.resolve().then(fn),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const error = timeoutError()
          controller?.abort(error)
          reject(error)
        }, timeoutMs)
      })
    ])
  } finally {
    clearTimeout(timer)
  }
}

/** Waits `ms`; resolves false early when `signal` fires. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
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

function isHealthStatus(value: unknown): value is HealthStatus {
  return value === 'healthy' || value === 'degraded' || value === 'unhealthy'
}

function resolvePolicy(base: RestartPolicy, override: Partial<RestartPolicy> | undefined): RestartPolicy {
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

function milliseconds(value: number | undefined, fallback: number, name: string, allowZero = false): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0 || (value === 0 && !allowZero)) {
    throw new RangeError(
      `${name} must be a ${allowZero ? 'non-negative' : 'positive'} number of ms, got ${value}`
    )
  }
  return value
}
