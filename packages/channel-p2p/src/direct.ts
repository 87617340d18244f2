import { decodeCanonical, encodeCanonical } from '@araliya/identity'
import {
  type AbortOptions,
  AbortedError,
  type AgentLocator,
  backoffDelay,
  type BackoffPolicy,
  isPlainMap
} from '@araliya/interface'
import {
  type ComponentLogger,
  type Connection,
  type Logger,
  serviceCapabilities,
  type Startable,
  type Stream
} from '@libp2p/interface'
import type { Registrar } from '@libp2p/interface-internal'
import { lpStream } from '@libp2p/utils'
import { type Datastore, Key } from 'interface-datastore'
import { TypedEventEmitter } from 'main-event'
import {
  DEFAULT_MAX_ENVELOPE_BYTES,
  decodeEnvelope,
  type Envelope,
  encodeEnvelope,
  envelopeKey,
  envelopeTime
} from './envelope.js'
import { ChannelNotStartedError, DeliveryError, type DropReason } from './errors.js'

/** The libp2p protocol of direct messages. */
export const DIRECT_PROTOCOL = '/araliya/msg/1.0.0'
const OUTBOX_PREFIX = '/araliya/outbox'
const MAX_ACK_BYTES = 512

/** Options of the {@link direct} service: retries, timeouts and the outbox. */
export interface DirectInit {
  /** First retry delay, ms. Default 250. */
  initialRetryDelayMs?: number
  /** Longest retry delay, ms. Default 15 s. */
  maxRetryDelayMs?: number
  /** Time allowed for one delivery attempt (lookup, dial, write, acknowledgement), ms. Default 10 s. */
  attemptTimeoutMs?: number
  /** Most messages waiting in the outbox; beyond it `send` fails at once. Default 10,000. */
  maxOutbox?: number
  /** Largest envelope read from a stream, bytes (checked before decoding). Default 64 KiB. */
  maxEnvelopeBytes?: number
  /** Where the outbox persists. Default the node's datastore (`components.datastore`). */
  datastore?: Datastore
  /** The clock, ms (inject in tests). */
  now?: () => number
}

/** What the {@link direct} service uses of the node it runs on. */
export interface DirectComponents {
  registrar: Registrar
  /** Finds and dials the recipient (dht-node's `presence` service). Read when a message is sent. */
  presence: AgentLocator<Connection>
  datastore: Datastore
  logger: ComponentLogger
}

/** Options of a direct send. */
export interface SendOptions extends AbortOptions {
  /** End-to-end encrypt the body to the recipient. Default true. */
  encrypt?: boolean
  /** How long to keep trying, ms. Default the channel's TTL. */
  ttlMs?: number
}

/** Proof that a direct message reached its recipient. */
export interface DirectReceipt {
  /** The envelope's dedup key (`<from>/<id hex>`). */
  readonly id: string
  readonly to: string
  /** Delivery attempts it took. */
  readonly attempts: number
  /** True when the recipient had it already (a retry after a lost acknowledgement). */
  readonly duplicate: boolean
}

/** What the receiver of direct envelopes (the channel's inbound pipeline) decided about one. */
export interface DirectVerdict {
  readonly action: 'accept' | 'reject' | 'ignore'
  readonly reason?: DropReason
}

/** Checks and delivers one inbound direct envelope (wire bytes) from `peer`. */
export type DirectReceiver = (bytes: Uint8Array, peer: string) => Promise<DirectVerdict>

/** Events of the {@link direct} service (a channel re-dispatches them while it is attached). */
export interface DirectEvents {
  /** A direct message was acknowledged by its recipient. */
  'direct:delivered': CustomEvent<DirectReceipt>
  /** A direct message could not be delivered yet; it will be retried after `delayMs`. */
  'direct:retry': CustomEvent<{ id: string; to: string; attempt: number; delayMs: number; error: Error }>
  /** A direct message was given up (expired, or refused by the recipient). */
  'direct:failed': CustomEvent<{ id: string; to: string; error: Error }>
}

/** Counters of direct messages. */
export interface DirectStats {
  directSent: number
  directReceived: number
  outboxSize: number
}

/** Reasons a sender should try again later rather than give up. */
const TRANSIENT: ReadonlySet<DropReason | undefined> = new Set([
  'rate-limited',
  'clock-skew',
  'seen-set-full'
])

