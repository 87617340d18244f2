import type { Graph } from '@araliya/crdt-graph'
import { decodeCanonical, type Identity, publicIdentity } from '@araliya/identity'
import { type AbortOptions, backoffDelay, type SyncEndpoint } from '@araliya/interface'
import {
  type ComponentLogger,
  type ContentRouting,
  type Logger,
  type PeerId,
  type Startable,
  type Stream,
  serviceCapabilities
} from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import { lpStream } from '@libp2p/utils'
import { LRUCache } from 'lru-cache'
import { TypedEventEmitter } from 'main-event'
import type { CID } from 'multiformats/cid'
import type { MemoryRemote } from '../types.js'
import { SpacesEndpoint } from './endpoint.js'
import { NoReplicaError, ReplicationError } from './errors.js'
import {
  decodeMessage,
  decodeReply,
  encodeMessage,
  encodeReply,
  encodeSignedOrder,
  MAX_REPLICAS,
  MAX_REPLICATION_MESSAGE_BYTES,
  MAX_REQUEST_BYTES,
  MEMORY_REPLICATION_PROTOCOL,
  type ReplicationReply,
  replicaKey,
  replicationServiceKey,
  type SignedOrder,
  signOrder,
  verifyOrder
} from './request.js'

/** Path (in the serving node's own space) where accepted orders are kept, so they survive a restart. */
export const ORDERS_PATH = 'memory-replicas/'
const ORDER_FIELD = 'order'
/** Most chain heads sent in answer to a head query. */
const MAX_HEADS = 500

/**
 * What this service needs of a graph-sync carrier (channel-p2p's `graphSync` service), found in the
 * node's components under the name `graphSync`. Structural: any carrier of a `SyncEndpoint` fits.
 */
export interface GraphSyncCarriage {
  sync(
    endpoint: SyncEndpoint,
    options?: { peers?: (address: string) => boolean }
  ): Promise<{ stop(): Promise<void> }>
}

/** Options of the {@link memoryReplication} service. */
export interface MemoryReplicationInit {
  /**
   * `full` keeps the encrypted memory spaces of owners who ask (signed requests) and announces itself as
   * their replica; `light` stores no other agent's data: it refuses requests and accepts no foreign
   * space. Default `light`.
   */
  role?: 'full' | 'light'
  /**
   * Most owners a full node replicates at once. When it is full, expired requests are dropped first;
   * if none has expired, a request from a new owner is refused (`full`): owners already kept are never
   * pushed out by newcomers. Default 1,000.
   */
  maxOwners?: number
  /** Longest a request is honoured from when it arrives; a later `expiresAt` is cut to this. Default 30 days. */
  maxTtlMs?: number
  /** How often a full node announces again that it replicates each owner (DHT provider records). Default 6 h. */
  reprovideIntervalMs?: number
  /** How often expired requests are dropped. Default 60 s. */
  sweepIntervalMs?: number
  /** Timeout of one DHT query or protocol exchange, ms. Default 30 s. */
  queryTimeoutMs?: number
  /** A wall clock in ms (inject in tests). Default `Date.now`. */
  now?: () => number
}

/** What the {@link memoryReplication} service uses of the node it runs on. */
export interface MemoryReplicationComponents {
  registrar: Registrar
  connectionManager: ConnectionManager
  contentRouting: ContentRouting
  peerId: PeerId
  logger: ComponentLogger
  /** The graph-sync carrier (channel-p2p's `graphSync`), by name. Needed once a graph is served. */
  graphSync?: GraphSyncCarriage
}

/** An owner whose space a full node replicates. */
export interface ReplicatedOwner {
  readonly owner: string
  /** Until when (ms since the epoch), as applied by this node. */
  readonly expiresAt: number
  /** How many replicas the owner asked for. */
  readonly replicas: number
  readonly seq: number
}

/** What {@link MemoryReplication.request} achieved. */
export interface ReplicationReceipt {
  /** The order's sequence number (a later request or revocation must be higher: it is the time it was signed). */
  readonly seq: number
  /**
   * Full nodes that accepted, with the expiry each applies; with `waitForSync`, whether each had synced
   * the space when it answered (`synced`).
   */
  readonly accepted: ReadonlyArray<{
    readonly peer: string
    readonly expiresAt: number
    readonly synced?: boolean
  }>
  /** Full nodes that refused, and why. */
  readonly refused: ReadonlyArray<{ readonly peer: string; readonly reason: string }>
}

