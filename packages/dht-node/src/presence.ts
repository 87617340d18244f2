import {
  type CanonicalValue,
  decodeCanonical,
  EncodingError,
  encodeCanonical,
  type Identity,
  isAddress,
  verify
} from '@araliya/identity'
import { isByteString, isPlainMap, isSafeUint, TooLargeError, unknownKey } from '@araliya/interface'
import { InvalidRecordError } from './errors.js'
import { normalizeSkillName } from './skills.js'

/** The signature context of presence records. */
export const PRESENCE_CONTEXT = 'araliya/presence/v1'
/** The DHT key namespace of presence records: keys are `/araliya/presence/<address>`. */
export const PRESENCE_KEY_PREFIX = '/araliya/presence/'
/** Default largest encoded presence record accepted, checked before decoding. */
export const DEFAULT_MAX_RECORD_BYTES = 4096
/** Default longest lifetime a record may claim (`expires - now`): 48 hours, the kad-dht record validity. */
export const DEFAULT_MAX_RECORD_TTL_MS = 48 * 60 * 60 * 1000
/** Most multiaddrs a presence record may list. */
export const MAX_PRESENCE_MULTIADDRS = 32
/** Most skills a presence record may list. */
export const MAX_PRESENCE_SKILLS = 64
/** Longest multiaddr string a presence record may list, in bytes (multiaddrs are ASCII). */
export const MAX_MULTIADDR_BYTES = 512
const PRESENCE_FIELDS: ReadonlySet<string> = new Set([
  'v',
  'address',
  'multiaddrs',
  'skills',
  'seq',
  'expires',
  'sig'
])
const MULTIADDR_PATTERN = /^(?:\/[\x21-\x2e\x30-\x7e]+)+$/

const textEncoder = new TextEncoder()
const textDecoder = new TextDecoder('utf-8', { fatal: true })

/** The signed content of a presence record. */
export interface PresenceRecordBody {
  /** Format version, always 1. */
  readonly v: 1
  /** The agent's address (its PeerId string); the record is signed by this key. */
  readonly address: string
  /** Where the agent can be dialled, as multiaddr strings (without the `/p2p/<id>` suffix). */
  readonly multiaddrs: readonly string[]
  /** The skills the agent offers (normalised names). */
  readonly skills: readonly string[]
  /** Sequence number; a record with a higher one replaces a lower one. */
  readonly seq: number
  /** When the record stops being valid, in ms since the epoch. */
  readonly expires: number
}

/** A signed presence record as published under `/araliya/presence/<address>`. */
export interface PresenceRecord extends PresenceRecordBody {
  /** The agent's ed25519 signature over the canonical body under {@link PRESENCE_CONTEXT}. */
  readonly sig: Uint8Array
}

/** Limits and the clock used when validating a record. */
export interface RecordValidationOptions {
  /** Current time in ms since the epoch (injectable for tests). Default `Date.now()`. */
  now?: number
  /** Largest encoded record accepted, checked before decoding. Default {@link DEFAULT_MAX_RECORD_BYTES}. */
  maxRecordBytes?: number
  /** Longest remaining lifetime a record may claim. Default {@link DEFAULT_MAX_RECORD_TTL_MS}. */
  maxRecordTtlMs?: number
}

/** The DHT key of an agent's presence record, `/araliya/presence/<address>`, as bytes. */
export function presenceKey(address: string): Uint8Array {
  return textEncoder.encode(PRESENCE_KEY_PREFIX + address)
}

/** Canonical bytes of a record body: what the agent signs. */
export function presenceSigningBytes(body: PresenceRecordBody): Uint8Array {
  return encodeCanonical(bodyValue(body))
}

/**
 * Creates and signs a presence record for `identity`.
 *
 * @throws {InvalidSkillNameError} when a skill name is not valid.
 * @throws {InvalidRecordError} (`malformed`) when a multiaddr breaks the rule of {@link multiaddrProblem}.
 */
export async function createPresenceRecord(
  identity: Identity,
  init: { multiaddrs: readonly string[]; skills?: readonly string[]; seq: number; expires: number },
  options?: { signal?: AbortSignal }
): Promise<PresenceRecord> {
  for (const ma of init.multiaddrs) {
    const problem = multiaddrProblem(ma)
    if (problem !== undefined) {
      throw new InvalidRecordError(
        'malformed',
        `cannot advertise ${JSON.stringify(ma).slice(0, 120)}: ${problem}`
      )
    }
  }
  const body: PresenceRecordBody = {
    v: 1,
    address: identity.address,
    multiaddrs: [...new Set(init.multiaddrs)].slice(0, MAX_PRESENCE_MULTIADDRS),
    skills: [...new Set((init.skills ?? []).map(normalizeSkillName))].sort().slice(0, MAX_PRESENCE_SKILLS),
    seq: init.seq,
    expires: init.expires
  }
  const sig = await identity.sign(PRESENCE_CONTEXT, presenceSigningBytes(body), options)
  return { ...body, sig }
}

