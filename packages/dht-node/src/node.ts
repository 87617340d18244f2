import { type EthLink, type Identity, publicKeyFromAddress } from '@araliya/identity'
import { type AbortOptions, InvalidInputError, throwIfAborted } from '@araliya/interface'
import { type CircuitRelayService, circuitRelayServer } from '@libp2p/circuit-relay-v2'
import { type GossipSub, gossipsub } from '@libp2p/gossipsub'
import { type Identify, identify } from '@libp2p/identify'
import type { Connection, ConnectionGater, PeerId } from '@libp2p/interface'
import { type KadDHT, kadDHT, passthroughMapper, type SingleKadDHT } from '@libp2p/kad-dht'
import { logger } from '@libp2p/logger'
import { noise } from '@libp2p/noise'
import { peerIdFromString } from '@libp2p/peer-id'
import { type Ping, ping } from '@libp2p/ping'
import { yamux } from '@libp2p/yamux'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { MemoryDatastore } from 'datastore-core'
import type { Datastore } from 'interface-datastore'
import { createLibp2p, type Libp2p, type Libp2pOptions } from 'libp2p'
import { setMaxListeners, TypedEventEmitter } from 'main-event'
import { platform } from '#platform'
import { Bootstrapper, type BootstrapRetryInit } from './bootstrap.js'
import {
  createEthRecord,
  encodeEthRecord,
  ethKey,
  type VerifiedEthRecord,
  validateEthRecord
} from './eth-record.js'
import {
  AgentNotFoundError,
  DatastoreOpenError,
  InvalidDhtNodeOptionsError,
  InvalidRecordError,
  NodeNotStartedError,
  PublishFailedError
} from './errors.js'
import {
  GossipLayer,
  type GossipInit,
  type GossipMessage,
  GossipValidation,
  araliyaPeerScoreParams,
  DEFAULT_SCORE_THRESHOLDS,
  FOREIGN_MESSAGE,
  gossipTopic,
  SWARM_TOPICS
} from './gossip.js'
import type { ClosableDatastore, TransportFactory } from './platform/types.js'
import {
  createPresenceRecord,
  DEFAULT_MAX_RECORD_BYTES,
  DEFAULT_MAX_RECORD_TTL_MS,
  decodePresenceRecord,
  encodePresenceRecord,
  multiaddrProblem,
  type PresenceRecord,
  presenceKey,
  validatePresenceRecord
} from './presence.js'
import { araliyaRecordRules } from './records.js'
import { normalizeSkillName, skillKey } from './skills.js'
import { checkNodeStatus, decodeNodeStatus, encodeNodeStatus, type NodeStatus } from './status.js'

const log = logger('araliya:dht')
/** How long after joining (or losing a peer) before topping up connections through a DHT query. */
const DISCOVERY_DELAY_MS = 10_000

/**
 * A node's role in the swarm (see docs/protocols/presence.md and the network design):
 * - `bootstrap`: DHT server, circuit-relay-v2 server, always on; others dial it first.
 * - `full`: DHT server; stores records for others.
 * - `light`: DHT client (set explicitly); stores nothing for others; for phones and browsers.
 */
export type DhtNodeRole = 'bootstrap' | 'full' | 'light'

/** The services every node runs. */
export interface DhtNodeServices {
  [key: string]: unknown
  identify: Identify
  ping: Ping
  dht: KadDHT
  pubsub: GossipSub
}

/** Presence publishing settings. */
export interface PresenceInit {
  /** How long a published record is valid. Default 1 hour. */
  ttlMs?: number
  /** How often the record is republished. Default half the TTL. */
  republishIntervalMs?: number
  /** Largest record accepted by the validator (checked before decoding). Default 4096 bytes. */
  maxRecordBytes?: number
  /** Longest lifetime a record may claim. Default 48 h. */
  maxRecordTtlMs?: number
  /** Publish presence automatically after start. Default true. */
  auto?: boolean
}

/** DHT tuning. The defaults suit small and medium swarms. */
export interface DhtInit {
  /** k-bucket size. Default 20. */
  kBucketSize?: number
  /** Query concurrency. Default 10 (kad-dht's). */
  alpha?: number
  /** Delay before the first self-query, ms. Default 0 (so lookups right after start are not delayed). */
  initialQuerySelfIntervalMs?: number
  /** Interval between self-queries, ms. Default kad-dht's (5 min). */
  querySelfIntervalMs?: number
  /** Per-query timeout for presence/skill lookups, ms. Default 30 s. */
  queryTimeoutMs?: number
}

