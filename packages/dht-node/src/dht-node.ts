import type { EthLink, Identity } from '@araliya/identity'
import { type AbortOptions, throwIfAborted } from '@araliya/interface'
import type { GossipSub } from '@libp2p/gossipsub'
import type { Identify } from '@libp2p/identify'
import type { Connection, Logger, PeerId } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Ping } from '@libp2p/ping'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Datastore } from 'interface-datastore'
import type { Libp2p } from 'libp2p'
import { TypedEventEmitter } from 'main-event'
import { Bootstrapper, type BootstrapRetryInit } from './bootstrap.js'
import { DatastoreOpenError, NodeNotStartedError } from './errors.js'
import type { VerifiedEthRecord } from './eth-record.js'
import type { EthRecordsService } from './eth-records.js'
import type { GossipLayer, GossipMessage } from './gossip.js'
import type { NodeStatusService } from './node-status.js'
import { PeerTopUp } from './peer-top-up.js'
import type { ClosableDatastore } from './platform/types.js'
import type { PresenceRecord } from './presence.js'
import type { AgentInfo, PresenceService } from './presence-service.js'
import type { RoutingGuard } from './routing-guard.js'
import type { SkillProvider, SkillsService } from './skills-service.js'
import type { NodeStatus } from './status.js'
import { operationSignal, serviceController } from './util.js'

/**
 * A node's role in the swarm (see docs/protocols/presence.md and the network design):
 * - `bootstrap`: DHT server, circuit-relay-v2 server, always on; others dial it first.
 * - `full`: DHT server; stores records for others.
 * - `light`: DHT client (set explicitly); stores nothing for others; for phones and browsers.
 */
export type DhtNodeRole = 'bootstrap' | 'full' | 'light'

/** Araliya's services, by the component names other services find them under. */
export interface AraliyaServices {
  gossip: GossipLayer
  presence: PresenceService
  skills: SkillsService
  nodeStatus: NodeStatusService
  routingGuard: RoutingGuard
  ethRecords: EthRecordsService
}

/** The services every preset node runs: libp2p's (`identify`, `ping`, `dht`, `pubsub`) and Araliya's. */
export interface DhtNodeServices extends AraliyaServices {
  [key: string]: unknown
  identify: Identify
  ping: Ping
  dht: KadDHT
  pubsub: GossipSub
}

/** Details of a bootstrap connection event. */
export interface BootstrapEventDetail {
  readonly multiaddr: string
  readonly peerId?: string
}

/** Details of a bootstrap retry event: one per failed dial, with the attempt and the delay before the next. */
export interface BootstrapRetryDetail extends BootstrapEventDetail {
  readonly attempt: number
  readonly delayMs: number
  readonly error: Error
}

/** Events a {@link DhtNode} emits (its own, and its services' re-emitted under the same names). */
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

/** @internal What {@link createDhtNode} hands the node. */
export interface DhtNodeParts<S extends DhtNodeServices> {
  identity: Identity
  role: DhtNodeRole
  network: string
  libp2p: Libp2p<S>
  datastore: Datastore
  ownedDatastore: ClosableDatastore | undefined
  dataDir: string | undefined
  bootstrap: readonly string[]
  bootstrapRetry: BootstrapRetryInit | undefined
  targetPeers: number
  log: Logger
}

/**
 * An agent's libp2p node, made by {@link createDhtNode}: a handle over a libp2p node running Araliya's
 * services (`libp2p.services.presence`, `.skills`, `.gossip`, …), which adds the bootstrap dialler, the
 * peer top-up and the datastore it opened. Its methods delegate to the services; nothing touches the
 * network until `start()`.
 */
export class DhtNode<S extends DhtNodeServices = DhtNodeServices> extends TypedEventEmitter<DhtNodeEvents> {
  /** The agent identity. */
  readonly identity: Identity
  /** The agent address (= `libp2p.peerId.toString()`). */
  readonly address: string
  /** The node's role. */
  readonly role: DhtNodeRole
  /** The network namespace. */
  readonly network: string
  /** The underlying libp2p node, for custom protocols and anything else. */
  readonly libp2p: Libp2p<S>

