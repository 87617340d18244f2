import type { AbortOptions, Origin } from '@araliya/interface'
import type { ComponentLogger } from '@libp2p/logger'

/**
 * Maps each topic name to the type of its payload. Declare it as a `type` or an `interface`:
 *
 * ```ts
 * interface NodeEvents {
 *   'agents/message': { from: string; text: string }
 *   'llm/token': string
 * }
 * ```
 */
export type EventMap = object

/**
 * Maps each request topic to a function type `(payload) => reply`; the reply may be a promise.
 *
 * ```ts
 * interface NodeRequests {
 *   'llm/complete': (prompt: string) => string
 * }
 * ```
 */
export type RequestMap = object

/** The topic names of an event map. */
export type Topic<Events extends EventMap> = keyof Events & string

/**
 * A subscription pattern: an exact topic, or a string with `*` wildcards. A `*` at the end matches the
 * non-empty rest of the topic (`agents/*` matches `agents/a` and `agents/a/b`; `*` alone matches every
 * topic); a `*` anywhere else matches one non-empty run of characters without a `/`.
 */
export type TopicPattern<Events extends EventMap> = Topic<Events> | `${string}*${string}`

type Glob<Pattern extends string> = Pattern extends `${infer Head}*${infer Tail}`
  ? `${Head}${string}${Glob<Tail>}`
  : Pattern

/** The topics of `Events` that `Pattern` can match (for a pattern, a superset is computed at compile time). */
export type MatchingTopics<Events extends EventMap, Pattern extends string> =
  Pattern extends Topic<Events> ? Pattern : Extract<Topic<Events>, Glob<Pattern>>

/** One delivered event. The same frozen-by-convention object is passed to every subscriber: do not mutate it. */
export interface BusEvent<T extends string = string, Payload = unknown> {
  /** The exact topic it was published on. */
  readonly topic: T
  /** What the publisher sent. */
  readonly payload: Payload
  /** Where it came from: this process, or the remote peer a bridge received it from. */
  readonly origin: Origin
  /** Position in this bus's global publish order (starts at 1); subscribers see increasing values. */
  readonly seq: number
  /** `Date.now()` when it was published. */
  readonly timestamp: number
}

/** The event object for a topic or a union of topics; a union is discriminated by `topic`. */
export type EventOf<Events extends EventMap, T extends Topic<Events>> = {
  [K in T]: BusEvent<K, Events[K]>
}[T]

/**
 * A subscriber. An async subscriber may return a promise: its next event waits for it (per `concurrency`) and
 * a rejection is reported on `bus:error`. A sync subscriber's promise is only watched for rejection.
 */
export type Handler<Event> = (event: Event) => unknown

/** The request payload type of a request topic. */
export type RequestPayload<Requests extends RequestMap, T extends keyof Requests> = Requests[T] extends (
  payload: infer Payload
) => unknown
  ? Payload
  : never

/** The reply type of a request topic. */
export type ReplyOf<Requests extends RequestMap, T extends keyof Requests> = Requests[T] extends (
  payload: never
) => infer Reply
  ? Awaited<Reply>
  : never

/** What a request handler receives besides the payload. */
export interface RequestContext<T extends string = string> {
  /** The request topic. */
  readonly topic: T
  /** Where the request came from. */
  readonly origin: Origin
  /** Fires when the requester gives up (timeout or abort) or the bus closes; stop working then. */
  readonly signal: AbortSignal
}

/** Answers requests on one topic. */
export type RequestHandler<Payload, Reply> = (
  payload: Payload,
  context: RequestContext
) => Reply | Promise<Reply>

/** What happens when an async subscriber's queue is full and another event arrives. */
export type QueuePolicy = 'drop-oldest' | 'reject' | 'wait'

/** The bounded queue of an async subscriber. */
export interface QueueOptions {
  /** Most events held for this subscriber (default 1024). */
  capacity?: number
  /**
   * - `'drop-oldest'` (default): the oldest queued event is discarded to make room; counted in `dropped`.
   * - `'reject'`: the new event is refused for this subscriber; counted in `rejected`; `publish` returns
   *   false and `publishAsync` rejects with a `QueueFullError`.
   * - `'wait'`: `publishAsync` waits for room (at most `capacity` publishers wait; more are rejected);
   *   a plain `publish`, which cannot wait, is refused as with `'reject'`.
   */
  policy?: QueuePolicy
}

/** Which origins a subscriber accepts. */
export type OriginFilter = 'any' | 'local' | 'remote'

