// How an Araliya node is put together from its parts. Everything the swarm demo and `araliya start` run
// is built here, so this is the file to copy when you write your own node. The parts (src/parts.ts) are
// subsystems of one Supervisor from `@araliya/bus`, which starts them in dependency order, stops them in
// reverse and restarts a part that fails while running, with backoff:
//
//   identity   one ed25519 key: libp2p PeerId = agent address = graph write authority
//   graph      crdt-graph: the node's own signed, offline-first memory (optional)   needs identity
//   dht        dht-node: libp2p, kad-dht presence and skills, gossipsub topics      needs identity
//   heartbeat  the node-status heartbeat on gossip                                  needs dht
//   channel    channel-p2p: chosen bus topics <-> gossip, direct messages, sync     needs dht
//
// and the bus, the in-process event bus your agent code talks to, which the supervisor reports on.
//
// A node keeps everything under one folder: `identity/` (the key), `dht/` (DHT records and the peer
// store), `graph/` (the graph's commits). A second start from the same folder is the same agent.
import {
  type Bus,
  createBus,
  createSupervisor,
  type SubsystemStatus,
  type SupervisorHealth
} from '@araliya/bus'
import { type ChannelRoute, DIRECT_CHANNEL, type P2PChannel } from '@araliya/channel-p2p'
import type { Graph } from '@araliya/crdt-graph'
import type { DhtNode, DhtNodeRole } from '@araliya/dht-node'
import { type Identity, KeystoreNotFoundError, loadIdentity, loadOrCreateIdentity } from '@araliya/identity'
import { logger } from '@libp2p/logger'
import {
  channelPart,
  dhtPart,
  graphPart,
  graphSyncPart,
  heartbeatPart,
  identityPart,
  type Part,
  partDirs
} from './parts.ts'
import { startParts } from './supervised.ts'

const log = logger('araliya:reference-node')

/** Loopback only: the demo never opens a port that another machine could reach. */
export const LOOPBACK_TCP = '/ip4/127.0.0.1/tcp/0'

/**
 * Which bus topics travel where: bus `agents/*` <-> gossip `agent-messages` (signed envelopes), bus
 * `direct/*` <-> direct streams (`channel.send`). These are channel-p2p's `DEFAULT_ROUTES`, spelled out
 * so you can see what to change. Routes on `agent-announcements` and `node-status` may be added:
 * dht-node's own presence records and heartbeats share those topics with envelopes.
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
  /**
   * Sync the node's own graph space with its peers over `/araliya/graph-sync/1.0.0` (needs `graph`): it
   * asks for and serves its own space only. Default false.
   */
  graphSync?: boolean
  /** Skills to advertise as soon as the node has a DHT peer. */
  skills?: string[]
  /**
   * Interval of the `node-status` heartbeat (role, peers, mesh sizes, DHT table size, memory, uptime),
   * ms; 0 disables it. Default {@link DEFAULT_HEARTBEAT_MS}.
   */
  heartbeatMs?: number
  /**
   * Called with each DHT node before it starts (again after a restart of the `dht` part), so listeners
   * see every event of its start, such as `bootstrap:retry`.
   */
  watch?: (node: DhtNode) => void
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
  /** The libp2p node now running (a restart of the `dht` part replaces it). */
  readonly node: DhtNode
  /** The bus; the supervisor publishes `subsystem:started`, `subsystem:stopped` and `subsystem:failed` on it. */
  readonly bus: Bus
  /** The channel now running (it restarts with the `dht` part). */
  readonly channel: P2PChannel
  readonly graph: Graph | undefined
  /** Dialable multiaddrs including `/p2p/<address>` (what other nodes pass as `bootstrap`). */
  multiaddrs(): string[]
  /** Each part (subsystem) in start order, with its state and restarts. */
  status(): SubsystemStatus[]
  /** Asks every part for its health: `degraded` when a non-bootstrap node has no peers. */
  health(): Promise<SupervisorHealth>
  /**
   * Stops the parts in reverse dependency order (channel, heartbeat, dht, graph), then closes the bus.
   * Every part is stopped even if another one fails; the first failure is thrown after all are closed.
   * Safe to call twice.
   */
  stop(): Promise<void>
}

/**
 * Loads the identity kept in `<dir>/identity`, or creates it on first use, and says which happened.
 * A damaged or world-readable key file is a typed error, never silently replaced by a new identity.
 */
