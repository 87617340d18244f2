import { AraliyaError } from '@araliya/interface'

/** A request was sent to a topic that has no registered handler. */
export class NoHandlerError extends AraliyaError<'ERR_NO_HANDLER'> {
  static override readonly code: string = 'ERR_NO_HANDLER'
  override name = 'NoHandlerError'
  /** The request topic. */
  readonly topic: string
  constructor(topic: string) {
    super(
      `No handler answers requests on "${topic}"; register one with bus.handle("${topic}", …) before sending, ` +
        'or check that the subsystem that owns it has started'
    )
    this.topic = topic
  }
}

/** A request got no reply within its timeout. */
export class RequestTimeoutError extends AraliyaError<'ERR_REQUEST_TIMEOUT'> {
  static override readonly code: string = 'ERR_REQUEST_TIMEOUT'
  override name = 'RequestTimeoutError'
  /** The request topic. */
  readonly topic: string
  /** The timeout that expired, in ms. */
  readonly timeoutMs: number
  constructor(topic: string, timeoutMs: number) {
    super(
      `The handler of "${topic}" did not reply within ${timeoutMs} ms; raise the timeoutMs option, ` +
        'or find out why the handler is slow or stuck'
    )
    this.topic = topic
    this.timeoutMs = timeoutMs
  }
}

/** The request handler threw or rejected; `cause` holds what it threw. */
export class HandlerFailedError extends AraliyaError<'ERR_HANDLER_FAILED'> {
  static override readonly code: string = 'ERR_HANDLER_FAILED'
  override name = 'HandlerFailedError'
  /** The request topic. */
  readonly topic: string
  constructor(topic: string, cause: unknown) {
    super(
      `The handler of "${topic}" failed: ${describe(cause)}; see the cause, and fix the handler or the request`,
      { cause }
    )
    this.topic = topic
  }
}

/** A second handler was registered for a request topic. */
export class HandlerExistsError extends AraliyaError<'ERR_HANDLER_EXISTS'> {
  static override readonly code: string = 'ERR_HANDLER_EXISTS'
  override name = 'HandlerExistsError'
  /** The request topic. */
  readonly topic: string
  constructor(topic: string) {
    super(
      `"${topic}" already has a request handler; unregister it first (call the function handle() returned), ` +
        'or use a distinct topic'
    )
    this.topic = topic
  }
}

/** A bounded queue (of an async subscriber or a request handler) had no room. */
export class QueueFullError extends AraliyaError<'ERR_QUEUE_FULL'> {
  static override readonly code: string = 'ERR_QUEUE_FULL'
  override name = 'QueueFullError'
  /** The subscription or handler whose queue was full. */
  readonly subscription: string
  /** Its capacity. */
  readonly capacity: number
  constructor(
    subscription: string,
    capacity: number,
    advice = "slow the producer down (await publishAsync with policy 'wait'), make the subscriber faster, or raise the capacity"
  ) {
    super(`The queue of "${subscription}" is full (capacity ${capacity}); ${advice}`)
    this.subscription = subscription
    this.capacity = capacity
  }
}

/** A subscriber threw or rejected while handling an event; carried by `bus:error`, with the thrown value as `cause`. */
export class SubscriberFailedError extends AraliyaError<'ERR_SUBSCRIBER_FAILED'> {
  static override readonly code: string = 'ERR_SUBSCRIBER_FAILED'
  override name = 'SubscriberFailedError'
  /** The topic of the event being handled. */
  readonly topic: string
  /** The subscription's name. */
  readonly subscription: string
  constructor(subscription: string, topic: string, cause: unknown) {
    super(
      `Subscriber "${subscription}" failed on "${topic}": ${describe(cause)}; other subscribers were not ` +
        'affected; fix the handler (see the cause)',
      { cause }
    )
    this.topic = topic
    this.subscription = subscription
  }
}

