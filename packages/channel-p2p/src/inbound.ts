import type { DropReason } from './errors.js'
import {
  decodeEnvelope,
  DEFAULT_MAX_ENVELOPE_BYTES,
  type Envelope,
  envelopeKey,
  envelopeTime,
  verifyEnvelope
} from './envelope.js'
import { EnvelopeRejectedError } from './errors.js'
import type { SenderLimiter } from './rate-limit.js'
import type { SeenSet } from './seen.js'

/** Settings of the inbound pipeline. */
export interface InboundInit {
  /** The network namespace this node belongs to. */
  network: string
  /** Largest envelope accepted (checked before decoding). Default 64 KiB. */
  maxEnvelopeBytes?: number
  /** How far ahead of local time a sender's stamp may be. Default 60 s. */
  maxClockSkewMs?: number
  seen: SeenSet
  limiter: SenderLimiter
  now?: () => number
}

/**
 * The verdict of the inbound pipeline. `reject` means forged or malformed: the peer that sent it loses
 * gossip score. `ignore` means an honest relay may have sent it (duplicate, late, over-rate): dropped
 * without penalty.
 */
export type InboundVerdict<Payload = unknown> =
  | { readonly action: 'accept'; readonly envelope: Envelope; readonly payload: Payload }
  | { readonly action: 'reject' | 'ignore'; readonly reason: DropReason; readonly message: string }

const IGNORED: ReadonlySet<DropReason> = new Set([
  'expired',
  'clock-skew',
  'duplicate',
  'rate-limited',
  'seen-set-full',
  'undecryptable'
])

/** Maps a drop reason to its action. */
export function actionFor(reason: DropReason): 'reject' | 'ignore' {
  return IGNORED.has(reason) ? 'ignore' : 'reject'
}

/**
 * Runs the inbound checks in order — size before decoding, decoding, signature, network and channel,
 * expiry and clock skew, body, replay, per-sender rate — and records an accepted envelope as seen (or
 * ignores it with `seen-set-full` when the seen-set has no room).
 */
export class InboundPipeline {
  readonly #init: Required<Omit<InboundInit, 'now'>> & { now: () => number }

  constructor(init: InboundInit) {
    // Field by field: an option passed as `undefined` must still get its default.
    this.#init = {
      network: init.network,
      maxEnvelopeBytes: init.maxEnvelopeBytes ?? DEFAULT_MAX_ENVELOPE_BYTES,
      maxClockSkewMs: init.maxClockSkewMs ?? 60_000,
      seen: init.seen,
      limiter: init.limiter,
      now: init.now ?? Date.now
    }
  }

  /**
   * Checks wire bytes received on `chan` (a gossip topic name, or `direct`). Never throws.
   *
   * `options.from` is the peer the transport says sent it (the gossip publisher, or the stream's remote
   * peer); the envelope must be signed by it. `options.open` turns a verified envelope into its payload
   * (decoding, decrypting) and may throw an `EnvelopeRejectedError`.
   */
  async check<Payload = undefined>(
    bytes: Uint8Array,
    chan: string,
    options: { from?: string; open?: (envelope: Envelope) => Payload } = {}
  ): Promise<InboundVerdict<Payload>> {
    const { network, maxEnvelopeBytes, maxClockSkewMs, seen, limiter, now } = this.#init
    let envelope: Envelope
    try {
      envelope = decodeEnvelope(bytes, maxEnvelopeBytes)
    } catch (err) {
      if (EnvelopeRejectedError.isInstance(err)) return drop(err.reason, err.message)
      return drop('malformed', `envelope could not be decoded: ${String(err)}`)
    }
    if (!(await verifyEnvelope(envelope))) {
      return drop('bad-signature', `envelope signature by ${envelope.from} does not verify`)
    }
    if (options.from !== undefined && envelope.from !== options.from) {
      return drop('sender-mismatch', `envelope signed by ${envelope.from} was published by ${options.from}`)
    }
    if (envelope.net !== network || envelope.chan !== chan) {
      return drop(
        'wrong-channel',
        `envelope was signed for ${envelope.net}/${envelope.chan}, not ${network}/${chan}`
      )
    }
    const at = now()
    const stamped = envelopeTime(envelope)
    if (stamped > at + maxClockSkewMs) {
      return drop(
        'clock-skew',
        `envelope is stamped ${stamped - at} ms in the future (limit ${maxClockSkewMs} ms)`
      )
    }
    const expiresAt = stamped + envelope.ttl
    if (expiresAt <= at) return drop('expired', `envelope expired ${at - expiresAt} ms ago`)
    let payload: Payload
    try {
      payload = options.open === undefined ? (undefined as Payload) : options.open(envelope)
    } catch (err) {
      if (EnvelopeRejectedError.isInstance(err)) return drop(err.reason, err.message)
      return drop('malformed', `envelope body could not be read: ${String(err)}`)
    }
    const key = envelopeKey(envelope)
    if (seen.has(key)) return drop('duplicate', `envelope ${key} was already delivered`)
    if (!limiter.take(envelope.from)) return drop('rate-limited', `${envelope.from} is over its rate limit`)
    // Kept until it could no longer pass the expiry check on any node within the allowed skew. A full
    // seen-set refuses rather than forgets, so a replay is never let through to make room.
    if (!seen.add(key, expiresAt + maxClockSkewMs)) {
      return drop(
        'seen-set-full',
        `the seen-set holds its maximum of ${seen.maxEntries} unexpired envelope ids; new envelopes are refused until some expire (raise maxSeenEntries if this is honest traffic)`
      )
    }
    return { action: 'accept', envelope, payload }
  }
}

function drop(reason: DropReason, message: string): InboundVerdict<never> {
  return { action: actionFor(reason), reason, message }
}
