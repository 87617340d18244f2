import type { AbortOptions, Origin } from '@araliya/interface'
import type { ComponentLogger } from '@libp2p/interface'
import type { Identity } from '@araliya/identity'
import type { CommitRef } from '../chain.js'
import type { Commit, CommitLimits } from '../commit.js'
import type { GraphValue, Soul } from '../model.js'
import type { GraphStore, StoreProblem } from '../store/types.js'

/** What {@link createGraph} needs. */
export interface GraphInit {
  /** The key that signs this replica's writes. */
  identity: Identity
  /** Where accepted commits are kept. Default: a new in-memory store. */
  store?: GraphStore
  /** How far ahead of local time a remote clock stamp may be before it is rejected. Default 60,000 ms. */
  maxClockSkewMs?: number
  /** Wall clock in milliseconds (inject for tests). Default `Date.now`. */
  now?: () => number
  /** Decoder limits. */
  limits?: Partial<CommitLimits>
  /** Most commits held while waiting for their predecessors. Default 10,000. */
  maxPendingCommits?: number
  /** How far past a chain's head a waiting commit may be. Default 4,096. */
  maxPendingPerChain?: number
  /**
   * Most waiting commits, over all spaces, whose authority cannot be judged yet and whose author holds no
   * grant this replica knows of (they declare an owner-chain position this replica does not have yet).
   * Part of `maxPendingCommits`, so strangers never hold more than this. Default 1,024.
   */
  maxPendingUngranted?: number
  /** The same bound per space. Default 64. */
  maxPendingUngrantedPerSpace?: number
  /** Re-verify every signature when loading from the store (slower; for untrusted disks). Default false. */
  verifyOnLoad?: boolean
  /**
   * How many worker threads verify the signatures of large ingested batches, next to the calling thread
   * (which verifies a share too). Workers start once about a thousand signatures of large batches were
   * verified on the calling thread (a short sync never pays for booting a thread), and stop with
   * `stop()`; batches under 48 commits, browsers (no worker threads) and `0` verify on the calling
   * thread only. Every signature is verified before anything is applied either way. Default: one less
   * than the available cores, at most 2 (so 1 on a 2-core machine, 0 on one core).
   */
  verifyWorkers?: number
  /**
   * Where the graph logs (`araliya:graph`, `araliya:graph:sync`, …). Default `defaultLogger()` from
   * `@libp2p/logger`, enabled with `DEBUG=araliya:graph*`. A libp2p node passes `components.logger`.
   */
  logger?: ComponentLogger
}

/** The current state of one field. */
export interface FieldState {
  /** The winning value; `undefined` when the winner is a tombstone. */
  readonly value: GraphValue | undefined
  /** True when the winning op is a delete. */
  readonly deleted: boolean
  /** The winner's hybrid-logical-clock stamp. */
  readonly hlc: number
  /** The address that signed the winning op. */
  readonly signer: string
}

/** One accepted write of a field (see {@link Graph.history}). */
export interface HistoryEntry extends FieldState {
  /** Hex id of the commit that carried it. */
  readonly commit: string
  /** True for the current winner. */
  readonly winner: boolean
}

/** A change of a field's winning value, local or remote. */
export interface GraphChange {
  readonly soul: Soul
  readonly field: string
  /** The new value; `undefined` when the field was deleted. */
  readonly value: GraphValue | undefined
  readonly deleted: boolean
  /** The value before (`undefined` when there was none or it was deleted). */
  readonly previous: GraphValue | undefined
  readonly hlc: number
  readonly signer: string
  /** Where the write came from: this process, or the sync peer it arrived through. */
  readonly origin: Origin
}

/** What a local write produced: one commit per space written. */
export interface CommitReceipt {
  /** Hex commit id. */
  readonly id: string
  readonly space: string
  readonly author: string
  readonly seq: number
  /** Number of ops in the commit. */
  readonly ops: number
}

/** The outcome of {@link Graph.ingest}. */
export interface IngestResult {
  /** Commits applied (including ones released from the pending buffer). */
  accepted: number
  /** Commits already known (replays); applied once, never again. */
  duplicates: number
  /** Commits held until their predecessors arrive. */
  pending: number
  /**
   * Commits refused during this call, with the reason (including commits released from the pending buffer
   * that arrived earlier). A commit with any op no grant covers at its position is refused as a whole
   * (`UnauthorizedWriteError`), as is a backdated one (`BackdatedCommitError`): neither is stored or relayed.
   */
  rejected: Array<{ readonly id?: string; readonly error: Error }>
  /** Commits outside the `spaces` asked for, skipped. */
  ignored: number
  /**
   * Commits of this call that went into the pending buffer (they wait for a predecessor or a grant).
   * Commits already waiting there, offered again, count as `duplicates`, not here.
   */
  held: number
  /**
   * Commits not looked at because an earlier one in the same call could not be decoded or verified:
   * a batch stops at its first invalid commit (one bad entry costs one check, not one per entry).
   */
  dropped: number
}

