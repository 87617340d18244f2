import type { AbortOptions } from '@araliya/interface'
import {
  type ComponentLogger,
  type Logger,
  type PeerId,
  serviceCapabilities,
  type Startable,
  serviceDependencies
} from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import { TypedEventEmitter } from 'main-event'
import { platform } from '#platform'
import { routingTableSize } from './dht-records.js'
import type { ConnectionManagerLike } from './util.js'
import { NodeNotStartedError } from './errors.js'
import { FOREIGN_MESSAGE, type GossipLayer, type GossipMessage, GossipValidation } from './gossip.js'
import { checkNodeStatus, decodeNodeStatus, encodeNodeStatus, type NodeStatus } from './status.js'
import { SWARM_TOPICS } from './topics.js'

/** Settings of the {@link nodeStatus} service. */
export interface NodeStatusInit {
  /** The role reported in heartbeats. Default `full` (`light` when the DHT runs in client mode). */
  role?: 'bootstrap' | 'full' | 'light'
  /** Interval of the heartbeat, ms; 0 disables it. Default 30 s. */
  intervalMs?: number
}

/** What the node-status service uses. */
export interface NodeStatusComponents {
  peerId: PeerId
  connectionManager: ConnectionManagerLike
  logger: ComponentLogger
  dht: KadDHT
  gossip: GossipLayer
}

/** Events of the node-status service. */
export interface NodeStatusEvents {
  /** A valid heartbeat arrived on `node-status`. */
  'status:receive': CustomEvent<{ status: NodeStatus }>
}

/**
 * The `node-status` heartbeat (component name `nodeStatus`): publishes this node's status every
 * `intervalMs`, validates others' heartbeats (the signer must be the address they name) and emits them.
 */
export class NodeStatusService extends TypedEventEmitter<NodeStatusEvents> implements Startable {
  readonly [Symbol.toStringTag] = '@araliya/node-status'
  readonly [serviceCapabilities]: string[] = ['@araliya/node-status']
  readonly [serviceDependencies]: string[] = ['@libp2p/kad-dht', '@araliya/gossip']
  readonly #components: NodeStatusComponents
  readonly #role: NodeStatusInit['role']
  readonly #intervalMs: number
  readonly #log: Logger
  #started = false
  #startedAt = 0
  #timer: ReturnType<typeof setInterval> | undefined
  readonly #onMessage = (event: CustomEvent<GossipMessage>): void => {
    if (event.detail.topic !== 'node-status') return
    try {
      this.safeDispatchEvent('status:receive', { detail: { status: decodeNodeStatus(event.detail.data) } })
    } catch (err) {
      this.#log('undecodable heartbeat after validation - %e', err)
    }
  }

  constructor(components: NodeStatusComponents, init: NodeStatusInit = {}) {
    super()
    this.#components = components
    this.#role = init.role
    this.#intervalMs = init.intervalMs ?? 30_000
    this.#log = components.logger.forComponent('araliya:dht:status')
  }

  /** True between `start()` and `stop()`. */
  isStarted(): boolean {
    return this.#started
  }

  /** Installs the heartbeat validator. Safe to call twice. */
  start(): void {
    if (this.#started) return
    const { gossip } = this.#components
    gossip.setBuiltinValidator('node-status', (message) => {
      const verdict = checkNodeStatus(message.data, message.from)
      if (verdict.action === 'foreign') return FOREIGN_MESSAGE
      return verdict.action === 'accept' ? GossipValidation.Accept : GossipValidation.Reject
    })
    gossip.addEventListener('gossip:message', this.#onMessage)
    this.#startedAt = Date.now()
    this.#started = true
  }

  /** Starts the heartbeat timer. */
  afterStart(): void {
    if (!this.#started || this.#intervalMs <= 0 || this.#timer !== undefined) return
    this.#timer = setInterval(() => {
      this.publish().catch((err) => this.#log('status heartbeat not sent - %e', err))
    }, this.#intervalMs)
  }

  /** Stops the heartbeat. Safe to call twice. */
  stop(): void {
    if (!this.#started) return
    this.#started = false
    clearInterval(this.#timer)
    this.#timer = undefined
    this.#components.gossip.removeEventListener('gossip:message', this.#onMessage)
  }

  /** The heartbeat this node would publish now. */
  getStatus(): NodeStatus {
    const { gossip, dht, connectionManager, peerId } = this.#components
    const mesh: Record<string, number> = {}
    for (const topic of SWARM_TOPICS) mesh[topic] = this.#started ? gossip.getMeshPeers(topic).length : 0
    const mode = dht.getMode()
    return {
      v: 1,
      address: peerId.toString(),
      role: this.#role ?? (mode === 'client' ? 'light' : 'full'),
      peers: new Set(connectionManager.getConnections().map((c) => c.remotePeer.toString())).size,
      mesh,
      dht: { mode, routingTable: routingTableSize(dht) },
      memory: Math.max(0, Math.round(platform.heapUsed())),
      uptimeMs: this.#started ? Date.now() - this.#startedAt : 0,
      timestamp: Date.now()
    }
  }

  /** Publishes a heartbeat now (it is also sent every `intervalMs`). */
  async publish(options?: AbortOptions): Promise<NodeStatus> {
    if (!this.#started) throw new NodeNotStartedError('the node-status service')
    const status = this.getStatus()
    await this.#components.gossip.publish('node-status', encodeNodeStatus(status), options)
    return status
  }
}

/** The node-status heartbeat service: `services: { …, nodeStatus: nodeStatus({ intervalMs: 30_000 }) }`. */
export function nodeStatus(
  init: NodeStatusInit = {}
): (components: NodeStatusComponents) => NodeStatusService {
  return (components) => new NodeStatusService(components, init)
}