interface Ack {
  ok: boolean
  reason?: DropReason
  message?: string
  duplicate?: boolean
}

interface Pending {
  envelope: Envelope
  bytes: Uint8Array
  key: string
  attempts: number
  resolve?: (receipt: DirectReceipt) => void
  reject?: (error: Error) => void
  timer?: ReturnType<typeof setTimeout>
  running: boolean
}

/**
 * Direct messages over `/araliya/msg/1.0.0`: a durable outbox, delivery with retries, and the protocol
 * handler. Create it with {@link direct} under the service name `direct`.
 *
 * The service carries signed envelopes; it does not judge them. A channel attaches as the receiver
 * ({@link DirectMessages.attach}): while one is attached, inbound envelopes go to it and the outbox is
 * delivered; while none is, inbound streams are refused (the sender retries) and queued messages wait.
 */
export class DirectMessages extends TypedEventEmitter<DirectEvents> implements Startable {
  readonly protocol = DIRECT_PROTOCOL
  readonly #components: DirectComponents
  readonly #log: Logger
  readonly #datastore: Datastore | undefined
  readonly #maxEnvelopeBytes: number
  readonly #now: () => number
  readonly #retry: BackoffPolicy
  readonly #attemptTimeout: number
  readonly #maxOutbox: number
  readonly #outbox = new Map<string, Pending>()
  #receiver: DirectReceiver | undefined
  #controller = new AbortController()
  #sent = 0
  #received = 0
  #started = false

