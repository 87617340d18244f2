/**
 * A signed, owner-partitioned CRDT graph: nodes ("souls") with fields, edges as links, written offline on
 * every replica and always merging to the same state. Conflicts resolve per field by HAM on a hybrid
 * logical clock; every write is part of a signed, hash-linked commit; only a space's owner (or a key it
 * granted) may write there. Stores: in memory, or persistent on level (`@araliya/crdt-graph/level`).
 * Sync is a small bytes-in, bytes-out protocol that any transport can carry.
 *
 * @example
 * ```ts
 * import { generateIdentity } from '@araliya/identity'
 * import { createGraph, createSyncPeer } from '@araliya/crdt-graph'
 *
 * const alice = createGraph({ identity: await generateIdentity() })
 * const laptop = createGraph({ identity: await generateIdentity() })
 * await alice.start()
 * await laptop.start()
 *
 * const note = `${alice.address}/notes/1`
 * await alice.put(note, { title: 'hello', done: false })
 *
 * // wire two sync peers back to back (a real app passes the bytes over a libp2p stream)
 * const a = createSyncPeer(alice, { peer: 'laptop', send: (bytes) => b.receive(bytes) })
 * const b = createSyncPeer(laptop, { peer: 'alice', send: (bytes) => a.receive(bytes) })
 * await a.start()
 * await b.start()
 * await a.idle()
 * console.log(laptop.get(note)) // { title: 'hello', done: false }
 * ```
 *
 * @packageDocumentation
 */
// Commits as apps meet them (in `commit:accepted` events); COMMIT_CONTEXT and SIGNATURE_BYTES let a
// tool check a commit's signature with @araliya/identity.
export {
  COMMIT_CONTEXT,
  type Commit,
  type CommitBody,
  type CommitLimits,
  type CommitOp,
  DEFAULT_COMMIT_LIMITS,
  SIGNATURE_BYTES
} from './commit.js'
export * from './errors.js'
export {
  type ChainFork,
  type ChainForked,
  type ChainGap,
  type ChainHead,
  type CommitAccepted,
  type CommitReceipt,
  type CommitRef,
  type CommitRejected,
  createGraph,
  type FieldState,
  Graph,
  type GraphChange,
  type GraphEvents,
  type GraphInit,
  type HistoryEntry,
  type IngestOptions,
  type IngestResult,
  type MissingCommits,
  type SubscribeFilter,
  type Transaction,
  type TraversalStep,
  type TraverseOptions
} from './graph.js'
export {
  DEFAULT_MODEL_LIMITS,
  type GraphValue,
  isLink,
  type Link,
  link,
  type ModelLimits,
  parseSoul,
  type Soul,
  soulOf,
  splitSoul
} from './model.js'
export { MemoryGraphStore, memoryStore } from './store/memory.js'
export type { GraphStore, StoredCommit, StoreProblem, StoreState } from './store/types.js'
export {
  createSyncPeer,
  DEFAULT_SYNC_LIMITS,
  // Frames a commits message: transports' tests use it to play a peer that forges commits.
  encodeCommits,
  type GraphSyncEndpoint,
  type GraphSyncEndpointInit,
  graphSyncEndpoint,
  type MisbehaviourReason,
  SYNC_PROTOCOL_ID,
  SYNC_PROTOCOL_VERSION,
  type SyncLimits,
  type SyncMisbehaviour,
  type SyncPeer,
  type SyncPeerInit,
  type SyncStats
} from './sync.js'
