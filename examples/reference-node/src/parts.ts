// The parts of a node, each a subsystem of `@araliya/bus`'s Supervisor: it starts them in dependency
// order, stops them in reverse, and restarts one that fails while running (with backoff). A part holds
// the thing it runs (`current()`), which a restart replaces; parts built on another part (the channel
// and the heartbeat on the DHT node) restart with it, so they never keep running on a stopped node.
import { join } from 'node:path'
import type { Bus, HealthReport, Subsystem, SubsystemContext } from '@araliya/bus'
import {
  type ChannelRoute,
  createChannel,
  type DirectMessages,
  direct,
  type GraphSyncCarrier,
  type GraphSyncHandle,
  graphSync,
  type P2PChannel
} from '@araliya/channel-p2p'
import { createGraph, type Graph, graphSyncEndpoint } from '@araliya/crdt-graph'
import { levelStore } from '@araliya/crdt-graph/level'
import {
  createDhtNode,
  type DhtNode as PresetNode,
  type DhtNodeInit,
  type DhtNodeServices
} from '@araliya/dht-node'
import type { Identity } from '@araliya/identity'
import { NotStartedError } from '@araliya/interface'
import { logger } from '@libp2p/logger'

/** The libp2p node of a reference node: dht-node's preset plus channel-p2p's two services. */
export type DhtNode = PresetNode<DhtNodeServices & { direct: DirectMessages; graphSync: GraphSyncCarrier }>

/** A part asked for what it runs while it is not running. */
export class PartNotRunningError extends NotStartedError {
  override name = 'PartNotRunningError'
}

/** A subsystem that also hands out what it runs. */
export interface Part<T> extends Subsystem {
  /** What this part runs now; a restart replaces it. @throws {PartNotRunningError} when not running. */
  current(): T
}

/** Calls `fail` on every dependent when a part comes up again after a restart. */
class Restarts {
  readonly #dependents = new Set<(error: Error) => void>()
  #starts = 0