/** Options of {@link Bus.subscribe}. */
export interface SubscribeOptions {
  /**
   * `'async'` (default): events are queued (bounded, see `queue`) and handled in later microtasks, in order,
   * at most `concurrency` at a time; the publisher is never blocked by the handler.
   * `'sync'`: the handler runs inline inside `publish`; keep it short and do not return a promise.
   */
  delivery?: 'sync' | 'async'
  /** Queue bound and overflow policy of an async subscriber. */
  queue?: QueueOptions
  /** How many handler calls of an async subscriber may be in flight at once (default 1: strict order). */
  concurrency?: number
  /** Accept only local events, only remote ones, or both (default `'any'`). A bridge sending to the swarm uses `'local'`. */
  from?: OriginFilter
  /** Skip events that came from this remote peer, e.g. the one a per-peer link forwards to. */
  skipPeer?: string
  /** A label for logs, stats and `bus:error` events (default: the pattern). */
  name?: string
  /** Unsubscribes when aborted. */
  signal?: AbortSignal
}

/** Options of {@link Bus.publish}. */
export interface PublishOptions {
  /** Where the event came from (default `LOCAL_ORIGIN`); a bridge sets the remote peer here. */
  origin?: Origin
}

/** Options of {@link Bus.publishAsync}. */
export interface PublishAsyncOptions extends PublishOptions, AbortOptions {}

/** Options of {@link Bus.request}. */
export interface RequestOptions extends AbortOptions {
  /** Rejects with a `RequestTimeoutError` after this long (default: the bus's `requestTimeoutMs`). */
  timeoutMs?: number
  /** Where the request came from (default `LOCAL_ORIGIN`). */
  origin?: Origin
}

/** Options of {@link Bus.handle}. */
export interface HandleOptions {
  /** Requests in flight beyond this are refused with a `QueueFullError` (default: unlimited). */
  maxConcurrent?: number
  /** Unregisters the handler when aborted. */
  signal?: AbortSignal
}

/** Counters of one subscription. `delivered + dropped + rejected + queued + running` is every event it matched. */
export interface SubscriptionStats {
  /** Handler calls started. */
  delivered: number
  /** Handler calls that threw or rejected. */
  failed: number
  /** Events discarded by `'drop-oldest'`. */
  dropped: number
  /** Events refused by `'reject'` or by `'wait'` under a plain `publish`. */
  rejected: number
  /** Events waiting in the queue now. */
  queued: number
  /** Handler calls in flight now. */
  running: number
  /** Most events ever queued at once; never more than the capacity. */
  maxQueued: number
}

/** An unsubscribe function that also carries the subscription's name and stats. */
export interface Subscription {
  /** Unsubscribes (same as `unsubscribe()`); calling it twice is safe. */
  (): void
  /** Stops delivery: the handler is not called again, queued events are discarded. Calling it twice is safe. */
  unsubscribe(): void
  /** The pattern it was made with. */
  readonly pattern: string
  /** Its label in logs and errors. */
  readonly name: string
  /** A snapshot of its counters. */
  stats(): SubscriptionStats
}

/** Bus-wide counters (a snapshot). Subscription counters include those of subscriptions already removed. */
export interface BusCounters {
  published: number
  delivered: number
  dropped: number
  rejected: number
  /** Subscriber and tap calls that threw or rejected. */
  failed: number
  subscriptions: number
  handlers: number
  requests: number
  replies: number
  noHandler: number
  timeouts: number
  aborted: number
  handlerFailures: number
  /** Requests waiting for a reply now. */
  pendingRequests: number
}

/** The payload of `bus:error`. */
export interface BusErrorEvent {
  /** `'subscriber'`: a handler threw or rejected; `'tap'`: a tap threw; `'overflow'`: a queue started losing events. */
  readonly kind: 'subscriber' | 'tap' | 'overflow'
  /** A typed error (`SubscriberFailedError` with the thrown value as `cause`, or `QueueFullError`). */
  readonly error: Error
  /** The topic of the event involved. */
  readonly topic: string
  /** The subscription's name, when one was involved. */
  readonly subscription?: string
}

/** The payload of `subsystem:started`. */
export interface SubsystemStartedEvent {
  readonly name: string
  /** How many times it has been restarted in the current window (0 on the first start). */
  readonly restarts: number
}

/** The payload of `subsystem:stopped`. */
export interface SubsystemStoppedEvent {
  readonly name: string
  /** Set when its `stop` threw or timed out. */
  readonly error?: Error
}

/** The payload of `subsystem:failed`. */
export interface SubsystemFailedEvent {
  readonly name: string
  /** A `SubsystemFailedError` whose `cause` is what went wrong. */
  readonly error: Error
  /** When a restart is scheduled, how long until it; undefined when the supervisor gave up. */
  readonly restartInMs?: number
  /** Restarts already made within the policy window. */
  readonly restarts: number
}

