import { type CanonicalValue, decodeCanonical, encodeCanonical, equalBytes } from '@araliya/identity'
import { type BackoffPolicy, backoffDelay, type Origin, TooLargeError } from '@araliya/interface'
import { type Logger, logger } from '@libp2p/logger'
import type { Commit } from './commit.js'
import {
  BackdatedCommitError,
  InvalidSignatureError,
  SyncProtocolError,
  TooManyEntriesError,
  UnauthorizedWriteError
} from './errors.js'
import type { Graph, IngestResult } from './graph.js'
import { sha256 } from './hash.js'
import { isSpace } from './model.js'
import { monotonicMs } from './yield.js'

/** The sync wire format version (first byte of every message). See `docs/protocols/graph-sync.md`. */
export const SYNC_PROTOCOL_VERSION = 1
/** The libp2p protocol id transports should carry sync messages under. */
export const SYNC_PROTOCOL_ID = '/araliya/graph-sync/1.0.0'

const TYPE_HELLO = 1
const TYPE_COMMITS = 2
const TYPE_COMMITS_DEFLATE = 3
/** Commit batches smaller than this are sent uncompressed. */
const COMPRESS_THRESHOLD = 4096
/** Senders put at most this many commits in one message (receivers accept `maxCommitsPerMessage`). */
const MAX_COMMITS_SENT_PER_MESSAGE = 1024
/**
 * The most CBOR data items one version-vector entry may take (its array and what is inside), for the
 * work budget of a hello: today an entry is 4 items (`[space, author, seq]`); the rest is headroom.
 */
const HELLO_ITEMS_PER_VECTOR_ENTRY = 6
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
   * Most version-vector entries (chains) in a hello. Default 100,000. Hellos are counted before they are
   * decoded: one whose `v` (or `s`) array declares more entries than this (or `maxSpaces`), or that holds
   * more CBOR items than `16 + maxSpaces + 6 × maxVectorEntries`, is refused (`TooManyEntriesError`).
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
  /** `[space, author, seq]` for every chain the sender has in the spaces it wants. */
  readonly vector: ReadonlyArray<readonly [string, string, number]>
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

/** A decoded sync message. */
export type SyncMessage = HelloMessage | CommitsMessage

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
  if (bytes[1] !== TYPE_HELLO) throw new SyncProtocolError(`unknown sync message type ${bytes[1]}`)
  countHelloItems(bytes, l)
  let raw: CanonicalValue
  try {
    raw = decodeCanonical(bytes.subarray(2), { maxBytes: l.maxMessageBytes, maxDepth: 4 })
  } catch (err) {
    throw new SyncProtocolError(`hello is not canonical CBOR: ${(err as Error).message}`, { cause: err })
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || raw instanceof Uint8Array) {
    throw new SyncProtocolError('hello is not a map')
  }
  const map = raw as Record<string, CanonicalValue>
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
      entry.length !== 3 ||
      typeof entry[0] !== 'string' ||
      typeof entry[1] !== 'string' ||
      typeof entry[2] !== 'number' ||
      !Number.isSafeInteger(entry[2]) ||
      entry[2] < 0 ||
      entry[0].length > 128 ||
      entry[1].length > 128
    ) {
      throw new SyncProtocolError('hello v entries are [space, author, seq]')
    }
  }
  if (spaces !== null) {
    if (!Array.isArray(spaces) || spaces.length > l.maxSpaces) {
      throw new SyncProtocolError(`hello s must be null or an array of at most ${l.maxSpaces} spaces`)
    }
    for (const space of spaces)
      if (typeof space !== 'string' || space.length > 128) throw new SyncProtocolError('bad space')
  }
  return {
    type: 'hello',
    vector: vector as unknown as HelloMessage['vector'],
    spaces: spaces as string[] | null,
    reply
  }
}

/**
 * Counts the CBOR data items of a hello before it is decoded and refuses it as soon as the count is over
 * the limits: an array directly inside the hello's map that declares more elements than its key allows
 * (`v`: `maxVectorEntries`, `s`: `maxSpaces`, any other key: the larger of the two), refused from its
 * header alone, or more items in all than a hello within the limits can hold. The walk costs one step
 * per item up to that budget, whatever the message's size. Anything it does not follow (indefinite
 * lengths, truncation, reserved values) is left to the decoder to refuse.
 */