  /** Called by the part each time it has started. */
  started(name: string): void {
    this.#starts++
    if (this.#starts === 1) return
    const error = new Error(`${name} was restarted; its dependents restart on the new one`)
    for (const fail of this.#dependents) fail(error)
  }

  /** A dependent's context: its run fails (and so restarts) when the part it uses restarts. */
  follow(context: SubsystemContext): void {
    const fail = (error: Error): void => context.fail(error)
    this.#dependents.add(fail)
    context.signal.addEventListener('abort', () => this.#dependents.delete(fail), { once: true })
  }
}

/** Holds the value a running part hands out. */
class Slot<T> {
  #value: T | undefined
  constructor(readonly name: string) {}
  get(): T {
    if (this.#value === undefined) throw new PartNotRunningError(`the ${this.name} part`)
    return this.#value
  }
  set(value: T | undefined): void {
    this.#value = value
  }
  peek(): T | undefined {
    return this.#value
  }
}

/** The node's key: loaded from (or created in) its keystore, or one already loaded. */
export function identityPart(
  load: () => Promise<{ identity: Identity; created: boolean }>
): Part<{ identity: Identity; created: boolean }> {
  const slot = new Slot<{ identity: Identity; created: boolean }>('identity')
  return {
    name: 'identity',
    // Failing to read a key again would not make it readable: a broken key file is an operator error.
    restart: { maxRestarts: 0 },
    async start() {
      slot.set(slot.peek() ?? (await load()))
    },
    // The key stays loaded: a restart of the other parts keeps the same agent.
    stop() {},
    current: () => slot.get()
  }
}

/** The node's own persistent graph, on a level store in `dir`. */
export function graphPart(identity: Part<{ identity: Identity }>, dir: string): Part<Graph> {
  const slot = new Slot<Graph>('graph')
  return {
    name: 'graph',
    dependsOn: [identity.name],
    async start() {
      const graph = createGraph({ identity: identity.current().identity, store: levelStore(dir) })
      try {
        await graph.start()
      } catch (err) {
        await graph
          .stop()
          .catch((stopErr: unknown) => log('graph did not close after a failed start: %e', stopErr))
        throw err
      }
      slot.set(graph)
    },
    async stop() {
      const graph = slot.peek()
      slot.set(undefined)
      await graph?.stop()
    },
    current: () => slot.get()
  }
}

const log = logger('araliya:reference-node')

/**
 * The libp2p node (DHT presence and skills, gossip). Each run creates a fresh node from `init`: a node
 * that stops behind the supervisor's back (`node:stop` while running) fails the run, and is replaced.
 */
export function dhtPart(
  identity: Part<{ identity: Identity }>,
  init: Omit<DhtNodeInit, 'identity' | 'services'>,
  /** Sees each new node before it starts, so no event of its start (a bootstrap retry) is missed. */
  watch: (node: DhtNode) => void = () => {}
): Part<DhtNode> & { readonly restarts: Restarts } {
  const slot = new Slot<DhtNode>('dht')
  const restarts = new Restarts()
  return {
    name: 'dht',
    dependsOn: [identity.name],
    restarts,
    async start(context) {
      // channel-p2p's services join the preset's: direct messages and graph-sync carriage.
      const node = await createDhtNode({
        ...init,
        identity: identity.current().identity,
        services: { direct: direct(), graphSync: graphSync() }
      })
      watch(node)
      // A folder already in use by another node fails here with dht-node's typed DatastoreOpenError; a
      // failed start releases whatever the node had opened.
      await node.start({ signal: context.signal })
      node.addEventListener(
        'node:stop',
        () => {
          if (slot.peek() === node) context.fail(new Error('the DHT node stopped while it was running'))
        },
        { once: true }
      )
      slot.set(node)
      restarts.started('dht')
    },
    async stop() {
      const node = slot.peek()
      slot.set(undefined)
      await node?.stop()
    },
    health(): HealthReport {
      const node = slot.peek()
      if (node === undefined || !node.isStarted()) return { status: 'unhealthy', detail: 'not running' }
      const peers = node.libp2p.getPeers().length
      // A bootstrap node waits for others to come; any other node without peers is cut off.
      if (peers === 0 && node.role !== 'bootstrap') return { status: 'degraded', detail: 'no peers' }
      return { status: 'healthy', detail: `${peers} peers` }
    },
    current: () => slot.get()
  }
}

/** The bridge between the bus and the swarm: routed bus topics <-> gossip and direct messages. */
export function channelPart(
  dht: Part<DhtNode> & { readonly restarts: Restarts },
  bus: Bus,
  routes: readonly ChannelRoute[]
): Part<P2PChannel> {
  const slot = new Slot<P2PChannel>('channel')
  return {
    name: 'channel',
    dependsOn: [dht.name],
    async start(context) {
      // The channel keeps its replay-protection set and its direct-message outbox in the node's datastore.
      const node = dht.current()
      const channel = createChannel({
        identity: node.identity,
        bus,
        services: node.libp2p.services,
        datastore: node.datastore,
        routes
      })
      await channel.start()
      slot.set(channel)
      dht.restarts.follow(context)
    },
    async stop() {
      const channel = slot.peek()
      slot.set(undefined)
      await channel?.stop()
    },
    current: () => slot.get()
  }
}

/**
 * Graph sync of the node's own space with every peer that speaks `/araliya/graph-sync/1.0.0`: the node
 * asks for its own space only (its other devices' writes) and serves only its own space, so it neither
 * stores nor hands out anyone else's data.
 */
export function graphSyncPart(
  dht: Part<DhtNode> & { readonly restarts: Restarts },
  graph: Part<Graph>
): Subsystem {
  let handle: GraphSyncHandle | undefined
  return {
    name: 'graph-sync',
    dependsOn: [dht.name, graph.name],
    async start(context) {
      const node = dht.current()
      const own = node.address
      const endpoint = graphSyncEndpoint(graph.current(), { spaces: [own], share: (space) => space === own })
      handle = await node.libp2p.services.graphSync.sync(endpoint)
      dht.restarts.follow(context)
    },
    async stop() {
      const running = handle
      handle = undefined
      await running?.stop()
    }
  }
}

/**
 * The `node-status` heartbeat: role, peers, mesh sizes, DHT table size, memory and uptime, published on
 * gossip every `intervalMs` (the first one interval after the start); 0 turns it off.
 */
export function heartbeatPart(
  dht: Part<DhtNode> & { readonly restarts: Restarts },
  intervalMs: number
): Subsystem {
  let timer: ReturnType<typeof setInterval> | undefined
  return {
    name: 'heartbeat',
    dependsOn: [dht.name],
    start(context) {
      dht.restarts.follow(context)
      if (intervalMs === 0) return
      const node = dht.current()
      timer = setInterval(() => {
        node
          .publishStatus({ signal: context.signal })
          .catch((err: unknown) => log('status heartbeat not sent - %e', err))
      }, intervalMs)
    },
    stop() {
      clearInterval(timer)
      timer = undefined
    }
  }
}

/** `<dir>/dht` and `<dir>/graph`: where a node's parts keep their data. */
export function partDirs(dir: string): { dht: string; graph: string; identity: string } {
  return { dht: join(dir, 'dht'), graph: join(dir, 'graph'), identity: join(dir, 'identity') }
}
