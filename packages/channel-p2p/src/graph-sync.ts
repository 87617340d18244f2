import {
  createSyncPeer,
  type Graph,
  SYNC_PROTOCOL_ID,
  type SyncLimits,
  type SyncMisbehaviour,
  type SyncPeer,
  type SyncStats
} from '@araliya/crdt-graph'
import type { DhtNode } from '@araliya/dht-node'
import { type AbortOptions, backoffDelay } from '@araliya/interface'
import type { Connection, Stream } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { lpStream } from '@libp2p/utils'
import { type MisbehavingPeer, MisbehaviourRecord } from './misbehaviour.js'

const log = logger('araliya:channel:graph-sync')

/** Options of {@link P2PChannel.syncGraph}. */
export interface GraphSyncOptions {
  /** The spaces (owner addresses) to ask peers for. Default: every space. */
  spaces?: Iterable<string>
  /** Which of our spaces to serve to which peer. Default: everything to everyone. */
  share?: (space: string, peer: string) => boolean
  /** Which connected peers to sync with. Default: every peer that speaks the protocol. */
  peers?: (address: string) => boolean
  /** Decoder limits for what peers send. */
  limits?: Partial<SyncLimits>
  /**
   * First delay before re-opening a session that failed or broke while the peer stayed connected, ms;
   * doubles per failure up to a minute. Default 1 s.
   */
  retryDelayMs?: number
  /**
   * Called for every commit a peer sent that the graph refused for a reason no honest peer causes
   * (`unauthorized`, `backdated`, `invalid-signature`: crdt-graph's `MisbehaviourReason`). Whatever it
   * does, the carrier has already ended that peer's session and refuses graph sync with it for the
   * cool-off (see `misbehaviourCooldownMs`). An exception thrown here is logged and otherwise ignored.
   */
  onMisbehaviour?: (report: SyncMisbehaviour) => void
  /**
   * How long graph sync with a peer is refused after it sent such a commit, ms: its session ends at
   * once, its streams are refused, none is opened to it, and no retry is scheduled. Doubles with each
   * further offence of the same peer (counted once per session it loses), up to 24 hours (or this
   * value, if larger). `0` ends the session but refuses nothing afterwards. Default 10 minutes.
   */
  misbehaviourCooldownMs?: number
}

/** A live sync session with one peer. */
export interface GraphSyncSession {
  readonly peer: string
  readonly stats: Readonly<SyncStats>
  /** When the session opened, ms since the epoch. */
  readonly openedAt: number
}

/** Controls a running graph sync. */
export interface GraphSyncHandle {
  /** The sessions open now. */
  sessions(): GraphSyncSession[]
  /** Resolves once a sync session with `peer` is open (its first version-vector exchange is then under way). */
  whenSessionOpen(peer: string, options?: AbortOptions): Promise<void>
  /**
   * The peers refused now because they sent commits no honest peer sends (see
   * {@link GraphSyncOptions.onMisbehaviour}), the most recent offender first, each with the reason of
   * its last offence, the end of its cool-off and its offences so far. The record is kept by peer id,
   * so disconnecting and reconnecting changes nothing; it holds at most 10,000 peers (the one whose
   * last offence is oldest is forgotten first) and lives as long as this handle.
   */
  misbehaving(): MisbehavingPeer[]
  /** Closes every session and stops serving the protocol. */
  stop(): Promise<void>
}

interface Session {
  peer: string
  sync: SyncPeer
  stream: Stream
  openedAt: number
  /** The peer already lost this session for misbehaving: further reports in it count no new offence. */
  penalised: boolean
}

/**
 * @internal Runs crdt-graph sync sessions over `/araliya/graph-sync/1.0.0`. Exactly one side opens the
 * stream (the one with the lower address), so two peers never run two sessions at once; the stream
 * carries length-prefixed sync messages both ways.
 */