/** Canonical CBOR of a signed presence record (what is stored in the DHT). */
export function encodePresenceRecord(record: PresenceRecord): Uint8Array {
  return encodeCanonical({ ...bodyValue(record), sig: record.sig })
}

/**
 * Decodes a presence record and checks its shape, without checking the signature or expiry. The size
 * limit is enforced before any parsing.
 *
 * @throws {InvalidRecordError} with reason `too-large`, `malformed` or `unsigned`.
 */
export function decodePresenceRecord(
  bytes: Uint8Array,
  options: { maxRecordBytes?: number } = {}
): PresenceRecord {
  const maxBytes = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES
  const value = decodeRecordValue(bytes, maxBytes, 'presence record')
  const v = value as Record<string, unknown>
  if (
    v.v !== 1 ||
    typeof v.address !== 'string' ||
    !Array.isArray(v.multiaddrs) ||
    !Array.isArray(v.skills) ||
    !isSafeUint(v.seq) ||
    !isSafeUint(v.expires)
  ) {
    throw new InvalidRecordError('malformed', 'the bytes are not a version 1 presence record')
  }
  if (v.multiaddrs.length > MAX_PRESENCE_MULTIADDRS || v.skills.length > MAX_PRESENCE_SKILLS) {
    throw new InvalidRecordError('malformed', 'the presence record lists too many multiaddrs or skills')
  }
  for (const ma of v.multiaddrs) {
    const problem = multiaddrProblem(ma)
    if (problem !== undefined) {
      throw new InvalidRecordError('malformed', `the presence record holds an invalid multiaddr: ${problem}`)
    }
  }
  let previous: string | undefined
  for (const skill of v.skills) {
    if (typeof skill !== 'string') throw new InvalidRecordError('malformed', 'a skill is not a string')
    // Skills are ASCII once normalised, so `<` is plain byte order.
    if (previous !== undefined && skill <= previous) {
      throw new InvalidRecordError('malformed', 'the skills of a presence record must be sorted and unique')
    }
    previous = skill
    let normalised: string
    try {
      normalised = normalizeSkillName(skill)
    } catch (err) {
      throw new InvalidRecordError('malformed', 'the presence record holds an invalid skill name', {
        cause: err
      })
    }
    if (normalised !== skill) throw new InvalidRecordError('malformed', 'a skill name is not normalised')
  }
  const extra = unknownKey(v, PRESENCE_FIELDS)
  if (extra !== undefined) throw new InvalidRecordError('malformed', `unexpected field "${extra}"`)
  if (v.sig === undefined)
    throw new InvalidRecordError('unsigned', 'the presence record carries no signature')
  if (!isByteString(v.sig)) throw new InvalidRecordError('malformed', 'the signature is not bytes')
  return v as unknown as PresenceRecord
}

/**
 * Fully validates a presence record stored under `key`: size before decoding, shape, key match, expiry
 * (not expired, not too far ahead) and the agent's signature.
 *
 * @throws {InvalidRecordError} naming the rule the record broke.
 */
export async function validatePresenceRecord(
  key: Uint8Array | string,
  bytes: Uint8Array,
  options: RecordValidationOptions = {}
): Promise<PresenceRecord> {
  const record = decodePresenceRecord(bytes, options)
  const keyString = typeof key === 'string' ? key : decodeKey(key)
  if (keyString !== PRESENCE_KEY_PREFIX + record.address) {
    throw new InvalidRecordError(
      'key-mismatch',
      `a presence record for ${record.address.slice(0, 64)} cannot be stored under ${keyString.slice(0, 120)}`
    )
  }
  if (!isAddress(record.address)) {
    throw new InvalidRecordError('malformed', 'the presence record names no valid Ed25519 address')
  }
  checkExpiry(record.expires, options)
  if (record.sig.byteLength !== 64) {
    throw new InvalidRecordError('bad-signature', `signature is ${record.sig.byteLength} bytes, not 64`)
  }
  if (!(await verify(record.address, PRESENCE_CONTEXT, presenceSigningBytes(record), record.sig))) {
    throw new InvalidRecordError('bad-signature', `the signature does not verify for ${record.address}`)
  }
  return record
}