/** Options of {@link MemoryReplication.request}. */
export interface ReplicationRequestOptions extends AbortOptions {
  /** How many full nodes to ask to keep the space. Default 2; at most 16. */
  replicas?: number
  /** How long the request lasts. Default 7 days. */
  ttlMs?: number
  /** Ask these peers (addresses) rather than looking full nodes up in the DHT. */
  peers?: readonly string[]
  /**
   * Resolve only once each full node that accepts has synced the owner's space as this node holds it
   * now and announced itself as its replica, so a restore finds it at once (each answers when it holds
   * every head of it, or after its own query timeout, default 30 s, with `synced: false`). `signal` bounds the whole request (default: the query timeout); give a longer one
   * for a large space. Default false: full nodes answer at once and sync afterwards.
   */
  waitForSync?: boolean
}

/** A replica of an owner's space found in the DHT. */
export interface ReplicaProvider {
  readonly address: string
  readonly peerId: PeerId
}

/** How a sync with replicas went (see {@link MemoryReplication.syncSpace}). */
export interface SpaceSyncResult {
  /** Replicas found in the DHT. */
  readonly found: number
  /** Replicas whose every head of the owner's space this graph now holds. */
  readonly synced: readonly string[]
}

/** Events of the {@link memoryReplication} service. */
export interface MemoryReplicationEvents {
  /** A full node accepted (or renewed) an owner's request. */
  'replication:accepted': CustomEvent<ReplicatedOwner>
  /** An owner revoked its request, or it expired: the space is no longer kept in sync or announced. */
  'replication:ended': CustomEvent<{ readonly owner: string; readonly reason: 'revoked' | 'expired' }>
  /** A full node announced in the DHT that it replicates an owner (`owner`), or that it accepts requests (no owner). */
  'replica:provided': CustomEvent<{ readonly owner?: string }>
}

/**
 * Memory replication (component name `memoryReplication`, protocol `/araliya/memory-replicate/1.0.0`):
 * full nodes keep the encrypted memory spaces of owners who ask them with a signed request, keep them in
 * sync through graph sync, and announce themselves in the DHT as the owners' replicas; any node finds an
 * owner's replicas and syncs its space from them (the swarm's {@link MemoryRemote}, and what
 * `restoreMemory` uses). See docs/protocols/memory-replication.md.
 */