/** Options of {@link createDhtNode}. */
export interface DhtNodeInit {
  /** The agent identity; its key becomes the libp2p key, so the node's PeerId is the agent address. */
  identity: Identity
  /** Role in the swarm. Default `full`. */
  role?: DhtNodeRole
  /** Multiaddrs to listen on. Default per platform and role (Node full/bootstrap: TCP and WS on port 0). */
  listen?: string[]
  /** Multiaddrs to announce instead of the listen addresses (e.g. a public address behind NAT). */
  announce?: string[]
  /** Bootstrap node multiaddrs (ending in `/p2p/<peerId>`). Dialled at start and re-dialled with backoff. */
  bootstrap?: string[]
  /** Network namespace; separate namespaces never mix gossip or DHT traffic. Default `main`. */
  network?: string
  /** Skills to advertise at start (presence record + DHT provider records). */
  skills?: string[]
  /** The datastore for DHT records and the peer store. Overrides `dataDir`. */
  datastore?: Datastore
  /**
   * Where to keep DHT records and the peer store on disk (Node: a LevelDB directory; browser: an
   * IndexedDB name). Without this or `datastore`, everything is kept in memory.
   */
  dataDir?: string
  /** Transports to use instead of the platform defaults (tests use `[memory()]`). */
  transports?: TransportFactory[]
  /** Bootstrap retry policy. */
  bootstrapRetry?: BootstrapRetryInit
  /** Presence settings. */
  presence?: PresenceInit
  /** Gossip settings. */
  gossip?: GossipInit
  /** DHT settings. */
  dht?: DhtInit
  /** Interval of the `node-status` heartbeat, ms; 0 disables it. Default 30 s. */
  statusIntervalMs?: number
  /** Keep dialling peers found through the DHT until this many are connected. Default 8. */
  targetPeers?: number
  /** Connection manager settings passed to libp2p. */
  connectionManager?: Libp2pOptions['connectionManager']
  /** A connection gater (browsers in tests must allow loopback dials). */
  connectionGater?: ConnectionGater
  /** Escape hatch: options merged last into `createLibp2p`. */
  libp2p?: Partial<Libp2pOptions<DhtNodeServices>>
  /** More libp2p services to run on the node, by component name (for example channel-p2p's `direct`). */
  services?: Record<string, (components: never) => unknown>
}

/** What a lookup by address returns. */
export interface AgentInfo {
  /** The agent address (PeerId string). */
  readonly address: string
  /** The PeerId of the address. */
  readonly peerId: PeerId
  /** Where the agent can be dialled (as its presence record says). */
  readonly multiaddrs: Multiaddr[]
  /** The skills the agent advertises. */
  readonly skills: readonly string[]
  /** The presence record's sequence number. */
  readonly seq: number
  /** When the presence record expires, ms since the epoch. */
  readonly expires: number
  /** The signed record itself. */
  readonly record: PresenceRecord
}

/** A provider of a skill found on the DHT. */
export interface SkillProvider {
  readonly address: string
  readonly peerId: PeerId
  readonly multiaddrs: Multiaddr[]
}

/** Details of a bootstrap connection event. */
export interface BootstrapEventDetail {
  readonly multiaddr: string
  readonly peerId?: string
}

/** Details of a bootstrap retry event. */
export interface BootstrapRetryDetail extends BootstrapEventDetail {
  readonly attempt: number
  readonly delayMs: number
  readonly error: Error
}

/** Events a {@link DhtNode} emits. */
export interface DhtNodeEvents {
  /** The node started (libp2p running, topics subscribed). */
  'node:start': CustomEvent<{ address: string }>
  /** The node stopped. */
  'node:stop': CustomEvent<{ address: string }>
  /** A peer connected (first connection). */
  'peer:connect': CustomEvent<{ peerId: string }>
  /** A peer's last connection closed. */
  'peer:disconnect': CustomEvent<{ peerId: string }>
  /** A bootstrap node was reached. */
  'bootstrap:connect': CustomEvent<BootstrapEventDetail>
  /** Dialling a bootstrap node failed; it will be retried after `delayMs`. */
  'bootstrap:retry': CustomEvent<BootstrapRetryDetail>
  /** Our presence record was stored on `accepted` DHT servers. */
  'presence:publish': CustomEvent<{ record: PresenceRecord; accepted: number }>
  /** Publishing presence failed; it is retried with backoff. */
  'presence:error': CustomEvent<{ error: Error }>
  /** A validated gossip message arrived on a topic of this network. */
  'gossip:message': CustomEvent<GossipMessage>
  /** A valid presence announcement arrived on `agent-announcements`. */
  'agent:announce': CustomEvent<{ record: PresenceRecord }>
  /** A valid heartbeat arrived on `node-status`. */
  'status:receive': CustomEvent<{ status: NodeStatus }>
}

/**
 * An agent's libp2p node: kad-dht presence and skills, gossip topics with validators and scoring, and a
 * status heartbeat. Create with {@link createDhtNode}; nothing touches the network until `start()`.
 */
export class DhtNode extends TypedEventEmitter<DhtNodeEvents> {
  /** The agent identity. */
  readonly identity: Identity
  /** The agent address (= `libp2p.peerId.toString()`). */
  readonly address: string
  /** The node's role. */
  readonly role: DhtNodeRole
  /** The network namespace. */
  readonly network: string
  /** The gossip layer (publish raw bytes, subscribe, topic validators). */
  readonly gossip: GossipLayer
  /** The underlying libp2p node, for custom protocols and anything else. */
  readonly libp2p: Libp2p<DhtNodeServices>

  readonly #init: DhtNodeInit
  readonly #datastore: Datastore
  readonly #ownedDatastore: ClosableDatastore | undefined
  readonly #bootstrapper: Bootstrapper
  readonly #skills = new Set<string>()
  readonly #providedSkills = new Set<string>()
  readonly #ttlMs: number
  readonly #republishMs: number
  readonly #statusIntervalMs: number
  readonly #targetPeers: number
  readonly #queryTimeoutMs: number
  readonly #maxRecordBytes: number
  readonly #maxRecordTtlMs: number
  #started = false
  #starting: Promise<void> | undefined
  #stopping: Promise<void> | undefined
  #controller = new AbortController()
  #startedAt = 0
  #lastSeq = 0
  #presence: PresenceRecord | undefined
  #presenceTimer: ReturnType<typeof setTimeout> | undefined
  #statusTimer: ReturnType<typeof setInterval> | undefined
  #discoveryTimer: ReturnType<typeof setTimeout> | undefined
  #presenceLoop: Promise<void> | undefined
  #presenceWake: (() => void) | undefined
  #presenceDirty = true
  readonly #listeners: Array<[string, (event: never) => void]> = []

