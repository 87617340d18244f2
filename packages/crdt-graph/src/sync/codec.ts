import { type CanonicalValue, decodeCanonical, encodeCanonical } from '@araliya/identity'
import { isByteString, isPlainMap, isSafeUint, TooLargeError } from '@araliya/interface'
import { SyncProtocolError, TooManyEntriesError } from '../errors.js'

/** The sync wire format version (first byte of every message). See `docs/protocols/graph-sync.md`. */
export const SYNC_PROTOCOL_VERSION = 1
/** The libp2p protocol id transports should carry sync messages under. */
export const SYNC_PROTOCOL_ID = '/araliya/graph-sync/1.0.0'

const TYPE_HELLO = 1
export const TYPE_COMMITS = 2
export const TYPE_COMMITS_DEFLATE = 3
const TYPE_PROBE = 4
/** Most commits one chain entry of a probe may list (16 heads and the samples of a 2^53-long path). */
const MAX_PROBE_REFS = 128
/** Most chains one probe message may list (senders split longer probes). */
export const MAX_PROBE_CHAINS = 256
/** The most CBOR data items one chain entry of a probe takes: `[space, author, [[seq, id], …]]`. */
const PROBE_ITEMS_PER_CHAIN = 4 + 3 * MAX_PROBE_REFS
/** CBOR items of a probe besides its chain entries (the map, its keys, `r`, the array). */
const PROBE_BASE_ITEMS = 16
/**
 * The most CBOR data items one version-vector entry may take (its array and what is inside), for the
 * work budget of a hello: an entry is 5 items (`[space, author, seq, head]`). Update it with the shape.
 */
const HELLO_ITEMS_PER_VECTOR_ENTRY = 5
/** CBOR items of a hello besides its vector entries and spaces (the map, its keys, `r`, the arrays). */
const HELLO_BASE_ITEMS = 16
/** Limits enforced by {@link decodeSyncMessage}. */
export interface SyncLimits {
  /** Largest message accepted, in bytes; checked before parsing. Default 4 MiB. */
  maxMessageBytes: number
  /** Largest commit envelope inside a message. Default 1 MiB. */
  maxCommitBytes: number
  /**
   * Most commits in one commits message, counted while framing: one more and the message is refused
   * (`TooManyEntriesError`) before any commit in it is decoded. Default 4,096. Senders of this package
   * put at most 1,024 commits in a message; do not set it lower than that.
   */
  maxCommitsPerMessage: number
  /**
   * Most version-vector entries (chain heads: one per chain, one per branch head where a key forked) in a
   * hello. Default 100,000. Hellos are counted before they are decoded: one whose `v` (or `s`) array
   * declares more entries than this (or `maxSpaces`), or that holds more CBOR items than
   * `16 + maxSpaces + 5 × maxVectorEntries`, is refused (`TooManyEntriesError`). Probes are counted the
   * same way: at most 256 chains of at most 128 commits each (`16 + 256 × 388` items).
   */
  maxVectorEntries: number
  /** Most spaces a hello may ask for. Default 10,000. */
  maxSpaces: number
}

/** Default {@link SyncLimits}. */
export const DEFAULT_SYNC_LIMITS: SyncLimits = Object.freeze({
  maxMessageBytes: 4 * 1024 * 1024,
  maxCommitBytes: 1024 * 1024,
  maxCommitsPerMessage: 4096,
  maxVectorEntries: 100_000,
  maxSpaces: 10_000
})

/** "Here is how far I have every chain; send me what I lack (only in `spaces`, when given)". */
export interface HelloMessage {
  readonly type: 'hello'
  /**
   * `[space, author, seq, head]` for every head of every chain the sender has in the spaces it wants:
   * one entry per chain (its commit at its highest position), one per branch where the chain's key forked.
   */
  readonly vector: ReadonlyArray<readonly [string, string, number, Uint8Array]>
  /** The spaces (owner addresses) the sender wants; `null` for all. */
  readonly spaces: readonly string[] | null
  /** True when the receiver should answer with its own hello (so both sides fill each other's gaps). */
  readonly reply: boolean
}

/** A batch of commit envelopes. */
export interface CommitsMessage {
  readonly type: 'commits'
  readonly envelopes: readonly Uint8Array[]
}

