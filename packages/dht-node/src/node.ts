import type { Identity } from '@araliya/identity'
import { type CircuitRelayService, circuitRelayServer } from '@libp2p/circuit-relay-v2'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import type { ConnectionGater } from '@libp2p/interface'
import { kadDHT, passthroughMapper, type ValidateFn } from '@libp2p/kad-dht'
import { defaultLogger } from '@libp2p/logger'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { MemoryDatastore } from 'datastore-core'
import type { Datastore } from 'interface-datastore'
import { createLibp2p, type Libp2pOptions, type ServiceFactoryMap } from 'libp2p'
import { platform } from '#platform'
import type { BootstrapRetryInit } from './bootstrap.js'
import { DhtNode, type DhtNodeRole, type DhtNodeServices } from './dht-node.js'
import { InvalidDhtNodeOptionsError } from './errors.js'
import { ethRecords } from './eth-records.js'
import { gossip } from './gossip.js'
import { araliyaPeerScoreParams, DEFAULT_SCORE_THRESHOLDS, type GossipInit } from './gossip-score.js'
import { nodeStatus } from './node-status.js'
import type { TransportFactory } from './platform/types.js'
import { type PresenceInit, presence } from './presence-service.js'
import { decodeKey, PRESENCE_KEY_PREFIX } from './presence.js'
import { araliyaRecordRules, RECORD_NAMESPACE } from './records.js'
import { routingGuard } from './routing-guard.js'
import { skills } from './skills-service.js'
import { gossipTopic } from './topics.js'
import { withoutUndefined } from './util.js'

export {
  type AraliyaServices,
  type BootstrapEventDetail,
  type BootstrapRetryDetail,
  DhtNode,
  type DhtNodeEvents,
  type DhtNodeRole,
  type DhtNodeServices
} from './dht-node.js'
export type { AgentInfo, PresenceInit } from './presence-service.js'
export type { SkillProvider } from './skills-service.js'

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
export interface DhtNodeInit<Extra extends Record<string, unknown> = Record<string, unknown>> {
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
  /**
   * Allow dials to private and loopback addresses (10/8, 192.168/16, 127/8, …). Browsers refuse them by
   * default; set this for a bootstrap on a LAN or on the same machine. Ignored when `connectionGater`
   * is given.
   */
  allowPrivateAddresses?: boolean
  /** A connection gater (decides which dials and connections are allowed). */
  connectionGater?: ConnectionGater
  /**
   * More libp2p services, merged with the preset's (channel-p2p's `direct` and `graphSync`, say). They
   * find the preset's services in `components` by name (`gossip`, `presence`, `dht`, …).
   */
  services?: { [K in keyof Extra]: ServiceFactoryMap<DhtNodeServices & Extra>[K] }
  /** Escape hatch: options merged last into `createLibp2p`. */
  libp2p?: Partial<Libp2pOptions<DhtNodeServices>>
}

/**
 * Creates a node for an agent identity: `createLibp2p` with identify, ping, kad-dht (`dht`), gossipsub
 * (`pubsub`) and Araliya's services (`gossip`, `presence`, `skills`, `nodeStatus`, `routingGuard`,
 * `ethRecords`), plus a circuit-relay server on bootstrap nodes and the platform's transports for the
 * role. Only builds objects: nothing is opened, dialled or listened on until `start()`.
 *
 * @throws {InvalidDhtNodeOptionsError} for inconsistent options.
 * @throws {InvalidTopicError} when the network name is not valid.
 */
export async function createDhtNode<Extra extends Record<string, unknown> = Record<never, never>>(
  init: DhtNodeInit<Extra>
): Promise<DhtNode<DhtNodeServices & Extra>> {
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
  const limits = {
    maxRecordBytes: init.presence?.maxRecordBytes,
    maxRecordTtlMs: init.presence?.maxRecordTtlMs
  }
  const rules = araliyaRecordRules({ datastore, ...limits })
  // Records the validator accepts (PUTs this node stores, values its GETs return) also reach the presence
  // cache, so a server holding an agent's newest record answers with it even before the announcement.
  let accepted: ((key: Uint8Array, value: Uint8Array) => void) | undefined
  const validateRecord = rules.validators[RECORD_NAMESPACE] as ValidateFn
  const validators: Record<string, ValidateFn> = {
    [RECORD_NAMESPACE]: async (key, value, options) => {
      await validateRecord(key, value, options)
      accepted?.(key, value)
    }
  }
  const gossipInit = init.gossip ?? {}
  const queryTimeoutMs = init.dht?.queryTimeoutMs
  const services: Record<string, unknown> = {
    identify: identify(),
    ping: ping(),
    dht: kadDHT({
      protocol: `/araliya/${network}/kad/1.0.0`,
      clientMode: role === 'light',
      validators,
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
    ),
    gossip: gossip({ network, maxMessageBytes: gossipInit.maxMessageBytes, rateLimit: gossipInit.rateLimit }),
    presence: presence({ ...init.presence, identity: init.identity, skills: init.skills, queryTimeoutMs }),
    skills: skills({ skills: init.skills, queryTimeoutMs }),
    nodeStatus: nodeStatus({ role, intervalMs: init.statusIntervalMs }),
    routingGuard: routingGuard({ network }),
    ethRecords: ethRecords({ identity: init.identity, queryTimeoutMs, ...withoutUndefined(limits) })
  }
  if (role === 'bootstrap') services.relay = circuitRelayServer()
  const connectionGater =
    init.connectionGater ??
    (init.allowPrivateAddresses === true ? { denyDialMultiaddr: () => false } : undefined)
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
    ...(connectionGater !== undefined ? { connectionGater } : {}),
    services: { ...services, ...init.services } as unknown as Libp2pOptions<DhtNodeServices>['services'],
    ...init.libp2p
  }
  const libp2p = await createLibp2p<DhtNodeServices & Extra>(
    options as unknown as Libp2pOptions<DhtNodeServices & Extra>
  )
  const presenceService = libp2p.services.presence
  accepted = (key, value) => {
    if (decodeKey(key).startsWith(PRESENCE_KEY_PREFIX)) presenceService.acceptedByValidator(key, value)
  }
  const logger = (options.logger ?? defaultLogger()).forComponent('araliya:dht')
  return new DhtNode<DhtNodeServices & Extra>({
    identity: init.identity,
    role,
    network,
    libp2p,
    datastore,
    ownedDatastore: owned,
    dataDir: init.dataDir,
    bootstrap: init.bootstrap ?? [],
    bootstrapRetry: init.bootstrapRetry,
    targetPeers: init.targetPeers ?? 8,
    log: logger
  })
}

/** The circuit relay server of a bootstrap node, if this node runs one. */
export function relayServiceOf(node: DhtNode): CircuitRelayService | undefined {
  return (node.libp2p.services as Record<string, unknown>).relay as CircuitRelayService | undefined
}