/** Options of {@link Graph.ingest}. */
export interface IngestOptions extends AbortOptions {
  /** Accept only commits in these spaces; others are counted as `ignored`. */
  spaces?: ReadonlySet<string>
}

/** A batch read by {@link Graph.readMissing}: envelopes of one chain, parents first. */
export interface MissingCommits {
  readonly envelopes: Uint8Array[]
  /** The highest position among them. */
  readonly seq: number
}

/**
 * One entry of a version vector: a head of a chain (one author in one space) and its position. A chain
 * has one head, the commit at its highest position, unless its key forked (then one entry per branch).
 */
export interface ChainHead {
  readonly space: string
  readonly author: string
  readonly seq: number
  /** Id of the head commit. */
  readonly head: Uint8Array
}

/**
 * A key that signed more than one commit for one position of its chain (one seed on two devices, a
 * restored backup, a stolen key): both commits are validly signed, so the fork is proven. Every replica
 * that holds the same commits reports the same fork.
 */
export interface ChainFork {
  readonly space: string
  /** The key that forked its chain; treat it as compromised or cloned. */
  readonly author: string
  /** The lowest position holding more than one commit. */
  readonly seq: number
  /** Hex ids of the commits at that position, in byte order. */
  readonly commits: readonly string[]
}

export type { CommitRef }

/** A filter for {@link Graph.subscribe}. */
export interface SubscribeFilter {
  /** Only changes of this soul. */
  soul?: Soul
  /** Only changes of this field (with `soul`). */
  field?: string
  /** Only changes inside this owner's space. */
  space?: string
}

/** A batch of writes that becomes one commit per space (see {@link Graph.transact}). */
export interface Transaction {
  /** Sets several fields of a soul. */
  put(soul: Soul, fields: Readonly<Record<string, GraphValue>>): Transaction
  /** Sets one field. */
  set(soul: Soul, field: string, value: GraphValue): Transaction
  /** Sets a field to a link to `target` (an edge). */
  link(soul: Soul, field: string, target: Soul): Transaction
  /** Deletes one field (a tombstone), or every live field of the soul when `field` is omitted. */
  remove(soul: Soul, field?: string): Transaction
}

/** Options of {@link Graph.traverse}. */
export interface TraverseOptions {
  /** How many links deep to go. Default 3. */
  maxDepth?: number
  /** Stop after visiting this many souls. Default 1,000. */
  maxNodes?: number
  /** Follow only links in these fields. Default: every link. */
  fields?: readonly string[]
}

/** A soul reached by {@link Graph.traverse}. */
export interface TraversalStep {
  readonly soul: Soul
  readonly depth: number
  /** The soul and field whose link led here (`undefined` for the start). */
  readonly via: { readonly soul: Soul; readonly field: string } | undefined
}

/** Detail of `commit:accepted`: a commit was accepted and is durable (sync peers forward these). */
export interface CommitAccepted {
  readonly commit: Commit
  readonly origin: Origin
}

/**
 * Detail of `commit:rejected`: a commit was refused (never stored, never relayed). `origin` is where the
 * commit came from, also when it is refused later, on release from the pending buffer: sync peers use it
 * to tell who sent it.
 */
export interface CommitRejected {
  readonly id?: string
  readonly error: Error
  readonly origin: Origin
}

/** Detail of `commit:held`: a commit arrived ahead of its chain; it waits in the pending buffer. */
export interface ChainGap {
  readonly space: string
  readonly author: string
  readonly have: number
  readonly got: number
  readonly origin: Origin
}

/**
 * Detail of `chain:forked`: a key signed a second commit for a position of its chain that already holds
 * one (both signatures verified, both commits accepted): the key is forked. See {@link Graph.forks}.
 */
export interface ChainForked {
  readonly space: string
  readonly author: string
  readonly seq: number
  /** Hex ids: a commit that was there first, and the new one. */
  readonly commits: readonly [string, string]
  readonly origin: Origin
}

/**
 * Events of a graph, in libp2p's style (`noun:verb`, a `CustomEvent` whose `detail` is the payload):
 * listen with `graph.events.addEventListener('field:changed', (event) => event.detail)`.
 * A listener that throws does not stop the others or the graph (the platform reports the error).
 */
export interface GraphEvents {
  /** A field's winner changed (local or remote write). */
  'field:changed': CustomEvent<GraphChange>
  /** A commit was accepted and is durable. */
  'commit:accepted': CustomEvent<CommitAccepted>
  /** A commit was refused. */
  'commit:rejected': CustomEvent<CommitRejected>
  /** A commit arrived ahead of its chain. */
  'commit:held': CustomEvent<ChainGap>
  /** A key forked its chain. */
  'chain:forked': CustomEvent<ChainForked>
  /** Something stored could not be read back (it was skipped). */
  'store:damaged': CustomEvent<StoreProblem>
}
