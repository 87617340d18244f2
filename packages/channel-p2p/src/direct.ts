import type { DhtNode } from '@araliya/dht-node'
import { decodeCanonical, encodeCanonical } from '@araliya/identity'
import { type AbortOptions, AbortedError } from '@araliya/interface'
import type { Stream } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { lpStream } from '@libp2p/utils'
import { type Datastore, Key } from 'interface-datastore'
import type { TypedEventEmitter } from 'main-event'
import { decodeEnvelope, type Envelope, encodeEnvelope, envelopeKey, envelopeTime } from './envelope.js'
import { type DropReason, DeliveryError } from './errors.js'

const log = logger('araliya:channel:direct')

/** The libp2p protocol of direct messages. */
export const DIRECT_PROTOCOL = '/araliya/msg/1.0.0'
const OUTBOX_PREFIX = '/araliya/outbox'
const MAX_ACK_BYTES = 512

/** Retry and timeout settings of direct messages. */
export interface DirectInit {
  /** First retry delay, ms. Default 250. */
  initialRetryDelayMs?: number
  /** Longest retry delay, ms. Default 15 s. */
  maxRetryDelayMs?: number
  /** Time allowed for one delivery attempt (lookup, dial, write, acknowledgement), ms. Default 10 s. */
  attemptTimeoutMs?: number
  /** Most messages waiting in the outbox; beyond it `send` fails at once. Default 10,000. */
  maxOutbox?: number
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

/** @internal What the inbound pipeline decided about a direct envelope. */
export interface CheckOutcome {
  action: 'accept' | 'reject' | 'ignore'
  reason?: DropReason
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

interface DirectEvents {
  'direct:delivered': CustomEvent<DirectReceipt>
  'direct:retry': CustomEvent<{ id: string; to: string; attempt: number; delayMs: number; error: Error }>
  'direct:failed': CustomEvent<{ id: string; to: string; error: Error }>
}

/** @internal The outbox, sender and receiver of `/araliya/msg/1.0.0`. */
export class DirectMessenger {
  readonly #node: DhtNode
  readonly #datastore: Datastore
  readonly #maxEnvelopeBytes: number
  readonly #now: () => number
  readonly #initialDelay: number
  readonly #maxDelay: number
  readonly #attemptTimeout: number
  readonly #maxOutbox: number
  readonly #check: (bytes: Uint8Array, peer: string) => Promise<CheckOutcome>
  readonly #events: TypedEventEmitter<DirectEvents>
  readonly #outbox = new Map<string, Pending>()
  #controller = new AbortController()
  #sent = 0
  #received = 0
  #started = false

  constructor(
    init: DirectInit & {
      node: DhtNode
      datastore: Datastore
      maxEnvelopeBytes: number
      now: () => number
      check: (bytes: Uint8Array, peer: string) => Promise<CheckOutcome>
      events: TypedEventEmitter<DirectEvents>
    }
  ) {
    this.#node = init.node
    this.#datastore = init.datastore
    this.#maxEnvelopeBytes = init.maxEnvelopeBytes
    this.#now = init.now
    this.#initialDelay = init.initialRetryDelayMs ?? 250
    this.#maxDelay = init.maxRetryDelayMs ?? 15_000
    this.#attemptTimeout = init.attemptTimeoutMs ?? 10_000
    this.#maxOutbox = init.maxOutbox ?? 10_000
    this.#check = init.check
    this.#events = init.events
  }

