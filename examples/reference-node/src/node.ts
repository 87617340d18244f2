// How an Araliya node is put together from its parts. Everything the swarm demo and `araliya start` run
// is built here, so this is the file to copy when you write your own node:
//
//   identity (one ed25519 key: libp2p PeerId = agent address = graph write authority)
//     + dht-node (libp2p: kad-dht presence and skills, gossipsub topics)
//     + bus (the in-process event bus your agent code talks to)
//     + channel-p2p (bridges chosen bus topics to gossip, direct messages, graph sync)
//     + crdt-graph (the node's own signed, offline-first memory; optional)
//
// A node keeps everything under one folder: `identity/` (the key), `dht/` (DHT records and the peer
// store), `graph/` (the graph's commits). A second start from the same folder is the same agent.
import { join } from 'node:path'
import { type Bus, createBus } from '@araliya/bus'
import { type ChannelRoute, createChannel, DIRECT_CHANNEL, type P2PChannel } from '@araliya/channel-p2p'
import { createGraph, type Graph } from '@araliya/crdt-graph'
import { levelStore } from '@araliya/crdt-graph/level'
import { createDhtNode, type DhtNode, type DhtNodeRole } from '@araliya/dht-node'
import { type Identity, KeystoreNotFoundError, loadIdentity, loadOrCreateIdentity } from '@araliya/identity'

/** Loopback only: the demo never opens a port that another machine could reach. */
export const LOOPBACK_TCP = '/ip4/127.0.0.1/tcp/0'

/**
 * Which bus topics travel where: bus `agents/*` <-> gossip `agent-messages` (signed envelopes), bus
 * `direct/*` <-> direct streams (`channel.send`). These are channel-p2p's defaults, spelled out so you
 * can see what to change. Routes on `agent-announcements` and `node-status` may be added: dht-node's own
 * presence records and heartbeats share those topics with envelopes.
 */
export const ROUTES: readonly ChannelRoute[] = [
  { bus: 'agents/*', swarm: 'agent-messages' },
  { bus: 'direct/*', swarm: DIRECT_CHANNEL }
]

/** Options of {@link startSwarmNode}. */
export interface SwarmNodeInit {
  /** A label for logs ("bootstrap", "full-1", …). */
  name: string
  role: DhtNodeRole
  /** The node's own folder (identity, DHT store, graph). */
  dir: string
  /** Multiaddrs (ending in `/p2p/<address>`) of the bootstrap nodes to dial. */
  bootstrap?: string[]
  /** The swarm namespace; nodes of different networks never exchange gossip or DHT traffic. */
  network?: string
  /** Where to listen. Default: loopback TCP on a free port (none for a light node: it only dials out). */
  listen?: string[]
  /** Open the node's persistent graph (`<dir>/graph`). Default false. */
  graph?: boolean
  /** Skills to advertise as soon as the node has a DHT peer. */
  skills?: string[]
  /**
   * Interval of the `node-status` heartbeat (role, peers, mesh sizes, DHT table size, memory, uptime),
   * ms; 0 disables it. Default {@link DEFAULT_HEARTBEAT_MS}.
   */
  heartbeatMs?: number
}

/** Default interval of a node's `node-status` heartbeat: 30 s, as in dht-node. */
export const DEFAULT_HEARTBEAT_MS = 30_000

/** A running node and its parts. */
export interface SwarmNode {
  readonly name: string
  readonly role: DhtNodeRole
  readonly dir: string
  readonly identity: Identity
  /** True when this start created the identity; false when it was loaded from `<dir>/identity`. */
  readonly created: boolean
  readonly address: string
  readonly node: DhtNode
  readonly bus: Bus
  readonly channel: P2PChannel
  readonly graph: Graph | undefined
  /** Dialable multiaddrs including `/p2p/<address>` (what other nodes pass as `bootstrap`). */
  multiaddrs(): string[]
  /** Stops channel, graph, node and bus, in that order. Safe to call twice. */
  stop(): Promise<void>
}

/**
 * Loads the identity kept in `<dir>/identity`, or creates it on first use, and says which happened.
 * A damaged or world-readable key file is a typed error, never silently replaced by a new identity.
 */
export async function loadNodeIdentity(dir: string): Promise<{ identity: Identity; created: boolean }> {
  const keyDir = join(dir, 'identity')
  try {
    return { identity: await loadIdentity({ dir: keyDir }), created: false }
  } catch (err) {
    if (!KeystoreNotFoundError.isInstance(err)) throw err
  }
  // loadOrCreateIdentity (not a plain create) so two processes racing on one folder end up as one agent.
  return { identity: await loadOrCreateIdentity({ dir: keyDir }), created: true }
}

/**
 * Assembles and starts one node. On failure everything opened so far is closed again before the error
 * is thrown, so a half-started node never keeps a port or a database lock.
 */
export async function startSwarmNode(
  init: SwarmNodeInit,
  loaded?: { identity: Identity; created: boolean }
): Promise<SwarmNode> {
  const { identity, created } = loaded ?? (await loadNodeIdentity(init.dir))
  const listen = init.listen ?? (init.role === 'light' ? [] : [LOOPBACK_TCP])
  const loopbackOnly = listen.every((ma) => ma.startsWith('/ip4/127.0.0.1/'))

  const node = await createDhtNode({
    identity,
    role: init.role,
    listen,
    bootstrap: init.bootstrap ?? [],
    network: init.network ?? 'main',
    // DHT records and the peer store survive restarts, so a node finds its peers again faster.
    dataDir: join(init.dir, 'dht'),
    skills: init.skills ?? [],
    // Quick retries: on one machine the bootstrap node is up within milliseconds.
    bootstrapRetry: { initialDelayMs: 200, maxDelayMs: 2000, dialTimeoutMs: 5000 },
    dht: { queryTimeoutMs: 10_000 },
    // Heartbeats let dashboards and other operators see the node (its peers, mesh, DHT table).
    statusIntervalMs: init.heartbeatMs ?? DEFAULT_HEARTBEAT_MS,
    gossip: {
      // Every node of a local swarm has the same IP. Gossipsub treats many peers on one IP as a Sybil
      // attack and lowers their score; exempt 127.0.0.1, but only when we only listen on loopback.
      ...(loopbackOnly ? { ipColocationWhitelist: ['127.0.0.1'] } : {})
    }
  })

  const bus = createBus()
  // The channel keeps its replay-protection set and its direct-message outbox in the node's datastore.
  const channel = createChannel({ node, bus, routes: ROUTES })
  const graph =
    init.graph === true ? createGraph({ identity, store: levelStore(join(init.dir, 'graph')) }) : undefined

  let stopping: Promise<void> | undefined
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      // Each part is stopped even if another one fails; the first error is reported after all are closed.
      const results = await Promise.allSettled([channel.stop()])
      results.push(...(await Promise.allSettled([graph?.stop(), node.stop()])))
      bus.close()
      const failed = results.find((r) => r.status === 'rejected')
      if (failed !== undefined) throw (failed as PromiseRejectedResult).reason
    })()
    return stopping
  }

  try {
    await graph?.start()
    // A folder already in use by another node fails here with dht-node's typed DatastoreOpenError (or
    // crdt-graph's StoreLockedError just above), whose message says what to do.
    await node.start()
    await channel.start()
  } catch (err) {
    await stop().catch(() => {})
    throw err
  }

  return {
    name: init.name,
    role: init.role,
    dir: init.dir,
    identity,
    created,
    address: identity.address,
    node,
    bus,
    channel,
    graph,
    multiaddrs: () => node.getMultiaddrs().map((ma) => ma.toString()),
    stop
  }
}
