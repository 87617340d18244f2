import type {
  HealthReport,
  Subsystem,
  SubsystemContext,
  SubsystemState,
  RestartPolicy
} from './supervisor-types.js'

/** One run of a subsystem, from start to stop or failure. */
export class Run {
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

/** The supervisor's bookkeeping for one registered subsystem. */
export interface Entry {
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

/** Runs `fn` with a deadline; on timeout rejects with `timeoutError()` and aborts `controller`. */
export async function withTimeout<T>(
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