export class MemoryReplication
  extends TypedEventEmitter<MemoryReplicationEvents>
  implements Startable, MemoryRemote
{
  readonly [Symbol.toStringTag] = '@araliya/memory-replication'
  readonly [serviceCapabilities]: string[] = ['@araliya/memory-replication']
  /** `full` or `light` (see {@link MemoryReplicationInit.role}). */
  readonly role: 'full' | 'light'
  readonly #components: MemoryReplicationComponents
  readonly #log: Logger
  readonly #maxOwners: number
  readonly #maxTtlMs: number
  readonly #reprovideMs: number
  readonly #sweepMs: number
  readonly #queryMs: number
  readonly #now: () => number
  /** Owners replicated now (full nodes). */
  readonly #owners = new Map<string, ReplicatedOwner>()
  /** The highest order seen per owner (accepted or revoked): older and replayed orders have no effect. */
  readonly #seqs = new LRUCache<string, number>({ max: 100_000 })
  /** The last seq this node signed per owner (orders it sends). */
  readonly #signed = new Map<string, number>()
  /** Spaces this node holds for itself (served with the graph). */
  readonly #own = new Set<string>()
  /** Owners this full node has announced itself a replica of (since it accepted them). */
  readonly #announced = new Set<string>()
  /** Spaces being fetched now, with how many fetches hold each. */
  readonly #fetching = new Map<string, number>()
  #endpoint: SpacesEndpoint | undefined
  #carriage: { stop(): Promise<void> } | undefined
  #timers: Array<ReturnType<typeof setTimeout>> = []
  #controller = new AbortController()
  #started = false

  /** @internal Use {@link memoryReplication}. */
  constructor(components: MemoryReplicationComponents, init: MemoryReplicationInit = {}) {
    super()
    this.#components = components
    this.#log = components.logger.forComponent('araliya:memory:replication')
    this.role = init.role ?? 'light'
    this.#maxOwners = init.maxOwners ?? 1000
    this.#maxTtlMs = init.maxTtlMs ?? 30 * 86_400_000
    this.#reprovideMs = init.reprovideIntervalMs ?? 6 * 3_600_000
    this.#sweepMs = init.sweepIntervalMs ?? 60_000
    this.#queryMs = init.queryTimeoutMs ?? 30_000
    this.#now = init.now ?? Date.now
  }

  /** True between `start()` and `stop()`. */
  isStarted(): boolean {
    return this.#started
  }

  /** Serves the protocol. Safe to call twice. */
  async start(): Promise<void> {
    if (this.#started) return
    this.#controller = new AbortController()
    await this.#components.registrar.handle(
      MEMORY_REPLICATION_PROTOCOL,
      (stream, connection) => {
        void this.#answer(stream, connection.remotePeer)
      },
      { maxInboundStreams: 32 }
    )
    this.#started = true
  }

  /** Starts the timers (expiry sweep; on full nodes, the announcements). */
  afterStart(): void {
    const sweep = setInterval(() => this.#sweep(), this.#sweepMs)
    sweep.unref?.()
    this.#timers.push(sweep)
    if (this.role === 'full') {
      const reprovide = setInterval(() => this.#provideAll(), this.#reprovideMs)
      reprovide.unref?.()
      this.#timers.push(reprovide)
      if (this.#endpoint !== undefined) this.#provideAll()
    }
  }

  /**
   * Stops serving, syncing and announcing, and forgets the graph (serve it again after a restart: the
   * accepted orders are read back from it). Safe to call twice.
   */
  async stop(): Promise<void> {
    if (!this.#started) return
    this.#started = false
    this.#controller.abort(new ReplicationError('the memory replication service stopped'))
    for (const timer of this.#timers) {
      clearInterval(timer)
      clearTimeout(timer)
    }
    this.#timers = []
    await this.#carriage?.stop()
    this.#carriage = undefined
    this.#endpoint = undefined
    // Rebuilt from the orders kept in the graph at the next serve(), as after a restart of the process.
    this.#owners.clear()
    this.#announced.clear()
    this.#seqs.clear()
    this.#fetching.clear()
    await this.#components.registrar.unhandle(MEMORY_REPLICATION_PROTOCOL).catch((err: unknown) => {
      this.#log('could not stop serving %s - %e', MEMORY_REPLICATION_PROTOCOL, err)
    })
  }

  /** The graph served, if any. */
  get graph(): Graph | undefined {
    return this.#endpoint?.graph
  }

  /**
   * Carries `graph`'s sync over the node's `graphSync` service, for the spaces this node holds for
   * itself (`spaces`: the owners of the memories it runs) and, on a full node, the spaces it replicates.
   * A full node reloads the requests it accepted before (kept in the graph under its own address).
   * One graph per node: calling again with the same graph adds spaces. The graph must be started.
   *
   * @throws {ReplicationError} when another graph is served, or no `graphSync` service runs.
   */
  async serve(graph: Graph, options: { spaces?: Iterable<string> } = {}): Promise<void> {
    this.#requireStarted()
    for (const space of options.spaces ?? []) this.#own.add(space)
    if (this.#endpoint !== undefined) {
      if (this.#endpoint.graph !== graph)
        throw new ReplicationError('this node already serves another graph: one graph per node')
      this.#updateSpaces()
      return
    }
    const carriage = this.#graphSync()
    if (this.role === 'full') await this.#loadOrders(graph)
    this.#endpoint = new SpacesEndpoint(graph, this.#spaces(), this.#components.logger)
    this.#carriage = await carriage.sync(this.#endpoint)
    if (this.role === 'full' && this.#timers.length > 0) this.#provideAll()
  }

  /** The owners this full node replicates now (expired requests dropped first). */
  replicated(): ReplicatedOwner[] {
    this.#sweep()
    return [...this.#owners.values()]
  }

  /**
   * Asks full nodes to keep the owner's encrypted memory space (or renews the request: its `seq` is
   * higher): first the ones already announcing themselves as its replicas, then others found in the DHT,
   * until `replicas` accepted. The owner's memory graph must be served here (see {@link serve}) so that
   * the replicas can sync it.
   *
   * @throws {ReplicationError} when `identity` is not the key of an owner served here.
   */
  async request(identity: Identity, options: ReplicationRequestOptions = {}): Promise<ReplicationReceipt> {
    this.#requireStarted()
    const owner = identity.address
    const replicas = options.replicas ?? 2
    if (!Number.isSafeInteger(replicas) || replicas < 1 || replicas > MAX_REPLICAS)
      throw new ReplicationError(`replicas is 1-${MAX_REPLICAS}; got ${replicas}`)
    const expiresAt = this.#now() + (options.ttlMs ?? 7 * 86_400_000)
    const order = await signOrder(identity, {
      op: 'replicate',
      owner,
      seq: this.#nextSeq(owner),
      replicas,
      expiresAt
    })
    const signal = this.#signal(options.signal)
    const candidates =
      options.peers ?? (await this.#candidates(owner, replicas * 4, signal)).map((p) => p.address)
    const accepted: Array<{ peer: string; expiresAt: number; synced?: boolean }> = []
    const refused: Array<{ peer: string; reason: string }> = []
    const message = options.waitForSync
      ? ({ op: 'order', order: encodeSignedOrder(order), sync: true } as const)
      : ({ op: 'order', order: encodeSignedOrder(order) } as const)
    for (const peer of candidates) {
      if (accepted.length >= replicas) break
      try {
        const reply = await this.#ask(peer, message, signal)
        if (reply.ok)
          accepted.push({
            peer,
            expiresAt: reply.expiresAt ?? expiresAt,
            ...(options.waitForSync ? { synced: reply.synced === true } : {})
          })
        else refused.push({ peer, reason: reply.reason ?? 'refused' })
      } catch (err) {
        if (signal.aborted) throw err
        refused.push({ peer, reason: (err as Error).message })
      }
    }
    this.#log('replication of %s: %d accepted, %d refused', owner, accepted.length, refused.length)
    return { seq: order.seq, accepted, refused }
  }

  /** Withdraws every earlier request of the owner from the replicas found in the DHT (or `peers`). */
  async revoke(
    identity: Identity,
    options: AbortOptions & { peers?: readonly string[] } = {}
  ): Promise<ReplicationReceipt> {
    this.#requireStarted()
    const owner = identity.address
    const order = await signOrder(identity, { op: 'revoke', owner, seq: this.#nextSeq(owner) })
    const signal = this.#signal(options.signal)
    const peers = options.peers ?? (await this.findReplicas(owner, { signal })).map((p) => p.address)
    const accepted: Array<{ peer: string; expiresAt: number }> = []
    const refused: Array<{ peer: string; reason: string }> = []
    for (const peer of peers) {
      try {
        const reply = await this.#ask(peer, { op: 'order', order: encodeSignedOrder(order) }, signal)
        if (reply.ok) accepted.push({ peer, expiresAt: 0 })
        else refused.push({ peer, reason: reply.reason ?? 'refused' })
      } catch (err) {
        if (signal.aborted) throw err
        refused.push({ peer, reason: (err as Error).message })
      }
    }
    return { seq: order.seq, accepted, refused }
  }

  /** The replicas of an owner's space announced in the DHT (this node left out). */
  async findReplicas(
    owner: string,
    options: AbortOptions & { limit?: number } = {}
  ): Promise<ReplicaProvider[]> {
    this.#requireStarted()
    return this.#providers(await replicaKey(owner), options.limit ?? 8, this.#signal(options.signal))
  }

  /**
   * The swarm as the cold tier of a memory ({@link MemoryRemote}): finds the owner's replicas, syncs the
   * owner's space from them into the served graph (verified commit by commit by the graph), and resolves
   * true once one replica's every head is held here. On a light node a space it does not hold for
   * itself is accepted only while the fetch runs.
   *
   * @throws {NoReplicaError} when no replica is found or none could be synced in time (default 30 s, or `signal`).
   */
  async fetchSpace(owner: string, options: AbortOptions = {}): Promise<boolean> {
    await this.syncSpace(owner, { ...options, wait: 'first' })
    return true
  }

  /**
   * Like {@link fetchSpace}, with a choice: `wait: 'all'` syncs from every replica found (what a restore
   * does, so that the union of their copies arrives). Replicas are synced one at a time, starting as soon
   * as the first is found: while one sends the space, the others are not asked for it (else every
   * connected replica would send all of it at once); each later one sends only what the earlier lacked.
   * `onReplicas` is told how many were found once the lookup ends. While it runs, the space is not
   * served to other peers either (it is taken in from one replica at a time).
   *
   * @throws {NoReplicaError} when no replica is found or none could be synced in time.
   */
  async syncSpace(
    owner: string,
    options: AbortOptions & { wait?: 'first' | 'all'; onReplicas?: (count: number) => void } = {}
  ): Promise<SpaceSyncResult> {
    this.#requireStarted()
    const endpoint = this.#endpoint
    if (endpoint === undefined) throw new ReplicationError('no graph is served here: call serve(graph) first')
    const signal = this.#signal(options.signal)
    const key = await replicaKey(owner)
    this.#fetching.set(owner, (this.#fetching.get(owner) ?? 0) + 1)
    // Asked of no peer until a replica is chosen.
    endpoint.restrict(owner, new Set())
    this.#updateSpaces()
    const stopLookup = new AbortController()
    const queue: ReplicaProvider[] = []
    let lookupDone = false
    let wake: (() => void) | undefined
    let told = false
    const tell = (count: number): void => {
      if (told) return
      told = true
      options.onReplicas?.(count)
    }
    const lookup = this.#providers(key, 8, AbortSignal.any([signal, stopLookup.signal]), (provider) => {
      queue.push(provider)
      wake?.()
    })
      .then((all) => tell(all.length))
      .catch((err: unknown) => {
        if (!stopLookup.signal.aborted) this.#log('replica lookup for %s ended - %e', owner, err)
      })
      .finally(() => {
        lookupDone = true
        wake?.()
      })
    const synced: string[] = []
    const errors: string[] = []
    // How many replicas the owner asked for, from the newest signed order a replica showed (verified).
    let asked: { seq: number; replicas: number } | undefined
    try {
      let tried = 0
      while (!signal.aborted) {
        const provider = queue[tried]
        if (provider !== undefined) {
          tried++
          endpoint.restrict(owner, new Set([...synced, provider.address]))
          try {
            const order = await this.#catchUp(endpoint.graph, provider, owner, signal)
            synced.push(provider.address)
            if (options.wait !== 'all') break
            asked = await this.#newerOrder(owner, order, asked)
            // Every replica the owner asked for is synced: the rest of the DHT lookup is not waited for.
            if (asked !== undefined && synced.length >= asked.replicas) break
          } catch (err) {
            errors.push(`${provider.address}: ${(err as Error).message}`)
          }
          continue
        }
        if (lookupDone) break
        await new Promise<void>((resolve) => {
          wake = resolve
        })
        wake = undefined
      }
      stopLookup.abort()
      await lookup
      tell(queue.length)
      if (queue.length === 0) throw new NoReplicaError(owner, 'no replica of it is announced in the DHT')
      if (synced.length === 0)
        throw new NoReplicaError(
          owner,
          `none of ${queue.length} replicas could be synced${signal.aborted ? ' in time' : ''} (${errors.join('; ')})`
        )
      return { found: queue.length, synced }
    } finally {
      stopLookup.abort()
      endpoint.restrict(owner, undefined)
      const left = (this.#fetching.get(owner) ?? 1) - 1
      if (left > 0) this.#fetching.set(owner, left)
      else this.#fetching.delete(owner)
      this.#updateSpaces()
    }
  }

  /** The owner's `replicate` order shown by a replica when it verifies and is newer than `than`. */
  async #newerOrder(
    owner: string,
    bytes: Uint8Array | undefined,
    than: { seq: number; replicas: number } | undefined
  ): Promise<{ seq: number; replicas: number } | undefined> {
    if (bytes === undefined) return than
    const order = await verifyOrder(bytes)
    if ('refused' in order || order.op !== 'replicate' || order.owner !== owner) {
      this.#log('a replica of %s showed an order that does not verify; ignored', owner)
      return than
    }
    if (than !== undefined && order.seq <= than.seq) return than
    return { seq: order.seq, replicas: order.replicas ?? 1 }
  }

  /**
   * Dials a replica, asks for its heads of the owner's space, and waits until the graph holds them all.
   * Resolves with the owner's signed order the replica showed, if any.
   */
  async #catchUp(
    graph: Graph,
    provider: ReplicaProvider,
    owner: string,
    signal: AbortSignal
  ): Promise<Uint8Array | undefined> {
    const reply = await this.#ask(provider.address, { op: 'heads', owner }, signal, provider.peerId)
    if (!reply.ok) throw new ReplicationError(`it refused: ${reply.reason ?? 'refused'}`)
    const heads = reply.heads ?? []
    const held = (): boolean => heads.every(([author, seq, id]) => graph.hasCommit(owner, author, seq, id))
    if (held()) return reply.order
    await new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (!held()) return
        cleanup()
        resolve()
      }
      const abort = (): void => {
        cleanup()
        reject(signal.reason)
      }
      const cleanup = (): void => {
        graph.events.removeEventListener('commit:accepted', check)
        signal.removeEventListener('abort', abort)
      }
      graph.events.addEventListener('commit:accepted', check)
      signal.addEventListener('abort', abort, { once: true })
      if (signal.aborted) abort()
      else check()
    })
    return reply.order
  }

  // ---------------------------------------------------------------- the server side

  async #answer(stream: Parameters<Parameters<Registrar['handle']>[1]>[0], peerId: PeerId): Promise<void> {
    const peer = peerId.toString()
    let signal = AbortSignal.any([this.#controller.signal, AbortSignal.timeout(this.#queryMs)])
    try {
      // Twice the largest order: a slightly larger one is read and refused by name, a larger one resets the stream.
      const lp = lpStream(stream, { maxDataLength: 2 * MAX_REQUEST_BYTES })
      const message = decodeMessage((await lp.read({ signal })).subarray())
      let reply: ReplicationReply
      if (message === undefined) reply = { ok: false, reason: 'malformed' }
      else if (message.op === 'heads') reply = this.#heads(message.owner)
      else {
        reply = await this.#onOrder(message.order, peer)
        if (message.sync === true && reply.ok && reply.expiresAt !== undefined) {
          // Waited for with its own bound; the answer then gets a fresh one.
          reply = { ...reply, synced: await this.#syncFrom(peerId, keptOwner(message.order), signal) }
          signal = AbortSignal.any([this.#controller.signal, AbortSignal.timeout(this.#queryMs)])
        }
      }
      await lp.write(encodeReply(reply), { signal })
      await stream.close({ signal }).catch((err: unknown) => {
        this.#log('could not close the stream from %s - %e', peer, err)
      })
    } catch (err) {
      this.#log('replication stream from %s failed - %e', peer, err)
      stream.abort(err as Error)
    }
  }

  /**
   * After accepting an order sent with `sync: true`: asks the asking peer which heads of the space it
   * holds, waits (within `signal`) until the graph holds them all (synced by graph sync), and until this
   * node has announced itself as the owner's replica (so that a restore finds it at once).
   */
  async #syncFrom(peerId: PeerId, owner: string, signal: AbortSignal): Promise<boolean> {
    const graph = this.#endpoint?.graph
    if (graph === undefined) return false
    try {
      await this.#catchUp(graph, { address: peerId.toString(), peerId }, owner, signal)
      await this.#announcedAs(owner, signal)
      return true
    } catch (err) {
      this.#log('could not sync the space of %s from %p before answering - %e', owner, peerId, err)
      return false
    }
  }

  /** Resolves once this node has announced itself as the owner's replica. */
  async #announcedAs(owner: string, signal: AbortSignal): Promise<void> {
    if (this.#announced.has(owner)) return
    await new Promise<void>((resolve, reject) => {
      const look = (): void => {
        if (!this.#announced.has(owner)) return
        cleanup()
        resolve()
      }
      const abort = (): void => {
        cleanup()
        reject(signal.reason)
      }
      const cleanup = (): void => {
        this.removeEventListener('replica:provided', look)
        signal.removeEventListener('abort', abort)
      }
      this.addEventListener('replica:provided', look)
      signal.addEventListener('abort', abort, { once: true })
      if (signal.aborted) abort()
      else look()
    })
  }

  #heads(owner: string): ReplicationReply {
    const endpoint = this.#endpoint
    if (endpoint === undefined) return { ok: false, reason: 'not-serving' }
    if (!endpoint.spaces.has(owner)) return { ok: false, reason: 'not-replicated' }
    const heads = endpoint.graph
      .versionVector(new Set([owner]))
      .slice(0, MAX_HEADS)
      .map((h) => [h.author, h.seq, h.head] as const)
    const order = this.#owners.has(owner)
      ? endpoint.graph.get(`${endpoint.graph.address}/${ORDERS_PATH}${owner}`)?.[ORDER_FIELD]
      : undefined
    return order instanceof Uint8Array ? { ok: true, heads, order } : { ok: true, heads }
  }

  async #onOrder(bytes: Uint8Array, peer: string): Promise<ReplicationReply> {
    if (this.role !== 'full') return { ok: false, reason: 'light' }
    const endpoint = this.#endpoint
    if (endpoint === undefined) return { ok: false, reason: 'not-serving' }
    const order = await verifyOrder(bytes)
    if ('refused' in order) {
      this.#log('refused a replication order from %s: %s', peer, order.refused)
      return { ok: false, reason: order.refused }
    }
    const held = this.#owners.has(order.owner)
    const result = this.#apply(order)
    if (!result.ok) {
      this.#log('refused a %s order of %s from %s: %s', order.op, order.owner, peer, result.reason)
      return result
    }
    // Only orders that concern an owner kept (or just released) here are written: a stranger's
    // revocation of nothing costs no storage.
    if (order.op === 'replicate' || held) await this.#persist(endpoint.graph, order, bytes)
    return result
  }

  /** Applies a verified order; the caller persists it when it took effect. */
  #apply(order: SignedOrder, loading = false): ReplicationReply {
    const { owner, seq } = order
    if (seq <= this.#knownSeq(owner)) return { ok: false, reason: 'stale' }
    if (order.op === 'revoke') {
      this.#seqs.set(owner, seq)
      if (this.#owners.delete(owner)) this.#ended(owner, 'revoked', loading)
      return { ok: true }
    }
    const now = this.#now()
    const requested = order.expiresAt ?? 0
    if (requested <= now) {
      if (loading) this.#seqs.set(owner, seq)
      return { ok: false, reason: 'expired' }
    }
    if (!this.#owners.has(owner) && this.#owners.size >= this.#maxOwners) {
      this.#sweep()
      if (this.#owners.size >= this.#maxOwners) return { ok: false, reason: 'full' }
    }
    const entry: ReplicatedOwner = {
      owner,
      seq,
      replicas: order.replicas ?? 1,
      expiresAt: Math.min(requested, now + this.#maxTtlMs)
    }
    this.#seqs.set(owner, seq)
    const isNew = !this.#owners.has(owner)
    this.#owners.set(owner, entry)
    if (!loading) {
      this.#updateSpaces()
      if (isNew) this.#provide(owner)
      this.safeDispatchEvent('replication:accepted', { detail: entry })
    }
    return { ok: true, expiresAt: entry.expiresAt }
  }

  async #persist(graph: Graph, order: SignedOrder, bytes: Uint8Array): Promise<void> {
    try {
      await graph.put(`${graph.address}/${ORDERS_PATH}${order.owner}`, { [ORDER_FIELD]: bytes })
    } catch (err) {
      this.#log.error('could not keep the order of %s - %e', order.owner, err)
    }
  }

  async #loadOrders(graph: Graph): Promise<void> {
    const prefix = `${graph.address}/${ORDERS_PATH}`
    for (const soul of graph.souls(graph.address)) {
      if (!soul.startsWith(prefix)) continue
      const bytes = graph.get(soul)?.[ORDER_FIELD]
      if (!(bytes instanceof Uint8Array)) continue
      const order = await verifyOrder(bytes)
      if ('refused' in order) {
        this.#log.error('a kept replication order at %s does not verify (%s); ignored', soul, order.refused)
        continue
      }
      this.#apply(order, true)
    }
    if (this.#owners.size > 0) this.#log('replicating %d owners kept from before', this.#owners.size)
  }

  /** The highest seq seen of an owner: remembered, or (once forgotten) read back from the kept order. */
  #knownSeq(owner: string): number {
    const remembered = this.#seqs.get(owner)
    if (remembered !== undefined) return remembered
    const graph = this.#endpoint?.graph
    const bytes = graph?.get(`${graph.address}/${ORDERS_PATH}${owner}`)?.[ORDER_FIELD]
    if (!(bytes instanceof Uint8Array)) return 0
    const seq = keptSeq(bytes)
    this.#seqs.set(owner, seq)
    return seq
  }

  #sweep(): void {
    const now = this.#now()
    let changed = false
    for (const [owner, entry] of this.#owners) {
      if (entry.expiresAt > now) continue
      this.#owners.delete(owner)
      this.#ended(owner, 'expired', false)
      changed = true
    }
    if (changed) this.#updateSpaces()
  }

  #ended(owner: string, reason: 'revoked' | 'expired', loading: boolean): void {
    this.#announced.delete(owner)
    if (loading) return
    this.#updateSpaces()
    replicaKey(owner)
      .then((key) => this.#components.contentRouting.cancelReprovide(key))
      .catch((err: unknown) => this.#log('could not stop announcing %s - %e', owner, err))
    this.safeDispatchEvent('replication:ended', { detail: { owner, reason } })
  }

  #spaces(): Set<string> {
    return new Set([...this.#own, ...this.#owners.keys(), ...this.#fetching.keys()])
  }

  #updateSpaces(): void {
    this.#endpoint?.setSpaces(this.#spaces())
  }

  #provideAll(): void {
    if (this.role !== 'full' || !this.#started) return
    this.#provideKey(replicationServiceKey(), undefined)
    for (const owner of this.#owners.keys()) this.#provide(owner)
  }

  #provide(owner: string): void {
    this.#provideKey(replicaKey(owner), owner)
  }

  /** Announces a key; a failed announcement (no DHT peer yet) is tried again with backoff, up to 8 times. */
  #provideKey(key: Promise<CID>, owner: string | undefined, attempt = 1): void {
    if (!this.#started) return
    const signal = this.#signal()
    key
      .then((cid) => this.#components.contentRouting.provide(cid, { signal }))
      .then(() => {
        this.#log('announced %s', owner ?? 'the replication service')
        if (owner !== undefined && this.#owners.has(owner)) this.#announced.add(owner)
        this.safeDispatchEvent('replica:provided', { detail: owner === undefined ? {} : { owner } })
      })
      .catch((err: unknown) => {
        this.#log('could not announce %s yet (try %d) - %e', owner ?? 'the service', attempt, err)
        if (attempt >= 8 || !this.#started) return
        const timer = setTimeout(
          () => {
            this.#timers = this.#timers.filter((t) => t !== timer)
            if (owner === undefined || this.#owners.has(owner)) this.#provideKey(key, owner, attempt + 1)
          },
          backoffDelay(attempt, { initialDelayMs: 500, maxDelayMs: 60_000, factor: 2, jitter: 0.2 })
        )
        timer.unref?.()
        this.#timers.push(timer)
      })
  }

  // ---------------------------------------------------------------- helpers

  #nextSeq(owner: string): number {
    const seq = Math.max(this.#now(), (this.#signed.get(owner) ?? 0) + 1)
    this.#signed.set(owner, seq)
    return seq
  }

  async #candidates(owner: string, limit: number, signal: AbortSignal): Promise<ReplicaProvider[]> {
    const found = new Map<string, ReplicaProvider>()
    for (const key of [await replicaKey(owner), await replicationServiceKey()]) {
      for (const p of await this.#providers(key, limit, signal))
        if (!found.has(p.address)) found.set(p.address, p)
      if (found.size >= limit) break
    }
    return [...found.values()]
  }

  async #providers(
    key: CID,
    limit: number,
    signal: AbortSignal,
    onFound?: (provider: ReplicaProvider) => void
  ): Promise<ReplicaProvider[]> {
    const self = this.#components.peerId.toString()
    const found = new Map<string, ReplicaProvider>()
    const stop = new AbortController()
    try {
      for await (const provider of this.#components.contentRouting.findProviders(key, {
        signal: AbortSignal.any([signal, stop.signal])
      })) {
        const address = provider.id.toString()
        if (address === self || provider.id.type !== 'Ed25519' || found.has(address)) continue
        const found1 = { address, peerId: provider.id }
        found.set(address, found1)
        onFound?.(found1)
        if (found.size >= limit) {
          stop.abort()
          break
        }
      }
    } catch (err) {
      if (!stop.signal.aborted) {
        if (signal.aborted) throw err
        this.#log('provider lookup ended early - %e', err)
      }
    }
    return [...found.values()]
  }

  /**
   * Opens a replication stream to a peer, trying once more when opening fails before anything was sent
   * (a stream can fail to open while the connection is busy with other protocols); nothing is retried
   * once a message is on its way, so an order is never delivered twice.
   */
  async #open(target: PeerId, signal: AbortSignal): Promise<Stream> {
    for (let attempt = 1; ; attempt++) {
      try {
        const connection = await this.#components.connectionManager.openConnection(target, { signal })
        return await connection.newStream(MEMORY_REPLICATION_PROTOCOL, { signal })
      } catch (err) {
        if (signal.aborted || attempt >= 2) throw err
        this.#log('opening a replication stream to %p failed, trying once more - %e', target, err)
      }
    }
  }

  async #ask(
    peer: string,
    message: Parameters<typeof encodeMessage>[0],
    signal: AbortSignal,
    peerId?: PeerId
  ): Promise<ReplicationReply> {
    const target = peerId ?? publicIdentity(peer).peerId
    const stream = await this.#open(target, signal)
    try {
      const lp = lpStream(stream, { maxDataLength: MAX_REPLICATION_MESSAGE_BYTES })
      await lp.write(encodeMessage(message), { signal })
      const reply = decodeReply((await lp.read({ signal })).subarray())
      await stream.close({ signal })
      if (reply === undefined) throw new ReplicationError(`${peer} sent a malformed reply`)
      return reply
    } catch (err) {
      stream.abort(err as Error)
      throw err
    }
  }

  #graphSync(): GraphSyncCarriage {
    let carriage: GraphSyncCarriage | undefined
    try {
      carriage = (this.#components as unknown as Record<string, GraphSyncCarriage | undefined>).graphSync
    } catch (err) {
      if ((err as Error)?.name !== 'MissingServiceError') throw err
    }
    if (carriage === undefined || typeof carriage.sync !== 'function')
      throw new ReplicationError(
        'memory replication carries graph sync over the `graphSync` service: add graphSync() to the node'
      )
    return carriage
  }

  #signal(signal?: AbortSignal): AbortSignal {
    return AbortSignal.any([this.#controller.signal, signal ?? AbortSignal.timeout(this.#queryMs)])
  }

  #requireStarted(): void {
    if (!this.#started) throw new ReplicationError('the memory replication service is not started')
  }
}

/** The owner of an order this node has just verified and accepted. */
function keptOwner(bytes: Uint8Array): string {
  const outer = decodeCanonical(bytes) as { body: Uint8Array }
  return (decodeCanonical(outer.body) as { owner: string }).owner
}

/** The seq of an order this node kept (it verified the order before keeping it). */
function keptSeq(bytes: Uint8Array): number {
  try {
    const outer = decodeCanonical(bytes) as { body?: unknown }
    const body = outer.body instanceof Uint8Array ? (decodeCanonical(outer.body) as { seq?: unknown }) : {}
    return typeof body.seq === 'number' ? body.seq : 0
  } catch (err) {
    throw new ReplicationError(`a kept replication order does not decode: ${(err as Error).message}`)
  }
}

/**
 * The memory replication service: `services: { graphSync: graphSync(), memoryReplication:
 * memoryReplication({ role: 'full' }) }` in `createLibp2p` (or dht-node's `createDhtNode`). It needs
 * `dht` (content routing) and, once a graph is served, `graphSync`.
 */
export function memoryReplication(
  init: MemoryReplicationInit = {}
): (components: MemoryReplicationComponents) => MemoryReplication {
  return (components) => new MemoryReplication(components, init)
}
