import type { CommitAccepted, GraphStore } from '@araliya/crdt-graph'
import type { Identity } from '@araliya/identity'
import type { ComponentLogger } from '@libp2p/interface'
import { createMemory, type Memory } from '../memory.js'
import type { MemoryInit } from '../types.js'
import { ReplicationError } from './errors.js'
import type { MemoryReplication } from './service.js'

/** A step of {@link restoreMemory}. */
export type RestoreProgress =
  /** Replicas of the owner's space were found in the DHT. */
  | { readonly phase: 'replicas'; readonly found: number }
  /** Commits of the owner's space received and verified so far (reported every 256, and at the end). */
  | { readonly phase: 'commits'; readonly received: number }
  /** Memories decrypted and catalogued (the indexes are built from them). */
  | { readonly phase: 'decrypted'; readonly memories: number }
  /** The memory is open and in sync with the replicas. */
  | {
      readonly phase: 'done'
      readonly replicas: number
      readonly commits: number
      readonly memories: number
      readonly ms: number
    }

/** Options of {@link restoreMemory}. */
export interface RestoreInit {
  /** The owner key (or a device key whose content key the owner sealed to it). */
  identity: Identity
  /** Whose memory (an address). Default `identity.address`. */
  owner?: string
  /**
   * A libp2p node running the `memoryReplication` and `graphSync` services, or the replication service
   * itself. Its replication service must not serve another graph yet.
   */
  node: { services: { memoryReplication: MemoryReplication } } | MemoryReplication
  /** Where to keep the restored memory (a level store at `<dir>/graph`). Default: in memory. */
  dir?: string
  store?: GraphStore
  /** Told of each step: replicas found, commits received, memories decrypted, done. */
  onProgress?: (progress: RestoreProgress) => void
  /** Bounds the whole restore. Default: the service's query timeout for the sync. */
  signal?: AbortSignal
  /** Passed on to `createMemory`. */
  memory?: Omit<MemoryInit, 'identity' | 'owner' | 'graph' | 'dir' | 'store' | 'remote' | 'logger'>
  logger?: ComponentLogger
}

/**
 * Restores an agent's memory on a new device from the swarm, with only the key: finds the replicas of
 * the owner's space (DHT provider records), syncs the space from every replica found (the graph verifies
 * every commit's signature, chain and authority), then opens the memory, which decrypts every memory
 * and rebuilds its catalog and indexes. Resolves with the started memory, kept in sync with the replicas
 * and using them as its cold tier (`remote`).
 *
 * @throws {NoReplicaError} when no replica is found or none could be synced in time.
 */
export async function restoreMemory(init: RestoreInit): Promise<Memory> {
  const started = performance.now()
  const service = 'services' in init.node ? init.node.services.memoryReplication : init.node
  if (service === undefined)
    throw new ReplicationError('the node has no memoryReplication service: add memoryReplication() to it')
  const owner = init.owner ?? init.identity.address
  const memory = createMemory({
    ...init.memory,
    identity: init.identity,
    owner,
    ...(init.dir === undefined ? {} : { dir: init.dir }),
    ...(init.store === undefined ? {} : { store: init.store }),
    ...(init.logger === undefined ? {} : { logger: init.logger }),
    remote: service
  })
  const graph = memory.graph
  const report = init.onProgress ?? (() => undefined)
  let commits = 0
  const onCommit = (event: CustomEvent<CommitAccepted>): void => {
    if (event.detail.commit.space !== owner) return
    commits++
    if (commits % 256 === 0) report({ phase: 'commits', received: commits })
  }
  try {
    // The graph is opened first and the memory only once the space is in: every memory is then decrypted
    // and catalogued once, not at each arriving commit.
    await graph.start(init.signal === undefined ? undefined : { signal: init.signal })
    graph.events.addEventListener('commit:accepted', onCommit)
    // Served first without the owner's space, so that the sync below takes it from one replica at a
    // time; then kept in sync with every replica.
    await service.serve(graph)
    const result = await service.syncSpace(owner, {
      wait: 'all',
      ...(init.signal === undefined ? {} : { signal: init.signal }),
      onReplicas: (found) => report({ phase: 'replicas', found })
    })
    await service.serve(graph, { spaces: [owner] })
    report({ phase: 'commits', received: commits })
    await memory.start()
    const memories = memory.size
    report({ phase: 'decrypted', memories })
    report({
      phase: 'done',
      replicas: result.synced.length,
      commits,
      memories,
      ms: performance.now() - started
    })
    return memory
  } catch (err) {
    await memory.stop()
    if (graph.started) await graph.stop()
    throw err
  } finally {
    graph.events.removeEventListener('commit:accepted', onCommit)
  }
}
