import {
  type CanonicalValue,
  decodeCanonical,
  EncodingError,
  encodeCanonical,
  type Identity,
  isAddress,
  verify
} from '@araliya/identity'
import {
  HLC_UNITS_PER_MS,
  isByteString,
  isPlainMap,
  isSafeUint,
  isText,
  TooLargeError,
  unknownKey
} from '@araliya/interface'
import { EnvelopeRejectedError } from './errors.js'

/** The signature context of envelopes. */
export const ENVELOPE_CONTEXT = 'araliya/envelope/v1'
/** The envelope format version this release writes and reads. */
export const ENVELOPE_VERSION = 1
/** Default largest envelope accepted, in bytes (checked before decoding). */
export const DEFAULT_MAX_ENVELOPE_BYTES = 64 * 1024
/** Default and largest time-to-live of an envelope. */
export const DEFAULT_TTL_MS = 5 * 60_000
/** Largest time-to-live an envelope may claim: 24 hours. */
export const MAX_TTL_MS = 24 * 3_600_000

/** Content type of a body that is the canonical CBOR of a bus payload. */
export const CBOR_CONTENT = 'application/cbor'
/** Content type of a body sealed to the recipient (see `seal.ts`); the sealed plaintext is CBOR. */
export const SEALED_CONTENT = 'application/x-araliya-sealed+cbor'

/**
 * A signed swarm message. Everything but `sig` is covered by the sender's signature under
 * {@link ENVELOPE_CONTEXT}, including the network and the channel it was sent on, so an envelope cannot
 * be replayed on another network or channel.
 */
export interface Envelope {
  readonly v: 1
  /** Network namespace (separate swarms never accept each other's envelopes). */
  readonly net: string
  /** The swarm channel it was sent on: a gossip topic name, or `direct`. */
  readonly chan: string
  /** The sender's address. */
  readonly from: string
  /** 16 random bytes; with `from`, the identity used for deduplication. */
  readonly id: Uint8Array
  /** The sender's hybrid-logical-clock stamp (`wallMs * 1024 + counter`). */
  readonly hlc: number
  /** How long after its stamp the envelope stays valid, in ms. */
  readonly ttl: number
  /** The recipient's address, for direct or addressed messages. */
  readonly to?: string
  /** The bus topic the payload belongs to. */
  readonly topic: string
  /** The body's content type ({@link CBOR_CONTENT} or {@link SEALED_CONTENT}). */
  readonly ct: string
  readonly body: Uint8Array
  /** ed25519 signature by `from`. */
  readonly sig: Uint8Array
}

/** An envelope before signing. */
export type UnsignedEnvelope = Omit<Envelope, 'sig' | 'v'>

/** The wall-clock part of an envelope stamp, in ms. */
export function envelopeTime(envelope: Pick<Envelope, 'hlc'>): number {
  return Math.floor(envelope.hlc / HLC_UNITS_PER_MS)
}

function body(e: UnsignedEnvelope): { [key: string]: CanonicalValue } {
  const out: { [key: string]: CanonicalValue } = {
    v: ENVELOPE_VERSION,
    net: e.net,
    chan: e.chan,
    from: e.from,
    id: e.id,
    hlc: e.hlc,
    ttl: e.ttl,
    topic: e.topic,
    ct: e.ct,
    body: e.body
  }
  if (e.to !== undefined) out.to = e.to
  return out
}

/**
 * Signs an envelope with the sender's identity (whose address must be `from`).
 *
 * @throws {EnvelopeRejectedError} `bad-signature` when `from` is not the identity's address, `malformed`
 * when every receiver would refuse the envelope at decoding (a `to` that is not a valid address, a topic
 * over 256 bytes, …): such an envelope would only cost the sender gossip score.
 */
export async function signEnvelope(identity: Identity, envelope: UnsignedEnvelope): Promise<Envelope> {
  if (identity.address !== envelope.from)
    throw new EnvelopeRejectedError('bad-signature', 'from must be the signer')
  const fields = body(envelope)
  const problem = shapeProblem({ ...fields, sig: new Uint8Array(64) })
  if (problem !== undefined) {
    throw new EnvelopeRejectedError('malformed', `every receiver would refuse this envelope: ${problem}`)
  }
  const sig = await identity.sign(ENVELOPE_CONTEXT, encodeCanonical(fields))
  return { ...envelope, v: ENVELOPE_VERSION, sig }
}

