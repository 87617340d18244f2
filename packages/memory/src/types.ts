import type { Graph, GraphStore } from '@araliya/crdt-graph'
import type { Identity } from '@araliya/identity'
import type { AbortOptions } from '@araliya/interface'
import type { ComponentLogger } from '@libp2p/interface'
import type { MemoryItem, MemoryKind, MetaValue } from './model.js'
import type { RecallInit } from './recall/recall.js'

/** Where a memory's bytes come from when this device does not hold them: replicas of the owner's space. */
export interface MemoryRemote {
  /**
   * Brings the owner's space up to date from the swarm (finds replicas, syncs, verifies). Resolves
   * true when a replica answered, false when none could be reached; a remote may instead reject with a
   * typed error saying why (the swarm's, `MemoryReplication`, rejects with `NoReplicaError`).
   */
  fetchSpace(owner: string, options?: AbortOptions): Promise<boolean>
}

/** Options of {@link createMemory}. */
export interface MemoryInit {
  /** The key this process writes and reads with: the owner's own key, or one of its device keys. */
  identity: Identity
  /** Whose memory this is (an address). Default: `identity.address` (the agent's own memory). */
  owner?: string
  /** A graph the app already runs (the memory then neither starts nor stops it unless it is stopped). */
  graph?: Graph
  /**
   * A directory to keep the memory in (a level store at `<dir>/graph`). Ignored when `graph` is given.
   * A write resolves once it is on disk (it survives a crash). One process at a time: `start()` throws
   * `StoreLockedError` (`ERR_GRAPH_STORE_LOCKED`, from `@araliya/crdt-graph`) while another holds it.
   */
  dir?: string
  /** A graph store (default: in memory unless `dir` is set). Ignored when `graph` is given. */
  store?: GraphStore
  /** A label for this device, recorded with every memory it writes (shown by `why`). */
  device?: string
  /** Decrypted memories kept hot (an LRU). Default 2,000. */
  cacheSize?: number
  /** Recent turns of a session warmed into the cache when the session is opened. Default 20. */
  prefetchTurns?: number
  /** The cold tier: replicas of the owner's space in the swarm (see `@araliya/memory`'s replication). */
  remote?: MemoryRemote
  /** Recall: the embedder for vector recall, and whether to snapshot the indexes under `dir`. */
  recall?: RecallInit
  /** A wall clock in milliseconds (inject in tests). */
  now?: () => number
  logger?: ComponentLogger
}

/** Detail of `memory:changed`. */
export interface MemoryChanged {
  readonly id: string
  readonly kind: MemoryKind
  /** The memory as it now is; `undefined` when it was forgotten. */
  readonly item: MemoryItem | undefined
  /** True when this process wrote it. */
  readonly local: boolean
}

/** Detail of `memory:damaged`: a stored memory that could not be read (skipped, never trusted). */
export interface MemoryDamaged {
  readonly id: string
  readonly error: Error
}

/** The events of a {@link Memory}. */
export interface MemoryEvents {
  /** A memory was written, corrected or forgotten, here or on another device. */
  'memory:changed': CustomEvent<MemoryChanged>
  /** A memory gained a concurrent version that lost: see {@link Memory.conflicts}. */
  'conflict:found': CustomEvent<{ readonly id: string }>
  /** A stored memory could not be decrypted or decoded. */
  'memory:damaged': CustomEvent<MemoryDamaged>
  /** A content key reached this device (the memory became readable, or a shared scope did). */
  'key:received': CustomEvent<{ readonly scope: string }>
}

/** One stored version of a memory (see {@link Memory.why}). */
export interface MemoryVersion {
  readonly version: string
  readonly writer: string
  readonly device?: string
  readonly writtenAt: number
  readonly hlc: number
  /** Hex id of the signed commit that carried it. */
  readonly commit: string
  readonly supersedes: readonly string[]
  /** True when this version forgot the memory. */
  readonly forgotten: boolean
  /** The memory as this version wrote it (absent for a forget). */
  readonly item?: MemoryItem
}

/** A memory whose concurrent versions disagree: one won everywhere, the others are listed. */
export interface MemoryConflict {
  readonly id: string
  readonly winner: MemoryVersion
  /** Versions written without knowledge of each other that lost, newest first. Nothing is dropped. */
  readonly losers: readonly MemoryVersion[]
}

/** Where a memory came from (see {@link Memory.why}). */
export interface Provenance {
  readonly id: string
  readonly kind: MemoryKind
  readonly current: MemoryVersion | undefined
  /** Every version, newest first. */
  readonly history: readonly MemoryVersion[]
  readonly conflicts: readonly MemoryVersion[]
  /** The memory it was derived from (e.g. a turn), when that is still readable. */
  readonly source?: MemoryItem
}

/** Options of {@link Memory.remember}. */
export interface RememberOptions {
  /** The app's key: remembering again under the same key replaces (supersedes) the note. */
  key?: string
  tags?: readonly string[]
  scope?: string
  source?: string
  meta?: Readonly<Record<string, MetaValue>>
}

/** The fields {@link Memory.correct} may change, per kind. */
export type Correction = Readonly<Record<string, unknown>>