/**
 * "My copy of these chains and yours part somewhere: here are commits I hold (my heads, then commits at
 * exponentially spaced positions on the path to my tip); send me what I lack above the ones you hold."
 * Sent when a hello shows that the two copies of a chain differ at a position (a forked key).
 */
export interface ProbeMessage {
  readonly type: 'probe'
  /** `[space, author, [[seq, id], …]]` per chain. */
  readonly chains: ReadonlyArray<readonly [string, string, ReadonlyArray<readonly [number, Uint8Array]>]>
  /** True when the receiver should probe back where it lacks something (false on a probe that answers one). */
  readonly reply: boolean
}

/** A decoded sync message. */
export type SyncMessage = HelloMessage | CommitsMessage | ProbeMessage

/** Encodes a hello message. */
export function encodeHello(message: Omit<HelloMessage, 'type'>): Uint8Array {
  const payload = encodeCanonical({
    v: message.vector as unknown as CanonicalValue,
    s: message.spaces as unknown as CanonicalValue,
    r: message.reply
  })
  const out = new Uint8Array(2 + payload.byteLength)
  out[0] = SYNC_PROTOCOL_VERSION
  out[1] = TYPE_HELLO
  out.set(payload, 2)
  return out
}

/** Encodes a probe message. */
export function encodeProbe(message: Omit<ProbeMessage, 'type'>): Uint8Array {
  const payload = encodeCanonical({
    c: message.chains as unknown as CanonicalValue,
    r: message.reply
  })
  const out = new Uint8Array(2 + payload.byteLength)
  out[0] = SYNC_PROTOCOL_VERSION
  out[1] = TYPE_PROBE
  out.set(payload, 2)
  return out
}

/** Encodes a commits message: each envelope as an unsigned LEB128 length and its bytes. */
export function encodeCommits(envelopes: readonly Uint8Array[]): Uint8Array {
  let size = 2
  for (const envelope of envelopes) size += varintLength(envelope.byteLength) + envelope.byteLength
  const out = new Uint8Array(size)
  out[0] = SYNC_PROTOCOL_VERSION
  out[1] = TYPE_COMMITS
  let offset = 2
  for (const envelope of envelopes) {
    offset = writeVarint(out, offset, envelope.byteLength)
    out.set(envelope, offset)
    offset += envelope.byteLength
  }
  return out
}

/**
 * Decodes a sync message, enforcing every size and count limit before parsing.
 *
 * @throws {TooLargeError} for an oversized message or envelope.
 * @throws {TooManyEntriesError} for a message with more entries than the limits allow.
 * @throws {SyncProtocolError} for an unknown version or type, or a malformed message.
 */
export function decodeSyncMessage(bytes: Uint8Array, limits: Partial<SyncLimits> = {}): SyncMessage {
  const l = { ...DEFAULT_SYNC_LIMITS, ...limits }
  if (!(bytes instanceof Uint8Array)) throw new SyncProtocolError('a sync message is a Uint8Array')
  if (bytes.byteLength > l.maxMessageBytes)
    throw new TooLargeError('sync message', bytes.byteLength, l.maxMessageBytes)
  if (bytes.byteLength < 2)
    throw new SyncProtocolError('a sync message has at least a version and a type byte')
  if (bytes[0] !== SYNC_PROTOCOL_VERSION) {
    throw new SyncProtocolError(
      `sync protocol version ${bytes[0]} is not supported (this side speaks ${SYNC_PROTOCOL_VERSION}); upgrade the older peer`
    )
  }
  if (bytes[1] === TYPE_COMMITS) return { type: 'commits', envelopes: readEnvelopes(bytes, l) }
  if (bytes[1] === TYPE_COMMITS_DEFLATE) {
    throw new SyncProtocolError('compressed commits: pass the message through inflateSyncMessage() first')
  }
  if (bytes[1] === TYPE_HELLO) {
    const budget = HELLO_BASE_ITEMS + l.maxSpaces + l.maxVectorEntries * HELLO_ITEMS_PER_VECTOR_ENTRY
    const other = Math.max(l.maxVectorEntries, l.maxSpaces)
    countItems(bytes, 'hello', budget, (key) =>
      key === 'v' ? l.maxVectorEntries : key === 's' ? l.maxSpaces : other
    )
    return decodeHello(bytes, l)
  }
  if (bytes[1] === TYPE_PROBE) {
    countItems(
      bytes,
      'probe',
      PROBE_BASE_ITEMS + MAX_PROBE_CHAINS * PROBE_ITEMS_PER_CHAIN,
      () => MAX_PROBE_CHAINS
    )
    return decodeProbe(bytes, l)
  }
  throw new SyncProtocolError(`unknown sync message type ${bytes[1]}`)
}

