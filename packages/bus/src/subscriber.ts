import type { Origin } from '@araliya/interface'
import { QueueFullError } from './errors.js'
import type { TopicMatcher } from './pattern.js'
import type { BusEvent, OriginFilter, QueuePolicy, SubscriptionStats } from './types.js'

/** What a subscriber needs from its bus: somewhere to report failures and overflows. */
export interface SubscriberHost {
  subscriberFailed(subscriber: Subscriber, event: BusEvent, error: unknown): void
  overflowed(subscriber: Subscriber, event: BusEvent, error: QueueFullError): void
}

/** Collects what one `publishAsync` call must wait for, and the first refusal it met. */
export class PublishWaits {
  /** The first `'reject'` refusal, thrown once every wait has ended. */
  error: Error | undefined = undefined
  /** The waiters it registered (withdrawing an admitted one is a no-op). */
  readonly waiters: Waiter[] = []
  #outstanding = 0
  #onDone: (() => void) | undefined = undefined

  add(waiter: Waiter): void {
    this.waiters.push(waiter)
    this.#outstanding++
  }

  /** Called by a subscriber when a waiter got into its queue or no longer needs to. */
  settle(): void {
    this.#outstanding--
    if (this.#outstanding === 0) this.#onDone?.()
  }

  /** Resolves when every waiter is settled; on abort, withdraws the rest and rejects with the abort error. */
  wait(signal: AbortSignal | undefined, abortError: () => Error): Promise<void> {
    if (this.#outstanding === 0) return Promise.resolve()
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.#onDone = undefined
        for (const waiter of this.waiters) waiter.subscriber.withdraw(waiter)
        reject(abortError())
      }
      if (signal?.aborted === true) {
        onAbort()
        return
      }
      this.#onDone = () => {
        signal?.removeEventListener('abort', onAbort)
        resolve()
      }
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }
}

/** A publisher waiting for room in a `'wait'` queue. */
export interface Waiter {
  readonly subscriber: Subscriber
  readonly event: BusEvent
  readonly owner: PublishWaits
  settled: boolean
}

const POLICY_DROP_OLDEST = 0
const POLICY_REJECT = 1
const POLICY_WAIT = 2

function policyCode(policy: QueuePolicy): number {
  switch (policy) {
    case 'drop-oldest':
      return POLICY_DROP_OLDEST
    case 'reject':
      return POLICY_REJECT
    case 'wait':
      return POLICY_WAIT
    default:
      throw new TypeError(`unknown queue policy "${String(policy)}"; use 'drop-oldest', 'reject' or 'wait'`)
  }
}

/** Settings of one subscriber, already validated. */
export interface SubscriberSettings {
  readonly id: number
  readonly pattern: string
  readonly name: string
  readonly matcher: TopicMatcher | undefined
  readonly handler: (event: BusEvent) => unknown
  readonly sync: boolean
  readonly capacity: number
  readonly policy: QueuePolicy
  readonly concurrency: number
  readonly from: OriginFilter
  readonly skipPeer: string | undefined
}

const EMPTY: never[] = []

/**
 * One subscription. Sync subscribers are called by the bus's dispatch loop; async subscribers keep a bounded
 * ring buffer and drain it in microtasks, calling a handler that returns a promise at most `concurrency`
 * times at once. Nothing here allocates per event except the waiters of `'wait'` publishers.
 */
export class Subscriber {
  readonly id: number
  readonly pattern: string
  readonly name: string
  readonly matcher: TopicMatcher | undefined
  readonly handler: (event: BusEvent) => unknown
  readonly sync: boolean
  /** True while events should be delivered; cleared by unsubscribe. */
  active = true
  /** True when `accepts` must be consulted (an origin filter is set). */
  readonly filtered: boolean
  readonly #from: OriginFilter
  readonly #skipPeer: string | undefined
  readonly #host: SubscriberHost

  delivered = 0
  failed = 0
  dropped = 0
  rejected = 0
  maxQueued = 0
  warnedAboutPromise = false

  // Async state: a ring buffer that grows up to `capacity`.
  readonly #capacity: number
  readonly #policy: number
  readonly #concurrency: number
  #buffer: Array<BusEvent | undefined> = EMPTY
  #head = 0
  #size = 0
  #running = 0
  #scheduled = false
  #overflowing = false
  #waiters: Waiter[] = EMPTY
  #idleResolvers: Array<() => void> = EMPTY
  readonly #drainBound: () => void
  readonly #settledBound: () => void

  constructor(settings: SubscriberSettings, host: SubscriberHost) {
    this.id = settings.id
    this.pattern = settings.pattern
    this.name = settings.name
    this.matcher = settings.matcher
    this.handler = settings.handler
    this.sync = settings.sync
    this.#capacity = settings.capacity
    this.#policy = policyCode(settings.policy)
    this.#concurrency = settings.concurrency
    this.#from = settings.from
    this.#skipPeer = settings.skipPeer
    this.filtered = settings.from !== 'any' || settings.skipPeer !== undefined
    this.#host = host
    this.#drainBound = () => this.#drain()
    this.#settledBound = () => this.#settled()
  }

  /** Whether an event from `origin` is for this subscriber (only called when `filtered`). */
  accepts(origin: Origin): boolean {
    if (origin.kind === 'local') return this.#from !== 'remote'
    return this.#from !== 'local' && origin.peer !== this.#skipPeer
  }

