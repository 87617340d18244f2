import {
  type ComponentLogger,
  type Libp2pEvents,
  type Logger,
  type PeerId,
  serviceCapabilities,
  type Startable,
  serviceDependencies,
  type TypedEventTarget
} from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import { LRUCache } from 'lru-cache'
import { type ConnectionManagerLike, operationSignal, serviceController } from './util.js'

/** Settings of the {@link routingGuard} service. */
export interface RoutingGuardInit {
  /** The DHT protocol a peer must serve to stay in the table. Default `/araliya/<network>/kad/1.0.0`. */
  protocol?: string
  /** The network namespace used for the default protocol. Default `main`. */
  network?: string
  /** How many peers' identify answers are remembered. Default 10 000. */
  maxTrackedPeers?: number
}

/** What the routing guard uses. */
export interface RoutingGuardComponents {
  connectionManager: ConnectionManagerLike
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
  dht: KadDHT
}

interface RoutingTableLike {
  addEventListener(name: 'peer:add', fn: (event: CustomEvent<PeerId>) => void): void
  removeEventListener(name: 'peer:add', fn: (event: CustomEvent<PeerId>) => void): void
  remove(peerId: PeerId): Promise<void>
}

/**
 * Keeps kad-dht's routing table to DHT servers (component name `routingGuard`). kad-dht adds every peer
 * named in a response's provider list to the routing table, DHT server or not, so a light node that
 * provides a skill would end up in full nodes' tables. Peers added without proof that they serve the DHT
 * protocol are checked (after identify) and removed if they do not.
 */
export class RoutingGuard implements Startable {
  readonly [Symbol.toStringTag] = '@araliya/routing-guard'
  readonly [serviceCapabilities]: string[] = ['@araliya/routing-guard']
  readonly [serviceDependencies]: string[] = ['@libp2p/kad-dht', '@libp2p/identify']
  readonly #components: RoutingGuardComponents
  readonly #protocol: string
  readonly #log: Logger
  // What each peer said in identify. The peer store is no proof: libp2p records a protocol there as soon as
  // it *tries* one (optimistic multistream-select), before the remote has accepted it.
  readonly #maxTrackedPeers: number
  // Made on first use: an LRUCache allocates its arrays for `max` entries up front (about a millisecond
  // for 10 000), which a node need not pay before it is ready.
  #servedCache: LRUCache<string, boolean> | undefined
  #table: RoutingTableLike | undefined
  #controller = serviceController()
  #started = false
  readonly #onIdentify = (event: CustomEvent<{ peerId: PeerId; protocols: string[] }>): void => {
    this.#served().set(event.detail.peerId.toString(), event.detail.protocols.includes(this.#protocol))
  }
  readonly #onAdd = (event: CustomEvent<PeerId>): void => {
    const peerId = event.detail
    this.#check(peerId).catch((err) => this.#log('routing table check of %p failed - %e', peerId, err))
  }

  constructor(components: RoutingGuardComponents, init: RoutingGuardInit = {}) {
    this.#components = components
    this.#protocol = init.protocol ?? `/araliya/${init.network ?? 'main'}/kad/1.0.0`
    this.#maxTrackedPeers = init.maxTrackedPeers ?? 10_000
    this.#log = components.logger.forComponent('araliya:dht:routing-guard')
  }

  /** True between `start()` and `stop()`. */
  isStarted(): boolean {
    return this.#started
  }

  /** Watches identify and the routing table. Safe to call twice. */
  start(): void {
    if (this.#started) return
    const table = (this.#components.dht as unknown as { routingTable?: RoutingTableLike }).routingTable
    this.#controller = serviceController()
    this.#started = true
    if (table?.addEventListener === undefined) {
      this.#log.error('kad-dht has no routing table to guard; light peers may stay in it')
      return
    }
    this.#table = table
    this.#components.events.addEventListener('peer:identify', this.#onIdentify as never)
    table.addEventListener('peer:add', this.#onAdd)
  }

  /** Stops watching. Safe to call twice. */
  stop(): void {
    if (!this.#started) return
    this.#started = false
    this.#controller.abort()
    this.#components.events.removeEventListener('peer:identify', this.#onIdentify as never)
    this.#table?.removeEventListener('peer:add', this.#onAdd)
    this.#table = undefined
  }

  #served(): LRUCache<string, boolean> {
    this.#servedCache ??= new LRUCache({ max: this.#maxTrackedPeers })
    return this.#servedCache
  }

  async #check(peerId: PeerId): Promise<void> {
    const { events, connectionManager } = this.#components
    let serves = this.#served().get(peerId.toString())
    if (serves === undefined) {
      const signal = operationSignal(this.#controller.signal, undefined, 10_000)
      const identified = new Promise<void>((resolve) => {
        const done = (e?: CustomEvent<{ peerId: PeerId }>): void => {
          if (e !== undefined && !e.detail.peerId.equals(peerId)) return
          events.removeEventListener('peer:identify', done as never)
          resolve()
        }
        events.addEventListener('peer:identify', done as never)
        signal.addEventListener('abort', () => done(), { once: true })
      })
      await connectionManager
        .openConnection(peerId, { signal })
        .catch((err) => this.#log('could not dial %p to check it - %e', peerId, err))
      serves = this.#served().get(peerId.toString())
      if (serves === undefined) {
        await identified
        serves = this.#served().get(peerId.toString())
      }
    }
    if (serves !== true && this.#started) {
      this.#log('removing %p from the routing table: it does not serve %s', peerId, this.#protocol)
      await this.#table?.remove(peerId)
    }
  }
}

/** The routing-table guard: `services: { …, routingGuard: routingGuard({ network }) }`. */
export function routingGuard(
  init: RoutingGuardInit = {}
): (components: RoutingGuardComponents) => RoutingGuard {
  return (components) => new RoutingGuard(components, init)
}