export class GraphSyncCarrier {
  readonly #node: DhtNode
  readonly #graph: Graph
  readonly #options: GraphSyncOptions
  readonly #sessions = new Map<string, Session>()
  readonly #opening = new Set<string>()
  readonly #waiters = new Map<string, Array<() => void>>()
  readonly #timers = new Set<ReturnType<typeof setTimeout>>()
  /** Failed attempts in a row per peer (reset when a session opens), for the retry backoff. */
  readonly #failures = new Map<string, number>()
  /** Peers that sent what no honest peer sends, and until when they are refused. */
  readonly #misbehaving: MisbehaviourRecord
  #running = false
  readonly #onConnect = (event: CustomEvent<{ peerId: string }>): void => {
    this.#maybeOpen(event.detail.peerId)
  }

  /** @throws {InvalidGraphSyncOptionsError} for an out-of-range `misbehaviourCooldownMs`. */
  constructor(node: DhtNode, graph: Graph, options: GraphSyncOptions) {
    this.#node = node
    this.#graph = graph
    this.#options = options
    this.#misbehaving = new MisbehaviourRecord(
      options.misbehaviourCooldownMs === undefined ? {} : { cooldownMs: options.misbehaviourCooldownMs }
    )
  }

  async start(): Promise<void> {
    if (this.#running) return
    this.#running = true
    await this.#node.libp2p.handle(SYNC_PROTOCOL_ID, (stream: Stream, connection: Connection) => {
      const peer = connection.remotePeer.toString()
      if (!this.#wants(peer)) {
        stream.abort(new Error('not syncing with this peer'))
        return
      }
      void this.#run(stream, peer)
    })
    this.#node.addEventListener('peer:connect', this.#onConnect)
    for (const connection of this.#node.libp2p.getConnections())
      this.#maybeOpen(connection.remotePeer.toString())
  }

  async stop(): Promise<void> {
    if (!this.#running) return
    this.#running = false
    this.#node.removeEventListener('peer:connect', this.#onConnect)
    for (const timer of this.#timers) clearTimeout(timer)
    this.#timers.clear()
    await this.#node.libp2p.unhandle(SYNC_PROTOCOL_ID).catch(() => {})
    for (const session of this.#sessions.values()) {
      session.sync.stop()
      session.stream.abort(new Error('graph sync stopped'))
    }
    this.#sessions.clear()
  }

  sessions(): GraphSyncSession[] {
    return [...this.#sessions.values()].map(({ peer, sync, openedAt }) => ({
      peer,
      stats: sync.stats,
      openedAt
    }))
  }

  whenSessionOpen(peer: string, options: AbortOptions = {}): Promise<void> {
    if (this.#sessions.has(peer)) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const list = this.#waiters.get(peer) ?? []
      list.push(resolve)
      this.#waiters.set(peer, list)
      options.signal?.addEventListener('abort', () => reject(options.signal?.reason), { once: true })
    })
  }

  misbehaving(): MisbehavingPeer[] {
    return this.#misbehaving.list()
  }

  #wants(peer: string): boolean {
    return this.#options.peers === undefined || this.#options.peers(peer)
  }

  #maybeOpen(peer: string): void {
    if (!this.#running || !this.#wants(peer) || this.#sessions.has(peer) || this.#opening.has(peer)) return
    if (this.#misbehaving.refused(peer) !== undefined) return
    // The lower address opens the stream; the other side answers it.
    if (!(this.#node.address < peer)) return
    this.#opening.add(peer)
    this.#open(peer)
      .catch((err: unknown) => {
        if ((err as Error).name === 'UnsupportedProtocolError') {
          // The peer does not run graph sync; try again only when it reconnects.
          log('%s does not speak %s', peer, SYNC_PROTOCOL_ID)
          return
        }
        log('could not open graph sync with %s - %e', peer, err)
        this.#retryLater(peer)
      })
      .finally(() => this.#opening.delete(peer))
  }

  async #open(peer: string): Promise<void> {
    const connection = this.#node.libp2p.getConnections().find((c) => c.remotePeer.toString() === peer)
    if (connection === undefined) return
    const stream = await connection.newStream(SYNC_PROTOCOL_ID, { signal: AbortSignal.timeout(10_000) })
    void this.#run(stream, peer)
  }

  #retryLater(peer: string): void {
    // A peer in its cool-off gets no timer: sync resumes at its next connection after the cool-off.
    if (!this.#running || this.#misbehaving.refused(peer) !== undefined) return
    const failures = (this.#failures.get(peer) ?? 0) + 1
    this.#failures.set(peer, failures)
    // Exponential backoff, capped at a minute: a broken peer costs little.
    const delay = backoffDelay(failures, {
      initialDelayMs: this.#options.retryDelayMs ?? 1000,
      maxDelayMs: 60_000,
      factor: 2,
      jitter: 0
    })
    const timer = setTimeout(() => {
      this.#timers.delete(timer)
      const connected = this.#node.libp2p.getConnections().some((c) => c.remotePeer.toString() === peer)
      if (connected) this.#maybeOpen(peer)
    }, delay)
    this.#timers.add(timer)
  }

  async #run(stream: Stream, peer: string): Promise<void> {
    const refused = this.#misbehaving.refused(peer)
    if (refused !== undefined) {
      log(
        'refusing graph sync with %s until %s (offences: %d)',
        peer,
        new Date(refused.until).toISOString(),
        refused.offences
      )
      stream.abort(
        new Error(`graph sync with ${peer} is refused until ${new Date(refused.until).toISOString()}`)
      )
      return
    }
    const previous = this.#sessions.get(peer)
    if (previous !== undefined) {
      previous.sync.stop()
      previous.stream.abort(new Error('replaced by a new session'))
    }
    const maxDataLength = this.#options.limits?.maxMessageBytes ?? 4 * 1024 * 1024
    const lp = lpStream(stream, { maxDataLength })
    const share = this.#options.share
    // Set right below; the sync peer reports misbehaviour only once started, after that.
    let session: Session | undefined
    const sync = createSyncPeer(this.#graph, {
      peer,
      send: (bytes) => lp.write(bytes),
      ...(this.#options.spaces === undefined ? {} : { spaces: this.#options.spaces }),
      ...(share === undefined ? {} : { share: (space: string) => share(space, peer) }),
      ...(this.#options.limits === undefined ? {} : { limits: this.#options.limits }),
      onError: (err) => log('sync with %s: %e', peer, err),
      onMisbehaviour: (report) => {
        if (session !== undefined) this.#onMisbehaviour(session, report)
      }
    })
    session = { peer, sync, stream, openedAt: Date.now(), penalised: false }
    this.#sessions.set(peer, session)
    this.#failures.delete(peer)
    for (const resolve of this.#waiters.get(peer) ?? []) resolve()
    this.#waiters.delete(peer)
    log('graph sync session with %s open', peer)
    try {
      await sync.start()
      for (;;) {
        const message = await lp.read()
        await sync.receive(message.subarray())
      }
    } catch (err) {
      log('graph sync session with %s ended - %e', peer, err)
      stream.abort(err as Error)
    } finally {
      sync.stop()
      if (this.#sessions.get(peer) === session) this.#sessions.delete(peer)
      this.#retryLater(peer)
    }
  }

  /**
   * A peer sent a commit no honest peer sends (crdt-graph verifies and judges every commit before it
   * stores or relays one). The first such report of a session counts one offence: the session ends and
   * the peer is refused for its cool-off. Every report reaches the user's callback.
   */
  #onMisbehaviour(session: Session, report: SyncMisbehaviour): void {
    log('%s sent commit %s, refused as %s', session.peer, report.commit ?? '(undecodable)', report.reason)
    if (!session.penalised) {
      session.penalised = true
      const entry = this.#misbehaving.offend(session.peer, report.reason)
      const until = new Date(entry.until).toISOString()
      log(
        'ending graph sync with %s and refusing it until %s (offences: %d)',
        session.peer,
        until,
        entry.offences
      )
      session.stream.abort(
        new Error(`graph sync with ${session.peer} ended: it sent a commit refused as ${report.reason}`)
      )
    }
    try {
      this.#options.onMisbehaviour?.(report)
    } catch (err) {
      log.error('the onMisbehaviour callback threw - %e', err)
    }
  }
}