/** Events the bus and the supervisor publish themselves. Every bus carries them besides its own map. */
export interface SystemEvents {
  'bus:error': BusErrorEvent
  'subsystem:started': SubsystemStartedEvent
  'subsystem:stopped': SubsystemStoppedEvent
  'subsystem:failed': SubsystemFailedEvent
}

/** An event map together with the system events. */
export type WithSystemEvents<Events extends EventMap> = Events & SystemEvents

/** A function that sees every event before any subscriber (a dashboard's event log). It must not throw or block. */
export type Tap = (event: BusEvent) => void

/** Options of {@link createBus}. */
export interface BusInit {
  /** Default request timeout in ms (default 30 000). */
  requestTimeoutMs?: number
  /** Default capacity of async subscriber queues (default 1024). */
  defaultQueueCapacity?: number
  /** Taps installed from the start. */
  tap?: Tap
  /** How many distinct topics keep a cached subscriber list (default 4096); beyond it the cache is reset. */
  maxCachedTopics?: number
  /** Where logs go (default `@libp2p/logger`, namespace `araliya:bus`). */
  logger?: ComponentLogger
}

/**
 * The bus: typed publish/subscribe, request/reply, a tap, and counters.
 *
 * @typeParam Events - topic -> payload map; the system events are always added.
 * @typeParam Requests - request topic -> `(payload) => reply` map.
 */
export interface Bus<
  Events extends EventMap = Record<string, unknown>,
  Requests extends RequestMap = Record<string, (payload: unknown) => unknown>
> {
  /**
   * Publishes an event. Sync subscribers run before it returns; async subscribers get it queued.
   * A publish from inside a handler is delivered after the current event has reached every subscriber.
   *
   * @returns false when a full queue refused the event for at least one subscriber (it still reached the others).
   * @throws BusClosedError after `close()`.
   */
  publish<T extends Topic<WithSystemEvents<Events>>>(
    topic: T,
    payload: WithSystemEvents<Events>[T],
    options?: PublishOptions
  ): boolean

  /**
   * Publishes like {@link Bus.publish}, then waits until every `'wait'` subscriber has room for the event.
   *
   * @throws QueueFullError when a `'reject'` subscriber refused it or too many publishers already wait.
   * @throws AbortedError when `options.signal` fires while waiting (subscribers still waiting never get it).
   */
  publishAsync<T extends Topic<WithSystemEvents<Events>>>(
    topic: T,
    payload: WithSystemEvents<Events>[T],
    options?: PublishAsyncOptions
  ): Promise<void>

  /**
   * Subscribes to a topic or a pattern (`agents/*`, `*`).
   *
   * @returns The unsubscribe function, which also exposes `stats()`.
   */
  subscribe<P extends TopicPattern<WithSystemEvents<Events>>>(
    pattern: P,
    handler: Handler<EventOf<WithSystemEvents<Events>, MatchingTopics<WithSystemEvents<Events>, P>>>,
    options?: SubscribeOptions
  ): Subscription

  /** True when at least one subscription matches `topic`. */
  hasSubscribers(topic: string): boolean

  /**
   * Registers the one handler that answers requests on `topic`.
   *
   * @returns A function that unregisters it.
   * @throws HandlerExistsError when the topic already has a handler.
   */
  handle<T extends Topic<Requests>>(
    topic: T,
    handler: RequestHandler<RequestPayload<Requests, T>, ReplyOf<Requests, T>>,
    options?: HandleOptions
  ): () => void

  /**
   * Sends a request to the handler of `topic` and resolves with its reply.
   *
   * @throws NoHandlerError, RequestTimeoutError, AbortedError, HandlerFailedError (its `cause` is what the
   * handler threw), QueueFullError (handler at `maxConcurrent`), BusClosedError.
   */
  request<T extends Topic<Requests>>(
    topic: T,
    payload: RequestPayload<Requests, T>,
    options?: RequestOptions
  ): Promise<ReplyOf<Requests, T>>

  /** Adds a tap that sees every published event before subscribers do. Returns a function that removes it. */
  tap(tap: Tap): () => void

  /** A snapshot of the bus-wide counters. */
  counters(): BusCounters

  /** Resolves when every async subscriber has an empty queue and nothing in flight. */
  drain(options?: AbortOptions): Promise<void>

  /**
   * Closes the bus: removes every subscription and handler, rejects pending requests with `BusClosedError`.
   * Later calls to publish, subscribe, handle and request throw `BusClosedError`. Calling it twice is safe.
   */
  close(): void
}