  async start(): Promise<void> {
    if (this.#started) return
    this.#started = true
    this.#controller = new AbortController()
    await this.#node.libp2p.handle(DIRECT_PROTOCOL, (stream, connection) => {
      void this.#receive(stream, connection.remotePeer.toString())
    })
    // Resume what was queued before a stop or a crash.
    let resumed = 0
    for await (const { key, value } of this.#datastore.query({ prefix: OUTBOX_PREFIX })) {
      try {
        const envelope = decodeEnvelope(value, this.#maxEnvelopeBytes)
        const pending = this.#enqueue(envelope, value)
        this.#attempt(pending)
        resumed++
      } catch (err) {
        log.error('dropping an unreadable outbox entry %s - %e', key.toString(), err)
        await Promise.resolve(this.#datastore.delete(key)).catch(() => {})
      }
    }
    if (resumed > 0) log('resumed %d queued direct messages', resumed)
  }

  async stop(): Promise<void> {
    if (!this.#started) return
    this.#started = false
    this.#controller.abort()
    await this.#node.libp2p.unhandle(DIRECT_PROTOCOL).catch(() => {})
    for (const pending of this.#outbox.values()) {
      if (pending.timer !== undefined) clearTimeout(pending.timer)
      // The message stays in the persistent outbox and is resumed on the next start.
      pending.reject?.(
        new AbortedError('the channel stopped before the message was delivered; it stays queued')
      )
    }
    this.#outbox.clear()
  }

  stats(): { directSent: number; directReceived: number; outboxSize: number } {
    return { directSent: this.#sent, directReceived: this.#received, outboxSize: this.#outbox.size }
  }

  /** Queues a signed direct envelope durably, then delivers it (retrying) and resolves on acknowledgement. */
  async send(envelope: Envelope, options: AbortOptions = {}): Promise<DirectReceipt> {
    if (this.#outbox.size >= this.#maxOutbox) {
      throw new DeliveryError(
        `the outbox holds ${this.#outbox.size} undelivered messages; wait, or raise direct.maxOutbox`
      )
    }
    const bytes = encodeEnvelope(envelope)
    // Durable before we try: a crash from here on loses nothing; the next start resumes delivery.
    await this.#datastore.put(outboxKey(envelope), bytes)
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

  #enqueue(envelope: Envelope, bytes: Uint8Array): Pending {
    const key = envelopeKey(envelope)
    const pending: Pending = { envelope, bytes, key, attempts: 0, running: false }
    this.#outbox.set(key, pending)
    return pending
  }

  #attempt(pending: Pending): void {
    if (!this.#started || pending.running) return
    pending.running = true
    pending.attempts++
    const to = pending.envelope.to as string
    const signal = AbortSignal.any([this.#controller.signal, AbortSignal.timeout(this.#attemptTimeout)])
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
          this.#events.safeDispatchEvent('direct:delivered', { detail: receipt })
          pending.resolve?.(receipt)
        } else {
          await this.#finish(pending)
          const error = new DeliveryError(
            `${to} refused the message (${ack.reason ?? 'unknown'}): ${ack.message ?? ''}`
          )
          this.#events.safeDispatchEvent('direct:failed', { detail: { id: pending.key, to, error } })
          pending.reject?.(error)
        }
      },
      async (err: Error) => {
        pending.running = false
        if (!this.#started) return
        const expiresAt = envelopeTime(pending.envelope) + pending.envelope.ttl
        const delayMs = Math.min(this.#maxDelay, this.#initialDelay * 2 ** Math.min(pending.attempts - 1, 16))
        if (this.#now() + delayMs >= expiresAt) {
          await this.#finish(pending)
          const error = new DeliveryError(
            `${to} could not be reached before the message expired: ${err.message}`,
            { cause: err }
          )
          this.#events.safeDispatchEvent('direct:failed', { detail: { id: pending.key, to, error } })
          pending.reject?.(error)
          return
        }
        log(
          'delivery of %s to %s failed (attempt %d), retrying in %d ms - %e',
          pending.key,
          to,
          pending.attempts,
          delayMs,
          err
        )
        this.#events.safeDispatchEvent('direct:retry', {
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
    await Promise.resolve(this.#datastore.delete(outboxKey(pending.envelope))).catch((err: unknown) => {
      log.error('could not remove %s from the outbox - %e', pending.key, err)
    })
  }

  async #deliver(pending: Pending, signal: AbortSignal): Promise<Ack> {
    const connection = await this.#node.dialAgent(pending.envelope.to as string, { signal })
    const stream = await connection.newStream(DIRECT_PROTOCOL, { signal })
    try {
      const lp = lpStream(stream, { maxDataLength: MAX_ACK_BYTES })
      await lp.write(pending.bytes, { signal })
      const ack = decodeAck((await lp.read({ signal })).subarray())
      await stream.close({ signal }).catch(() => {})
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
    const signal = AbortSignal.any([this.#controller.signal, AbortSignal.timeout(this.#attemptTimeout)])
    try {
      const lp = lpStream(stream, { maxDataLength: this.#maxEnvelopeBytes })
      const bytes = (await lp.read({ signal })).subarray()
      this.#received++
      const { action, reason } = await this.#check(bytes, peer)
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
      await stream.close({ signal }).catch(() => {})
    } catch (err) {
      log('direct stream from %s failed - %e', peer, err)
      stream.abort(err as Error)
    }
  }
}

function outboxKey(envelope: Envelope): Key {
  return new Key(`${OUTBOX_PREFIX}/${envelopeKey(envelope)}`)
}

function decodeAck(bytes: Uint8Array): Ack {
  const value = decodeCanonical(bytes, { maxBytes: MAX_ACK_BYTES, maxDepth: 1 }) as Record<string, unknown>
  if (typeof value !== 'object' || value === null || typeof value.ok !== 'boolean') {
    throw new DeliveryError('the recipient sent a malformed acknowledgement')
  }
  return value as unknown as Ack
}
