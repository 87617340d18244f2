import {
  type AbortOptions,
  backoffDelay,
  type SyncEndpoint,
  type SyncMisbehaviourReport,
  type SyncSession
} from '@araliya/interface'
import {
  type ComponentLogger,
  type Connection,
  type Libp2pEvents,
  type Logger,
  type PeerId,
  serviceCapabilities,
  type Startable,
  type Stream
} from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import { lpStream } from '@libp2p/utils'
import { LRUCache } from 'lru-cache'
import type { TypedEventTarget } from 'main-event'
import { type MisbehavingPeer, MisbehaviourRecord } from './misbehaviour.js'

/** The protocol crdt-graph's sync endpoint speaks, and the one this carrier serves for it. */
export const GRAPH_SYNC_PROTOCOL = '/araliya/graph-sync/1.0.0'
/** Default largest sync message read from a stream: 4 MiB. */
export const DEFAULT_MAX_SYNC_MESSAGE_BYTES = 4 * 1024 * 1024

/**
 * Attempts to open a session with a connected peer that does not serve graph sync, before waiting for it
 * to reconnect: with the default 1 s first delay, doubling, that covers about a minute after connecting.
 */
const MAX_UNSUPPORTED_RETRIES = 6

/** Options of the {@link graphSync} service: none yet (each `sync` call takes its own options). */
export type GraphSyncInit = Record<string, never>

/** What the {@link graphSync} service uses of the node it runs on. */
export interface GraphSyncComponents {
  registrar: Registrar
  connectionManager: ConnectionManager
  events: TypedEventTarget<Libp2pEvents>
  peerId: PeerId
  logger: ComponentLogger
}

/** Options of {@link GraphSyncCarrier.sync} (and `channel.syncGraph`). */
export interface GraphSyncOptions {
  /** Which connected peers to sync with. Default: every peer that speaks the protocol. */
  peers?: (address: string) => boolean
  /** Largest sync message read from a peer, bytes. Default 4 MiB (crdt-graph's own default limit). */
  maxMessageBytes?: number
  /**
   * First delay before re-opening a session that failed or broke while the peer stayed connected, ms;
   * doubles per failure up to a minute. Default 1 s.
   */
  retryDelayMs?: number
  /**
   * Called for every message a peer sent that the replica refused for a reason no honest peer causes
   * (crdt-graph: `unauthorized`, `backdated`, `invalid-signature`). Whatever it does, the carrier has
   * already ended that peer's session and refuses graph sync with it for the cool-off (see
   * `misbehaviourCooldownMs`). An exception thrown here is logged and otherwise ignored.
   */
  onMisbehaviour?: (report: SyncMisbehaviourReport) => void
  /**
   * How long graph sync with a peer is refused after it sent such a message, ms: its session ends at
   * once, its streams are refused, none is opened to it, and no retry is scheduled. Doubles with each
   * further offence of the same peer (counted once per session it loses), up to 24 hours (or this
   * value, if larger). `0` ends the session but refuses nothing afterwards. Default 10 minutes.
   */
  misbehaviourCooldownMs?: number
}

/** A live sync session with one peer. */
export interface GraphSyncSession {
  readonly peer: string
  /** The endpoint session's counters (crdt-graph: messages, bytes, commits sent and accepted, …). */
  readonly stats: Readonly<Record<string, number>>
  /** When the session opened, ms since the epoch. */
  readonly openedAt: number
}

/** Controls a running graph sync. */
export interface GraphSyncHandle {
  /** The sessions open now. */
  sessions(): GraphSyncSession[]
  /** Resolves once a sync session with `peer` is open (its first exchange is then under way). */
  whenSessionOpen(peer: string, options?: AbortOptions): Promise<void>
  /**
   * The peers refused now because they sent what no honest peer sends (see
   * {@link GraphSyncOptions.onMisbehaviour}), the most recent offender first, each with the reason of
   * its last offence, the end of its cool-off and its offences so far. The record is kept by peer id,
   * so disconnecting and reconnecting changes nothing; it holds at most 10,000 peers (the one whose
   * last offence is oldest is forgotten first) and lives as long as this handle.
   */
  misbehaving(): MisbehavingPeer[]
  /** Closes every session and stops serving the protocol. */
  stop(): Promise<void>
}

/**
 * The graph-sync carrier: runs the sessions of a {@link SyncEndpoint} (crdt-graph's `graphSyncEndpoint`,
 * or any replica speaking bytes) over libp2p streams of the endpoint's protocol. Create it with
 * {@link graphSync} under the service name `graphSync`.
 */
export class GraphSyncCarrier implements Startable {
  readonly #components: GraphSyncComponents
  readonly #log: Logger
  readonly #runs = new Set<SyncRun>()
  #started = false

  /** @internal Use {@link graphSync}. */
  constructor(components: GraphSyncComponents, _init: GraphSyncInit = {}) {
    this.#components = components
    this.#log = components.logger.forComponent('araliya:channel:graph-sync')
  }

