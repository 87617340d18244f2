import {
  AbortedError,
  type AbortOptions,
  LOCAL_ORIGIN,
  type Origin,
  throwIfAborted
} from '@araliya/interface'
import { logger as defaultLogger, type Logger } from '@libp2p/logger'
import { BusClosedError, type QueueFullError, SubscriberFailedError } from './errors.js'
import { compilePattern, isPattern, type TopicMatcher } from './pattern.js'
import { type AnyRequestHandler, RequestRouter } from './request.js'
import { isThenable, PublishWaits, Subscriber, type SubscriberHost } from './subscriber.js'
import { positiveInteger } from './validate.js'
import type {
  Bus,
  BusCounters,
  BusEvent,
  BusInit,
  EventMap,
  HandleOptions,
  PublishAsyncOptions,
  PublishOptions,
  RequestMap,
  RequestOptions,
  SubscribeOptions,
  Subscription,
  Tap
} from './types.js'

const DEFAULT_QUEUE_CAPACITY = 1024
const DEFAULT_MAX_CACHED_TOPICS = 4096
const BUS_ERROR = 'bus:error'

type AnyHandler = (event: BusEvent) => unknown

/** The subscribers of one topic, in subscription order, and whether the plain sync loop can serve them. */
class Route {
  readonly subscribers: Subscriber[]
  /** Every subscriber is sync and unfiltered: dispatch skips the per-subscriber mode and origin checks. */
  readonly plain: boolean
  constructor(subscribers: Subscriber[]) {
    this.subscribers = subscribers
    this.plain = subscribers.every((subscriber) => subscriber.sync && !subscriber.filtered)
  }
}

/**
 * Creates a bus. Construction does no I/O and starts no timers.
 *
 * @typeParam Events - topic -> payload map (system events such as `bus:error` are always added).
 * @typeParam Requests - request topic -> `(payload) => reply` map.
 *
 * @example
 * ```ts
 * const bus = createBus<{ 'agents/hello': { name: string } }>()
 * bus.subscribe('agents/*', (event) => console.log(event.topic, event.payload.name))
 * bus.publish('agents/hello', { name: 'ada' })
 * ```
 */
export function createBus<
  Events extends EventMap = Record<string, unknown>,
  Requests extends RequestMap = Record<string, (payload: unknown) => unknown>
>(init: BusInit = {}): Bus<Events, Requests> {
  return new EventBus(init) as unknown as Bus<Events, Requests>
}

/**
 * The untyped implementation behind {@link createBus}; the `Bus` interface adds the types.
 *
 * Dispatch is run-to-completion: an event reaches every matching subscriber (sync ones are called, async
 * ones get it queued) before the next event is dispatched, and a publish made while dispatching is queued
 * behind the current event. That keeps one global order that every subscriber sees.
 */
class EventBus implements SubscriberHost {
  readonly #log: Logger
  readonly #requests: RequestRouter
  readonly #defaultQueueCapacity: number

  readonly #exact = new Map<string, Subscriber[]>()
  #patterns: Subscriber[] = []
  /**
   * topic -> the subscribers that match it, in subscription order. Reset when subscriptions change, and
   * when it holds `maxCachedTopics` topics. A plain Map on purpose: it is read on every publish, and an
   * LRU cache (lru-cache) there cost about 10% of sync fan-out throughput (bus-fanout's workload); a
   * reset only recomputes the routes of the topics published next.
   */
  readonly #routes = new Map<string, Route>()
  /** The route of the last topic published, so a run of publishes on one topic skips the Map lookup. */
  #lastTopic: string | undefined = undefined
  #lastRoute: Route = new Route([])
  readonly #maxCachedTopics: number
  readonly #all = new Set<Subscriber>()
  #taps: Tap[] = []

  #nextSubscriberId = 1
  #seq = 0
  #closed = false
  #dispatching = false
  readonly #pendingEvents: Array<BusEvent | undefined> = []
  readonly #pendingWaits: Array<PublishWaits | null> = []