  /** @internal Use {@link createDhtNode}. */
  constructor(
    init: DhtNodeInit,
    libp2p: Libp2p<DhtNodeServices>,
    datastore: Datastore,
    ownedDatastore: ClosableDatastore | undefined
  ) {
    super()
    this.#init = init
    this.identity = init.identity
    this.address = init.identity.address
    this.role = init.role ?? 'full'
    this.network = init.network ?? 'main'
    this.libp2p = libp2p
    this.#datastore = datastore
    this.#ownedDatastore = ownedDatastore
    this.#ttlMs = init.presence?.ttlMs ?? 60 * 60 * 1000
    this.#republishMs = init.presence?.republishIntervalMs ?? Math.floor(this.#ttlMs / 2)
    this.#statusIntervalMs = init.statusIntervalMs ?? 30_000
    this.#targetPeers = init.targetPeers ?? 8
    this.#queryTimeoutMs = init.dht?.queryTimeoutMs ?? 30_000
    this.#maxRecordBytes = init.presence?.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES
    this.#maxRecordTtlMs = init.presence?.maxRecordTtlMs ?? DEFAULT_MAX_RECORD_TTL_MS
    for (const skill of init.skills ?? []) this.#skills.add(normalizeSkillName(skill))
    this.gossip = new GossipLayer(libp2p.services.pubsub, this.network, init.gossip)
    this.#bootstrapper = new Bootstrapper(libp2p, init.bootstrap ?? [], init.bootstrapRetry, {
      onConnect: (detail) => {
        this.safeDispatchEvent('bootstrap:connect', { detail })
        // kad-dht's own self-query connects us to our neighbourhood; top up later only if that falls short.
        this.#scheduleDiscovery(DISCOVERY_DELAY_MS)
        this.#wakePresence()
      },
      onRetry: (detail) => this.safeDispatchEvent('bootstrap:retry', { detail })
    })
  }

  /** True between a completed `start()` and `stop()`. */
  isStarted(): boolean {
    return this.#started
  }

  /** The kad-dht service. */
  get dht(): KadDHT {
    return this.libp2p.services.dht
  }

  /** The datastore holding DHT records and the peer store. */
  get datastore(): Datastore {
    return this.#datastore
  }

  /** Our latest published presence record, if any. */
  get presence(): PresenceRecord | undefined {
    return this.#presence
  }

  /** The skills this node advertises (normalised). */
  get skills(): string[] {
    return [...this.#skills].sort()
  }

  /** Our dialable multiaddrs (with `/p2p/<address>`). */
  getMultiaddrs(): Multiaddr[] {
    return this.libp2p.getMultiaddrs()
  }

  /**
   * Starts libp2p, subscribes to the swarm topics, begins dialling bootstrap nodes (with backoff; a
   * bootstrap that is down does not fail the start) and publishing presence. Safe to call twice.
   */
  async start(options?: AbortOptions): Promise<void> {
    if (this.#started) return
    if (this.#starting !== undefined) return this.#starting
    this.#starting = this.#start(options).finally(() => {
      this.#starting = undefined
    })
    return this.#starting
  }

  async #start(options?: AbortOptions): Promise<void> {
    throwIfAborted(options?.signal)
    this.#controller = new AbortController()
    // Every in-flight operation listens on this signal.
    setMaxListeners(Number.POSITIVE_INFINITY, this.#controller.signal)
    if (this.#ownedDatastore !== undefined) {
      try {
        await this.#ownedDatastore.open()
      } catch (err) {
        throw new DatastoreOpenError(
          `could not open the node's datastore in ${this.#init.dataDir ?? '(custom datastore)'}: another process ` +
            'may be using it (stop the other node first), or it is damaged or unreadable',
          { cause: err }
        )
      }
    }
    await this.libp2p.start()
    this.#startedAt = Date.now()
    this.#listen('peer:connect', (event: CustomEvent<PeerId>) =>
      this.safeDispatchEvent('peer:connect', { detail: { peerId: event.detail.toString() } })
    )
    this.#listen('peer:disconnect', (event: CustomEvent<PeerId>) => {
      this.safeDispatchEvent('peer:disconnect', { detail: { peerId: event.detail.toString() } })
      this.#scheduleDiscovery(DISCOVERY_DELAY_MS)
    })
    this.#listen('self:peer:update', () => {
      if (!sameAddrs(this.#advertisedAddrs(), this.#presence?.multiaddrs ?? [])) this.#wakePresence()
    })
    this.#guardRoutingTable()
    this.#setupGossip()
    this.#started = true
    this.#bootstrapper.start()
    if (this.#init.presence?.auto !== false) this.#presenceLoop = this.#runPresenceLoop()
    for (const skill of this.#skills) this.#provideInBackground(skill)
    if (this.#statusIntervalMs > 0) {
      this.#statusTimer = setInterval(() => {
        this.publishStatus().catch((err) => log('status heartbeat not sent - %e', err))
      }, this.#statusIntervalMs)
    }
    this.#scheduleDiscovery(DISCOVERY_DELAY_MS)
    log('started %s as %s on network %s', this.address, this.role, this.network)
    this.safeDispatchEvent('node:start', { detail: { address: this.address } })
  }

  /** Stops timers, aborts in-flight work, stops libp2p and closes the datastore it opened. Safe to call twice. */
  async stop(_options?: AbortOptions): Promise<void> {
    if (this.#starting !== undefined) await this.#starting.catch(() => {})
    if (!this.#started) return
    if (this.#stopping !== undefined) return this.#stopping
    this.#stopping = this.#stop().finally(() => {
      this.#stopping = undefined
    })
    return this.#stopping
  }

  async #stop(): Promise<void> {
    this.#started = false
    this.#controller.abort(new NodeNotStartedError('the node is stopping'))
    this.#bootstrapper.stop()
    clearTimeout(this.#presenceTimer)
    clearInterval(this.#statusTimer)
    clearTimeout(this.#discoveryTimer)
    this.#presenceWake?.()
    for (const [name, fn] of this.#listeners.splice(0)) {
      if (name.startsWith('__')) (fn as unknown as () => void)()
      else this.libp2p.removeEventListener(name as never, fn as never)
    }
    this.gossip.detach()
    await this.#presenceLoop?.catch(() => {})
    this.#presenceLoop = undefined
    await this.libp2p.stop()
    if (this.#ownedDatastore !== undefined) await this.#ownedDatastore.close()
    log('stopped %s', this.address)
    this.safeDispatchEvent('node:stop', { detail: { address: this.address } })
  }

  /** Resolves once at least one bootstrap node is connected (at once when none is configured). */
  async waitForBootstrap(options?: AbortOptions): Promise<void> {
    this.#assertStarted()
    await this.#bootstrapper.waitForConnection(this.#signal(options?.signal))
  }

  /**
   * Signs and stores a fresh presence record (next sequence number, new expiry, current addresses and
   * skills) on the DHT, and announces it on `agent-announcements`.
   *
   * @throws {PublishFailedError} when no DHT server accepted it.
   */
  async publishPresence(options?: AbortOptions): Promise<PresenceRecord> {
    this.#assertStarted()
    const signal = this.#signal(options?.signal, this.#queryTimeoutMs)
    const seq = Math.max(Date.now(), this.#lastSeq + 1)
    this.#lastSeq = seq
    const record = await createPresenceRecord(
      this.identity,
      { multiaddrs: this.#advertisedAddrs(), skills: this.skills, seq, expires: Date.now() + this.#ttlMs },
      { signal }
    )
    const bytes = encodePresenceRecord(record)
    const accepted = await this.#putRecord(presenceKey(this.address), bytes, signal)
    this.#presence = record
    this.#presenceDirty = false
    this.gossip.publish('agent-announcements', bytes).catch((err) => log('announcement not sent - %e', err))
    this.safeDispatchEvent('presence:publish', { detail: { record, accepted } })
    return record
  }

  /**
   * Resolves an agent address to its PeerId and multiaddrs by a DHT query for its signed presence record;
   * no local state is needed. The addresses are added to the peer store so `libp2p.dial(peerId)` works.
   *
   * @throws {InvalidInputError} when `address` is not a valid agent address (a look-alike, a second
   * spelling of a key, not Ed25519, …).
   * @throws {AgentNotFoundError} when no valid, unexpired record is found.
   */
  async findAgent(address: string, options?: AbortOptions): Promise<AgentInfo> {
    this.#assertStarted()
    assertAgentAddress(address)
    const signal = this.#signal(options?.signal, this.#queryTimeoutMs)
    const value = await this.#getRecord(presenceKey(address), signal)
    if (value === undefined) throw new AgentNotFoundError(`no presence record found for ${address}`)
    const record = await validatePresenceRecord(presenceKey(address), value, this.#validationOptions())
    const peerId = peerIdFromString(address)
    const multiaddrs = record.multiaddrs.flatMap((ma) => {
      try {
        return [multiaddr(ma)]
      } catch {
        return []
      }
    })
    if (multiaddrs.length > 0 && address !== this.address) {
      await this.libp2p.peerStore.merge(peerId, { multiaddrs }, { signal }).catch(() => {})
    }
    return {
      address,
      peerId,
      multiaddrs,
      skills: record.skills,
      seq: record.seq,
      expires: record.expires,
      record
    }
  }

  /**
   * Finds an agent and dials it (directly if connected already).
   *
   * @throws {InvalidInputError} when `address` is not a valid agent address.
   */
  async dialAgent(address: string, options?: AbortOptions): Promise<Connection> {
    this.#assertStarted()
    assertAgentAddress(address)
    const peerId = peerIdFromString(address)
    const existing = this.libp2p.getConnections(peerId)[0]
    if (existing !== undefined) return existing
    const info = await this.findAgent(address, options)
    return this.libp2p.dial(info.multiaddrs.length > 0 ? info.multiaddrs : peerId, {
      signal: this.#signal(options?.signal, this.#queryTimeoutMs)
    })
  }

  /**
   * Publishes a lookup record `/araliya/eth/<0x…>` -> this agent, proven by an Ethereum link made with the
   * identity package (`linkEthereumAddress` or `completeEthLink`). Republish it before `ttlMs` (default 24 h).
   *
   * @throws {InvalidRecordError} when the link does not verify or is for another agent.
   * @throws {PublishFailedError} when no DHT server accepted it.
   */
  async publishEthLink(
    link: EthLink,
    options?: AbortOptions & { ttlMs?: number }
  ): Promise<VerifiedEthRecord> {
    this.#assertStarted()
    if (link.agent !== this.address) {
      throw new InvalidRecordError('key-mismatch', `the link is for agent ${link.agent}, not ${this.address}`)
    }
    const signal = this.#signal(options?.signal, this.#queryTimeoutMs)
    const seq = Math.max(Date.now(), this.#lastSeq + 1)
    this.#lastSeq = seq
    const record = await createEthRecord(
      this.identity,
      link,
      { seq, expires: Date.now() + (options?.ttlMs ?? 24 * 60 * 60 * 1000) },
      { signal }
    )
    const bytes = encodeEthRecord(record)
    const key = ethKey(link.eth)
    const verified = await validateEthRecord(key, bytes, this.#validationOptions())
    await this.#putRecord(key, bytes, signal)
    return verified
  }

  /**
   * Looks up the agent linked to an Ethereum address (`/araliya/eth/<0x…>`), checking the two-way link
   * proof, then (unless `resolve: false`) its presence.
   *
   * @throws {AgentNotFoundError} when no valid link record (or presence) is found.
   */
  async findAgentByEth(
    eth: string,
    options?: AbortOptions & { resolve?: boolean }
  ): Promise<VerifiedEthRecord & { agentInfo?: AgentInfo }> {
    this.#assertStarted()
    const key = ethKey(eth)
    const signal = this.#signal(options?.signal, this.#queryTimeoutMs)
    const value = await this.#getRecord(key, signal)
    if (value === undefined) throw new AgentNotFoundError(`no agent is linked to ${eth}`)
    const verified = await validateEthRecord(key, value, this.#validationOptions())
    if (options?.resolve === false) return verified
    return { ...verified, agentInfo: await this.findAgent(verified.agent, { signal }) }
  }

  /**
   * Advertises a skill: adds it to the presence record and stores a DHT provider record under the skill's
   * key (see {@link skillKey}); kad-dht re-provides it periodically.
   *
   * @throws {InvalidSkillNameError} when the name is not valid.
   */
  async provideSkill(name: string, options?: AbortOptions): Promise<void> {
    this.#assertStarted()
    const skill = normalizeSkillName(name)
    const signal = this.#signal(options?.signal, this.#queryTimeoutMs)
    if (!this.#skills.has(skill)) {
      this.#skills.add(skill)
      this.#presenceDirty = true
      this.#wakePresence()
    }
    const cid = await skillKey(skill)
    let accepted = 0
    const errors: Error[] = []
    for await (const event of this.dht.provide(cid, { signal })) {
      if (event.name === 'PEER_RESPONSE' && event.messageName === 'ADD_PROVIDER') accepted++
      if (event.name === 'QUERY_ERROR') errors.push(event.error)
    }
    this.#providedSkills.add(skill)
    log('provided skill %s (%d responses, %d errors)', skill, accepted, errors.length)
  }

  /** Stops advertising a skill (removed from presence; kad-dht stops re-providing it). */
  async removeSkill(name: string, options?: AbortOptions): Promise<void> {
    this.#assertStarted()
    const skill = normalizeSkillName(name)
    this.#skills.delete(skill)
    this.#providedSkills.delete(skill)
    await this.dht.cancelReprovide(await skillKey(skill), options)
    this.#presenceDirty = true
    this.#wakePresence()
  }

  /**
   * Finds agents that provide a skill through DHT provider records.
   *
   * @param options.limit - stop after this many providers (default 20).
   */
  async findSkillProviders(
    name: string,
    options?: AbortOptions & { limit?: number }
  ): Promise<SkillProvider[]> {
    this.#assertStarted()
    const limit = options?.limit ?? 20
    const cid = await skillKey(name)
    const controller = new AbortController()
    const signal = AbortSignal.any([this.#signal(options?.signal, this.#queryTimeoutMs), controller.signal])
    const found = new Map<string, SkillProvider>()
    try {
      for await (const event of this.dht.findProviders(cid, { signal })) {
        if (event.name !== 'PROVIDER') continue
        for (const provider of event.providers) {
          const address = provider.id.toString()
          if (provider.id.type !== 'Ed25519' || found.has(address)) continue
          found.set(address, { address, peerId: provider.id, multiaddrs: provider.multiaddrs })
        }
        if (found.size >= limit) {
          controller.abort()
          break
        }
      }
    } catch (err) {
      if (!controller.signal.aborted) throw err
    }
    return [...found.values()].slice(0, limit)
  }

  /** The heartbeat this node would publish now. */
  getStatus(): NodeStatus {
    const mesh: Record<string, number> = {}
    for (const topic of SWARM_TOPICS) mesh[topic] = this.#started ? this.gossip.getMeshPeers(topic).length : 0
    const dht = this.dht as SingleKadDHT
    return {
      v: 1,
      address: this.address,
      role: this.role,
      peers: this.libp2p.getPeers().length,
      mesh,
      dht: { mode: dht.getMode(), routingTable: dht.routingTable?.size ?? 0 },
      memory: Math.max(0, Math.round(platform.heapUsed())),
      uptimeMs: this.#started ? Date.now() - this.#startedAt : 0,
      timestamp: Date.now()
    }
  }

  /** Publishes a `node-status` heartbeat now (it is also sent every `statusIntervalMs`). */
  async publishStatus(options?: AbortOptions): Promise<NodeStatus> {
    this.#assertStarted()
    const status = this.getStatus()
    await this.gossip.publish('node-status', encodeNodeStatus(status), options)
    return status
  }

  #setupGossip(): void {
    this.gossip.attach()
    // These topics are shared: the node's own records are judged here, anything that does not decode as
    // one (a channel-p2p envelope, say) is FOREIGN_MESSAGE and left to the app's validators.
    this.gossip.setBuiltinValidator('agent-announcements', async (message) => {
      let record: PresenceRecord
      try {
        record = decodePresenceRecord(message.data, { maxRecordBytes: this.#maxRecordBytes })
      } catch {
        return FOREIGN_MESSAGE
      }
      if (record.address !== message.from) return GossipValidation.Reject
      try {
        await validatePresenceRecord(presenceKey(record.address), message.data, this.#validationOptions())
        return GossipValidation.Accept
      } catch {
        return GossipValidation.Reject
      }
    })
    this.gossip.setBuiltinValidator('node-status', (message) => {
      const verdict = checkNodeStatus(message.data, message.from)
      if (verdict.action === 'foreign') return FOREIGN_MESSAGE
      return verdict.action === 'accept' ? GossipValidation.Accept : GossipValidation.Reject
    })
    const onMessage = (event: CustomEvent<GossipMessage>): void => {
      const message = event.detail
      this.safeDispatchEvent('gossip:message', { detail: message })
      try {
        if (message.topic === 'agent-announcements') {
          const record = decodePresenceRecord(message.data, { maxRecordBytes: this.#maxRecordBytes })
          this.safeDispatchEvent('agent:announce', { detail: { record } })
        } else if (message.topic === 'node-status') {
          this.safeDispatchEvent('status:receive', { detail: { status: decodeNodeStatus(message.data) } })
        }
      } catch (err) {
        log('undecodable message on %s after validation - %e', message.topic, err)
      }
    }
    this.gossip.addEventListener('message', onMessage)
    this.#listeners.push([
      '__gossip',
      (() => this.gossip.removeEventListener('message', onMessage)) as (event: never) => void
    ])
    for (const topic of SWARM_TOPICS) this.gossip.subscribe(topic)
  }

  /**
   * kad-dht adds every peer named in a response's provider list to the routing table, DHT server or not, so
   * a light node that provides a skill would end up in full nodes' tables. Peers added without proof that
   * they serve the DHT protocol are checked (after identify) and removed if they do not.
   */
  #guardRoutingTable(): void {
    const table = (this.dht as unknown as { routingTable?: RoutingTableLike }).routingTable
    if (table?.addEventListener === undefined) return
    const protocol = `/araliya/${this.network}/kad/1.0.0`
    // What each peer said in identify. The peer store is no proof: libp2p records a protocol there as soon as
    // it *tries* one (optimistic multistream-select), before the remote has accepted it.
    const served = new Map<string, boolean>()
    const onIdentify = (event: CustomEvent<{ peerId: PeerId; protocols: string[] }>): void => {
      const id = event.detail.peerId.toString()
      served.delete(id)
      served.set(id, event.detail.protocols.includes(protocol))
      if (served.size > 10_000) {
        const oldest = served.keys().next().value
        if (oldest !== undefined) served.delete(oldest)
      }
    }
    this.#listen('peer:identify', onIdentify as (event: never) => void)
    const hasProtocol = async (peerId: PeerId): Promise<boolean | undefined> => served.get(peerId.toString())
    const onAdd = (event: CustomEvent<PeerId>): void => {
      const peerId = event.detail
      const check = async (): Promise<void> => {
        let serves = await hasProtocol(peerId)
        if (serves === undefined) {
          const signal = this.#signal(undefined, 10_000)
          const identified = new Promise<void>((resolve) => {
            const done = (e?: CustomEvent<{ peerId: PeerId }>): void => {
              if (e !== undefined && !e.detail.peerId.equals(peerId)) return
              this.libp2p.removeEventListener('peer:identify', done as never)
              resolve()
            }
            this.libp2p.addEventListener('peer:identify', done as never)
            signal.addEventListener('abort', () => done(), { once: true })
          })
          await this.libp2p.dial(peerId, { signal }).catch(() => {})
          serves = await hasProtocol(peerId)
          if (serves === undefined) {
            await identified
            serves = await hasProtocol(peerId)
          }
        }
        if (serves !== true && this.#started) {
          log('removing %p from the routing table: it does not serve %s', peerId, protocol)
          await table.remove(peerId)
        }
      }
      check().catch((err) => log('routing table check of %p failed - %e', peerId, err))
    }
    table.addEventListener('peer:add', onAdd as never)
    this.#listeners.push([
      '__routing',
      (() => table.removeEventListener('peer:add', onAdd as never)) as (event: never) => void
    ])
  }

  async #runPresenceLoop(): Promise<void> {
    const signal = this.#controller.signal
    let failures = 0
    while (!signal.aborted) {
      const due =
        this.#presence === undefined ||
        this.#presenceDirty ||
        !sameAddrs(this.#advertisedAddrs(), this.#presence.multiaddrs) ||
        Date.now() >= this.#presence.expires - (this.#ttlMs - this.#republishMs)
      let waitMs = this.#republishMs
      if (due) {
        if (!(await this.#waitForDhtPeer(signal))) return
        try {
          await this.publishPresence()
          failures = 0
        } catch (err) {
          if (signal.aborted) return
          failures++
          waitMs = Math.min(60_000, 500 * 2 ** Math.min(failures, 7))
          log('presence publish failed (attempt %d), retry in %d ms - %e', failures, waitMs, err)
          this.safeDispatchEvent('presence:error', { detail: { error: err as Error } })
        }
      } else if (this.#presence !== undefined) {
        waitMs = Math.max(0, this.#presence.expires - (this.#ttlMs - this.#republishMs) - Date.now())
      }
      await new Promise<void>((resolve) => {
        this.#presenceWake = resolve
        this.#presenceTimer = setTimeout(resolve, waitMs)
      })
      this.#presenceWake = undefined
      clearTimeout(this.#presenceTimer)
    }
  }

  #wakePresence(): void {
    this.#presenceWake?.()
  }

  async #waitForDhtPeer(signal: AbortSignal): Promise<boolean> {
    const dht = this.dht as SingleKadDHT
    while (!signal.aborted) {
      if ((dht.routingTable?.size ?? 0) > 0) return true
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    return false
  }

  #scheduleDiscovery(delayMs: number): void {
    if (!this.#started || this.#discoveryTimer !== undefined) return
    this.#discoveryTimer = setTimeout(() => {
      this.#discover()
        .catch((err) => log('peer discovery failed - %e', err))
        .finally(() => {
          this.#discoveryTimer = undefined
          if (this.#started && this.libp2p.getPeers().length < this.#targetPeers)
            this.#scheduleDiscovery(3 * DISCOVERY_DELAY_MS)
        })
    }, delayMs)
  }

  /**
   * Dials peers found by a DHT query for our own key until `targetPeers` are connected, so the gossip mesh
   * never degenerates into a star around the bootstrap node.
   */
  async #discover(): Promise<void> {
    if (this.libp2p.getPeers().length >= this.#targetPeers) return
    const dht = this.dht as SingleKadDHT
    if ((dht.routingTable?.size ?? 0) === 0) return
    const signal = this.#signal(undefined, 10_000)
    const candidates: PeerId[] = []
    for await (const event of this.dht.getClosestPeers(this.libp2p.peerId.toMultihash().bytes, { signal })) {
      if (event.name === 'FINAL_PEER' && !event.peer.id.equals(this.libp2p.peerId))
        candidates.push(event.peer.id)
    }
    for (const peerId of candidates) {
      if (this.libp2p.getPeers().length >= this.#targetPeers || signal.aborted) break
      if (this.libp2p.getConnections(peerId).length > 0) continue
      await this.libp2p.dial(peerId, { signal }).catch((err) => log('dial %p failed - %e', peerId, err))
    }
  }

  #provideInBackground(skill: string): void {
    const run = async (): Promise<void> => {
      if (!(await this.#waitForDhtPeer(this.#controller.signal))) return
      await this.provideSkill(skill)
    }
    run().catch((err) => log('could not provide skill %s yet - %e', skill, err))
  }

  async #putRecord(key: Uint8Array, bytes: Uint8Array, signal: AbortSignal): Promise<number> {
    let accepted = 0
    const errors: Error[] = []
    for await (const event of this.dht.put(key, bytes, { signal })) {
      if (event.name === 'PEER_RESPONSE' && event.messageName === 'PUT_VALUE') {
        if (event.record !== undefined && equalBytes(event.record.value, bytes)) accepted++
      } else if (event.name === 'QUERY_ERROR') {
        errors.push(event.error)
      }
    }
    if (accepted === 0 && this.role === 'light') {
      throw new PublishFailedError(
        `no DHT server accepted the record (${errors.length} errors); is a full or bootstrap node reachable?`,
        { cause: new AggregateError(errors) }
      )
    }
    if (accepted === 0 && errors.length > 0) {
      throw new PublishFailedError(`every DHT server refused the record (${errors.length} errors)`, {
        cause: new AggregateError(errors)
      })
    }
    return accepted
  }

  async #getRecord(key: Uint8Array, signal: AbortSignal): Promise<Uint8Array | undefined> {
    let value: Uint8Array | undefined
    try {
      for await (const event of this.dht.get(key, { signal })) {
        if (event.name === 'VALUE') value = event.value
      }
    } catch (err) {
      if (value === undefined && (err as Error)?.name !== 'NotFoundError') throw err
    }
    return value
  }

  #validationOptions(): { maxRecordBytes: number; maxRecordTtlMs: number } {
    return { maxRecordBytes: this.#maxRecordBytes, maxRecordTtlMs: this.#maxRecordTtlMs }
  }

  #advertisedAddrs(): string[] {
    const suffix = `/p2p/${this.address}`
    return this.libp2p
      .getMultiaddrs()
      .map((ma) => ma.toString())
      .map((s) => (s.endsWith(suffix) ? s.slice(0, -suffix.length) : s))
      .filter((s) => {
        // Every server refuses a record with one bad multiaddr, so leave out what the rule refuses.
        const problem = multiaddrProblem(s)
        if (problem !== undefined) log('not advertising %s: %s', s, problem)
        return problem === undefined
      })
      .sort()
  }

  #signal(signal?: AbortSignal, timeoutMs?: number): AbortSignal {
    const signals = [this.#controller.signal]
    if (signal !== undefined) signals.push(signal)
    if (timeoutMs !== undefined) signals.push(AbortSignal.timeout(timeoutMs))
    const combined = AbortSignal.any(signals)
    setMaxListeners(Number.POSITIVE_INFINITY, combined)
    return combined
  }

  #listen(name: string, fn: (event: never) => void): void {
    this.libp2p.addEventListener(name as never, fn as never)
    this.#listeners.push([name, fn])
  }

  #assertStarted(): void {
    if (!this.#started) throw new NodeNotStartedError('the DHT node is not started; call start() first')
  }
}

/**
 * Creates a node for an agent identity. Only builds objects: nothing is opened, dialled or listened on
 * until `start()`.
 *
 * @throws {InvalidDhtNodeOptionsError} for inconsistent options.
 * @throws {InvalidTopicError} when the network name is not valid.
 */
export async function createDhtNode(init: DhtNodeInit): Promise<DhtNode> {
  const role = init.role ?? 'full'
  if (!['bootstrap', 'full', 'light'].includes(role)) {
    throw new InvalidDhtNodeOptionsError(`role must be bootstrap, full or light; got ${String(role)}`)
  }
  if (init.identity?.privateKey?.type !== 'Ed25519') {
    throw new InvalidDhtNodeOptionsError('identity must be an @araliya/identity Identity')
  }
  const network = init.network ?? 'main'
  gossipTopic(network, 'agent-messages')
  for (const addr of init.bootstrap ?? []) {
    try {
      multiaddr(addr)
    } catch (err) {
      throw new InvalidDhtNodeOptionsError(`bootstrap address ${addr} is not a multiaddr`, { cause: err })
    }
  }
  const owned =
    init.datastore === undefined && init.dataDir !== undefined
      ? await platform.openDatastore(init.dataDir)
      : undefined
  const datastore: Datastore = init.datastore ?? owned ?? new MemoryDatastore()
  const rules = araliyaRecordRules({
    datastore,
    maxRecordBytes: init.presence?.maxRecordBytes,
    maxRecordTtlMs: init.presence?.maxRecordTtlMs
  })
  const gossipInit = init.gossip ?? {}
  const services: Record<string, unknown> = {
    identify: identify(),
    ping: ping(),
    dht: kadDHT({
      protocol: `/araliya/${network}/kad/1.0.0`,
      clientMode: role === 'light',
      validators: rules.validators,
      selectors: rules.selectors,
      peerInfoMapper: passthroughMapper,
      kBucketSize: init.dht?.kBucketSize,
      alpha: init.dht?.alpha,
      initialQuerySelfInterval: init.dht?.initialQuerySelfIntervalMs ?? 0,
      querySelfInterval: init.dht?.querySelfIntervalMs,
      logPrefix: 'araliya:dht:kad'
    }),
    pubsub: gossipsub(
      withoutUndefined({
        globalSignaturePolicy: 'StrictSign' as const,
        emitSelf: false,
        allowPublishToZeroTopicPeers: true,
        D: gossipInit.D,
        Dlo: gossipInit.Dlo,
        Dhi: gossipInit.Dhi,
        heartbeatInterval: gossipInit.heartbeatIntervalMs,
        doPX: role === 'bootstrap',
        maxInboundDataLength: gossipInit.maxMessageBytes ?? 1024 * 1024,
        scoreParams: araliyaPeerScoreParams(network, gossipInit),
        scoreThresholds: { ...DEFAULT_SCORE_THRESHOLDS, ...gossipInit.scoreThresholds },
        debugName: 'araliya:dht:gossipsub'
      })
    )
  }
  if (role === 'bootstrap') services.relay = circuitRelayServer()
  Object.assign(services, init.services)
  const options: Libp2pOptions<DhtNodeServices> = {
    start: false,
    privateKey: init.identity.privateKey,
    addresses: {
      listen: init.listen ?? platform.defaultListen(role),
      ...(init.announce !== undefined ? { announce: init.announce } : {})
    },
    transports: init.transports ?? platform.transports(),
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    datastore,
    connectionManager: init.connectionManager,
    ...(init.connectionGater !== undefined ? { connectionGater: init.connectionGater } : {}),
    services: services as unknown as Libp2pOptions<DhtNodeServices>['services'],
    ...init.libp2p
  }
  const libp2p = await createLibp2p<DhtNodeServices>(options)
  return new DhtNode({ ...init, role, network }, libp2p, datastore, owned)
}

/** The circuit relay server of a bootstrap node, if this node runs one. */
export function relayServiceOf(node: DhtNode): CircuitRelayService | undefined {
  return (node.libp2p.services as Record<string, unknown>).relay as CircuitRelayService | undefined
}

interface RoutingTableLike {
  addEventListener(name: 'peer:add', fn: (event: CustomEvent<PeerId>) => void): void
  removeEventListener(name: 'peer:add', fn: (event: CustomEvent<PeerId>) => void): void
  remove(peerId: PeerId): Promise<void>
}

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T
}

function sameAddrs(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false
  const sorted = [...b].sort()
  return [...a].sort().every((value, i) => value === sorted[i])
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}

/**
 * Addresses from callers are checked by identity's one strict parser before libp2p sees them, so a
 * look-alike or a second spelling of a key never reaches a DHT query or a dial.
 */
function assertAgentAddress(address: string): void {
  try {
    publicKeyFromAddress(address)
  } catch (err) {
    throw new InvalidInputError(
      `"${String(address).slice(0, 80)}" is not an agent address: ${(err as Error).message}`,
      {
        cause: err
      }
    )
  }
}
