import { AbortedError, LOCAL_ORIGIN } from '@araliya/interface'
import type { Logger } from '@libp2p/logger'
import {
  BusClosedError,
  HandlerExistsError,
  HandlerFailedError,
  NoHandlerError,
  QueueFullError,
  RequestTimeoutError
} from './errors.js'
import type { HandleOptions, RequestContext, RequestOptions } from './types.js'
import { positive, positiveInteger } from './validate.js'

const DEFAULT_REQUEST_TIMEOUT_MS = 30_000
/** setTimeout stores its delay in an int32; longer timeouts would fire at once. */
const MAX_TIMER_MS = 2_147_483_647

/** A request handler as the untyped bus stores it. */
export type AnyRequestHandler = (payload: unknown, context: RequestContext) => unknown

interface HandlerEntry {
  readonly handler: AnyRequestHandler
  readonly maxConcurrent: number
  inFlight: number
}

interface PendingRequest {
  readonly controller: AbortController
  fail(error: Error): void
}

/** The counters request/reply keeps; the bus adds them to its `counters()`. */
export interface RequestCounters {
  requests: number
  replies: number
  noHandler: number
  timeouts: number
  aborted: number
  handlerFailures: number
}

/**
 * The request/reply half of the bus: one handler per topic, each request with a timeout, an abort signal
 * and the handler's concurrency limit. The bus checks that it is open before calling in.
 */
export class RequestRouter {
  readonly #log: Logger
  readonly #requestTimeoutMs: number
  readonly #handlers = new Map<string, HandlerEntry>()
  readonly #pendingRequests = new Set<PendingRequest>()

  readonly #stats: RequestCounters = {
    requests: 0,
    replies: 0,
    noHandler: 0,
    timeouts: 0,
    aborted: 0,
    handlerFailures: 0
  }

  /** @param requestTimeoutMs - the bus's `init.requestTimeoutMs` (checked here; default 30 000). */
  constructor(log: Logger, requestTimeoutMs: number | undefined) {
    this.#log = log
    this.#requestTimeoutMs = positive(requestTimeoutMs, DEFAULT_REQUEST_TIMEOUT_MS, 'requestTimeoutMs')
  }

  /** Registers the one handler of `topic`; see `Bus.handle`. */
  handle(topic: string, handler: AnyRequestHandler, options: HandleOptions = {}): () => void {
    if (typeof handler !== 'function') throw new TypeError('handle needs a handler function')
    if (this.#handlers.has(topic)) throw new HandlerExistsError(topic)
    const entry: HandlerEntry = {
      handler,
      maxConcurrent: positiveInteger(options.maxConcurrent, Number.POSITIVE_INFINITY, 'maxConcurrent', true),
      inFlight: 0
    }
    this.#handlers.set(topic, entry)
    const signal = options.signal
    const unregister = (): void => {
      signal?.removeEventListener('abort', unregister)
      if (this.#handlers.get(topic) === entry) this.#handlers.delete(topic)
    }
    if (signal !== undefined) {
      if (signal.aborted) unregister()
      else signal.addEventListener('abort', unregister, { once: true })
    }
    return unregister
  }

  /** Sends a request to the handler of `topic` and waits for its reply; see `Bus.request`. */
  request(topic: string, payload: unknown, options: RequestOptions = {}): Promise<unknown> {
    this.#stats.requests++
    const signal = options.signal
    if (signal?.aborted === true) {
      this.#stats.aborted++
      return Promise.reject(abortedRequest(topic, signal))
    }
    const entry = this.#handlers.get(topic)
    if (entry === undefined) {
      this.#stats.noHandler++
      return Promise.reject(new NoHandlerError(topic))
    }
    if (entry.inFlight >= entry.maxConcurrent) {
      return Promise.reject(
        new QueueFullError(
          `handler of ${topic}`,
          entry.maxConcurrent,
          'the handler is at maxConcurrent requests in flight; retry later, or raise maxConcurrent'
        )
      )
    }
    const timeoutMs = positive(options.timeoutMs, this.#requestTimeoutMs, 'timeoutMs')
    const origin = options.origin ?? LOCAL_ORIGIN

    return new Promise<unknown>((resolve, reject) => {
      const controller = new AbortController()
      let settled = false
      let timer: ReturnType<typeof setTimeout> | undefined
      const finish = (): boolean => {
        if (settled) return false
        settled = true
        if (timer !== undefined) clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        this.#pendingRequests.delete(pending)
        return true
      }
      const fail = (error: Error): void => {
        if (!finish()) return
        reject(error)
        // Tell the handler to stop: nobody is waiting for its reply any more.
        controller.abort(error)
      }
      const onAbort = (): void => {
        if (settled) return
        this.#stats.aborted++
        fail(abortedRequest(topic, signal as AbortSignal))
      }
      const pending: PendingRequest = { controller, fail }
      this.#pendingRequests.add(pending)
      if (timeoutMs <= MAX_TIMER_MS) {
        timer = setTimeout(() => {
          if (settled) return
          this.#stats.timeouts++
          fail(new RequestTimeoutError(topic, timeoutMs))
        }, timeoutMs)
      }
      signal?.addEventListener('abort', onAbort, { once: true })

      const handlerDone = (): void => {
        entry.inFlight--
      }
      const handlerFailed = (err: unknown): void => {
        handlerDone()
        if (settled) {
          this.#log('handler of %s failed after its request ended: %e', topic, err)
          return
        }
        this.#stats.handlerFailures++
        fail(new HandlerFailedError(topic, err))
      }
      entry.inFlight++
      let result: unknown
      try {
        result = entry.handler(payload, { topic, origin, signal: controller.signal })
      } catch (err) {
        handlerFailed(err)
        return
      }
      Promise.resolve(result).then((reply) => {
        handlerDone()
        if (!finish()) return
        this.#stats.replies++
        resolve(reply)
      }, handlerFailed)
    })
  }

  /** The request counters (live; copy them to keep a snapshot). */
  counters(): Readonly<RequestCounters> {
    return this.#stats
  }

  /** How many topics have a handler. */
  get handlers(): number {
    return this.#handlers.size
  }

  /** How many requests wait for their reply. */
  get pending(): number {
    return this.#pendingRequests.size
  }

  /** Unregisters every handler and fails every pending request with BusClosedError. */
  close(): void {
    this.#handlers.clear()
    for (const pending of [...this.#pendingRequests]) pending.fail(new BusClosedError())
  }
}

function abortedRequest(topic: string, signal: AbortSignal): AbortedError {
  return new AbortedError(`The request on "${topic}" was aborted by its signal`, { cause: signal.reason })
}