export async function loadNodeIdentity(dir: string): Promise<{ identity: Identity; created: boolean }> {
  const keyDir = partDirs(dir).identity
  try {
    return { identity: await loadIdentity({ dir: keyDir }), created: false }
  } catch (err) {
    if (!KeystoreNotFoundError.isInstance(err)) throw err
  }
  // loadOrCreateIdentity (not a plain create) so two processes racing on one folder end up as one agent.
  return { identity: await loadOrCreateIdentity({ dir: keyDir }), created: true }
}

/**
 * Assembles one node from its parts and starts them through a Supervisor. A part that cannot start is
 * not retried (at start an error means the configuration is wrong, and the operator is watching): what
 * had started is stopped again, so a half-started node never keeps a port or a database lock, and that
 * part's own error is thrown. Once running, a part that fails is restarted with backoff.
 */
export async function startSwarmNode(
  init: SwarmNodeInit,
  loaded?: { identity: Identity; created: boolean }
): Promise<SwarmNode> {
  const dirs = partDirs(init.dir)
  const listen = init.listen ?? (init.role === 'light' ? [] : [LOOPBACK_TCP])
  const loopbackOnly = listen.every((ma) => ma.startsWith('/ip4/127.0.0.1/'))

  const bus = createBus()
  const supervisor = createSupervisor({
    bus,
    // Restarts of a part that fails while running: 0.25 s, 0.5 s, 1 s, … up to 5 s, at most 5 a minute.
    restart: { maxRestarts: 5, windowMs: 60_000, initialDelayMs: 250, maxDelayMs: 5000, factor: 2 }
  })

  const identity = identityPart(async () => loaded ?? (await loadNodeIdentity(init.dir)))
  const graph = init.graph === true ? graphPart(identity, dirs.graph) : undefined
  const dht = dhtPart(
    identity,
    {
      role: init.role,
      listen,
      bootstrap: init.bootstrap ?? [],
      network: init.network ?? 'main',
      // DHT records and the peer store survive restarts, so a node finds its peers again faster.
      dataDir: dirs.dht,
      skills: init.skills ?? [],
      // Quick retries: on one machine the bootstrap node is up within milliseconds.
      bootstrapRetry: { initialDelayMs: 200, maxDelayMs: 2000, dialTimeoutMs: 5000 },
      dht: { queryTimeoutMs: 10_000 },
      // The heartbeat is its own part (below).
      statusIntervalMs: 0,
      gossip: {
        // Every node of a local swarm has the same IP. Gossipsub treats many peers on one IP as a Sybil
        // attack and lowers their score; exempt 127.0.0.1, but only when we only listen on loopback.
        ...(loopbackOnly ? { ipColocationWhitelist: ['127.0.0.1'] } : {})
      }
    },
    init.watch
  )
  // Heartbeats let dashboards and other operators see the node (its peers, mesh, DHT table).
  const heartbeat = heartbeatPart(dht, init.heartbeatMs ?? DEFAULT_HEARTBEAT_MS)
  const channel = channelPart(dht, bus, ROUTES)
  const sync = graph !== undefined && init.graphSync === true ? graphSyncPart(dht, graph) : undefined
  const parts = [
    identity,
    ...(graph === undefined ? [] : [graph]),
    dht,
    heartbeat,
    channel,
    ...(sync === undefined ? [] : [sync])
  ]

  let stopping: Promise<void> | undefined
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      const failures: Error[] = []
      const watch = bus.subscribe(
        'subsystem:stopped',
        (event) => {
          const { error } = event.payload as { error?: Error }
          if (error !== undefined) failures.push(error)
        },
        { delivery: 'sync', name: 'node-stop' }
      )
      try {
        await supervisor.stop()
      } finally {
        watch.unsubscribe()
        bus.close()
      }
      // The supervisor wraps a part's failure to stop; report the part's own error.
      if (failures[0] !== undefined) throw failures[0].cause ?? failures[0]
    })()
    return stopping
  }

  try {
    await startParts(supervisor, parts)
  } catch (err) {
    // Everything that had started is stopped again; close the bus too.
    await stop().catch((stopErr: unknown) => log('a part failed to stop after a failed start: %e', stopErr))
    throw err
  }

  const { identity: id, created } = identity.current()
  const current = <T>(part: Part<T> | undefined): T | undefined => part?.current()
  return {
    name: init.name,
    role: init.role,
    dir: init.dir,
    identity: id,
    created,
    address: id.address,
    get node() {
      return dht.current()
    },
    bus,
    get channel() {
      return channel.current()
    },
    get graph() {
      return current(graph)
    },
    multiaddrs: () =>
      dht
        .current()
        .getMultiaddrs()
        .map((ma) => ma.toString()),
    status: () => supervisor.status(),
    health: () => supervisor.health(),
    stop
  }
}