  /**
   * Queues an event for an async subscriber. Returns false when the event was refused for it. A `'wait'`
   * subscriber with a full queue registers a waiter on `waits` when the publisher can wait.
   */
  enqueue(event: BusEvent, waits: PublishWaits | null): boolean {
    if (this.#size < this.#capacity && this.#waiters.length === 0) {
      this.#push(event)
      return true
    }
    switch (this.#policy) {
      case POLICY_DROP_OLDEST:
        this.#shift()
        this.dropped++
        this.#push(event)
        this.#overflow(event)
        return true
      case POLICY_WAIT:
        if (waits !== null && this.#waiters.length < this.#capacity) {
          const waiter: Waiter = { subscriber: this, event, owner: waits, settled: false }
          if (this.#waiters === EMPTY) this.#waiters = []
          this.#waiters.push(waiter)
          waits.add(waiter)
          return true
        }
        break
    }
    this.rejected++
    const error = this.#overflow(event)
    if (waits !== null) waits.error ??= error ?? this.#fullError()
    return false
  }

  /** Removes a waiter whose publisher gave up. */
  withdraw(waiter: Waiter): void {
    if (waiter.settled) return
    waiter.settled = true
    const index = this.#waiters.indexOf(waiter)
    if (index !== -1) this.#waiters.splice(index, 1)
  }

  /** Stops delivery: discards the queue, releases waiting publishers and `whenIdle` callers. */
  close(): void {
    this.active = false
    this.#buffer = EMPTY
    this.#head = 0
    this.#size = 0
    this.#releaseWaiters()
    this.#notifyIdle()
  }

  /** True while the subscriber has queued events, handler calls in flight, or waiting publishers. */
  busy(): boolean {
    return this.#size > 0 || this.#running > 0 || this.#waiters.length > 0
  }

  /** Resolves when `busy()` turns false. */
  whenIdle(): Promise<void> {
    if (!this.busy()) return Promise.resolve()
    return new Promise<void>((resolve) => {
      if (this.#idleResolvers === EMPTY) this.#idleResolvers = []
      this.#idleResolvers.push(resolve)
    })
  }

  stats(): SubscriptionStats {
    return {
      delivered: this.delivered,
      failed: this.failed,
      dropped: this.dropped,
      rejected: this.rejected,
      queued: this.#size,
      running: this.#running,
      maxQueued: this.maxQueued
    }
  }

  #push(event: BusEvent): void {
    const buffer = this.#buffer
    if (this.#size === buffer.length) this.#grow()
    this.#buffer[(this.#head + this.#size) % this.#buffer.length] = event
    this.#size++
    if (this.#size > this.maxQueued) this.maxQueued = this.#size
    if (!this.#scheduled && this.#running < this.#concurrency) {
      this.#scheduled = true
      queueMicrotask(this.#drainBound)
    }
  }

  #shift(): BusEvent {
    const event = this.#buffer[this.#head] as BusEvent
    this.#buffer[this.#head] = undefined
    this.#head = this.#head + 1 === this.#buffer.length ? 0 : this.#head + 1
    this.#size--
    return event
  }

  #grow(): void {
    const old = this.#buffer
    const length = Math.min(this.#capacity, Math.max(16, old.length * 2))
    const next = new Array<BusEvent | undefined>(length)
    for (let i = 0; i < this.#size; i++) next[i] = old[(this.#head + i) % old.length]
    this.#buffer = next
    this.#head = 0
  }

  #drain(): void {
    // `scheduled` stays set while draining so events queued by the handler itself join this loop.
    this.#scheduled = true
    while (this.#size > 0 && this.#running < this.#concurrency && this.active) {
      const event = this.#shift()
      if (this.#waiters.length > 0) this.#admitWaiter()
      this.#running++
      this.delivered++
      let result: unknown
      try {
        result = this.handler(event)
      } catch (err) {
        this.#running--
        this.#host.subscriberFailed(this, event, err)
        continue
      }
      if (isThenable(result)) {
        result.then(this.#settledBound, (err: unknown) => {
          this.#host.subscriberFailed(this, event, err)
          this.#settled()
        })
      } else {
        this.#running--
      }
    }
    this.#scheduled = false
    if (this.#size === 0) {
      this.#overflowing = false
      if (this.#running === 0) this.#notifyIdle()
    }
  }

  #settled(): void {
    this.#running--
    if (this.#size > 0) this.#drain()
    else if (this.#running === 0) this.#notifyIdle()
  }

  #admitWaiter(): void {
    const waiter = this.#waiters.shift() as Waiter
    waiter.settled = true
    this.#push(waiter.event)
    waiter.owner.settle()
  }

  #releaseWaiters(): void {
    const waiters = this.#waiters
    this.#waiters = EMPTY
    for (const waiter of waiters) {
      if (waiter.settled) continue
      waiter.settled = true
      waiter.owner.settle()
    }
  }

  #notifyIdle(): void {
    if (this.#idleResolvers.length === 0) return
    const resolvers = this.#idleResolvers
    this.#idleResolvers = EMPTY
    for (const resolve of resolvers) resolve()
  }

  #fullError(): QueueFullError {
    return new QueueFullError(this.name, this.#capacity)
  }

  /** Reports the first loss of an overflow episode (which ends when the queue empties); returns its error. */
  #overflow(event: BusEvent): QueueFullError | undefined {
    if (this.#overflowing) return undefined
    this.#overflowing = true
    const error = this.#fullError()
    this.#host.overflowed(this, event, error)
    return error
  }
}

/** True for promises and other thenables. */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== undefined && value !== null && typeof (value as { then?: unknown }).then === 'function'
}