  /** @internal Use {@link direct}. */
  constructor(components: DirectComponents, init: DirectInit = {}) {
    super()
    this.#components = components
    this.#log = components.logger.forComponent('araliya:channel:direct')
    this.#datastore = init.datastore
    this.#maxEnvelopeBytes = init.maxEnvelopeBytes ?? DEFAULT_MAX_ENVELOPE_BYTES
    this.#now = init.now ?? Date.now
    this.#retry = {
      initialDelayMs: init.initialRetryDelayMs ?? 250,
      maxDelayMs: init.maxRetryDelayMs ?? 15_000,
      factor: 2,
      jitter: 0
    }
    this.#attemptTimeout = init.attemptTimeoutMs ?? 10_000
    this.#maxOutbox = init.maxOutbox ?? 10_000
  }

  readonly [Symbol.toStringTag] = '@araliya/direct'
  readonly [serviceCapabilities]: string[] = ['@araliya/direct']

  /** Serves the protocol. Safe to call twice. */
  async start(): Promise<void> {
    if (this.#started) return
    await this.#components.registrar.handle(DIRECT_PROTOCOL, (stream, connection) => {
      void this.#receive(stream, connection.remotePeer.toString())
    })
    this.#started = true
  }

  /** Stops serving the protocol and detaches the receiver; queued messages stay in the outbox. */
  async stop(): Promise<void> {
    if (!this.#started) return
    this.#started = false
    await this.detach()
    await this.#components.registrar.unhandle(DIRECT_PROTOCOL).catch((err: unknown) => {
      this.#log('could not stop serving %s - %e', DIRECT_PROTOCOL, err)
    })
  }

  /** True between `start()` and `stop()`. */
  isStarted(): boolean {
    return this.#started
  }

  /**
   * Makes `receiver` the judge of inbound envelopes and resumes delivery of everything the outbox holds
   * (from before a detach, a stop or a crash). One receiver at a time: a second attach replaces the first.
   */
  async attach(receiver: DirectReceiver, options: AbortOptions = {}): Promise<void> {
    if (this.#receiver !== undefined) await this.detach()
    this.#receiver = receiver
    this.#controller = new AbortController()
    let resumed = 0
    for await (const { key, value } of this.#store.query({ prefix: OUTBOX_PREFIX }, options)) {
      try {
        const envelope = decodeEnvelope(value, this.#maxEnvelopeBytes)
        if (this.#outbox.has(envelopeKey(envelope))) continue
        this.#attempt(this.#enqueue(envelope, value))
        resumed++
      } catch (err) {
        this.#log.error('dropping an unreadable outbox entry %s - %e', key.toString(), err)
        await Promise.resolve(this.#store.delete(key)).catch((deleteError: unknown) => {
          this.#log.error('could not delete outbox entry %s - %e', key.toString(), deleteError)
        })
      }
    }
    if (resumed > 0) this.#log('resumed %d queued direct messages', resumed)
  }

  /**
   * Detaches the receiver: inbound streams are refused and delivery pauses. Senders still waiting are
   * rejected with an `AbortedError`; their messages stay in the persistent outbox for the next attach.
   */
  async detach(): Promise<void> {
    if (this.#receiver === undefined) return
    this.#receiver = undefined
    this.#controller.abort()
    for (const pending of this.#outbox.values()) {
      if (pending.timer !== undefined) clearTimeout(pending.timer)
      pending.reject?.(
        new AbortedError('the channel stopped before the message was delivered; it stays queued')
      )
    }
    this.#outbox.clear()
  }

  /** Counters since the service was created, and the outbox size now. */
  stats(): DirectStats {
    return { directSent: this.#sent, directReceived: this.#received, outboxSize: this.#outbox.size }
  }

  /**
   * Queues a signed direct envelope durably, then delivers it (retrying with backoff until its TTL runs
   * out) and resolves on the recipient's acknowledgement.
   *
   * @throws {ChannelNotStartedError} when no receiver is attached.
   * @throws {DeliveryError} when the outbox is full, the recipient refused the message, or it expired.
   */
  async send(envelope: Envelope, options: AbortOptions = {}): Promise<DirectReceipt> {
    if (this.#receiver === undefined)
      throw new ChannelNotStartedError('direct messages (no channel attached)')
    if (this.#outbox.size >= this.#maxOutbox) {
      throw new DeliveryError(
        `the outbox holds ${this.#outbox.size} undelivered messages; wait, or raise maxOutbox of direct()`
      )
    }
    const bytes = encodeEnvelope(envelope)
    // Durable before we try: a crash from here on loses nothing; the next attach resumes delivery.
    await this.#store.put(outboxKey(envelope), bytes)
    const pending = this.#enqueue(envelope, bytes)
    const receipt = new Promise<DirectReceipt>((resolve, reject) => {
      pending.resolve = resolve
      pending.reject = reject
    })
    options.signal?.addEventListener(
      'abort',
      () =>
        pending.reject?.(
          new AbortedError('stopped waiting for the acknowledgement; the message stays queued')
        ),
      { once: true }
    )
    this.#attempt(pending)
    return receipt
  }

  get #store(): Datastore {
    return this.#datastore ?? this.#components.datastore
  }

  #enqueue(envelope: Envelope, bytes: Uint8Array): Pending {
    const key = envelopeKey(envelope)
    const pending: Pending = { envelope, bytes, key, attempts: 0, running: false }
    this.#outbox.set(key, pending)
    return pending
  }

  #attempt(pending: Pending): void {
    if (this.#receiver === undefined || pending.running) return
    pending.running = true
    pending.attempts++
    const to = pending.envelope.to as string
    const controller = this.#controller
    const signal = AbortSignal.any([controller.signal, AbortSignal.timeout(this.#attemptTimeout)])
    this.#deliver(pending, signal).then(
      async (ack) => {
        pending.running = false
        if (ack.ok) {
          this.#sent++
          await this.#finish(pending)
          const receipt: DirectReceipt = {
            id: pending.key,
            to,
            attempts: pending.attempts,
            duplicate: ack.duplicate === true
          }
          this.safeDispatchEvent('direct:delivered', { detail: receipt })
          pending.resolve?.(receipt)
        } else {
          await this.#finish(pending)
          const error = new DeliveryError(
            `${to} refused the message (${ack.reason ?? 'unknown'}): ${ack.message ?? ''}`
          )
          this.safeDispatchEvent('direct:failed', { detail: { id: pending.key, to, error } })
          pending.reject?.(error)
        }
      },
      async (err: Error) => {
        pending.running = false
        // Detached meanwhile: the message waits in the outbox for the next attach.
        if (controller.signal.aborted) return
        const expiresAt = envelopeTime(pending.envelope) + pending.envelope.ttl
        const delayMs = backoffDelay(pending.attempts, this.#retry)
        if (this.#now() + delayMs >= expiresAt) {
          await this.#finish(pending)
          const error = new DeliveryError(
            `${to} could not be reached before the message expired: ${err.message}`,
            { cause: err }
          )
          this.safeDispatchEvent('direct:failed', { detail: { id: pending.key, to, error } })
          pending.reject?.(error)
          return
        }
        this.#log(
          'delivery of %s to %s failed (attempt %d), retrying in %d ms - %e',
          pending.key,
          to,
          pending.attempts,
          delayMs,
          err
        )
        this.safeDispatchEvent('direct:retry', {
          detail: { id: pending.key, to, attempt: pending.attempts, delayMs, error: err }
        })
        pending.timer = setTimeout(() => {
          pending.timer = undefined
          this.#attempt(pending)
        }, delayMs)
      }
    )
  }

  async #finish(pending: Pending): Promise<void> {
    this.#outbox.delete(pending.key)
    await Promise.resolve(this.#store.delete(outboxKey(pending.envelope))).catch((err: unknown) => {
      this.#log.error('could not remove %s from the outbox - %e', pending.key, err)
    })
  }

  async #deliver(pending: Pending, signal: AbortSignal): Promise<Ack> {
    const connection = await this.#components.presence.dialAgent(pending.envelope.to as string, { signal })
    const stream = await connection.newStream(DIRECT_PROTOCOL, { signal })
    try {
      const lp = lpStream(stream, { maxDataLength: MAX_ACK_BYTES })
      await lp.write(pending.bytes, { signal })
      const ack = decodeAck((await lp.read({ signal })).subarray())
      await stream.close({ signal }).catch((err: unknown) => {
        this.#log('could not close the stream to %s - %e', pending.envelope.to, err)
      })
      if (!ack.ok && TRANSIENT.has(ack.reason)) {
        throw new DeliveryError(`${pending.envelope.to} asked us to retry later (${ack.reason})`)
      }
      return ack
    } catch (err) {
      stream.abort(err as Error)
      throw err
    }
  }

  async #receive(stream: Stream, peer: string): Promise<void> {
    const receiver = this.#receiver
    if (receiver === undefined) {
      // Nobody judges envelopes now: the sender keeps the message and retries.
      stream.abort(new Error('direct messages are not being received now; retry later'))
      return
    }
    const signal = AbortSignal.any([this.#controller.signal, AbortSignal.timeout(this.#attemptTimeout)])
    try {
      const lp = lpStream(stream, { maxDataLength: this.#maxEnvelopeBytes })
      const bytes = (await lp.read({ signal })).subarray()
      this.#received++
      const { action, reason } = await receiver(bytes, peer)
      let ack: Ack
      if (action === 'accept') ack = { ok: true }
      else if (reason === 'duplicate') ack = { ok: true, duplicate: true }
      else
        ack = {
          ok: false,
          reason: reason ?? 'malformed',
          message: `the envelope was ${action}ed (${reason})`
        }
      await lp.write(encodeCanonical(ack as unknown as Record<string, string | boolean>), { signal })
      await stream.close({ signal }).catch((err: unknown) => {
        this.#log('could not close the stream from %s - %e', peer, err)
      })
    } catch (err) {
      this.#log('direct stream from %s failed - %e', peer, err)
      stream.abort(err as Error)
    }
  }
}

/**
 * The direct-message service: register it as `direct` in `createLibp2p({ services })` (or dht-node's
 * `createDhtNode({ services })`) and give it to `createChannel({ direct })`. It needs a `presence`
 * service (an `AgentLocator`, as dht-node's) to find recipients.
 *
 * @example
 * ```ts
 * const node = await createDhtNode({ identity, services: { direct: direct({ maxOutbox: 1000 }) } })
 * ```
 */
export function direct(init: DirectInit = {}): (components: DirectComponents) => DirectMessages {
  return (components) => new DirectMessages(components, init)
}

function outboxKey(envelope: Envelope): Key {
  return new Key(`${OUTBOX_PREFIX}/${envelopeKey(envelope)}`)
}

function decodeAck(bytes: Uint8Array): Ack {
  const value = decodeCanonical(bytes, { maxBytes: MAX_ACK_BYTES, maxDepth: 1 })
  if (!isPlainMap(value) || typeof value.ok !== 'boolean') {
    throw new DeliveryError('the recipient sent a malformed acknowledgement')
  }
  return value as unknown as Ack
}