function decodeMap(
  bytes: Uint8Array,
  limits: SyncLimits,
  what: string,
  depth: number
): Record<string, CanonicalValue> {
  let raw: CanonicalValue
  try {
    raw = decodeCanonical(bytes.subarray(2), { maxBytes: limits.maxMessageBytes, maxDepth: depth })
  } catch (err) {
    throw new SyncProtocolError(`${what} is not canonical CBOR: ${(err as Error).message}`, { cause: err })
  }
  if (!isPlainMap(raw)) throw new SyncProtocolError(`${what} is not a map`)
  return raw as Record<string, CanonicalValue>
}

/** Text fields of a hello or probe: at most 128 characters (UTF-16 units, as the protocol document says). */
function isText(value: unknown): value is string {
  return typeof value === 'string' && value.length <= 128
}

function isPosition(value: unknown): value is number {
  return isSafeUint(value, 1)
}

function isId(value: unknown): value is Uint8Array {
  return isByteString(value, 32)
}

function decodeHello(bytes: Uint8Array, l: SyncLimits): HelloMessage {
  const map = decodeMap(bytes, l, 'hello', 4)
  if (Object.keys(map).length !== 3) throw new SyncProtocolError('hello has exactly the keys v, s, r')
  const vector = map.v
  const spaces = map.s
  const reply = map.r
  if (typeof reply !== 'boolean') throw new SyncProtocolError('hello r must be a boolean')
  if (!Array.isArray(vector) || vector.length > l.maxVectorEntries) {
    throw new SyncProtocolError(`hello v must be an array of at most ${l.maxVectorEntries} entries`)
  }
  for (const entry of vector) {
    if (
      !Array.isArray(entry) ||
      entry.length !== 4 ||
      !isText(entry[0]) ||
      !isText(entry[1]) ||
      !isPosition(entry[2]) ||
      !isId(entry[3])
    ) {
      throw new SyncProtocolError('hello v entries are [space, author, seq >= 1, 32-byte head id]')
    }
  }
  if (spaces !== null) {
    if (!Array.isArray(spaces) || spaces.length > l.maxSpaces) {
      throw new SyncProtocolError(`hello s must be null or an array of at most ${l.maxSpaces} spaces`)
    }
    for (const space of spaces) if (!isText(space)) throw new SyncProtocolError('bad space')
  }
  return {
    type: 'hello',
    vector: vector as unknown as HelloMessage['vector'],
    spaces: spaces as string[] | null,
    reply
  }
}

/**
 * Counts the CBOR data items of a hello or probe (`what`) before it is decoded and refuses it as soon as
 * the count is over the limits: an array directly inside the message's map that declares more elements
 * than `most(key)` allows (hello: `v` `maxVectorEntries`, `s` `maxSpaces`, any other key the larger of
 * the two; probe: 256 chains), refused from its header alone, or more items in all than `budget`, what a
 * message within the limits can hold. The walk costs one step per item up to that budget, whatever the
 * message's size. Anything it does not follow (indefinite lengths, truncation, reserved values) is left
 * to the decoder to refuse.
 */