  readonly #parts: DhtNodeParts<S>
  readonly #bootstrapper: Bootstrapper
  readonly #topUp: PeerTopUp
  #started = false
  #starting: Promise<void> | undefined
  #stopping: Promise<void> | undefined
  #controller = serviceController()
  readonly #onConnect = (event: CustomEvent<PeerId>): void => {
    this.safeDispatchEvent('peer:connect', { detail: { peerId: event.detail.toString() } })
  }
  readonly #onDisconnect = (event: CustomEvent<PeerId>): void => {
    this.safeDispatchEvent('peer:disconnect', { detail: { peerId: event.detail.toString() } })
  }

  /** @internal Use {@link createDhtNode}. */
  constructor(parts: DhtNodeParts<S>) {
    super()
    this.#parts = parts
    this.identity = parts.identity
    this.address = parts.identity.address
    this.role = parts.role
    this.network = parts.network
    this.libp2p = parts.libp2p
    this.#topUp = new PeerTopUp(parts.libp2p, parts.targetPeers, parts.log)
    this.#bootstrapper = new Bootstrapper(
      parts.libp2p,
      parts.bootstrap,
      parts.bootstrapRetry,
      {
        onConnect: (detail) => {
          this.safeDispatchEvent('bootstrap:connect', { detail })
          this.#topUp.schedule(10_000)
        },
        onRetry: (detail) => this.safeDispatchEvent('bootstrap:retry', { detail })
      },
      parts.log.newScope('bootstrap')
    )
    const services = parts.libp2p.services
    this.#forward(services.presence, ['presence:publish', 'presence:error', 'agent:announce'])
    this.#forward(services.gossip, ['gossip:message'])
    this.#forward(services.nodeStatus, ['status:receive'])
  }

  /** True between a completed `start()` and `stop()`. */
  isStarted(): boolean {
    return this.#started
  }

  /** The gossip service (publish raw bytes, subscribe, topic validators). */
  get gossip(): GossipLayer {
    return this.libp2p.services.gossip
  }

  /** The kad-dht service. */
  get dht(): KadDHT {
    return this.libp2p.services.dht
  }

  /** The datastore holding DHT records and the peer store. */
  get datastore(): Datastore {
    return this.#parts.datastore
  }

  /** Our latest published presence record, if any. */
  get presence(): PresenceRecord | undefined {
    return this.libp2p.services.presence.record
  }

  /** The skills this node advertises (normalised). */
  get skills(): string[] {
    return this.libp2p.services.presence.skills
  }

  /** Our dialable multiaddrs (with `/p2p/<address>`). */
  getMultiaddrs(): Multiaddr[] {
    return this.libp2p.getMultiaddrs()
  }

  /**
   * Opens the datastore, starts libp2p and its services (topics, presence, heartbeat, …), and begins
   * dialling bootstrap nodes (with backoff; a bootstrap that is down does not fail the start). Safe to
   * call twice.
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
    this.#controller = serviceController()
    const owned = this.#parts.ownedDatastore
    if (owned !== undefined) {
      try {
        await owned.open()
      } catch (err) {
        throw new DatastoreOpenError(
          `could not open the node's datastore in ${this.#parts.dataDir ?? '(custom datastore)'}: another process ` +
            'may be using it (stop the other node first), or it is damaged or unreadable',
          { cause: err }
        )
      }
    }
    try {
      await this.libp2p.start()
    } catch (err) {
      // libp2p has already stopped what it had started; the datastore is ours to release, so the next
      // start (this node's, or another's on the same folder) can open it.
      await owned
        ?.close()
        .catch((closeErr: unknown) =>
          this.#parts.log('datastore not closed after a failed start - %e', closeErr)
        )
      throw err
    }
    this.libp2p.addEventListener('peer:connect', this.#onConnect)
    this.libp2p.addEventListener('peer:disconnect', this.#onDisconnect)
    this.#started = true
    this.#bootstrapper.start()
    this.#topUp.start()
    this.#parts.log('started %s as %s on network %s', this.address, this.role, this.network)
    this.safeDispatchEvent('node:start', { detail: { address: this.address } })
  }

  /** Stops the dialler, libp2p and its services, and closes the datastore it opened. Safe to call twice. */
  async stop(_options?: AbortOptions): Promise<void> {
    if (this.#starting !== undefined) {
      await this.#starting.catch((err) => this.#parts.log('stop after a failed start - %e', err))
    }
    if (!this.#started) return
    if (this.#stopping !== undefined) return this.#stopping
    this.#stopping = this.#stop().finally(() => {
      this.#stopping = undefined
    })
    return this.#stopping
  }

  async #stop(): Promise<void> {
    this.#started = false
    this.#controller.abort(new NodeNotStartedError('the DHT node'))
    this.#bootstrapper.stop()
    this.#topUp.stop()
    this.libp2p.removeEventListener('peer:connect', this.#onConnect)
    this.libp2p.removeEventListener('peer:disconnect', this.#onDisconnect)
    await this.libp2p.stop()
    await this.#parts.ownedDatastore?.close()
    this.#parts.log('stopped %s', this.address)
    this.safeDispatchEvent('node:stop', { detail: { address: this.address } })
  }

  /** Resolves once at least one bootstrap node is connected (at once when none is configured). */
  async waitForBootstrap(options?: AbortOptions): Promise<void> {
    this.#assertStarted()
    await this.#bootstrapper.waitForConnection(operationSignal(this.#controller.signal, options?.signal))
  }

  /** See {@link PresenceService.publish}. */
  async publishPresence(options?: AbortOptions): Promise<PresenceRecord> {
    this.#assertStarted()
    return this.libp2p.services.presence.publish(options)
  }

  /** See {@link PresenceService.findAgent}. */
  async findAgent(address: string, options?: AbortOptions & { cache?: boolean }): Promise<AgentInfo> {
    this.#assertStarted()
    return this.libp2p.services.presence.findAgent(address, options)
  }

  /** See {@link PresenceService.dialAgent}. */
  async dialAgent(address: string, options?: AbortOptions): Promise<Connection> {
    this.#assertStarted()
    return this.libp2p.services.presence.dialAgent(address, options)
  }

  /** See {@link EthRecordsService.publishEthLink}. */
  async publishEthLink(
    link: EthLink,
    options?: AbortOptions & { ttlMs?: number }
  ): Promise<VerifiedEthRecord> {
    this.#assertStarted()
    return this.libp2p.services.ethRecords.publishEthLink(link, options)
  }

  /** See {@link EthRecordsService.findAgentByEth}. */
  async findAgentByEth(
    eth: string,
    options?: AbortOptions & { resolve?: boolean }
  ): Promise<VerifiedEthRecord & { agentInfo?: AgentInfo }> {
    this.#assertStarted()
    return this.libp2p.services.ethRecords.findAgentByEth(eth, options)
  }

  /** See {@link SkillsService.provide}. */
  async provideSkill(name: string, options?: AbortOptions): Promise<void> {
    this.#assertStarted()
    return this.libp2p.services.skills.provide(name, options)
  }

  /** See {@link SkillsService.remove}. */
  async removeSkill(name: string, options?: AbortOptions): Promise<void> {
    this.#assertStarted()
    return this.libp2p.services.skills.remove(name, options)
  }

  /** See {@link SkillsService.findProviders}. */
  async findSkillProviders(
    name: string,
    options?: AbortOptions & { limit?: number }
  ): Promise<SkillProvider[]> {
    this.#assertStarted()
    return this.libp2p.services.skills.findProviders(name, options)
  }

  /** The heartbeat this node would publish now. */
  getStatus(): NodeStatus {
    return this.libp2p.services.nodeStatus.getStatus()
  }

  /** Publishes a `node-status` heartbeat now (it is also sent every `statusIntervalMs`). */
  async publishStatus(options?: AbortOptions): Promise<NodeStatus> {
    this.#assertStarted()
    return this.libp2p.services.nodeStatus.publish(options)
  }

  #forward(source: EventTarget, names: ReadonlyArray<keyof DhtNodeEvents>): void {
    for (const name of names) {
      source.addEventListener(name, (event) => {
        this.safeDispatchEvent(name, { detail: (event as CustomEvent).detail })
      })
    }
  }

  #assertStarted(): void {
    if (!this.#started) throw new NodeNotStartedError('the DHT node')
  }
}