/** The bus was used after `close()`. */
export class BusClosedError extends AraliyaError<'ERR_BUS_CLOSED'> {
  static override readonly code: string = 'ERR_BUS_CLOSED'
  override name = 'BusClosedError'
  constructor() {
    super('The bus is closed; create a new bus with createBus() to publish, subscribe or send requests again')
  }
}

/** A subsystem failed to start, reported itself failed, or was found unhealthy; `cause` says why. */
export class SubsystemFailedError extends AraliyaError<'ERR_SUBSYSTEM_FAILED'> {
  static override readonly code: string = 'ERR_SUBSYSTEM_FAILED'
  override name = 'SubsystemFailedError'
  /** The subsystem's name. */
  readonly subsystem: string
  constructor(subsystem: string, what: string, cause: unknown) {
    super(`Subsystem "${subsystem}" ${what}: ${describe(cause)}; see the cause and the subsystem's logs`, {
      cause
    })
    this.subsystem = subsystem
  }
}

/** The supervisor could not start every subsystem; `failures` lists those that failed or were blocked. */
export class SubsystemStartError extends AraliyaError<'ERR_SUBSYSTEM_START'> {
  static override readonly code: string = 'ERR_SUBSYSTEM_START'
  override name = 'SubsystemStartError'
  /** Each subsystem that is not running, with why. */
  readonly failures: ReadonlyArray<{ readonly name: string; readonly error: Error }>
  constructor(failures: ReadonlyArray<{ readonly name: string; readonly error: Error }>) {
    super(
      `${failures.length} subsystem(s) did not start: ${failures.map((f) => f.name).join(', ')}; the others ` +
        'are running: fix the cause of each failure (see failures), or call stop() to shut down',
      { cause: failures[0]?.error }
    )
    this.failures = failures
  }
}

/** The subsystem graph or a supervisor call is invalid: duplicate name, unknown dependency, cycle, wrong state. */
export class SubsystemConfigError extends AraliyaError<'ERR_SUBSYSTEM_CONFIG'> {
  static override readonly code: string = 'ERR_SUBSYSTEM_CONFIG'
  override name = 'SubsystemConfigError'
}

/** A subsystem's start, stop or health check took longer than allowed. */
export class SubsystemTimeoutError extends AraliyaError<'ERR_SUBSYSTEM_TIMEOUT'> {
  static override readonly code: string = 'ERR_SUBSYSTEM_TIMEOUT'
  override name = 'SubsystemTimeoutError'
  /** The subsystem's name. */
  readonly subsystem: string
  constructor(subsystem: string, what: string, timeoutMs: number) {
    super(
      `Subsystem "${subsystem}" did not finish ${what} within ${timeoutMs} ms; make it honour its abort signal, ` +
        'or raise the supervisor timeout option'
    )
    this.subsystem = subsystem
  }
}

/**
 * Every `code` an error thrown or reported by the bus and the supervisor can carry (with `ERR_ABORTED`
 * from a fired `AbortSignal`, an `AbortedError` of `@araliya/interface`), so a `switch (err.code)` over
 * them can be exhaustive.
 */
export type BusErrorCode =
  | 'ERR_NO_HANDLER'
  | 'ERR_REQUEST_TIMEOUT'
  | 'ERR_HANDLER_FAILED'
  | 'ERR_HANDLER_EXISTS'
  | 'ERR_QUEUE_FULL'
  | 'ERR_SUBSCRIBER_FAILED'
  | 'ERR_BUS_CLOSED'
  | 'ERR_SUBSYSTEM_FAILED'
  | 'ERR_SUBSYSTEM_START'
  | 'ERR_SUBSYSTEM_CONFIG'
  | 'ERR_SUBSYSTEM_TIMEOUT'
  | 'ERR_ABORTED'

function describe(value: unknown): string {
  if (value instanceof Error) return value.message
  try {
    return String(value)
  } catch {
    return 'an unprintable value'
  }
}