function countItems(bytes: Uint8Array, what: string, budget: number, most: (key: string) => number): void {
  // Items still to read in each open container; level 0 holds the one top-level item.
  const left: number[] = [1]
  let offset = 2
  let items = 0
  // The last key read directly inside the top-level map (one-character keys only; '' for others).
  let key = ''
  while (left.length > 0) {
    const level = left.length - 1
    if (left[level] === 0) {
      left.pop()
      continue
    }
    left[level] = (left[level] as number) - 1
    if (++items > budget) throw new TooManyEntriesError(`${what} (CBOR items)`, items, budget)
    if (offset >= bytes.byteLength) return
    const initial = bytes[offset++] as number
    const major = initial >> 5
    const info = initial & 0x1f
    let argument = info
    if (info >= 24) {
      if (info > 27) return
      const size = 1 << (info - 24)
      if (offset + size > bytes.byteLength) return
      argument = 0
      for (let i = 0; i < size; i++) argument = argument * 256 + (bytes[offset + i] as number)
      offset += size
    }
    // Inside the top-level map, an odd count left after taking this item means it is a key.
    const isKey = level === 1 && (left[level] as number) % 2 === 1
    if (isKey) key = major === 3 && argument === 1 ? String.fromCharCode(bytes[offset] as number) : ''
    if (major === 2 || major === 3) {
      offset += argument
    } else if (major === 4) {
      if (level === 1 && !isKey) {
        const limit = most(key)
        if (argument > limit) throw new TooManyEntriesError(`${what} ${key || 'array'}`, argument, limit)
      }
      left.push(argument)
    } else if (major === 5) {
      left.push(argument * 2)
    } else if (major === 6) {
      left[level] = (left[level] as number) + 1
    }
  }
}

function decodeProbe(bytes: Uint8Array, l: SyncLimits): ProbeMessage {
  const map = decodeMap(bytes, l, 'probe', 5)
  if (Object.keys(map).length !== 2) throw new SyncProtocolError('probe has exactly the keys c, r')
  const chains = map.c
  const reply = map.r
  if (typeof reply !== 'boolean') throw new SyncProtocolError('probe r must be a boolean')
  if (!Array.isArray(chains) || chains.length > MAX_PROBE_CHAINS) {
    throw new SyncProtocolError(`probe c must be an array of at most ${MAX_PROBE_CHAINS} chains`)
  }
  for (const entry of chains) {
    const refs = Array.isArray(entry) ? entry[2] : undefined
    if (
      !Array.isArray(entry) ||
      entry.length !== 3 ||
      !isText(entry[0]) ||
      !isText(entry[1]) ||
      !Array.isArray(refs) ||
      refs.length > MAX_PROBE_REFS ||
      !refs.every((ref) => Array.isArray(ref) && ref.length === 2 && isPosition(ref[0]) && isId(ref[1]))
    ) {
      throw new SyncProtocolError(
        `probe c entries are [space, author, up to ${MAX_PROBE_REFS} [seq >= 1, 32-byte id]]`
      )
    }
  }
  return { type: 'probe', chains: chains as unknown as ProbeMessage['chains'], reply }
}

function readEnvelopes(bytes: Uint8Array, limits: SyncLimits): Uint8Array[] {
  const out: Uint8Array[] = []
  let offset = 2
  while (offset < bytes.byteLength) {
    // Counted while framing: a message of many tiny entries is refused after `limit` cheap steps.
    if (out.length >= limits.maxCommitsPerMessage)
      throw new TooManyEntriesError('commits message', out.length + 1, limits.maxCommitsPerMessage)
    let length = 0
    let shift = 0
    let byte: number
    do {
      if (offset >= bytes.byteLength || shift > 28)
        throw new SyncProtocolError('truncated or overlong length prefix')
      byte = bytes[offset++] as number
      length += (byte & 0x7f) * 2 ** shift
      shift += 7
    } while ((byte & 0x80) !== 0)
    if (length > limits.maxCommitBytes)
      throw new TooLargeError('commit in a sync message', length, limits.maxCommitBytes)
    if (length === 0 || offset + length > bytes.byteLength)
      throw new SyncProtocolError('truncated commit in a sync message')
    out.push(bytes.subarray(offset, offset + length))
    offset += length
  }
  return out
}

function varintLength(value: number): number {
  let n = 1
  while (value >= 0x80) {
    value = Math.floor(value / 128)
    n++
  }
  return n
}

function writeVarint(out: Uint8Array, offset: number, value: number): number {
  while (value >= 0x80) {
    out[offset++] = (value & 0x7f) | 0x80
    value = Math.floor(value / 128)
  }
  out[offset++] = value
  return offset
}