/**
 * Orders two encoded presence records for the same key: higher `seq` wins, then later `expires`, then the
 * bytewise greater encoding, so every node picks the same winner. Returns > 0 when `a` is better, < 0 when
 * `b` is, 0 when identical. Undecodable input always loses.
 */
export function comparePresenceBytes(a: Uint8Array, b: Uint8Array, maxRecordBytes?: number): number {
  const ra = tryDecode(() => decodePresenceRecord(a, { maxRecordBytes }))
  const rb = tryDecode(() => decodePresenceRecord(b, { maxRecordBytes }))
  if (ra === undefined || rb === undefined) return (ra === undefined ? 0 : 1) - (rb === undefined ? 0 : 1)
  return ra.seq - rb.seq || ra.expires - rb.expires || compareBytes(a, b)
}

/** Lexicographic byte order, shorter first on a common prefix. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.byteLength, b.byteLength)
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number)
    if (d !== 0) return d
  }
  return a.byteLength - b.byteLength
}

/** @internal Decodes canonical CBOR with the record size limit applied first. */
export function decodeRecordValue(
  bytes: Uint8Array,
  maxBytes: number,
  what: string,
  maxDepth = 3
): CanonicalValue {
  if (!(bytes instanceof Uint8Array)) throw new InvalidRecordError('malformed', `${what} is not bytes`)
  if (bytes.byteLength > maxBytes) {
    throw new InvalidRecordError(
      'too-large',
      `${what} is ${bytes.byteLength} bytes, over the limit of ${maxBytes}`,
      { cause: new TooLargeError(what, bytes.byteLength, maxBytes) }
    )
  }
  let value: CanonicalValue
  try {
    value = decodeCanonical(bytes, { maxBytes, maxDepth })
  } catch (err) {
    if (EncodingError.isInstance(err) || TooLargeError.isInstance(err)) {
      throw new InvalidRecordError('malformed', `${what} is not canonical CBOR`, { cause: err })
    }
    throw err
  }
  if (!isPlainMap(value)) throw new InvalidRecordError('malformed', `${what} is not a CBOR map`)
  return value
}

/**
 * What is wrong with a multiaddr string as a presence record may list it, or `undefined` when nothing is.
 * The rule is syntactic, so every implementation applies it the same way whatever protocols its multiaddr
 * library knows: 1-{@link MAX_MULTIADDR_BYTES} bytes of printable ASCII without spaces, made of `/`-led
 * non-empty segments, and not ending in a `/p2p/<id>` (or `/ipfs/<id>`) component — readers add the
 * agent's own `/p2p/<address>` themselves.
 */
export function multiaddrProblem(ma: unknown): string | undefined {
  if (typeof ma !== 'string') return 'not a string'
  if (ma.length === 0 || ma.length > MAX_MULTIADDR_BYTES) return `not 1-${MAX_MULTIADDR_BYTES} bytes`
  if (!MULTIADDR_PATTERN.test(ma)) {
    return 'not "/"-separated non-empty segments of printable ASCII (no spaces, no empty segment)'
  }
  const segments = ma.split('/')
  const owner = segments[segments.length - 2]
  if (owner === 'p2p' || owner === 'ipfs') return 'ends in a /p2p/<id> component; list it without'
  return undefined
}

/** @internal */
export function checkExpiry(expires: number, options: RecordValidationOptions): void {
  const now = options.now ?? Date.now()
  if (expires <= now) {
    throw new InvalidRecordError('expired', `the record expired ${now - expires} ms ago`)
  }
  const maxTtl = options.maxRecordTtlMs ?? DEFAULT_MAX_RECORD_TTL_MS
  if (expires - now > maxTtl) {
    throw new InvalidRecordError(
      'expiry-too-far',
      `the record claims to live ${expires - now} ms, more than the limit of ${maxTtl} ms`
    )
  }
}

/** @internal */
export function decodeKey(key: Uint8Array): string {
  try {
    return textDecoder.decode(key)
  } catch {
    return ''
  }
}

function tryDecode<T>(fn: () => T): T | undefined {
  try {
    return fn()
  } catch {
    return undefined
  }
}

function bodyValue(body: PresenceRecordBody): { [key: string]: CanonicalValue } {
  return {
    v: 1,
    address: body.address,
    multiaddrs: [...body.multiaddrs],
    skills: [...body.skills],
    seq: body.seq,
    expires: body.expires
  }
}