  readonly [Symbol.toStringTag] = '@araliya/graph-sync'
  readonly [serviceCapabilities]: string[] = ['@araliya/graph-sync']

  /** Nothing runs until {@link sync} is called. Safe to call twice. */
  start(): void {
    this.#started = true
  }

  /** Stops every running sync. Safe to call twice. */
  async stop(): Promise<void> {
    this.#started = false
    for (const run of [...this.#runs]) await run.stop()
  }

  /** True between `start()` and `stop()`. */
  isStarted(): boolean {
    return this.#started
  }

  /**
   * Carries `endpoint`'s sync over streams of its protocol with connected peers: a session opens with
   * every peer that speaks it, and a new one (with a fresh first exchange) on every reconnect, so an
   * interrupted sync resumes where it stopped. Exactly one side opens the stream (the lower address).
   * Resolves once the protocol is served. One endpoint per protocol at a time.
   *
   * A peer that sends what no honest peer sends loses its session and is refused for a cool-off (see
   * {@link GraphSyncOptions.misbehaviourCooldownMs} and {@link GraphSyncHandle.misbehaving}).
   *
   * @throws {InvalidGraphSyncOptionsError} for an out-of-range `misbehaviourCooldownMs`.
   */
  async sync(endpoint: SyncEndpoint, options: GraphSyncOptions = {}): Promise<GraphSyncHandle> {
    const run = new SyncRun(this.#components, this.#log, endpoint, options)
    this.#runs.add(run)
    try {
      await run.start()
    } catch (err) {
      this.#runs.delete(run)
      throw err
    }
    return {
      sessions: () => run.sessions(),
      whenSessionOpen: (peer, opts) => run.whenSessionOpen(peer, opts),
      misbehaving: () => run.misbehaving(),
      stop: async () => {
        this.#runs.delete(run)
        await run.stop()
      }
    }
  }
}

/**
 * The graph-sync carrier service: register it as `graphSync` in `createLibp2p({ services })` (or
 * dht-node's `createDhtNode({ services })`), then `node.services.graphSync.sync(endpoint)` or
 * `createChannel({ graphSync })` and `channel.syncGraph(endpoint)`.
 */
export function graphSync(init: GraphSyncInit = {}): (components: GraphSyncComponents) => GraphSyncCarrier {
  return (components) => new GraphSyncCarrier(components, init)
}

interface Session {
  peer: string
  sync: SyncSession
  stream: Stream
  openedAt: number
  /** The peer already lost this session for misbehaving: further reports in it count no new offence. */
  penalised: boolean
}

/** The sessions of one endpoint. */
class SyncRun {
  readonly #components: GraphSyncComponents
  readonly #log: Logger
  readonly #endpoint: SyncEndpoint
  readonly #options: GraphSyncOptions
  readonly #self: string
  readonly #sessions = new Map<string, Session>()
  readonly #opening = new Set<string>()
  readonly #waiters = new Map<string, Array<() => void>>()
  readonly #timers = new Set<ReturnType<typeof setTimeout>>()
  /** Failed attempts in a row per peer (reset when a session opens), for the retry backoff. */
  readonly #failures = new Map<string, number>()
  /** Peers that sent what no honest peer sends, and until when they are refused. */
  readonly #misbehaving: MisbehaviourRecord
  #running = false
  /** Attempts in a row that met no graph-sync handler on the peer, for the current connection. */
  readonly #unsupported = new LRUCache<string, number>({ max: 10_000 })
  readonly #onConnect = (event: CustomEvent<PeerId>): void => {
    const peer = event.detail.toString()
    this.#unsupported.delete(peer)
    this.#maybeOpen(peer)
  }

  /** @throws {InvalidGraphSyncOptionsError} for an out-of-range `misbehaviourCooldownMs`. */
  constructor(
    components: GraphSyncComponents,
    log: Logger,
    endpoint: SyncEndpoint,
    options: GraphSyncOptions
  ) {
    this.#components = components
    this.#log = log
    this.#endpoint = endpoint
    this.#options = options
    this.#self = components.peerId.toString()
    this.#misbehaving = new MisbehaviourRecord(
      options.misbehaviourCooldownMs === undefined ? {} : { cooldownMs: options.misbehaviourCooldownMs }
    )
  }

  get #protocol(): string {
    return this.#endpoint.protocol
  }

  async start(): Promise<void> {
    if (this.#running) return
    this.#running = true
    await this.#components.registrar.handle(this.#protocol, (stream: Stream, connection: Connection) => {
      const peer = connection.remotePeer.toString()
      if (!this.#wants(peer)) {
        stream.abort(new Error('not syncing with this peer'))
        return
      }
      void this.#run(stream, peer)
    })
    this.#components.events.addEventListener('peer:connect', this.#onConnect)
    for (const connection of this.#components.connectionManager.getConnections())
      this.#maybeOpen(connection.remotePeer.toString())
  }

