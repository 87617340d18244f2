import { type CanonicalValue, decodeCanonical, encodeCanonical } from '@araliya/identity'
import { type Origin, TooLargeError } from '@araliya/interface'
import { type Logger, logger } from '@libp2p/logger'
import type { Commit } from './commit.js'
import { SyncProtocolError } from './errors.js'
import type { ChainHead, CommitRef, Graph, IngestResult } from './graph.js'
import { isSpace } from './model.js'

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
/** Commit batches smaller than this are sent uncompressed. */
const COMPRESS_THRESHOLD = 4096

/** Limits enforced by {@link decodeSyncMessage}. */
export interface SyncLimits {
  /** Largest message accepted, in bytes; checked before parsing. Default 4 MiB. */
  maxMessageBytes: number
  /** Largest commit envelope inside a message. Default 1 MiB. */
  maxCommitBytes: number
  /** Most version-vector entries (chains) in a hello. Default 100,000. */
  maxVectorEntries: number
  /** Most spaces a hello may ask for. Default 10,000. */
  maxSpaces: number
}

/** Default {@link SyncLimits}. */
export const DEFAULT_SYNC_LIMITS: SyncLimits = Object.freeze({
  maxMessageBytes: 4 * 1024 * 1024,
  maxCommitBytes: 1024 * 1024,
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
 * Decodes a sync message, enforcing every size limit before parsing.
 *
 * @throws {TooLargeError} for an oversized message or envelope.
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
  if (bytes[1] === TYPE_HELLO) return decodeHello(bytes, l)
  if (bytes[1] === TYPE_PROBE) return decodeProbe(bytes, l)
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

function decodeProbe(bytes: Uint8Array, l: SyncLimits): ProbeMessage {
  const map = decodeMap(bytes, l, 'probe', 5)
  if (Object.keys(map).length !== 2) throw new SyncProtocolError('probe has exactly the keys c, r')
  const chains = map.c
  const reply = map.r
  if (typeof reply !== 'boolean') throw new SyncProtocolError('probe r must be a boolean')
  if (!Array.isArray(chains) || chains.length > l.maxVectorEntries) {
    throw new SyncProtocolError(`probe c must be an array of at most ${l.maxVectorEntries} chains`)
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
  /** Aim for messages of about this size when sending many commits. Default 256 KiB. */
  targetMessageBytes?: number
  /** Decoder limits for what this peer receives. */
  limits?: Partial<SyncLimits>
  /** Deflate large commit batches (message type 3) where the platform has `CompressionStream`. Default true. */
  compress?: boolean
  /** Reports problems that are not the caller's to handle (a failed send, a refused commit batch). */
  onError?: (error: Error) => void
}

/** Counters of one sync session. */
export interface SyncStats {
  messagesSent: number
  messagesReceived: number
  bytesSent: number
  bytesReceived: number
  commitsSent: number
  commitsReceived: number
  commitsAccepted: number
}

/**
 * One side of a sync session with one remote peer: bytes in (`receive`), bytes out (`send`). It exchanges
 * version vectors, sends only the commits the other side lacks, forwards new commits live, and recovers
 * from lost, duplicated and reordered messages (a gap triggers a new hello; `sync()` re-runs the exchange
 * after a reconnect).
 */
export interface SyncPeer {
  /** The remote peer's tag. */
  readonly peer: string
  readonly stats: Readonly<SyncStats>
  /** Starts forwarding new commits and sends the first hello. Safe to call twice. */
  start(): Promise<void>
  /** Stops forwarding. Safe to call twice. */
  stop(): void
  /** Sends a fresh hello: call after a reconnect, or now and then to repair dropped messages. */
  sync(): Promise<void>
  /**
   * Handles one message from the remote peer. Messages are processed one at a time, in call order.
   *
   * @throws {SyncProtocolError} or `TooLargeError` for a malformed or oversized message (nothing is applied).
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
    commitsAccepted: 0
  }
  readonly #graph: Graph
  readonly #send: (bytes: Uint8Array) => void | Promise<void>
  readonly #wanted: ReadonlySet<string> | undefined
  readonly #share: (space: string) => boolean
  readonly #target: number
  readonly #limits: SyncLimits
  readonly #origin: Origin
  readonly #onError: (error: Error) => void
  readonly #log: Logger
  /** What we believe the remote has: chain key -> seq. */
  readonly #remote = new Map<string, number>()
  /** What the remote asked for: undefined until its first hello, null for everything. */
  #remoteSpaces: ReadonlySet<string> | null | undefined
  #queue: Promise<void> = Promise.resolve()
  #outbox: Commit[] = []
  #flushScheduled = false
  #unsubscribe: (() => void) | undefined
  readonly #sends = new Set<Promise<void>>()
  readonly #compress: boolean
  #sendTail: Promise<void> = Promise.resolve()
  #helloSent = false
  /** We asked the peer for its hello and have not heard one since. */
  #helloOutstanding = false
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
    // If the peer's hello already arrived and was answered, the exchange is under way: do not start another.
    if (!this.#helloSent) await this.sync()
  }

  stop(): void {
    this.#unsubscribe?.()
    this.#unsubscribe = undefined
    this.#outbox = []
  }

  sync(): Promise<void> {
    this.#helloOutstanding = true
    return this.#sendHello(true)
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
        return Promise.reject(
          new TooLargeError('sync message', bytes.byteLength, this.#limits.maxMessageBytes)
        )
      }
      this.stats.messagesReceived++
      this.stats.bytesReceived += bytes.byteLength
      // Inflated in order, inside the queue; a corrupt stream rejects this call only.
      run = this.#queue.then(async () => {
        const plain = await inflateSyncMessage(bytes, this.#limits)
        await this.#handle(decodeSyncMessage(plain, this.#limits))
      })
    } else {
      let message: SyncMessage
      try {
        message = decodeSyncMessage(bytes, this.#limits)
      } catch (err) {
        return Promise.reject(err)
      }
      this.stats.messagesReceived++
      this.stats.bytesReceived += bytes.byteLength
      run = this.#queue.then(() => this.#handle(message))
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

  async #handle(message: SyncMessage): Promise<void> {
    if (message.type === 'hello') {
      await this.#onHello(message)
      return
    }
    if (message.type === 'probe') {
      await this.#onProbe(message)
      return
    }
    const envelopes = message.envelopes
    this.stats.commitsReceived += envelopes.length
    if (envelopes.length === 0) return
    const pendingBefore = this.#graph.pendingCount
    const result: IngestResult = await this.#graph.ingest(
      envelopes,
      this.#origin,
      this.#wanted === undefined ? undefined : { spaces: this.#wanted }
    )
    this.stats.commitsAccepted += result.accepted
    if (result.rejected.length > 0) {
      this.#log(
        '%d commits from %s refused: %s',
        result.rejected.length,
        this.peer,
        result.rejected[0]?.error.message
      )
    }
    // Something is missing before what arrived (a dropped or reordered message): ask again.
    if (this.#graph.pendingCount > pendingBefore || (result.pending > 0 && result.accepted === 0)) {
      await this.#sendHello(false)
    }
  }

  async #onHello(message: HelloMessage): Promise<void> {
    const asked = message.spaces === null ? null : new Set(message.spaces.filter((space) => isSpace(space)))
    this.#remoteSpaces = asked
    // Answer a hello with our own only when ours is not already on its way: when both sides start at once
    // each answers the other's hello with commits, and a second round of hellos would send everything twice.
    const answer = message.reply && !this.#helloOutstanding
    // The peer gets our heads (our hello answers this one, or this one answers ours) and sends what we
    // lack by itself, unless it sent an unprompted hello that asks for no answer (a gap hello).
    const peerGetsOurHeads = message.reply || this.#helloOutstanding
    this.#helloOutstanding = false
    this.#probed.clear()
    const theirs = groupHeads(
      message.vector.map(([space, author, seq, head]) => ({ space, author, seq, head }))
    )
    for (const chain of theirs.values()) this.#noteRemote(chain.space, chain.author, chain.seq)
    if (answer) await this.#sendHello(false)
    const chains = [...groupHeads(this.#graph.versionVector()).values()]
      .filter((chain) => (asked === null || asked.has(chain.space)) && this.#share(chain.space))
      // Owners' chains first: other authors' commits depend on the grants in them.
      .sort((a, b) => Number(b.author === b.space) - Number(a.author === a.space))
    const batch = new Batch(this.#target, (envelopes) => this.#sendCommits(envelopes))
    const probes: ProbeChain[] = []
    for (const chain of chains) {
      const peer = theirs.get(key(chain.space, chain.author))
      const probe = await this.#answerChain(batch, chain, peer, peerGetsOurHeads)
      if (probe !== undefined) probes.push(probe)
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
    peerGetsOurHeads: boolean
  ): Promise<ProbeChain | undefined> {
    const { space, author } = ours
    const heads = peer?.heads ?? []
    const unknown = heads.filter((head) => !this.#graph.hasCommit(space, author, head.seq, head.id))
    if (unknown.length === 0) {
      // The common case: our chain never forked and the peer holds its head.
      if (ours.heads.length === 1 && (peer?.seq ?? 0) >= ours.seq) return undefined
      await this.#sendMissing(batch, space, author, heads)
      return undefined
    }
    // The peer holds commits of this chain that we lack. One at or below our highest position proves the
    // two copies part there (a forked key): find where. One above it may just mean the peer is ahead: a
    // peer that gets our heads sends that by itself, otherwise ask.
    if (peerGetsOurHeads && unknown.every((head) => head.seq > ours.seq)) return undefined
    return this.#probeFor(space, author, minSeq(unknown))
  }

  /** Sends what the prober lacks above the commits it listed that we hold; probes back once where we lack. */
  async #onProbe(message: ProbeMessage): Promise<void> {
    const batch = new Batch(this.#target, (envelopes) => this.#sendCommits(envelopes))
    const back: ProbeChain[] = []
    for (const [space, author, refs] of message.chains) {
      if (!isSpace(space) || !this.#share(space)) continue
      const held: CommitRef[] = []
      const lacking: CommitRef[] = []
      for (const [seq, id] of refs) {
        ;(this.#graph.hasCommit(space, author, seq, id) ? held : lacking).push({ seq, id })
      }
      await this.#sendMissing(batch, space, author, held)
      const probed = this.#probed.has(key(space, author))
      if (message.reply && lacking.length > 0 && !probed && this.#graph.chainLength(space, author) > 0) {
        back.push(this.#probeFor(space, author, minSeq(lacking)))
      }
    }
    await batch.flush()
    if (back.length > 0) await this.#sendProbe(back, false)
  }

  /** Queues what a peer holding `heads` lacks of one chain; afterwards it is believed to have it. */
  async #sendMissing(
    batch: Batch,
    space: string,
    author: string,
    heads: readonly CommitRef[]
  ): Promise<void> {
    for await (const { envelopes, seq } of this.#graph.readMissing(space, author, heads)) {
      for (const envelope of envelopes) await batch.add(envelope)
      // Only what was read counts: a commit not durable yet goes out live once it is.
      this.#noteRemote(space, author, seq)
    }
  }

  #probeFor(space: string, author: string, below: number): ProbeChain {
    this.#probed.add(key(space, author))
    const refs = this.#graph.chainSample(space, author, below).map((ref) => [ref.seq, ref.id] as const)
    return [space, author, refs]
  }

  async #sendProbe(chains: ProbeChain[], reply: boolean): Promise<void> {
    const bytes = encodeProbe({ chains, reply })
    const job = this.#sendTail.then(() => this.#emit(bytes))
    this.#sendTail = job.catch(() => {})
    await job
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
      if (size + commit.envelope.byteLength > this.#target && batch.length > 0) {
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

  async #sendHello(reply: boolean): Promise<void> {
    this.#helloSent = true
    const vector = this.#graph
      .versionVector(this.#wanted)
      .map((head) => [head.space, head.author, head.seq, head.head] as const)
    const spaces = this.#wanted === undefined ? null : [...this.#wanted].sort()
    const bytes = encodeHello({ vector, spaces, reply })
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
    if (this.#size + envelope.byteLength > this.#target && this.#envelopes.length > 0) await this.flush()
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
