import { type Origin, TooLargeError } from '@araliya/interface'
import type { Logger } from '@libp2p/interface'
import { defaultLogger } from '@libp2p/logger'
import type { CommitRef } from '../chain.js'
import type { Commit } from '../commit.js'
import type { CommitAccepted, CommitRejected, Graph, IngestResult } from '../graph.js'
import { isSpace } from '../model.js'
import { SerialQueue } from '../serial.js'
import { monotonicMs } from '../yield.js'
import {
  DEFAULT_SYNC_LIMITS,
  decodeSyncMessage,
  encodeCommits,
  encodeHello,
  encodeProbe,
  type HelloMessage,
  MAX_PROBE_CHAINS,
  type ProbeMessage,
  SYNC_PROTOCOL_VERSION,
  type SyncLimits,
  type SyncMessage,
  TYPE_COMMITS_DEFLATE
} from './codec.js'
import { compressCommits, inflateSyncMessage } from './compress.js'
import {
  Batch,
  type ChainHeads,
  COMPRESS_THRESHOLD,
  groupHeads,
  key,
  MAX_COMMITS_SENT_PER_MESSAGE,
  minSeq,
  type ProbeChain,
  SentLedger
} from './plan.js'
import { GapPacer, HelloPacer, RepeatWindow } from './pacing.js'
import {
  misbehaviourReason,
  type SyncMisbehaviour,
  type SyncPeer,
  type SyncPeerInit,
  type SyncStats
} from './types.js'

export type * from './types.js'

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
  /** Received messages (and deferred gap hellos), handled one at a time in arrival order. */
  readonly #queue = new SerialQueue()
  #outbox: Commit[] = []
  #flushScheduled = false
  #listening = false
  readonly #sends = new Set<Promise<void>>()
  readonly #compress: boolean
  /** Outgoing messages, in call order (compression is asynchronous). */
  readonly #sendQueue = new SerialQueue()
  #helloSent = false
  /** We asked the peer for its hello and have not heard one since. */
  #helloOutstanding = false
  readonly #now: () => number
  /** What this session sent the peer (resends are bounded by the first sends). */
  readonly #ledger: SentLedger
  /** When gap hellos may go (and the timer for a deferred one). */
  readonly #gaps: GapPacer
  /** When an unchanged hello of ours may go again. */
  readonly #hellos = new HelloPacer()
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
    this.#log = (init.logger ?? defaultLogger()).forComponent('araliya:graph:sync')
    this.#ledger = new SentLedger(graph)
    this.#onError = init.onError ?? ((error) => this.#log.error('sync with %s: %e', this.peer, error))
    this.#onMisbehaviour = init.onMisbehaviour
    this.#now = init.now ?? monotonicMs
    this.#gaps = new GapPacer(this.#now, () => {
      if (!this.#graph.started) return
      // Through the receive queue, so it is ordered with the messages being handled.
      this.#queue.add(() => this.#askForGaps(0)).catch((err: unknown) => this.#onError(err as Error))
    })
  }

  async start(): Promise<void> {
    if (this.#listening) return
    this.#listening = true
    this.#graph.events.addEventListener('commit:accepted', this.#onAccepted)
    // The graph reports every refusal with the origin the commit came from (also when it is refused later,
    // on release from the pending buffer), so a refusal is held against the peer that sent the commit.
    this.#graph.events.addEventListener('commit:rejected', this.#onRejected)
    // If the peer's hello already arrived and was answered, the exchange is under way: do not start another.
    if (!this.#helloSent) await this.sync()
  }

  stop(): void {
    this.#listening = false
    this.#graph.events.removeEventListener('commit:accepted', this.#onAccepted)
    this.#graph.events.removeEventListener('commit:rejected', this.#onRejected)
    this.#outbox = []
    this.#gaps.clear()
  }

  readonly #onAccepted = ({ detail: { commit, origin } }: CustomEvent<CommitAccepted>): void => {
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
  }

  readonly #onRejected = ({ detail: { id, error, origin } }: CustomEvent<CommitRejected>): void => {
    if (origin.kind !== 'remote' || origin.peer !== this.peer) return
    const reason = misbehaviourReason(error)
    if (reason === undefined) return
    this.stats.misbehaviours++
    this.#log('%s sent commit %s refused as %s', this.peer, id ?? '(undecodable)', reason)
    this.#onMisbehaviour?.(
      id === undefined ? { peer: this.peer, reason, error } : { peer: this.peer, reason, commit: id, error }
    )
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
      run = this.#queue.add(async () => {
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
      run = this.#queue.add(() => this.#handle(message, bytes))
    }
    // The caller gets the outcome; the session reports it too (a transport may not await receive).
    run.catch((err: unknown) => this.#onError(err as Error))
    return run
  }

  async idle(): Promise<void> {
    for (;;) {
      const added = this.#queue.added
      await this.#queue.settled()
      await this.#sendQueue.settled()
      if (this.#sends.size > 0) {
        await Promise.allSettled([...this.#sends])
        continue
      }
      if (this.#flushScheduled) {
        await Promise.resolve()
        continue
      }
      if (added === this.#queue.added) return
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

  /** Sends a gap hello when the gap pacer says one is due (see {@link GapPacer}). */
  async #askForGaps(held: number): Promise<void> {
    if (!this.#gaps.due(held, this.#graph.pendingCount)) return
    this.stats.gapHellosSent++
    await this.#emitHello(this.#helloBytes(false))
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
      const sentBefore = envelopes.map((envelope, i) =>
        this.#ledger.wasSent(space, author, from + i, envelope)
      )
      const again = sentBefore.filter(Boolean).length
      const resend = again === 0 || (!repeat && this.#ledger.mayResend(again))
      if (again > 0 && resend) {
        this.#ledger.resent(again)
        this.stats.commitsResent += again
      } else {
        refused += again
      }
      for (let i = 0; i < envelopes.length; i++) {
        const envelope = envelopes[i] as Uint8Array
        if (sentBefore[i] === true && !resend) continue
        this.#ledger.noteSent(space, author, from + i, envelope)
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
      this.#ledger.noteSent(commit.space, commit.author, commit.seq, commit.envelope, commit.id)
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
    if (this.#hellos.holdsBack(bytes, this.#now())) {
      this.#log('not repeating an unchanged hello to %s yet', this.peer)
      return
    }
    await this.#emitHello(bytes)
  }

  async #emitHello(bytes: Uint8Array): Promise<void> {
    this.#helloSent = true
    this.#hellos.sent(bytes, this.#now())
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
    return this.#sendQueue.add(send)
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
