import { AbortedError, type AbortOptions, throwIfAborted } from '@araliya/interface'
import { logger as defaultLogger, type Logger } from '@libp2p/logger'
import { sortByDependencies } from './dependencies.js'
import {
  SubsystemConfigError,
  SubsystemFailedError,
  SubsystemStartError,
  SubsystemTimeoutError
} from './errors.js'
import { aggregateHealth, checkHealth } from './health.js'
import { DEFAULT_POLICY, nextRestartDelay, resolvePolicy, restartsInWindow, sleep } from './restart.js'
import { type Entry, Run, withTimeout } from './run.js'
import type {
  RestartPolicy,
  Subsystem,
  SubsystemStatus,
  Supervisor,
  SupervisorHealth,
  SupervisorInit,
  SystemEventSink
} from './supervisor-types.js'
import type { SystemEvents } from './types.js'
import { milliseconds } from './validate.js'

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
    this.#order = sortByDependencies(this.#entries)
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
    this.#notify('subsystem:started', { name, restarts: restartsInWindow(entry) })
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
      const restarts = restartsInWindow(entry)
      const delay = this.#lifecycle.signal.aborted ? undefined : nextRestartDelay(entry)
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
        if (entry.state === 'running')
          entry.lastHealth = await checkHealth(entry.subsystem, this.#healthTimeoutMs, options.signal)
      })
    )
    const subsystems = this.status()
    return { status: aggregateHealth(this.#phase === 'running', subsystems), subsystems }
  }

  status(): SubsystemStatus[] {
    const entries = this.#order.length > 0 ? this.#order : [...this.#entries.values()]
    return entries.map((entry) => ({
      name: entry.subsystem.name,
      state: entry.state,
      restarts: restartsInWindow(entry),
      ...(entry.lastError === undefined ? {} : { lastError: entry.lastError }),
      ...(entry.lastHealth === undefined ? {} : { health: entry.lastHealth })
    }))
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
        const report = await checkHealth(entry.subsystem, this.#healthTimeoutMs)
        if (entry.run !== run) return
        entry.lastHealth = report
        if (report.status === 'unhealthy') {
          const cause = new Error(report.detail ?? 'health() reported unhealthy')
          this.#failed(entry, run, new SubsystemFailedError(entry.subsystem.name, 'is unhealthy', cause))
        }
      })
    )
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