  async stop(): Promise<void> {
    if (!this.#running) return
    this.#running = false
    this.#components.events.removeEventListener('peer:connect', this.#onConnect)
    for (const timer of this.#timers) clearTimeout(timer)
    this.#timers.clear()
    await this.#components.registrar.unhandle(this.#protocol).catch((err: unknown) => {
      this.#log('could not stop serving %s - %e', this.#protocol, err)
    })
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

  #connections(peer: string): Connection[] {
    return this.#components.connectionManager.getConnections().filter((c) => c.remotePeer.toString() === peer)
  }

  #wants(peer: string): boolean {
    return this.#options.peers === undefined || this.#options.peers(peer)
  }

  #maybeOpen(peer: string): void {
    if (!this.#running || !this.#wants(peer) || this.#sessions.has(peer) || this.#opening.has(peer)) return
    if (this.#misbehaving.refused(peer) !== undefined) return
    // The lower address opens the stream; the other side answers it.
    if (!(this.#self < peer)) return
    this.#opening.add(peer)
    this.#open(peer)
      .catch((err: unknown) => {
        if ((err as Error).name === 'UnsupportedProtocolError') {
          // The peer does not serve graph sync (yet): an app may connect first and start syncing later.
          // Try again a few times with the usual backoff, then only when it reconnects.
          const tries = (this.#unsupported.get(peer) ?? 0) + 1
          this.#unsupported.set(peer, tries)
          if (tries > MAX_UNSUPPORTED_RETRIES) {
            this.#log('%s does not speak %s; trying again when it reconnects', peer, this.#protocol)
            return
          }
          this.#log('%s does not speak %s yet (try %d)', peer, this.#protocol, tries)
          this.#retryLater(peer)
          return
        }
        this.#log('could not open graph sync with %s - %e', peer, err)
        this.#retryLater(peer)
      })
      .finally(() => this.#opening.delete(peer))
  }

  async #open(peer: string): Promise<void> {
    const connection = this.#connections(peer)[0]
    if (connection === undefined) return
    const stream = await connection.newStream(this.#protocol, { signal: AbortSignal.timeout(10_000) })
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
      if (this.#connections(peer).length > 0) this.#maybeOpen(peer)
    }, delay)
    this.#timers.add(timer)
  }

  async #run(stream: Stream, peer: string): Promise<void> {
    const refused = this.#misbehaving.refused(peer)
    if (refused !== undefined) {
      const until = new Date(refused.until).toISOString()
      this.#log('refusing graph sync with %s until %s (offences: %d)', peer, until, refused.offences)
      stream.abort(new Error(`graph sync with ${peer} is refused until ${until}`))
      return
    }
    const previous = this.#sessions.get(peer)
    if (previous !== undefined) {
      previous.sync.stop()
      previous.stream.abort(new Error('replaced by a new session'))
    }
    const lp = lpStream(stream, {
      maxDataLength: this.#options.maxMessageBytes ?? DEFAULT_MAX_SYNC_MESSAGE_BYTES
    })
    // Set right below; the endpoint reports misbehaviour only once started, after that.
    let session: Session | undefined
    const sync = this.#endpoint.open({
      peer,
      send: (bytes) => lp.write(bytes),
      onError: (err) => this.#log('sync with %s: %e', peer, err),
      onMisbehaviour: (report) => {
        if (session !== undefined) this.#onMisbehaviour(session, report)
      }
    })
    session = { peer, sync, stream, openedAt: Date.now(), penalised: false }
    this.#sessions.set(peer, session)
    this.#failures.delete(peer)
    this.#unsupported.delete(peer)
    for (const resolve of this.#waiters.get(peer) ?? []) resolve()
    this.#waiters.delete(peer)
    this.#log('graph sync session with %s open', peer)
    try {
      await sync.start()
      for (;;) {
        const message = await lp.read()
        await sync.receive(message.subarray())
      }
    } catch (err) {
      this.#log('graph sync session with %s ended - %e', peer, err)
      stream.abort(err as Error)
    } finally {
      sync.stop()
      if (this.#sessions.get(peer) === session) this.#sessions.delete(peer)
      this.#retryLater(peer)
    }
  }

  /**
   * A peer sent what no honest peer sends (crdt-graph verifies and judges every commit before it stores
   * or relays one). The first such report of a session counts one offence: the session ends and the peer
   * is refused for its cool-off. Every report reaches the user's callback.
   */
  #onMisbehaviour(session: Session, report: SyncMisbehaviourReport): void {
    this.#log(
      '%s sent commit %s, refused as %s',
      session.peer,
      report.commit ?? '(undecodable)',
      report.reason
    )
    if (!session.penalised) {
      session.penalised = true
      const entry = this.#misbehaving.offend(session.peer, report.reason)
      const until = new Date(entry.until).toISOString()
      this.#log(
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
      this.#log.error('the onMisbehaviour callback threw - %e', err)
    }
  }
}