function countHelloItems(bytes: Uint8Array, limits: SyncLimits): void {
  const budget = HELLO_BASE_ITEMS + limits.maxSpaces + limits.maxVectorEntries * HELLO_ITEMS_PER_VECTOR_ENTRY
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
    if (++items > budget) throw new TooManyEntriesError('hello (CBOR items)', items, budget)
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
        const most =
          key === 'v'
            ? limits.maxVectorEntries
            : key === 's'
              ? limits.maxSpaces
              : Math.max(limits.maxVectorEntries, limits.maxSpaces)
        if (argument > most) throw new TooManyEntriesError(`hello ${key || 'array'}`, argument, most)
      }
      left.push(argument)
    } else if (major === 5) {
      left.push(argument * 2)
    } else if (major === 6) {
      left[level] = (left[level] as number) + 1
    }
  }
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
  /** The same for the last hello received and answered: a repeat within its window gets no resend. */
  #lastAsked: Uint8Array | undefined
  #sameAskCount = 0
  #askRepeatNotBefore = Number.NEGATIVE_INFINITY

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
      if ((this.#remote.get(key(commit.space, commit.author)) ?? 0) >= commit.seq) return
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
    // our answer. It gets what was never sent, not a resend; after the window it may get one.
    const digest = sha256(bytes)
    const now = this.#now()
    const same = this.#lastAsked !== undefined && equalBytes(digest, this.#lastAsked)
    const repeat = same && now < this.#askRepeatNotBefore
    if (!repeat) {
      this.#sameAskCount = same ? this.#sameAskCount + 1 : 1
      this.#lastAsked = digest
      this.#askRepeatNotBefore = now + backoffDelay(this.#sameAskCount, HELLO_BACKOFF)
    }
    const asked = message.spaces === null ? null : new Set(message.spaces.filter((space) => isSpace(space)))
    this.#remoteSpaces = asked
    // Answer a hello with our own only when ours is not already on its way: when both sides start at once
    // each answers the other's hello with commits, and a second round of hellos would send everything twice.
    // A repeat of a hello just answered (a duplicate) is not answered again either.
    const answer = message.reply && !this.#helloOutstanding && !repeat
    this.#helloOutstanding = false
    const theirs = new Map<string, number>()
    for (const [space, author, seq] of message.vector) {
      theirs.set(key(space, author), seq)
      this.#noteRemote(space, author, seq)
    }
    if (answer) await this.#replyHello()
    const heads = this.#graph
      .versionVector()
      .filter((head) => (asked === null || asked.has(head.space)) && this.#share(head.space))
      .filter((head) => head.seq > (theirs.get(key(head.space, head.author)) ?? 0))
      // Owners' chains first: other authors' commits depend on the grants in them.
      .sort((a, b) => Number(b.author === b.space) - Number(a.author === a.space))
    let batch: Uint8Array[] = []
    let size = 0
    for (const head of heads) {
      const k = key(head.space, head.author)
      const claimed = theirs.get(k) ?? 0
      const sentBefore = this.#sent.get(k) ?? 0
      // What this session already sent and the peer asks for again (a duplicated or crossed hello, or a
      // lost message) comes out of the resend allowance, so no run of hellos makes us send it over and over.
      const again = Math.min(sentBefore, head.seq) - claimed
      if (again > 0) {
        if (repeat || this.#resends + again > this.#firstSends + RESEND_ALLOWANCE) {
          this.stats.resendsRefused += again
          this.#log(
            '%s asked again for %d commits of %s; %s',
            this.peer,
            again,
            k,
            repeat ? 'the same hello was answered moments ago' : 'resend allowance used up'
          )
          continue
        }
        this.#resends += again
        this.stats.commitsResent += again
      }
      let from = claimed + 1
      while (from <= head.seq) {
        const to = Math.min(head.seq, from + 511)
        const envelopes = await this.#graph.readChain(head.space, head.author, from, to)
        if (envelopes.length === 0) break
        for (const envelope of envelopes) {
          if (
            batch.length >= MAX_COMMITS_SENT_PER_MESSAGE ||
            (size + envelope.byteLength > this.#target && batch.length > 0)
          ) {
            await this.#sendCommits(batch)
            batch = []
            size = 0
          }
          batch.push(envelope)
          size += envelope.byteLength + 4
        }
        from += envelopes.length
      }
      this.#noteSent(k, Math.max(claimed, sentBefore), from - 1)
      this.#noteRemote(head.space, head.author, from - 1)
    }
    if (batch.length > 0) await this.#sendCommits(batch)
  }

  /** Records that commits of chain `k` up to `last` were sent; those above `before` were first sends. */
  #noteSent(k: string, before: number, last: number): void {
    if (last <= before) return
    this.#firstSends += last - before
    this.#sent.set(k, last)
  }

  #flushOutbox(): void {
    this.#flushScheduled = false
    const commits = this.#outbox
    this.#outbox = []
    let batch: Uint8Array[] = []
    let size = 0
    const sends: Promise<void>[] = []
    for (const commit of commits) {
      const k = key(commit.space, commit.author)
      if ((this.#remote.get(k) ?? 0) >= commit.seq) continue
      this.#remote.set(k, commit.seq)
      this.#noteSent(k, this.#sent.get(k) ?? 0, commit.seq)
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
      .map((head) => [head.space, head.author, head.seq] as const)
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
    const job = this.#sendTail.then(() => this.#emit(bytes))
    this.#sendTail = job.catch(() => {})
    await job
  }

  #sendCommits(envelopes: Uint8Array[]): Promise<void> {
    this.stats.commitsSent += envelopes.length
    const plain = encodeCommits(envelopes)
    const compress = this.#compress && plain.byteLength >= COMPRESS_THRESHOLD
    // Sends go out in call order even though compression is asynchronous.
    const job = this.#sendTail.then(async () => this.#emit(compress ? await compressCommits(plain) : plain))
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