  readonly #stats = {
    delivered: 0,
    dropped: 0,
    rejected: 0,
    failed: 0
  }

  constructor(init: BusInit) {
    this.#log = init.logger?.forComponent('araliya:bus') ?? defaultLogger('araliya:bus')
    this.#requests = new RequestRouter(this.#log, init.requestTimeoutMs)
    this.#defaultQueueCapacity = positiveInteger(
      init.defaultQueueCapacity,
      DEFAULT_QUEUE_CAPACITY,
      'defaultQueueCapacity'
    )
    this.#maxCachedTopics = positiveInteger(
      init.maxCachedTopics,
      DEFAULT_MAX_CACHED_TOPICS,
      'maxCachedTopics'
    )
    if (init.tap !== undefined) this.#taps = [init.tap]
  }

  // ---- publish / dispatch -------------------------------------------------------------------------------

  publish(topic: string, payload: unknown, options?: PublishOptions): boolean {
    if (this.#closed) throw new BusClosedError()
    return this.#emit(topic, payload, options?.origin ?? LOCAL_ORIGIN, null)
  }

  async publishAsync(topic: string, payload: unknown, options?: PublishAsyncOptions): Promise<void> {
    if (this.#closed) throw new BusClosedError()
    const signal = options?.signal
    throwIfAborted(signal)
    const waits = new PublishWaits()
    const deferred = this.#dispatching
    this.#emit(topic, payload, options?.origin ?? LOCAL_ORIGIN, waits)
    // A publish from inside a handler is dispatched after the current event, still synchronously, so it has
    // been dispatched by the time this continuation runs.
    if (deferred) await undefined
    await waits.wait(
      signal,
      () =>
        new AbortedError(`publishAsync("${topic}") was aborted while waiting for room`, {
          cause: signal?.reason
        })
    )
    if (waits.error !== undefined) throw waits.error
  }

  #emit(topic: string, payload: unknown, origin: Origin, waits: PublishWaits | null): boolean {
    const seq = ++this.#seq
    const route = topic === this.#lastTopic ? this.#lastRoute : this.#routeOf(topic)
    if (route.subscribers.length === 0 && this.#taps.length === 0) return true
    const event: BusEvent = { topic, payload, origin, seq, timestamp: Date.now() }
    if (this.#dispatching) {
      this.#pendingEvents.push(event)
      this.#pendingWaits.push(waits)
      return true
    }
    this.#dispatching = true
    try {
      const accepted = this.#dispatch(event, route, waits)
      if (this.#pendingEvents.length !== 0) this.#runPending()
      return accepted
    } finally {
      this.#dispatching = false
    }
  }

  #runPending(): void {
    const events = this.#pendingEvents
    const waits = this.#pendingWaits
    for (let i = 0; i < events.length; i++) {
      const event = events[i] as BusEvent
      events[i] = undefined
      // Look the route up again: subscriptions may have changed since the event was queued.
      this.#dispatch(event, this.#routeOf(event.topic), waits[i] ?? null)
    }
    events.length = 0
    waits.length = 0
  }

  #dispatch(event: BusEvent, route: Route, waits: PublishWaits | null): boolean {
    if (this.#taps.length !== 0) this.#runTaps(event)
    const subscribers = route.subscribers
    if (route.plain) {
      // The same loop as below without the checks a sync, unfiltered subscriber never needs.
      for (let i = 0; i < subscribers.length; i++) {
        const subscriber = subscribers[i] as Subscriber
        if (!subscriber.active) continue
        subscriber.delivered++
        try {
          const result = subscriber.handler(event)
          if (result !== undefined) this.#watchSyncResult(subscriber, event, result)
        } catch (err) {
          this.subscriberFailed(subscriber, event, err)
        }
      }
      return true
    }
    let accepted = true
    for (let i = 0; i < subscribers.length; i++) {
      const subscriber = subscribers[i] as Subscriber
      if (!subscriber.active) continue
      if (subscriber.filtered && !subscriber.accepts(event.origin)) continue
      if (subscriber.sync) {
        subscriber.delivered++
        try {
          const result = subscriber.handler(event)
          if (result !== undefined) this.#watchSyncResult(subscriber, event, result)
        } catch (err) {
          this.subscriberFailed(subscriber, event, err)
        }
      } else if (!subscriber.enqueue(event, waits)) {
        accepted = false
      }
    }
    return accepted
  }

  #runTaps(event: BusEvent): void {
    for (const tap of this.#taps) {
      try {
        tap(event)
      } catch (err) {
        this.#stats.failed++
        this.#log.error('tap failed on %s: %e', event.topic, err)
        if (event.topic !== BUS_ERROR && !this.#closed) {
          this.#emit(
            BUS_ERROR,
            { kind: 'tap', error: new SubscriberFailedError('tap', event.topic, err), topic: event.topic },
            LOCAL_ORIGIN,
            null
          )
        }
      }
    }
  }

  #watchSyncResult(subscriber: Subscriber, event: BusEvent, result: unknown): void {
    if (!isThenable(result)) return
    if (!subscriber.warnedAboutPromise) {
      subscriber.warnedAboutPromise = true
      this.#log(
        'sync subscriber "%s" returned a promise: its work is not bounded by a queue; use delivery: "async"',
        subscriber.name
      )
    }
    result.then(undefined, (err: unknown) => this.subscriberFailed(subscriber, event, err))
  }

  /** The cached route of a topic (built on first use), remembered as the last topic's. */
  #routeOf(topic: string): Route {
    const route = this.#routes.get(topic) ?? this.#route(topic)
    this.#lastTopic = topic
    this.#lastRoute = route
    return route
  }

  /** Forgets cached routes: all of them, or the one of an exact topic. */
  #forgetRoutes(topic?: string): void {
    if (topic === undefined) this.#routes.clear()
    else this.#routes.delete(topic)
    this.#lastTopic = undefined
  }

  /** Builds and caches the subscriber list of a topic: exact subscribers and matching patterns, by age. */
  #route(topic: string): Route {
    // A copy, so a dispatch iterating it is unaffected by later (un)subscribes.
    const route = this.#exact.get(topic)?.slice() ?? []
    if (this.#patterns.length > 0) {
      for (const subscriber of this.#patterns) {
        if ((subscriber.matcher as TopicMatcher)(topic)) route.push(subscriber)
      }
      route.sort((a, b) => a.id - b.id)
    }
    if (this.#routes.size >= this.#maxCachedTopics) this.#routes.clear()
    const cached = new Route(route)
    this.#routes.set(topic, cached)
    return cached
  }

  // ---- SubscriberHost -------------------------------------------------------------------------------------

  subscriberFailed(subscriber: Subscriber, event: BusEvent, error: unknown): void {
    subscriber.failed++
    this.#stats.failed++
    this.#log.error('subscriber "%s" failed on %s: %e', subscriber.name, event.topic, error)
    // A failure while handling bus:error is only logged: reporting it on bus:error could loop forever.
    if (event.topic === BUS_ERROR || this.#closed) return
    this.#emit(
      BUS_ERROR,
      {
        kind: 'subscriber',
        error: new SubscriberFailedError(subscriber.name, event.topic, error),
        topic: event.topic,
        subscription: subscriber.name
      },
      LOCAL_ORIGIN,
      null
    )
  }

  overflowed(subscriber: Subscriber, event: BusEvent, error: QueueFullError): void {
    this.#log.error('subscriber "%s" queue is full on %s; it is losing events', subscriber.name, event.topic)
    if (event.topic === BUS_ERROR || this.#closed) return
    this.#emit(
      BUS_ERROR,
      { kind: 'overflow', error, topic: event.topic, subscription: subscriber.name },
      LOCAL_ORIGIN,
      null
    )
  }

  // ---- subscribe ------------------------------------------------------------------------------------------

  subscribe(pattern: string, handler: AnyHandler, options: SubscribeOptions = {}): Subscription {
    if (this.#closed) throw new BusClosedError()
    if (typeof pattern !== 'string' || pattern.length === 0) {
      throw new TypeError('subscribe needs a non-empty topic or pattern')
    }
    if (typeof handler !== 'function') throw new TypeError('subscribe needs a handler function')
    const delivery = options.delivery ?? 'async'
    if (delivery !== 'sync' && delivery !== 'async') {
      throw new TypeError(`unknown delivery "${String(delivery)}"; use 'sync' or 'async'`)
    }
    const from = options.from ?? 'any'
    if (from !== 'any' && from !== 'local' && from !== 'remote') {
      throw new TypeError(`unknown origin filter "${String(from)}"; use 'any', 'local' or 'remote'`)
    }
    const wildcard = isPattern(pattern)
    const subscriber = new Subscriber(
      {
        id: this.#nextSubscriberId++,
        pattern,
        name: options.name ?? pattern,
        matcher: wildcard ? compilePattern(pattern) : undefined,
        handler,
        sync: delivery === 'sync',
        capacity: positiveInteger(options.queue?.capacity, this.#defaultQueueCapacity, 'queue.capacity'),
        policy: options.queue?.policy ?? 'drop-oldest',
        concurrency: positiveInteger(options.concurrency, 1, 'concurrency'),
        from,
        skipPeer: options.skipPeer
      },
      this
    )
    if (wildcard) {
      this.#patterns.push(subscriber)
      this.#forgetRoutes()
    } else {
      const list = this.#exact.get(pattern)
      if (list === undefined) this.#exact.set(pattern, [subscriber])
      else list.push(subscriber)
      this.#forgetRoutes(pattern)
    }
    this.#all.add(subscriber)

    const signal = options.signal
    const unsubscribe = (): void => {
      signal?.removeEventListener('abort', unsubscribe)
      this.#remove(subscriber)
    }
    if (signal !== undefined) {
      if (signal.aborted) this.#remove(subscriber)
      else signal.addEventListener('abort', unsubscribe, { once: true })
    }
    // A function's own `name` is read-only but configurable, so it is redefined rather than assigned.
    return Object.defineProperties(unsubscribe, {
      unsubscribe: { value: unsubscribe },
      pattern: { value: pattern },
      name: { value: subscriber.name },
      stats: { value: () => subscriber.stats() }
    }) as Subscription
  }

  #remove(subscriber: Subscriber): void {
    if (!this.#all.delete(subscriber)) return
    const stats = subscriber.stats()
    subscriber.close()
    this.#stats.delivered += stats.delivered
    this.#stats.dropped += stats.dropped
    this.#stats.rejected += stats.rejected
    if (subscriber.matcher !== undefined) {
      this.#patterns = this.#patterns.filter((s) => s !== subscriber)
      this.#forgetRoutes()
    } else {
      const list = this.#exact.get(subscriber.pattern)
      const rest = list?.filter((s) => s !== subscriber) ?? []
      if (rest.length === 0) this.#exact.delete(subscriber.pattern)
      else this.#exact.set(subscriber.pattern, rest)
      this.#forgetRoutes(subscriber.pattern)
    }
  }

  hasSubscribers(topic: string): boolean {
    return this.#routeOf(topic).subscribers.length > 0
  }

  // ---- request / reply ------------------------------------------------------------------------------------

  handle(topic: string, handler: AnyRequestHandler, options: HandleOptions = {}): () => void {
    if (this.#closed) throw new BusClosedError()
    return this.#requests.handle(topic, handler, options)
  }

  request(topic: string, payload: unknown, options: RequestOptions = {}): Promise<unknown> {
    if (this.#closed) return Promise.reject(new BusClosedError())
    return this.#requests.request(topic, payload, options)
  }

  // ---- observability and lifecycle ------------------------------------------------------------------------

  tap(tap: Tap): () => void {
    if (typeof tap !== 'function') throw new TypeError('tap needs a function')
    this.#taps = [...this.#taps, tap]
    return () => {
      this.#taps = this.#taps.filter((t) => t !== tap)
    }
  }

  counters(): BusCounters {
    const counters: BusCounters = {
      ...this.#stats,
      ...this.#requests.counters(),
      published: this.#seq,
      subscriptions: this.#all.size,
      handlers: this.#requests.handlers,
      pendingRequests: this.#requests.pending
    }
    for (const subscriber of this.#all) {
      counters.delivered += subscriber.delivered
      counters.dropped += subscriber.dropped
      counters.rejected += subscriber.rejected
    }
    return counters
  }

  async drain(options: AbortOptions = {}): Promise<void> {
    const signal = options.signal
    for (;;) {
      throwIfAborted(signal)
      let busy: Subscriber | undefined
      for (const subscriber of this.#all) {
        if (subscriber.busy()) {
          busy = subscriber
          break
        }
      }
      if (busy === undefined) return
      await abortable(busy.whenIdle(), signal)
    }
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    for (const subscriber of [...this.#all]) this.#remove(subscriber)
    this.#taps = []
    this.#requests.close()
    this.#log('closed')
  }
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new AbortedError('The wait was aborted', { cause: signal.reason }))
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort)
        resolve(value)
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(err)
      }
    )
  })
}
