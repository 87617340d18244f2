import { type CanonicalValue, decodeCanonical, encodeCanonical, equalBytes } from '@araliya/identity'
import { type BackoffPolicy, backoffDelay, type Origin, TooLargeError } from '@araliya/interface'
import { type Logger, logger } from '@libp2p/logger'
import { type Commit, commitId, SIGNATURE_BYTES } from './commit.js'
import {
  BackdatedCommitError,
  InvalidSignatureError,
  SyncProtocolError,
  TooManyEntriesError,
  UnauthorizedWriteError
} from './errors.js'
import type { ChainHead, CommitRef, Graph, IngestResult } from './graph.js'
import { sha256, toHex } from './hash.js'
import { isSpace } from './model.js'
import { monotonicMs } from './yield.js'

/** The sync wire format version (first byte of every message). See `docs/protocols/graph-sync.md`. */
export const SYNC_PROTOCOL_VERSION = 1
/** The libp2p protocol id transports should carry sync messages under. */
export const SYNC_PROTOCOL_ID = '/araliya/graph-sync/1.0.0'

const TYPE_HELLO = 1
const TYPE_COMMITS = 2
const TYPE_COMMITS_DEFLATE = 3
const TYPE_PROBE = 4
/** Most commits one chain entry of a probe may list (16 heads and the samples of a 2^53-long path). */
const MAX_PROBE_REFS = 128
/** Most chains one probe message may list (senders split longer probes). */
const MAX_PROBE_CHAINS = 256
/** The most CBOR data items one chain entry of a probe takes: `[space, author, [[seq, id], …]]`. */
const PROBE_ITEMS_PER_CHAIN = 4 + 3 * MAX_PROBE_REFS
/** CBOR items of a probe besides its chain entries (the map, its keys, `r`, the array). */
const PROBE_BASE_ITEMS = 16
/** Commit batches smaller than this are sent uncompressed. */
const COMPRESS_THRESHOLD = 4096
/** Senders put at most this many commits in one message (receivers accept `maxCommitsPerMessage`). */
const MAX_COMMITS_SENT_PER_MESSAGE = 1024
/**
 * The most CBOR data items one version-vector entry may take (its array and what is inside), for the
 * work budget of a hello: an entry is 5 items (`[space, author, seq, head]`). Update it with the shape.
 */
const HELLO_ITEMS_PER_VECTOR_ENTRY = 5
/** CBOR items of a hello besides its vector entries and spaces (the map, its keys, `r`, the arrays). */
const HELLO_BASE_ITEMS = 16
/**
 * Commits a session may send again (that it had already sent this peer) on top of one resend of
 * everything it sent: resends are bounded by `sent + RESEND_ALLOWANCE`.
 */
const RESEND_ALLOWANCE = 64
/** Pacing of hellos sent because commits arrived ahead of their chain, and of repeated hello replies. */
const HELLO_BACKOFF: BackoffPolicy = Object.freeze({
  initialDelayMs: 1000,
  maxDelayMs: 30_000,
  factor: 2,
  jitter: 0.1
})

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
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || raw instanceof Uint8Array) {
    throw new SyncProtocolError(`${what} is not a map`)
  }
  return raw as Record<string, CanonicalValue>
}

function isText(value: unknown): value is string {
  return typeof value === 'string' && value.length <= 128
}

function isPosition(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1
}

function isId(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array && value.byteLength === 32
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

/** True when the platform has `CompressionStream` (Node >= 18, current browsers). */
function canCompress(): boolean {
  return typeof (globalThis as { CompressionStream?: unknown }).CompressionStream === 'function'
}

async function pipeThrough(
  bytes: Uint8Array,
  transform: TransformStream<Uint8Array, Uint8Array>,
  limit: number
): Promise<Uint8Array> {
  const writer = transform.writable.getWriter()
  void writer.write(bytes).catch(() => {})
  void writer.close().catch(() => {})
  const reader = transform.readable.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > limit) {
      await reader.cancel().catch(() => {})
      throw new TooLargeError('decompressed sync message', size, limit)
    }
    chunks.push(value)
  }
  const out = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.byteLength
  }
  return out
}

/**
 * Compresses a commits message (type 2) into a deflate-raw commits message (type 3) with the same entries.
 * Returns the input when compression is unavailable or does not help.
 */
export async function compressCommits(message: Uint8Array): Promise<Uint8Array> {
  if (!canCompress() || message[1] !== TYPE_COMMITS) return message
  const deflated = await pipeThrough(
    message.subarray(2),
    new CompressionStream('deflate-raw') as unknown as TransformStream<Uint8Array, Uint8Array>,
    Number.MAX_SAFE_INTEGER
  )
  if (deflated.byteLength + 2 >= message.byteLength) return message
  const out = new Uint8Array(deflated.byteLength + 2)
  out[0] = SYNC_PROTOCOL_VERSION
  out[1] = TYPE_COMMITS_DEFLATE
  out.set(deflated, 2)
  return out
}