/** The wire bytes of a signed envelope (canonical CBOR). */
export function encodeEnvelope(envelope: Envelope): Uint8Array {
  return encodeCanonical({ ...body(envelope), sig: envelope.sig })
}

/**
 * Decodes wire bytes into an envelope: size first (before any parsing), then canonical CBOR, then
 * shape. Does not check the signature ({@link verifyEnvelope}).
 *
 * @throws {EnvelopeRejectedError} with reason `too-large` or `malformed`.
 */
export function decodeEnvelope(bytes: Uint8Array, maxBytes = DEFAULT_MAX_ENVELOPE_BYTES): Envelope {
  if (!(bytes instanceof Uint8Array)) throw new EnvelopeRejectedError('malformed', 'an envelope is bytes')
  if (bytes.byteLength > maxBytes) {
    throw new EnvelopeRejectedError(
      'too-large',
      new TooLargeError('envelope', bytes.byteLength, maxBytes).message
    )
  }
  let value: CanonicalValue
  try {
    value = decodeCanonical(bytes, { maxBytes, maxDepth: 2 })
  } catch (err) {
    if (EncodingError.isInstance(err) || TooLargeError.isInstance(err)) {
      throw new EnvelopeRejectedError('malformed', `envelope is not canonical CBOR: ${err.message}`, {
        cause: err
      })
    }
    throw err
  }
  const problem = shapeProblem(value)
  if (problem !== undefined) throw new EnvelopeRejectedError('malformed', `malformed envelope: ${problem}`)
  return value as unknown as Envelope
}

/** True when the envelope's signature by `from` verifies. Never throws. */
export function verifyEnvelope(envelope: Envelope): Promise<boolean> {
  return verify(envelope.from, ENVELOPE_CONTEXT, encodeCanonical(body(envelope)), envelope.sig)
}

const KEYS = new Set(['v', 'net', 'chan', 'from', 'id', 'hlc', 'ttl', 'to', 'topic', 'ct', 'body', 'sig'])

function shapeProblem(value: CanonicalValue): string | undefined {
  if (!isPlainMap(value)) return 'not a map'
  const e = value
  const extra = unknownKey(e, KEYS)
  if (extra !== undefined) return `unknown field ${JSON.stringify(extra)}`
  if (e.v !== ENVELOPE_VERSION) return `unsupported version ${String(e.v)}`
  if (!isText(e.net, 1, 128)) return 'net must be text of 1-128 bytes'
  if (!isText(e.chan, 1, 128)) return 'chan must be text of 1-128 bytes'
  if (!isAddress(e.from)) return 'from is not a canonical Ed25519 address'
  if (!isByteString(e.id, 16)) return 'id must be 16 bytes'
  if (!isSafeUint(e.hlc)) return 'bad hlc'
  if (!isSafeUint(e.ttl, 1, MAX_TTL_MS)) return 'bad ttl'
  if (e.to !== undefined && !isAddress(e.to)) return 'to is not a canonical Ed25519 address'
  if (!isText(e.topic, 1, 256)) return 'topic must be text of 1-256 bytes'
  if (e.ct !== CBOR_CONTENT && e.ct !== SEALED_CONTENT) {
    return `content type must be ${CBOR_CONTENT} or ${SEALED_CONTENT}`
  }
  if (!isByteString(e.body)) return 'body must be bytes'
  if (!isByteString(e.sig, 64)) return 'signature must be 64 bytes'
  return undefined
}

const HEX_BYTES = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'))

/** The deduplication key of an envelope: sender and id. */
export function envelopeKey(envelope: Pick<Envelope, 'from' | 'id'>): string {
  // Built with one join: a flat string. Appending byte by byte makes a rope that the seen-set would keep
  // (measured: about 730 bytes per entry instead of 180).
  const parts = [envelope.from, '/']
  for (const byte of envelope.id) parts.push(HEX_BYTES[byte] as string)
  return parts.join('')
}