/**
 * Turns a deflate-raw commits message (type 3) back into a plain commits message (type 2), stopping as
 * soon as the output would exceed `maxMessageBytes` (no decompression bombs). Other messages pass through.
 *
 * @throws {TooLargeError} when the compressed or the decompressed message is over the limit.
 * @throws {SyncProtocolError} when the deflate stream is corrupt.
 */
export async function inflateSyncMessage(
  bytes: Uint8Array,
  limits: Partial<SyncLimits> = {}
): Promise<Uint8Array> {
  const l = { ...DEFAULT_SYNC_LIMITS, ...limits }
  if (!(bytes instanceof Uint8Array) || bytes.byteLength < 2 || bytes[1] !== TYPE_COMMITS_DEFLATE)
    return bytes
  if (bytes.byteLength > l.maxMessageBytes)
    throw new TooLargeError('sync message', bytes.byteLength, l.maxMessageBytes)
  if (bytes[0] !== SYNC_PROTOCOL_VERSION) return bytes
  if (!canCompress())
    throw new SyncProtocolError('this platform cannot decompress sync messages; ask the peer not to compress')
  let inflated: Uint8Array
  try {
    inflated = await pipeThrough(
      bytes.subarray(2),
      new DecompressionStream('deflate-raw') as unknown as TransformStream<Uint8Array, Uint8Array>,
      l.maxMessageBytes - 2
    )
  } catch (err) {
    if (TooLargeError.isInstance(err)) throw err
    throw new SyncProtocolError(`corrupt compressed sync message: ${(err as Error).message}`, { cause: err })
  }
  const out = new Uint8Array(inflated.byteLength + 2)
  out[0] = SYNC_PROTOCOL_VERSION
  out[1] = TYPE_COMMITS
  out.set(inflated, 2)
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

/** What {@link createSyncPeer} needs. */
export interface SyncPeerInit {
  /** A tag for the remote side (its address, for p2p transports); used as the origin of what it sends. */
  peer: string
  /** Sends bytes to the remote side. The transport may drop, duplicate or reorder them. */
  send: (bytes: Uint8Array) => void | Promise<void>
  /** The spaces (owner addresses) to ask for and to accept. Default: every space. */
  spaces?: Iterable<string>
  /** Which spaces to serve to this peer. Default: every space. */
  share?: (space: string) => boolean
  /**
   * Aim for messages of about this size when sending many commits. Default 256 KiB. Whatever the size,
   * a message never carries more than 1,024 commits.
   */
  targetMessageBytes?: number
  /** Decoder limits for what this peer receives. */
  limits?: Partial<SyncLimits>
  /** Deflate large commit batches (message type 3) where the platform has `CompressionStream`. Default true. */
  compress?: boolean
  /** Reports problems that are not the caller's to handle (a failed send, a refused commit batch). */
  onError?: (error: Error) => void
  /**
   * A monotonic clock in milliseconds, for the backoff of gap hellos and repeated hello replies.
   * Default `performance.now()`. Inject one in tests.
   */
  now?: () => number
  /**
   * Called (while started) for every commit from this peer that the graph refused for a reason no honest
   * relay produces: the transport's hook to penalise the sender (lower its score, disconnect it). Also
   * counted in `stats.misbehaviours`.
   */
  onMisbehaviour?: (report: SyncMisbehaviour) => void
}

/**
 * Why a commit a peer sent counts against it. An honest replica verifies and judges every commit before it
 * stores or relays it, so it never sends one refused for these reasons:
 * - `unauthorized`: an op no grant covers at the commit's position (`UnauthorizedWriteError`);
 * - `backdated`: stamps or position behind what the writer had already claimed or seen (`BackdatedCommitError`);
 * - `invalid-signature`: a signature, grant or revocation that does not verify (`InvalidSignatureError`).
 * Refusals an honest peer can cause (equivocation and forks, clock skew, limits, unknown versions) are not reported.
 */
export type MisbehaviourReason = 'unauthorized' | 'backdated' | 'invalid-signature'

/** One commit a peer sent that no honest relay would have sent (see {@link SyncPeerInit.onMisbehaviour}). */
export interface SyncMisbehaviour {
  /** The remote peer's tag. */
  readonly peer: string
  readonly reason: MisbehaviourReason
  /** Hex id of the refused commit. */
  readonly commit?: string
  /** The graph's refusal. */
  readonly error: Error
}

function misbehaviourReason(error: Error): MisbehaviourReason | undefined {
  if (UnauthorizedWriteError.isInstance(error)) return 'unauthorized'
  if (BackdatedCommitError.isInstance(error)) return 'backdated'
  if (InvalidSignatureError.isInstance(error)) return 'invalid-signature'
  return undefined
}

/** Counters of one sync session. */
export interface SyncStats {
  messagesSent: number
  messagesReceived: number
  bytesSent: number
  bytesReceived: number
  /** Commits sent, counting every copy (resends included). */
  commitsSent: number
  commitsReceived: number
  commitsAccepted: number
  /** Commits from this peer refused for a reason no honest relay produces (see {@link MisbehaviourReason}). */
  misbehaviours: number
  /** Messages refused whole: malformed, or over a size or count limit (nothing in them was applied). */
  messagesRefused: number
  /** Commits not looked at because an earlier commit of the same message could not be decoded or verified. */
  commitsDropped: number
  /** Commits sent again that this session had sent before (the peer asked again); part of `commitsSent`. */
  commitsResent: number
  /** Commits a hello asked for again that were not resent: the session's resend allowance was used up. */
  resendsRefused: number
  /** Hellos sent because commits arrived ahead of their chain (gap hellos). */
  gapHellosSent: number
}

/**
 * One side of a sync session with one remote peer: bytes in (`receive`), bytes out (`send`). It exchanges
 * version vectors, sends only the commits the other side lacks, forwards new commits live, and recovers
 * from lost, duplicated and reordered messages (newly held commits trigger a new hello, paced with
 * backoff; `sync()` re-runs the exchange after a reconnect). What it sends again on request is bounded
 * per session, so no run of duplicates or hellos makes it resend without end.
 */
export interface SyncPeer {
  /** The remote peer's tag. */
  readonly peer: string
  readonly stats: Readonly<SyncStats>
  /** Starts forwarding new commits and sends the first hello. Safe to call twice. */
  start(): Promise<void>
  /** Stops forwarding (and cancels a deferred gap hello). Safe to call twice. */
  stop(): void
  /** Sends a fresh hello: call after a reconnect, or now and then to repair dropped messages. */
  sync(): Promise<void>
  /**
   * Handles one message from the remote peer. Messages are processed one at a time, in call order. The
   * commits of a message are applied up to the first that cannot be decoded or verified; the rest of that
   * message is dropped (counted in `stats.commitsDropped`).
   *
   * @throws {SyncProtocolError} (or its `TooManyEntriesError`) or `TooLargeError` for a malformed message,
   * or one over a size or count limit: nothing of it is applied.
   */
  receive(bytes: Uint8Array): Promise<void>
  /**
   * Resolves when this side has nothing left to do: every message received has been processed and every
   * promise returned by `send` has settled (for two peers wired back to back, that covers both sides).
   */
  idle(): Promise<void>
}

/**
 * Creates a sync session between `graph` and one remote peer.
 *
 * @example
 * ```ts
 * // two graphs in one process, wired back to back
 * const a = createSyncPeer(graphA, { peer: 'B', send: (bytes) => b.receive(bytes) })
 * const b = createSyncPeer(graphB, { peer: 'A', send: (bytes) => a.receive(bytes) })
 * await a.start()
 * await b.start()
 * ```
 */
export function createSyncPeer(graph: Graph, init: SyncPeerInit): SyncPeer {
  return new GraphSyncPeer(graph, init)
}

class GraphSyncPeer implements SyncPeer {
  readonly peer: string
  readonly stats: SyncStats = {
    messagesSent: 0,
    messagesReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
    commitsSent: 0,
    commitsReceived: 0,
    commitsAccepted: 0,
    misbehaviours: 0,
    messagesRefused: 0,
    commitsDropped: 0,
    commitsResent: 0,
    resendsRefused: 0,
    gapHellosSent: 0
  }
  readonly #graph: Graph
  readonly #send: (bytes: Uint8Array) => void | Promise<void>
  readonly #wanted: ReadonlySet<string> | undefined
  readonly #share: (space: string) => boolean
  readonly #target: number
  readonly #limits: SyncLimits
  readonly #origin: Origin
  readonly #onError: (error: Error) => void
  readonly #onMisbehaviour: ((report: SyncMisbehaviour) => void) | undefined
  readonly #log: Logger
  /** What we believe the remote has: chain key -> seq. */
  readonly #remote = new Map<string, number>()
  /** What the remote asked for: undefined until its first hello, null for everything. */
  #remoteSpaces: ReadonlySet<string> | null | undefined
  #queue: Promise<void> = Promise.resolve()
  #outbox: Commit[] = []
  #flushScheduled = false
  #unsubscribe: (() => void) | undefined
  #unsubscribeRejected: (() => void) | undefined
  readonly #sends = new Set<Promise<void>>()
  readonly #compress: boolean
  #sendTail: Promise<void> = Promise.resolve()
  #helloSent = false
  /** We asked the peer for its hello and have not heard one since. */
  #helloOutstanding = false
  readonly #now: () => number
  /** The highest seq of each chain sent to this peer in this session: asking again for less is a resend. */
  readonly #sent = new Map<string, number>()
  /** Hex ids of the commits sent at positions where their chain forked (a position names none of them). */
  readonly #sentForked = new Set<string>()
  /** Commits sent for the first time, and again, in this session (resends are bounded by the first). */
  #firstSends = 0
  #resends = 0
  /** Commits arrived ahead of their chain and we have not asked for the gap yet. */
  #gapWanted = false
  /** Gap hellos sent since the pending buffer was last empty, and when the next one may go. */
  #gapAttempt = 0
  #gapNotBefore = Number.NEGATIVE_INFINITY
  /** Sends the deferred gap hello when the window ends, if nothing else has by then. */
  #gapTimer: ReturnType<typeof setTimeout> | undefined
  /** Digest of the last hello sent, how often in a row it was sent, when it may be repeated as a reply. */
  #lastHello: Uint8Array | undefined
  #sameHelloCount = 0
  #repeatNotBefore = Number.NEGATIVE_INFINITY
  /** The last hello and the last probe received and answered: a repeat within its window gets no resend. */
  readonly #askedHellos = new RepeatWindow()
  readonly #askedProbes = new RepeatWindow()
  /** Chains we sent a probe for since the peer's last hello (so probes answer probes only once). */
  readonly #probed = new Set<string>()

  constructor(graph: Graph, init: SyncPeerInit) {
    this.#graph = graph
    this.peer = init.peer
    this.#send = init.send
    this.#wanted = init.spaces === undefined ? undefined : new Set(init.spaces)
    this.#share = init.share ?? (() => true)
    this.#target = init.targetMessageBytes ?? 256 * 1024
    this.#limits = { ...DEFAULT_SYNC_LIMITS, maxCommitBytes: graph.limits.maxCommitBytes, ...init.limits }
    this.#origin = { kind: 'remote', peer: init.peer }
    this.#compress = init.compress ?? true
    this.#log = logger('araliya:graph:sync')
    this.#onError = init.onError ?? ((error) => this.#log.error('sync with %s: %e', this.peer, error))
    this.#onMisbehaviour = init.onMisbehaviour
    this.#now = init.now ?? monotonicMs
  }

  async start(): Promise<void> {
    if (this.#unsubscribe !== undefined) return
    this.#unsubscribe = this.#graph.events.on('commit:accepted', ({ commit, origin }) => {
      if (origin.kind === 'remote' && origin.peer === this.peer) {
        this.#noteRemote(commit.space, commit.author, commit.seq)
        return
      }
      if (!this.#remoteWants(commit.space)) return
      if (this.#remoteHas(commit)) return
      this.#outbox.push(commit)
      if (!this.#flushScheduled) {
        this.#flushScheduled = true
        queueMicrotask(() => this.#flushOutbox())
      }
    })
    // The graph reports every refusal with the origin the commit came from (also when it is refused later,
    // on release from the pending buffer), so a refusal is held against the peer that sent the commit.
    this.#unsubscribeRejected = this.#graph.events.on('commit:rejected', ({ id, error, origin }) => {
      if (origin.kind !== 'remote' || origin.peer !== this.peer) return
      const reason = misbehaviourReason(error)
      if (reason === undefined) return
      this.stats.misbehaviours++
      this.#log('%s sent commit %s refused as %s', this.peer, id ?? '(undecodable)', reason)
      this.#onMisbehaviour?.(
        id === undefined ? { peer: this.peer, reason, error } : { peer: this.peer, reason, commit: id, error }
      )
    })
    // If the peer's hello already arrived and was answered, the exchange is under way: do not start another.
    if (!this.#helloSent) await this.sync()
  }

  stop(): void {
    this.#unsubscribe?.()
    this.#unsubscribe = undefined
    this.#unsubscribeRejected?.()
    this.#unsubscribeRejected = undefined
    this.#outbox = []
    this.#clearGapTimer()
  }

  sync(): Promise<void> {
    this.#helloOutstanding = true
    return this.#emitHello(this.#helloBytes(true))
  }

  receive(bytes: Uint8Array): Promise<void> {
    let run: Promise<void>
    if (
      bytes instanceof Uint8Array &&
      bytes.byteLength >= 2 &&
      bytes[0] === SYNC_PROTOCOL_VERSION &&
      bytes[1] === TYPE_COMMITS_DEFLATE
    ) {
      if (bytes.byteLength > this.#limits.maxMessageBytes) {
        this.stats.messagesRefused++
        return Promise.reject(
          new TooLargeError('sync message', bytes.byteLength, this.#limits.maxMessageBytes)
        )
      }
      this.stats.messagesReceived++
      this.stats.bytesReceived += bytes.byteLength
      // Inflated in order, inside the queue; a corrupt stream rejects this call only.
      run = this.#queue.then(async () => {
        let message: SyncMessage
        try {
          message = decodeSyncMessage(await inflateSyncMessage(bytes, this.#limits), this.#limits)
        } catch (err) {
          this.stats.messagesRefused++
          throw err
        }
        await this.#handle(message)
      })
    } else {
      let message: SyncMessage
      try {
        message = decodeSyncMessage(bytes, this.#limits)
      } catch (err) {
        this.stats.messagesRefused++
        return Promise.reject(err)
      }
      this.stats.messagesReceived++
      this.stats.bytesReceived += bytes.byteLength
      run = this.#queue.then(() => this.#handle(message, bytes))
    }
    this.#queue = run.catch((err: unknown) => this.#onError(err as Error))
    return run
  }

  async idle(): Promise<void> {
    for (;;) {
      const queue = this.#queue
      await queue
      await this.#sendTail
      if (this.#sends.size > 0) {
        await Promise.allSettled([...this.#sends])
        continue
      }
      if (this.#flushScheduled) {
        await Promise.resolve()
        continue
      }
      if (queue === this.#queue) return
    }
  }

  async #handle(message: SyncMessage, bytes?: Uint8Array): Promise<void> {
    if (message.type === 'hello') {
      await this.#onHello(message, bytes ?? encodeHello(message))
      return
    }
    if (message.type === 'probe') {
      await this.#onProbe(message, bytes ?? encodeProbe(message))
      return
    }
    const envelopes = message.envelopes
    this.stats.commitsReceived += envelopes.length
    if (envelopes.length === 0) return
    const result: IngestResult = await this.#graph.ingest(
      envelopes,
      this.#origin,
      this.#wanted === undefined ? undefined : { spaces: this.#wanted }
    )
    this.stats.commitsAccepted += result.accepted
    this.stats.commitsDropped += result.dropped
    if (result.rejected.length > 0) {
      this.#log(
        '%d commits from %s refused (%d after them dropped): %s',
        result.rejected.length,
        this.peer,
        result.dropped,
        result.rejected[0]?.error.message
      )
    }
    await this.#askForGaps(result.held)
  }

  /**
   * Something is missing before what arrived (a lost or reordered message): ask with a hello. Only newly
   * held commits raise the question (duplicates of commits already waiting do not), and at most one gap
   * hello is outstanding: the next one waits until the backoff window of the last has passed, then goes
   * out (with the next message from this peer, or from a timer) if commits are still waiting.
   */
  async #askForGaps(held: number): Promise<void> {
    if (held > 0) this.#gapWanted = true
    if (this.#graph.pendingCount === 0) {
      this.#gapWanted = false
      this.#gapAttempt = 0
      this.#gapNotBefore = Number.NEGATIVE_INFINITY
      this.#clearGapTimer()
      return
    }
    if (!this.#gapWanted) return
    const now = this.#now()
    if (now < this.#gapNotBefore) {
      this.#armGapTimer(this.#gapNotBefore - now)
      return
    }
    this.#clearGapTimer()
    this.#gapWanted = false
    this.#gapAttempt++
    this.#gapNotBefore = now + backoffDelay(this.#gapAttempt, HELLO_BACKOFF)
    this.stats.gapHellosSent++
    await this.#emitHello(this.#helloBytes(false))
  }

  #armGapTimer(delayMs: number): void {
    if (this.#gapTimer !== undefined) return
    const timer = setTimeout(() => {
      this.#gapTimer = undefined
      if (!this.#graph.started) return
      // Through the receive queue, so it is ordered with the messages being handled.
      const run = this.#queue.then(() => this.#askForGaps(0))
      this.#queue = run.catch((err: unknown) => this.#onError(err as Error))
    }, delayMs)
    // A pending gap hello must not keep a Node process alive.
    ;(timer as { unref?: () => void }).unref?.()
    this.#gapTimer = timer
  }

  #clearGapTimer(): void {
    if (this.#gapTimer === undefined) return
    clearTimeout(this.#gapTimer)
    this.#gapTimer = undefined
  }

  async #onHello(message: HelloMessage, bytes: Uint8Array): Promise<void> {
    // The same hello again within the window of the last one answered: a duplicate, or one that crossed
    // our answer. It gets what was never sent, not a resend (and no probe); after the window it may.
    const repeat = this.#askedHellos.repeats(bytes, this.#now())
    const asked = message.spaces === null ? null : new Set(message.spaces.filter((space) => isSpace(space)))
    this.#remoteSpaces = asked
    // Answer a hello with our own only when ours is not already on its way: when both sides start at once
    // each answers the other's hello with commits, and a second round of hellos would send everything twice.
    // A repeat of a hello just answered (a duplicate) is not answered again either.
    const answer = message.reply && !this.#helloOutstanding && !repeat
    // The peer gets our heads (our hello answers this one, or this one answers ours) and sends what we
    // lack by itself, unless it sent an unprompted hello that asks for no answer (a gap hello).
    const peerGetsOurHeads = message.reply || this.#helloOutstanding
    this.#helloOutstanding = false
    if (!repeat) this.#probed.clear()
    const theirs = groupHeads(
      message.vector.map(([space, author, seq, head]) => ({ space, author, seq, head }))
    )
    for (const chain of theirs.values()) this.#noteRemote(chain.space, chain.author, chain.seq)
    if (answer) await this.#replyHello()
    const chains = [...groupHeads(this.#graph.versionVector()).values()]
      .filter((chain) => (asked === null || asked.has(chain.space)) && this.#share(chain.space))
      // Owners' chains first: other authors' commits depend on the grants in them.
      .sort((a, b) => Number(b.author === b.space) - Number(a.author === a.space))
    const batch = new Batch(this.#target, (envelopes) => this.#sendCommits(envelopes))
    const probes: ProbeChain[] = []
    for (const chain of chains) {
      const peer = theirs.get(key(chain.space, chain.author))
      const probe = await this.#answerChain(batch, chain, peer, peerGetsOurHeads, repeat)
      if (probe !== undefined && !repeat) probes.push(probe)
    }
    await batch.flush()
    if (probes.length > 0) await this.#sendProbe(probes, true)
  }

  /**
   * What a hello asks of one of our chains: the commits the peer lacks when we hold every head it listed;
   * otherwise a probe to find where the two copies part (or nothing, when the peer is only ahead of us and
   * learns our heads anyway).
   */
  async #answerChain(
    batch: Batch,
    ours: ChainHeads,
    peer: ChainHeads | undefined,
    peerGetsOurHeads: boolean,
    repeat: boolean
  ): Promise<ProbeChain | undefined> {
    const { space, author } = ours
    const heads = peer?.heads ?? []
    const unknown = heads.filter((head) => !this.#graph.hasCommit(space, author, head.seq, head.id))
    if (unknown.length === 0) {
      // The common case: our chain never forked and the peer holds its head.
      if (ours.heads.length === 1 && (peer?.seq ?? 0) >= ours.seq) return undefined
      await this.#sendMissing(batch, space, author, heads, repeat)
      return undefined
    }
    // The peer holds commits of this chain that we lack. One at or below our highest position proves the
    // two copies part there (a forked key): find where. One above it may just mean the peer is ahead: a
    // peer that gets our heads sends that by itself, otherwise ask.
    if (peerGetsOurHeads && unknown.every((head) => head.seq > ours.seq)) return undefined
    return this.#probeFor(space, author, minSeq(unknown))
  }

  /**
   * Sends what the prober lacks above the commits it listed that we hold; probes back once where we lack.
   * Probe answers come out of the same resend allowance as hello answers, and the same probe again
   * within the window of the last one answered gets no resend and no probe back.
   */
  async #onProbe(message: ProbeMessage, bytes: Uint8Array): Promise<void> {
    const repeat = this.#askedProbes.repeats(bytes, this.#now())
    const batch = new Batch(this.#target, (envelopes) => this.#sendCommits(envelopes))
    const back: ProbeChain[] = []
    for (const [space, author, refs] of message.chains) {
      if (!isSpace(space) || !this.#share(space)) continue
      const held: CommitRef[] = []
      const lacking: CommitRef[] = []
      for (const [seq, id] of refs) {
        ;(this.#graph.hasCommit(space, author, seq, id) ? held : lacking).push({ seq, id })
      }
      await this.#sendMissing(batch, space, author, held, repeat)
      const probed = this.#probed.has(key(space, author))
      if (
        !repeat &&
        message.reply &&
        lacking.length > 0 &&
        !probed &&
        this.#graph.chainLength(space, author) > 0
      ) {
        back.push(this.#probeFor(space, author, minSeq(lacking)))
      }
    }
    await batch.flush()
    if (back.length > 0) await this.#sendProbe(back, false)
  }

  /**
   * Queues what a peer holding `heads` lacks of one chain; afterwards it is believed to have it. What this
   * session already sent and the peer asks for again (a duplicated or crossed hello or probe, or a lost
   * message) comes out of the resend allowance (`sent + 64`), so no run of hellos or probes makes us send
   * it over and over; a `repeat` (the same request within its window) gets no resend at all.
   */
  async #sendMissing(
    batch: Batch,
    space: string,
    author: string,
    heads: readonly CommitRef[],
    repeat: boolean
  ): Promise<void> {
    let refused = 0
    for await (const { envelopes, seq } of this.#graph.readMissing(space, author, heads)) {
      const from = seq - envelopes.length + 1
      // A batch read (up to 512 commits of one branch) is resent whole or not at all.
      const sentBefore = envelopes.map((envelope, i) => this.#wasSent(space, author, from + i, envelope))
      const again = sentBefore.filter(Boolean).length
      const resend = again === 0 || (!repeat && this.#resends + again <= this.#firstSends + RESEND_ALLOWANCE)
      if (again > 0 && resend) {
        this.#resends += again
        this.stats.commitsResent += again
      } else {
        refused += again
      }
      for (let i = 0; i < envelopes.length; i++) {
        const envelope = envelopes[i] as Uint8Array
        if (sentBefore[i] === true && !resend) continue
        this.#noteSent(space, author, from + i, envelope)
        await batch.add(envelope)
      }
      // Only what was read counts: a commit not durable yet goes out live once it is.
      this.#noteRemote(space, author, seq)
    }
    if (refused > 0) {
      this.stats.resendsRefused += refused
      this.#log(
        '%s asked again for %d commits of %s by %s; %s',
        this.peer,
        refused,
        space,
        author,
        repeat ? 'the same request was answered moments ago' : 'resend allowance used up'
      )
    }
  }

  /** True when this session sent the commit at `seq` of a chain (its envelope, or its id) before. */
  #wasSent(space: string, author: string, seq: number, envelope: Uint8Array, id?: Uint8Array): boolean {
    // Where the key forked, a position names several commits: which went out is remembered by id.
    if (this.#graph.isForkedAt(space, author, seq))
      return this.#sentForked.has(toHex(id ?? commitId(envelope.subarray(SIGNATURE_BYTES))))
    return seq <= (this.#sent.get(key(space, author)) ?? 0)
  }

  /**
   * Records that the commit at `seq` of a chain (its envelope, or its id) goes to the peer; a first send
   * (one this session had not sent before) is counted towards the resend allowance.
   */
  #noteSent(space: string, author: string, seq: number, envelope: Uint8Array, id?: Uint8Array): void {
    if (this.#wasSent(space, author, seq, envelope, id)) return
    this.#firstSends++
    const k = key(space, author)
    if (this.#graph.isForkedAt(space, author, seq))
      this.#sentForked.add(toHex(id ?? commitId(envelope.subarray(SIGNATURE_BYTES))))
    if (seq > (this.#sent.get(k) ?? 0)) this.#sent.set(k, seq)
  }

  #probeFor(space: string, author: string, below: number): ProbeChain {
    this.#probed.add(key(space, author))
    const refs = this.#graph.chainSample(space, author, below).map((ref) => [ref.seq, ref.id] as const)
    return [space, author, refs]
  }

  async #sendProbe(chains: ProbeChain[], reply: boolean): Promise<void> {
    for (let start = 0; start < chains.length; start += MAX_PROBE_CHAINS) {
      const bytes = encodeProbe({ chains: chains.slice(start, start + MAX_PROBE_CHAINS), reply })
      await this.#enqueue(() => this.#emit(bytes))
    }
  }

  /** True when the peer is believed to hold `commit` (live forwarding skips it). */
  #remoteHas(commit: Commit): boolean {
    if ((this.#remote.get(key(commit.space, commit.author)) ?? 0) < commit.seq) return false
    // Where the key forked, a position says nothing about which of its commits the peer holds.
    return !this.#graph.isForkedAt(commit.space, commit.author, commit.seq)
  }

  #flushOutbox(): void {
    this.#flushScheduled = false
    const commits = this.#outbox
    this.#outbox = []
    let batch: Uint8Array[] = []
    let size = 0
    const sends: Promise<void>[] = []
    for (const commit of commits) {
      if (this.#remoteHas(commit)) continue
      this.#noteRemote(commit.space, commit.author, commit.seq)
      this.#noteSent(commit.space, commit.author, commit.seq, commit.envelope, commit.id)
      if (
        batch.length >= MAX_COMMITS_SENT_PER_MESSAGE ||
        (size + commit.envelope.byteLength > this.#target && batch.length > 0)
      ) {
        sends.push(this.#sendCommits(batch))
        batch = []
        size = 0
      }
      batch.push(commit.envelope)
      size += commit.envelope.byteLength + 4
    }
    if (batch.length > 0) sends.push(this.#sendCommits(batch))
    Promise.all(sends).catch((err: unknown) => this.#onError(err as Error))
  }

  #remoteWants(space: string): boolean {
    if (this.#remoteSpaces === undefined) return false
    if (!this.#share(space)) return false
    return this.#remoteSpaces === null || this.#remoteSpaces.has(space)
  }

  #noteRemote(space: string, author: string, seq: number): void {
    const k = key(space, author)
    if ((this.#remote.get(k) ?? 0) < seq) this.#remote.set(k, seq)
  }

  #helloBytes(reply: boolean): Uint8Array {
    const vector = this.#graph
      .versionVector(this.#wanted)
      .map((head) => [head.space, head.author, head.seq, head.head] as const)
    const spaces = this.#wanted === undefined ? null : [...this.#wanted].sort()
    return encodeHello({ vector, spaces, reply })
  }

  /**
   * Answers the peer's hello with ours. The same hello again (nothing changed here) goes out at most
   * once per backoff window, so a peer repeating its hello cannot make us repeat ours (our whole
   * version vector) every time; a peer that lost ours gets it again after the window, or from `sync()`.
   */
  async #replyHello(): Promise<void> {
    const bytes = this.#helloBytes(false)
    if (this.#now() < this.#repeatNotBefore && this.#isLastHello(sha256(bytes))) {
      this.#log('not repeating an unchanged hello to %s yet', this.peer)
      return
    }
    await this.#emitHello(bytes)
  }

  #isLastHello(digest: Uint8Array): boolean {
    return this.#lastHello !== undefined && equalBytes(digest, this.#lastHello)
  }

  async #emitHello(bytes: Uint8Array): Promise<void> {
    this.#helloSent = true
    // A digest, not the bytes: a hello carries our whole version vector (megabytes), and this is per peer.
    const digest = sha256(bytes)
    this.#sameHelloCount = this.#isLastHello(digest) ? this.#sameHelloCount + 1 : 1
    this.#lastHello = digest
    this.#repeatNotBefore = this.#now() + backoffDelay(this.#sameHelloCount, HELLO_BACKOFF)
    await this.#enqueue(() => this.#emit(bytes))
  }

  #sendCommits(envelopes: Uint8Array[]): Promise<void> {
    this.stats.commitsSent += envelopes.length
    const plain = encodeCommits(envelopes)
    const compress = this.#compress && plain.byteLength >= COMPRESS_THRESHOLD
    return this.#enqueue(async () => this.#emit(compress ? await compressCommits(plain) : plain))
  }

  /**
   * Runs `send` after every earlier send, so messages go out in call order even though compression is
   * asynchronous. The caller gets the job's own outcome; the tail only orders, so one failed send never
   * blocks the next.
   */
  #enqueue(send: () => Promise<void>): Promise<void> {
    const job = this.#sendTail.then(send)
    this.#sendTail = job.catch(() => {})
    return job
  }

  async #emit(bytes: Uint8Array): Promise<void> {
    this.stats.messagesSent++
    this.stats.bytesSent += bytes.byteLength
    // Not awaited inside the receive queue: a transport whose send resolves only once the other side has
    // processed the message (two peers wired back to back) would otherwise deadlock the two queues.
    // idle() waits for these.
    const result = this.#send(bytes)
    if (result !== undefined && typeof (result as Promise<void>).then === 'function') {
      const sending = (result as Promise<void>).catch((err: unknown) => this.#onError(err as Error))
      this.#sends.add(sending)
      void sending.finally(() => this.#sends.delete(sending))
    }
  }
}

function key(space: string, author: string): string {
  return `${space}\n${author}`
}

type ProbeChain = readonly [string, string, ReadonlyArray<readonly [number, Uint8Array]>]

interface ChainHeads {
  readonly space: string
  readonly author: string
  /** The highest position among the heads. */
  seq: number
  readonly heads: CommitRef[]
}

/** Groups version-vector entries (one per head) by chain. */
function groupHeads(vector: Iterable<ChainHead>): Map<string, ChainHeads> {
  const out = new Map<string, ChainHeads>()
  for (const { space, author, seq, head } of vector) {
    const k = key(space, author)
    const chain = out.get(k)
    if (chain === undefined) out.set(k, { space, author, seq, heads: [{ seq, id: head }] })
    else {
      chain.heads.push({ seq, id: head })
      if (seq > chain.seq) chain.seq = seq
    }
  }
  return out
}

function minSeq(refs: readonly CommitRef[]): number {
  let min = Number.POSITIVE_INFINITY
  for (const ref of refs) if (ref.seq < min) min = ref.seq
  return min
}

/** Collects envelopes into commits messages of about `target` bytes. */
class Batch {
  #envelopes: Uint8Array[] = []
  #size = 0
  readonly #target: number
  readonly #send: (envelopes: Uint8Array[]) => Promise<void>

  constructor(target: number, send: (envelopes: Uint8Array[]) => Promise<void>) {
    this.#target = target
    this.#send = send
  }

  async add(envelope: Uint8Array): Promise<void> {
    if (
      this.#envelopes.length >= MAX_COMMITS_SENT_PER_MESSAGE ||
      (this.#size + envelope.byteLength > this.#target && this.#envelopes.length > 0)
    )
      await this.flush()
    this.#envelopes.push(envelope)
    this.#size += envelope.byteLength + 4
  }

  async flush(): Promise<void> {
    if (this.#envelopes.length === 0) return
    const envelopes = this.#envelopes
    this.#envelopes = []
    this.#size = 0
    await this.#send(envelopes)
  }
}

/**
 * The last request of one kind (hello or probe) received and answered: the same bytes again within its
 * window (backoff from 1 s, doubling to 30 s, per repeat in a row) is a repeat.
 */
class RepeatWindow {
  /** A digest, not the bytes: a hello carries a whole version vector (megabytes), and this is per peer. */
  #last: Uint8Array | undefined
  #count = 0
  #notBefore = Number.NEGATIVE_INFINITY

  /** True when `bytes` repeat the last request within its window; otherwise it becomes the last one. */
  repeats(bytes: Uint8Array, now: number): boolean {
    const digest = sha256(bytes)
    const same = this.#last !== undefined && equalBytes(digest, this.#last)
    if (same && now < this.#notBefore) return true
    this.#count = same ? this.#count + 1 : 1
    this.#last = digest
    this.#notBefore = now + backoffDelay(this.#count, HELLO_BACKOFF)
    return false
  }
}
