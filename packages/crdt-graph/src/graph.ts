import {
  decodeGrant,
  decodeRevocation,
  type Ed25519Backend,
  ed25519Backend,
  encodeGrant,
  encodeRevocation,
  equalBytes,
  type Grant,
  type GrantRight,
  type GrantScope,
  grantId,
  type Identity,
  issueGrant,
  publicKeyFromAddress,
  type Revocation,
  revokeGrant,
  scopeCoversPath,
  signedBytes,
  verify,
  verifyGrant,
  verifyRevocation
} from '@araliya/identity'
import { type AbortOptions, LOCAL_ORIGIN, type Origin, throwIfAborted } from '@araliya/interface'
import { type Logger, logger } from '@libp2p/logger'
import { type ChainNode, ChainTree, type CommitRef, mergeSeen, NO_NODES, seenCovers } from './chain.js'
import {
  COMMIT_CONTEXT,
  type Commit,
  type CommitBody,
  type CommitLimits,
  type CommitOp,
  commitId,
  DEFAULT_COMMIT_LIMITS,
  decodeCommit,
  decodeStoredCommit,
  encodeCommitFrame,
  MAX_SEEN_COMMITS,
  SIGNATURE_BYTES,
  type OpTuple,
  toHex,
  toWire,
  valueBytes,
  type WireValue
} from './commit.js'
import {
  BackdatedCommitError,
  ChainError,
  ClockSkewError,
  CommitFormatError,
  GraphError,
  InvalidGraphInputError,
  InvalidSignatureError,
  StoreClosedError,
  UnauthorizedWriteError
} from './errors.js'
import { TypedEmitter } from './events.js'
import { compareBytes, sha256 } from './hash.js'
import { HLC_UNITS_PER_MS, HybridClock, hlcMs } from '@araliya/interface'
import { checkField, checkValue, type GraphValue, isLink, parseSoul, type Soul } from './model.js'
import { MemoryGraphStore } from './store/memory.js'
import type { GraphStore, StoreProblem, StoredCommit } from './store/types.js'
import { YieldPacer } from './yield.js'

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

/** Events of a graph (listen with `graph.events.on(name, fn)`). */
export interface GraphEvents {
  /** A field's winner changed. */
  change: GraphChange
  /** A commit was accepted and is durable (sync peers forward these). */
  'commit:accepted': { readonly commit: Commit; readonly origin: Origin }
  /**
   * A commit was refused (never stored, never relayed). `origin` is where the commit came from, also when it
   * is refused later, on release from the pending buffer: sync peers use it to tell who sent it.
   */
  'commit:rejected': { readonly id?: string; readonly error: Error; readonly origin: Origin }
  /** A commit arrived ahead of its chain; it waits in the pending buffer. */
  'chain:gap': {
    readonly space: string
    readonly author: string
    readonly have: number
    readonly got: number
    readonly origin: Origin
  }
  /**
   * A key signed a second commit for a position of its chain that already holds one (both signatures
   * verified, both commits accepted): the key is forked. See {@link Graph.forks}.
   */
  'chain:forked': {
    readonly space: string
    readonly author: string
    readonly seq: number
    /** Hex ids: a commit that was there first, and the new one. */
    readonly commits: readonly [string, string]
    readonly origin: Origin
  }
  /** Something stored could not be read back (it was skipped). */
  'store:problem': StoreProblem
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

interface OpRecord {
  readonly hlc: number
  readonly signer: string
  readonly value: GraphValue | undefined
  readonly wire: WireValue | undefined
  readonly commit: Uint8Array
  hash?: Uint8Array
}

interface FieldEntry {
  winner: OpRecord
  losers: OpRecord[] | undefined
}

/**
 * The owner commits a writer declares it had seen when it signed (key `h`, see `Graph.#seenOwnerCommit`):
 * the heads of the owner's chain it had applied (one, unless the owner's key forked).
 */
interface SeenOwnerCommit {
  /** The owner commits named (all accepted here). */
  readonly nodes: readonly ChainNode[]
  /** Their highest position (the commit's `dep`). */
  readonly seq: number
  /** The highest stamp over them: every stamp of the writer's commit must be above it. */
  readonly maxHlc: number
}

/** What an owner's commit, or a commit at position 0, has seen of the owner's chain: nothing. */
const NOTHING_SEEN: SeenOwnerCommit = Object.freeze({ nodes: NO_NODES, seq: 0, maxHlc: -1 })

/** What the authority rules look at in a commit (a decoded commit, or a local one before it is signed). */
type Judged = Pick<CommitBody, 'space' | 'author' | 'seq' | 'dep' | 'clock' | 'ops'>

interface GrantRecord {
  readonly grant: Grant
  readonly id: string
  readonly seq: number
  /** The owner commit that carried it. */
  readonly at: ChainNode
}

interface SpaceAuthority {
  /** The owner's chain of the space, where the grants and revocations below live. */
  readonly owner: ChainTree
  readonly bySubject: Map<string, GrantRecord[]>
  /** grant id -> the owner commits that revoke it (a revocation any seen one reaches voids the grant). */
  readonly revocations: Map<string, ChainNode[]>
}

interface Prepared {
  readonly commit: Commit
  readonly grants: readonly Grant[]
  readonly revocations: readonly Revocation[]
}

/** A verified commit waiting in the pending buffer. */
interface Held extends Prepared {
  /** Where it came from (a refusal on release is reported against that origin). */
  readonly origin: Origin
  /** Counted against the ungranted share: its position is not here yet and its author holds no known grant. */
  ungranted: boolean
  /** While it waits for an owner commit it names (its predecessor is accepted): that commit's key. */
  blockedOn: string | undefined
}

interface LocalOp {
  readonly path: string
  readonly field: string
  readonly value: GraphValue | undefined
}

type Subscriber = (change: GraphChange) => void

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

interface Plan {
  readonly space: string
  readonly author: string
  readonly seq: number
  readonly dep: number
  /** The owner commits the new commit names as seen (the heads of the owner's chain here). */
  readonly declared: readonly ChainNode[]
  /** The base stamp. */
  readonly clock: number
  readonly tuples: OpTuple[]
  readonly ops: CommitOp[]
  readonly grants: Grant[]
  readonly revocations: Revocation[]
}

const EMPTY_GRANTS: readonly Grant[] = []
const NO_IDS: readonly Uint8Array[] = []
/** Most heads of one chain a version vector lists (a key that forked more often gets the highest ones). */
const MAX_HEADS_PER_CHAIN = 16
/** The fixed prefix `signedBytes(COMMIT_CONTEXT, body)` puts in front of a body (see @araliya/identity). */
const COMMIT_SIGNING_HEADER = signedBytes(COMMIT_CONTEXT, new Uint8Array(0))
let signingScratch = new Uint8Array(4096)

/**
 * `signedBytes(COMMIT_CONTEXT, body)` built in a reused buffer (no allocation per verified commit). The
 * result is only valid until the next call; the synchronous verify that uses it finishes before that.
 */
function commitSignedBytes(body: Uint8Array): Uint8Array {
  const size = COMMIT_SIGNING_HEADER.byteLength + body.byteLength
  if (size > signingScratch.byteLength)
    signingScratch = new Uint8Array(Math.max(size, signingScratch.byteLength * 2))
  signingScratch.set(COMMIT_SIGNING_HEADER)
  signingScratch.set(body, COMMIT_SIGNING_HEADER.byteLength)
  return signingScratch.subarray(0, size)
}

/** The append tail when no append is waiting to be issued. */
const SETTLED: Promise<void> = Promise.resolve()
/** `ingest` yields to the event loop after this many commits… */
const INGEST_YIELD_EVERY_COMMITS = 512
/** …or this many milliseconds of checking, whichever comes first. */
const INGEST_YIELD_EVERY_MS = 20
const EMPTY_REVOCATIONS: readonly Revocation[] = []

/**
 * A signed, owner-partitioned CRDT graph replica. Create it with {@link createGraph}, then `start()` it.
 * See the package README for the model and `docs/internals/crdt-graph.md` for the algorithm.
 */
export class Graph {
  /** Typed events: `change`, `commit:accepted`, `commit:rejected`, `chain:gap`, `chain:forked`, … */
  readonly events: TypedEmitter<GraphEvents>
  /** This replica's signing address. */
  readonly address: string
  readonly #identity: Identity
  readonly #store: GraphStore
  readonly #clock: HybridClock
  readonly #limits: CommitLimits
  readonly #maxSkewUnits: number
  readonly #maxPending: number
  readonly #maxPendingPerChain: number
  readonly #maxPendingUngranted: number
  readonly #maxPendingUngrantedPerSpace: number
  readonly #verifyOnLoad: boolean
  readonly #log: Logger
  /** space -> path -> field -> state (two levels, so hot paths never build or hash whole soul strings). */
  readonly #spaces = new Map<string, Map<string, Map<string, FieldEntry>>>()
  readonly #chains = new Map<string, ChainTree>()
  readonly #authority = new Map<string, SpaceAuthority>()
  /** Verified commits whose predecessor is not accepted yet: chain key -> position -> commits. */
  readonly #pending = new Map<string, Map<number, Held[]>>()
  /**
   * Verified commits whose predecessor is accepted but not an owner commit they name, by that owner
   * commit (space and hex id), so accepting an owner commit looks only at the commits waiting for it.
   */
  readonly #blocked = new Map<string, Held[]>()
  /** Hex ids of the commits in `#blocked`. */
  readonly #blockedIds = new Set<string>()
  #pendingCount = 0
  /**
   * Held commits counted against the ungranted share (in `#pending` or `#blocked`), by space: at most
   * `maxPendingUngrantedPerSpace` each, so re-judging a space when its owner's chain moves stays cheap.
   */
  readonly #ungranted = new Map<string, Set<Held>>()
  #ungrantedCount = 0
  readonly #soulSubscribers = new Map<Soul, Set<Subscriber>>()
  readonly #spaceSubscribers = new Map<string, Set<Subscriber>>()
  readonly #allSubscribers = new Set<Subscriber>()
  #status: 'stopped' | 'starting' | 'started' | 'failed' = 'stopped'
  #starting: Promise<void> | undefined
  #appendTail: Promise<void> = SETTLED
  #inflight = new Set<Promise<unknown>>()
  #fatal: Error | undefined
  readonly #ownChains = new Map<string, ChainTree>()
  readonly #soulCache: SoulCache = new Map()
  #backend: Ed25519Backend | undefined
  readonly #liveFields = (soul: Soul): string[] => {
    const out: string[] = []
    for (const [name, entry] of this.#fields(soul) ?? []) if (entry.winner.wire !== undefined) out.push(name)
    return out
  }

  constructor(init: GraphInit) {
    if (init?.identity === undefined)
      throw new InvalidGraphInputError('createGraph needs an identity to sign with')
    this.#identity = init.identity
    this.address = init.identity.address
    this.#store = init.store ?? new MemoryGraphStore()
    this.#clock = new HybridClock(init.now ?? Date.now)
    this.#limits = { ...DEFAULT_COMMIT_LIMITS, ...init.limits }
    this.#maxSkewUnits = (init.maxClockSkewMs ?? 60_000) * HLC_UNITS_PER_MS
    this.#maxPending = init.maxPendingCommits ?? 10_000
    this.#maxPendingPerChain = init.maxPendingPerChain ?? 4096
    this.#maxPendingUngranted = init.maxPendingUngranted ?? 1024
    this.#maxPendingUngrantedPerSpace = init.maxPendingUngrantedPerSpace ?? 64
    this.#verifyOnLoad = init.verifyOnLoad ?? false
    this.#log = logger('araliya:graph')
    this.events = new TypedEmitter<GraphEvents>(this.#log)
  }

  /** The store this graph uses. */
  get store(): GraphStore {
    return this.#store
  }

  /** The last hybrid-logical-clock stamp issued or observed. */
  get clock(): number {
    return this.#clock.last
  }

  /** The decoder limits in force. */
  get limits(): Readonly<CommitLimits> {
    return this.#limits
  }

  /** Number of commits waiting for their predecessors. */
  get pendingCount(): number {
    return this.#pendingCount
  }

  /** True between a successful `start()` and `stop()`. */
  get started(): boolean {
    return this.#status === 'started'
  }

  /** Opens the store and loads every stored commit. Safe to call twice. */
  start(options?: AbortOptions): Promise<void> {
    if (this.#status === 'started') return Promise.resolve()
    // After a failed write the in-memory state is ahead of the store: only a fresh graph may reload it.
    if (this.#fatal !== undefined) return Promise.reject(this.#fatal)
    this.#starting ??= this.#start(options).catch((err: unknown) => {
      this.#starting = undefined
      this.#status = 'stopped'
      throw err
    })
    return this.#starting
  }

  async #start(options?: AbortOptions): Promise<void> {
    this.#status = 'starting'
    this.#backend ??= await ed25519Backend()
    await this.#store.open(options)
    const state = await this.#store.readState(options)
    if (state !== undefined) this.#clock.observe(state.clock)
    const onProblem = (problem: StoreProblem): void => {
      this.#log.error('store problem at %s: %e', problem.where, problem.error)
      this.events.emit('store:problem', problem)
    }
    let loaded = 0
    for await (const batch of this.#store.replay({ ...options, onProblem })) {
      for (const envelope of batch) {
        let prepared: Prepared
        try {
          const commit = this.#verifyOnLoad
            ? decodeCommit(envelope, this.#limits)
            : decodeStoredCommit(envelope, this.#limits)
          prepared = this.#verifyOnLoad
            ? await this.#verifyCommitAsync(commit)
            : this.#decodeAuthority(commit)
        } catch (err) {
          onProblem({ where: `commit #${loaded}`, error: err as Error })
          continue
        }
        loaded++
        this.#clock.observe(prepared.commit.maxHlc)
        this.#offer(prepared, LOCAL_ORIGIN, undefined, undefined)
      }
    }
    this.#log('started %s with %d stored commits', this.address, loaded)
    this.#status = 'started'
  }

  /** Waits for queued writes, then closes the store. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.#starting !== undefined) await this.#starting.catch(() => {})
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight])
    await this.#appendTail
    this.#starting = undefined
    if (this.#status !== 'stopped') {
      this.#status = 'stopped'
      await this.#store.close()
    }
  }

  // ---------------------------------------------------------------- writes

  /**
   * Sets fields of a soul in one commit.
   *
   * @example
   * ```ts
   * await graph.put(`${me.address}/notes/1`, { title: 'hello', done: false })
   * ```
   * @throws {UnauthorizedWriteError} when this key may not write there; {@link ClockSkewError} never.
   */
  put(
    soul: Soul,
    fields: Readonly<Record<string, GraphValue>>,
    options?: AbortOptions
  ): Promise<CommitReceipt> {
    // The hot path of one-op commits: no transaction object, as few allocations and promise hops as possible.
    try {
      this.#requireStarted()
      throwIfAborted(options?.signal)
      if (typeof fields !== 'object' || fields === null) {
        throw new InvalidGraphInputError('put() takes an object of fields')
      }
      const limits = this.#limits
      const { owner, path } = cachedSoul(this.#soulCache, soul, limits)
      const ops: LocalOp[] = []
      for (const field in fields) {
        if (!Object.hasOwn(fields, field)) continue
        const value = fields[field] as GraphValue
        checkField(field, limits)
        checkValue(value, limits)
        ops.push({ path, field, value })
      }
      if (ops.length === 0) throw new InvalidGraphInputError('put() needs at least one field')
      if (ops.length > limits.maxOpsPerCommit) {
        throw new InvalidGraphInputError(
          `a commit holds at most ${limits.maxOpsPerCommit} fields; split the write`
        )
      }
      const { receipt, done } = this.#commitLocal(this.#plan(owner, ops, [], []))
      return done.then(() => receipt)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /** Sets `field` of `soul` to a link to `target`. */
  async link(soul: Soul, field: string, target: Soul, options?: AbortOptions): Promise<CommitReceipt> {
    const receipts = await this.transact((tx) => tx.link(soul, field, target), options)
    return receipts[0] as CommitReceipt
  }

  /** Deletes one field (a tombstone), or every live field of the soul when `field` is omitted. */
  async remove(soul: Soul, field?: string, options?: AbortOptions): Promise<CommitReceipt[]> {
    return this.transact((tx) => tx.remove(soul, field), options)
  }

  /**
   * Runs `fn` to collect many writes, then signs them as one commit per space (usually one). Resolves once
   * every commit is durable. Nothing is written if `fn` throws or a write is not allowed.
   *
   * @example
   * ```ts
   * await graph.transact((tx) => {
   *   tx.put(`${me.address}/people/ada`, { name: 'Ada' })
   *   tx.link(`${me.address}/people/ada`, 'friend', `${me.address}/people/alan`)
   * })
   * ```
   */
  async transact(fn: (tx: Transaction) => unknown, options?: AbortOptions): Promise<CommitReceipt[]> {
    this.#requireStarted()
    throwIfAborted(options?.signal)
    const tx = new TransactionBuilder(this.#limits, this.#liveFields, this.#soulCache)
    await fn(tx)
    throwIfAborted(options?.signal)
    return this.#commitGroups(tx.groups)
  }

  #commitGroups(groups: Map<string, LocalOp[]>): Promise<CommitReceipt[]> {
    this.#requireStarted()
    if (groups.size === 1) {
      const [space, ops] = groups.entries().next().value as [string, LocalOp[]]
      const { receipt, done } = this.#commitLocal(this.#plan(space, ops, [], []))
      return done.then(() => [receipt])
    }
    const receipts: CommitReceipt[] = []
    const durable: Promise<void>[] = []
    // Authority is checked for every group before anything is signed, so a refused write changes nothing.
    const planned = [...groups].map(([space, ops]) => this.#plan(space, ops, [], []))
    for (const plan of planned) {
      const { receipt, done } = this.#commitLocal(plan)
      receipts.push(receipt)
      durable.push(done)
    }
    return Promise.all(durable).then(() => receipts)
  }

  /**
   * Lets `subject` write part of this replica's space, by issuing a grant and recording it in this owner's
   * chain (where every replica finds it).
   *
   * @example
   * ```ts
   * await graph.grant(phone.address, { pathPrefix: 'memory/', rights: ['write', 'delete'] }, {
   *   expiresAt: Date.now() + 30 * 86_400_000
   * })
   * ```
   */
  async grant(
    subject: string,
    scope: GrantScope,
    window: { expiresAt: number; notBefore?: number },
    options?: AbortOptions
  ): Promise<Grant> {
    this.#requireStarted()
    const issued = await issueGrant(
      this.#identity,
      { subject, scope, expiresAt: window.expiresAt, notBefore: window.notBefore ?? this.#clock.nowMs() },
      options
    )
    const { done } = this.#commitLocal(this.#plan(this.address, [], [issued], []))
    await done
    return issued
  }

  /** Revokes a grant this owner issued, from `revokedAt` (default now) on, recorded in the owner's chain. */
  async revoke(
    grant: Grant | string,
    options: AbortOptions & { revokedAt?: number } = {}
  ): Promise<Revocation> {
    this.#requireStarted()
    const revocation = await revokeGrant(this.#identity, grant, {
      ...options,
      revokedAt: options.revokedAt ?? this.#clock.nowMs()
    })
    const { done } = this.#commitLocal(this.#plan(this.address, [], [], [revocation]))
    await done
    return revocation
  }

  #plan(space: string, ops: readonly LocalOp[], grants: Grant[], revocations: Revocation[]): Plan {
    const author = this.address
    const chain = this.#ownChain(space)
    if (chain.waiting > 0) {
      // Later commits of our own chain exist (we hold them) but an earlier one is missing, e.g. after
      // storage damage or from another device with this key: signing now would fork our own chain.
      throw new ChainError(
        `this replica's chain in ${space} has a gap after seq ${chain.seq} (damaged storage, or this key ` +
          'in use on another device?); sync with a peer that has the missing commits before writing there again'
      )
    }
    const owner = author === space ? undefined : this.#chains.get(chainKey(space, space))
    // A writer names every head of the owner's chain it holds, so a revocation on any branch binds it.
    // The clock has observed all of them, so the stamps below are above theirs.
    const declared = owner?.heads(MAX_SEEN_COMMITS) ?? NO_NODES
    const dep = declared[0]?.seq ?? 0
    const base = this.#clock.tick()
    const tuples: OpTuple[] = new Array(ops.length)
    const decoded: CommitOp[] = new Array(ops.length)
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i] as LocalOp
      const hlc = i === 0 ? base : this.#clock.tick()
      const wire = op.value === undefined ? undefined : toWire(op.value)
      tuples[i] = wire === undefined ? [op.path, op.field, hlc - base] : [op.path, op.field, hlc - base, wire]
      decoded[i] = { path: op.path, field: op.field, hlc, value: op.value, wire }
    }
    const plan: Plan = {
      space,
      author,
      seq: (chain.tip?.seq ?? 0) + 1,
      dep,
      declared,
      clock: base,
      tuples,
      ops: decoded,
      grants,
      revocations
    }
    // The very rules every replica applies on ingest: a local write never signs what they would refuse.
    const refusal = this.#judge(plan, seenOf(declared), chain.tip)
    if (refusal !== undefined) throw refusal
    return plan
  }

  #commitLocal(plan: Plan): { receipt: CommitReceipt; done: Promise<void> } {
    const chain = this.#ownChain(plan.space)
    // Local writes extend the tip (highest position, lowest id), the same one on every replica.
    const parent = chain.tip
    const seq = (parent?.seq ?? 0) + 1
    const prev = parent?.id ?? null
    const encodedGrants = plan.grants.map(encodeGrant)
    const encodedRevocations = plan.revocations.map(encodeRevocation)
    const seen = plan.declared.length === 0 ? NO_IDS : plan.declared.map((node) => node.id).sort(compareBytes)
    const { body, frame } = encodeCommitFrame({
      space: plan.space,
      author: plan.author,
      seq,
      prev,
      clock: plan.clock,
      dep: plan.dep,
      seen,
      ops: plan.tuples,
      grants: encodedGrants,
      revocations: encodedRevocations
    })
    if (body.byteLength + 64 > this.#limits.maxCommitBytes) {
      throw new InvalidGraphInputError(
        `the commit would be ${body.byteLength + 64} bytes, over maxCommitBytes (${this.#limits.maxCommitBytes}); split the transaction`
      )
    }
    const id = commitId(body)
    let maxHlc = plan.clock
    for (const op of plan.ops) if (op.hlc > maxHlc) maxHlc = op.hlc
    const signing = this.#identity.sign(COMMIT_CONTEXT, body)
    // The commit is applied now (so reads see it at once) but announced to peers only once durable.
    const commit: Mutable<Commit> = {
      id,
      space: plan.space,
      author: plan.author,
      seq,
      prev,
      clock: plan.clock,
      dep: plan.dep,
      seen,
      ops: plan.ops,
      grants: encodedGrants,
      revocations: encodedRevocations,
      body,
      signature: new Uint8Array(0),
      envelope: new Uint8Array(0),
      maxHlc
    }
    this.#apply(
      { commit, grants: plan.grants, revocations: plan.revocations },
      LOCAL_ORIGIN,
      chain,
      parent,
      seenOf(plan.declared)
    )
    const previous = this.#appendTail
    let release!: () => void
    const tail = new Promise<void>((resolve) => {
      release = resolve
    })
    this.#appendTail = tail
    const done = (async () => {
      let stored: Promise<void>
      try {
        const signature = await signing
        if (previous !== SETTLED) await previous
        if (signature.byteLength !== SIGNATURE_BYTES)
          throw new GraphError('the signer returned a malformed signature')
        frame.set(signature)
        commit.signature = frame.subarray(0, SIGNATURE_BYTES)
        commit.envelope = frame
        stored = this.#store
          .append([toStored(commit)], { clock: this.#clock.last })
          .then(() => this.events.emit('commit:accepted', { commit, origin: LOCAL_ORIGIN }))
      } catch (err) {
        this.#fail(err)
        throw err
      } finally {
        release()
        // Nobody queued behind us: the next commit need not wait for anything.
        if (this.#appendTail === tail) this.#appendTail = SETTLED
      }
      try {
        await stored
      } catch (err) {
        this.#fail(err)
        throw err
      }
    })()
    return {
      receipt: new Receipt(id, plan.space, plan.author, seq, plan.ops.length),
      done
    }
  }

  #fail(err: unknown): void {
    // The commit is in memory but not durable; later commits would chain onto it. Refuse further writes
    // until a restart reloads the durable state.
    this.#fatal ??= new GraphError(
      'a write could not be made durable; create a new graph on the store (or restart the process) to reload its durable state',
      {
        cause: err
      }
    )
    this.#status = 'failed'
    this.#log.error('graph failed: %e', err)
  }

  #track<T>(promise: Promise<T>): void {
    this.#inflight.add(promise)
    const untrack = (): void => {
      this.#inflight.delete(promise)
    }
    promise.then(untrack, untrack)
  }

  // ---------------------------------------------------------------- remote commits

  /**
   * Verifies and applies commits from elsewhere (a sync peer). Each is decoded with size limits, checked
   * for clock skew, signature, chain position and authority; duplicates are ignored; commits whose
   * predecessors are missing wait in a bounded buffer. Resolves once the accepted ones are durable.
   * Never throws for bad input: refusals are listed in the result and emitted as `commit:rejected`.
   *
   * The batch stops at the first commit that cannot be decoded, or whose signature (or a grant or
   * revocation it carries) does not verify: the commits after it are not looked at (`dropped`).
   * A commit refused for clock skew does not stop the batch. Checking yields to the event loop every
   * 512 commits or 20 ms, whichever comes first, so a long batch never holds the loop for long.
   */
  async ingest(
    envelopes: readonly Uint8Array[],
    origin: Origin = LOCAL_ORIGIN,
    options?: IngestOptions
  ): Promise<IngestResult> {
    this.#requireStarted()
    const result: IngestResult = {
      accepted: 0,
      duplicates: 0,
      pending: 0,
      rejected: [],
      ignored: 0,
      held: 0,
      dropped: 0
    }
    const spaces = options?.spaces
    const checked: Prepared[] = []
    const pacer = new YieldPacer(INGEST_YIELD_EVERY_COMMITS, INGEST_YIELD_EVERY_MS)
    for (let index = 0; index < envelopes.length; index++) {
      if (index > 0 && pacer.due()) {
        // Nothing is applied yet, so other work (and other ingests) may run here; the second pass
        // below checks again what became known meanwhile.
        await pacer.yield()
        if (this.#status !== 'started') break
      }
      throwIfAborted(options?.signal)
      const envelope = envelopes[index] as Uint8Array
      let commit: Commit
      try {
        commit = decodeCommit(envelope, this.#limits)
      } catch (err) {
        this.#reject(result, undefined, err as Error, origin)
        result.dropped = envelopes.length - index - 1
        break
      }
      if (spaces !== undefined && !spaces.has(commit.space)) {
        result.ignored++
        continue
      }
      // Only an exact replay is settled before the signature is checked: a different commit at a known
      // position proves nothing until its signature verifies (else anyone could frame an honest key).
      if (this.#has(commit)) {
        result.duplicates++
        continue
      }
      const ahead = commit.maxHlc - (this.#clock.nowMs() * HLC_UNITS_PER_MS + this.#maxSkewUnits)
      if (ahead > 0) {
        const aheadMs = Math.ceil(ahead / HLC_UNITS_PER_MS) + this.#maxSkewUnits / HLC_UNITS_PER_MS
        this.#reject(
          result,
          commit.id,
          new ClockSkewError(
            `commit ${toHex(commit.id).slice(0, 16)} by ${commit.author} is stamped ${aheadMs} ms ahead of local time, ` +
              `over maxClockSkewMs (${this.#maxSkewUnits / HLC_UNITS_PER_MS}); it is dropped, not parked: check both clocks, ` +
              'the peer will offer it again on a later sync',
            aheadMs
          ),
          origin
        )
        continue
      }
      try {
        // Commits without grants verify synchronously where the platform allows (no promise per commit).
        const prepared = this.#verifyCommit(commit)
        checked.push(prepared instanceof Promise ? await prepared : prepared)
      } catch (err) {
        this.#reject(result, commit.id, err as Error, origin)
        result.dropped = envelopes.length - index - 1
        break
      }
    }
    if (this.#status !== 'started')
      throw this.#fatal ?? new StoreClosedError('the graph was stopped during ingest')
    const accepted: Prepared[] = []
    for (const prepared of checked) {
      // The same commit twice in one batch.
      if (this.#has(prepared.commit)) {
        result.duplicates++
        continue
      }
      const waiting = this.#pendingCount
      this.#offer(prepared, origin, accepted, result)
      // Parking adds exactly one and releases nothing; applying can only release.
      if (this.#pendingCount > waiting) result.held++
    }
    result.accepted = accepted.length
    result.pending = this.#pendingCount
    if (accepted.length > 0) {
      for (const prepared of accepted) this.#clock.observe(prepared.commit.maxHlc)
      const previous = this.#appendTail
      let release!: () => void
      this.#appendTail = new Promise<void>((resolve) => {
        release = resolve
      })
      const done = (async () => {
        let stored: Promise<void>
        try {
          await previous
          stored = this.#store.append(
            accepted.map((p) => toStored(p.commit)),
            { clock: this.#clock.last }
          )
        } finally {
          release()
        }
        try {
          await stored
        } catch (err) {
          this.#fail(err)
          throw err
        }
        for (const prepared of accepted)
          this.events.emit('commit:accepted', { commit: prepared.commit, origin })
      })()
      this.#track(done)
      await done
    }
    return result
  }

  /** True when this very commit (same id) is already applied or waiting. */
  #has(commit: Commit): boolean {
    const key = chainKey(commit.space, commit.author)
    if (this.#chains.get(key)?.get(commit.seq, commit.id) !== undefined) return true
    if (this.#pendingCount === 0) return false
    const same = (prepared: Prepared): boolean => equalBytes(prepared.commit.id, commit.id)
    if (this.#pending.get(key)?.get(commit.seq)?.some(same) === true) return true
    return this.#blockedIds.size > 0 && this.#blockedIds.has(toHex(commit.id))
  }

  #reject(result: IngestResult | undefined, id: Uint8Array | undefined, error: Error, origin: Origin): void {
    const hex = id === undefined ? undefined : toHex(id)
    this.#log('rejected commit %s: %s', hex ?? '(undecodable)', error.message)
    result?.rejected.push(hex === undefined ? { error } : { id: hex, error })
    if (this.events.has('commit:rejected')) {
      this.events.emit('commit:rejected', hex === undefined ? { error, origin } : { id: hex, error, origin })
    }
  }

  #verifyCommit(commit: Commit): Prepared | Promise<Prepared> {
    const backend = this.#backend
    // Only node:crypto verifies synchronously; the others go through identity's (async) verify.
    if (backend === undefined || backend.name !== 'node:crypto') return this.#verifyCommitAsync(commit)
    const ok = backend.verify(
      publicKeyFromAddress(commit.author),
      commitSignedBytes(commit.body),
      commit.signature
    )
    if (ok !== true) throw this.#badSignature(commit)
    const prepared = this.#decodeAuthority(commit)
    if (prepared.grants.length === 0 && prepared.revocations.length === 0) return prepared
    return this.#verifyAuthority(prepared)
  }

  async #verifyCommitAsync(commit: Commit): Promise<Prepared> {
    if (!(await verify(commit.author, COMMIT_CONTEXT, commit.body, commit.signature))) {
      throw this.#badSignature(commit)
    }
    return this.#verifyAuthority(this.#decodeAuthority(commit))
  }

  #badSignature(commit: Commit): InvalidSignatureError {
    return new InvalidSignatureError(
      `the signature of commit ${toHex(commit.id).slice(0, 16)} does not verify against its author ${commit.author}`
    )
  }

  async #verifyAuthority(prepared: Prepared): Promise<Prepared> {
    for (const grant of prepared.grants) {
      const verdict = await verifyGrant(grant, { at: grant.notBefore })
      if (!verdict.valid)
        throw new InvalidSignatureError(`commit carries an invalid grant: ${verdict.error.message}`)
    }
    for (const revocation of prepared.revocations) {
      if (!(await verifyRevocation(revocation)))
        throw new InvalidSignatureError('commit carries an invalid revocation')
    }
    return prepared
  }

  #decodeAuthority(commit: Commit): Prepared {
    if (commit.grants.length === 0 && commit.revocations.length === 0) {
      return { commit, grants: EMPTY_GRANTS, revocations: EMPTY_REVOCATIONS }
    }
    const grants = commit.grants.map((bytes) => decodeGrant(bytes))
    const revocations = commit.revocations.map((bytes) => decodeRevocation(bytes))
    for (const item of [...grants, ...revocations]) {
      if (item.issuer !== commit.space) {
        throw new CommitFormatError(
          `a grant or revocation by ${item.issuer} cannot live in the chain of ${commit.space}`
        )
      }
    }
    return { commit, grants, revocations }
  }

  /**
   * Applies a verified commit once its predecessor and the owner commits it names are accepted (refusing
   * it as a whole if the authority rules say no), else holds it (bounded); then releases every held commit
   * that became ready. Any number of commits may follow one commit (a forked key): each is judged and
   * accepted on its own. `accepted`/`result` are undefined while loading from the store.
   */
  #offer(
    prepared: Prepared,
    origin: Origin,
    accepted: Prepared[] | undefined,
    result: IngestResult | undefined
  ): void {
    const commit = prepared.commit
    // Chains are created only for commits that are applied or held: a refused commit leaves nothing behind.
    const chain = this.#chains.get(chainKey(commit.space, commit.author))
    const parent = commit.seq === 1 ? null : chain?.get(commit.seq - 1, commit.prev as Uint8Array)
    if (parent === undefined) {
      this.#park(prepared, false, origin, result)
      return
    }
    const node = this.#place(prepared, parent, origin, accepted, result)
    if (node !== undefined && this.#pendingCount > 0)
      this.#drain(this.#chain(commit.space, commit.author), node, accepted, result)
  }

  /**
   * Judges and applies a commit whose predecessor `parent` is accepted, or holds it until the owner commits
   * it names are. A refused commit is reported (against `origin`) and changes nothing. Returns its node
   * when it was applied.
   */
  #place(
    prepared: Prepared,
    parent: ChainNode | null,
    origin: Origin,
    accepted: Prepared[] | undefined,
    result: IngestResult | undefined
  ): ChainNode | undefined {
    const commit = prepared.commit
    const seen = this.#seenOwnerCommit(commit)
    if (seen === undefined) {
      this.#park(prepared, true, origin, result)
      return undefined
    }
    const refusal = this.#judge(commit, seen, parent)
    if (refusal !== undefined) {
      this.#reject(result, commit.id, refusal, origin)
      return undefined
    }
    const node = this.#apply(prepared, origin, this.#chain(commit.space, commit.author), parent, seen)
    accepted?.push(prepared)
    return node
  }

  /**
   * The owner commits a non-owner commit declares it had seen when it was signed (the ids it names in `h`,
   * at most one per branch head of the owner's chain, the highest at its position `d`), or `undefined`
   * while one of them is not accepted here yet. Owners' commits, and commits at position 0, have seen
   * nothing. Every position- and stamp-based authority decision goes through here.
   */
  #seenOwnerCommit(
    commit: Pick<CommitBody, 'space' | 'author' | 'dep' | 'seen'>
  ): SeenOwnerCommit | undefined {
    if (commit.author === commit.space || commit.seen.length === 0) return NOTHING_SEEN
    const owner = this.#chains.get(chainKey(commit.space, commit.space))
    if (owner === undefined) return undefined
    const nodes: ChainNode[] = []
    for (const id of commit.seen) {
      const node = owner.get(commit.dep, id) ?? owner.findForked(id)
      if (node === undefined) return undefined
      nodes.push(node)
    }
    return seenOf(nodes)
  }

  /**
   * The verdict on a commit at the position it declares: `undefined` when it may be applied, else the error
   * every replica reaches for it (a pure function of the commit, its predecessor and the owner commits it
   * names, with their ancestors). `parent` is its predecessor (`null` for seq 1); `undefined` checks only
   * what does not need it (used before holding a commit whose predecessor is missing), and then refuses
   * nothing the full check could accept.
   *
   * The rules: (1) every stamp is above the predecessor's highest stamp; (2) the declared owner position is
   * not behind the predecessor's; (3) every stamp is above the highest stamp of the owner commits it names,
   * and the highest of them is at its declared position; (4) a non-owner commit carries ops, and a grant
   * covers each at its stamp, given the owner commits that count for it (see `#allowed`). A commit's
   * lowest stamp is its base clock (op deltas are unsigned), so the floors check only that.
   */
  #judge(
    commit: Judged,
    seen: SeenOwnerCommit,
    parent: ChainNode | null | undefined
  ): GraphError | undefined {
    const { space, author, seq } = commit
    if (parent !== undefined) {
      const last = parent === null ? -1 : parent.maxHlc
      if (commit.clock <= last) {
        return new BackdatedCommitError(
          `commit ${seq} by ${author} in the space of ${space} is stamped ${commit.clock}, not above ${last}, ` +
            "the highest stamp of its chain's previous commit: a writer's clock only moves forward, so it was " +
            'backdated (or the key signs on two devices: give each device its own key); it is refused as a whole'
        )
      }
      if (parent !== null && commit.dep < parent.dep) {
        return new BackdatedCommitError(
          `commit ${seq} by ${author} in the space of ${space} declares owner position ${commit.dep}, behind ` +
            `position ${parent.dep} its previous commit declared; positions only move forward, so it is refused ` +
            "as a whole (a writer that lost part of the owner's chain must sync it again before writing)"
        )
      }
    }
    if (author === space) return undefined
    if (seen.seq !== commit.dep) {
      return new ChainError(
        `commit ${seq} by ${author} in the space of ${space} claims owner position ${commit.dep} but the owner ` +
          `commits it names reach position ${seen.seq}; it is refused`
      )
    }
    if (commit.clock <= seen.maxHlc) {
      return new BackdatedCommitError(
        `commit ${seq} by ${author} in the space of ${space} is stamped ${commit.clock}, not above ${seen.maxHlc}, ` +
          `the highest stamp of the owner commits (up to position ${seen.seq}) it declares it had seen: a ` +
          "writer's clock observes every commit it accepts, so it was backdated; it is refused as a whole"
      )
    }
    if (commit.ops.length === 0) {
      return new UnauthorizedWriteError(
        `commit ${seq} by ${author} in the space of ${space} carries no ops: only the owner signs empty commits ` +
          'in its space; it is refused'
      )
    }
    const owner = this.#chains.get(chainKey(space, space))
    // What counts: the owner commits named, plus those the earlier commits of its branch named (a writer
    // that has seen a revocation stays bound by it on every later commit).
    const counted =
      parent === undefined || parent === null || owner === undefined
        ? seen.nodes
        : mergeSeen(owner, parent.seen, seen.nodes)
    for (const op of commit.ops) {
      const right: GrantRight = op.wire === undefined ? 'delete' : 'write'
      const atMs = hlcMs(op.hlc)
      if (!this.#allowed(space, author, op.path, right, atMs, counted)) {
        // Without the predecessor, a forked owner chain may hold a grant on another branch that its
        // predecessor saw: only the full check can refuse then.
        if (parent === undefined && owner !== undefined && owner.forkSeq > 0) return undefined
        return new UnauthorizedWriteError(
          `${author} holds no grant to ${right} "${op.path}" in the space of ${space} at ` +
            `${new Date(atMs).toISOString()} from owner position ${seen.seq}, so the commit is refused as a ` +
            `whole: ask the owner for a grant covering that path with the "${right}" right (a grant whose ` +
            "revocation the writer has seen no longer counts), and sync the owner's chain before writing"
        )
      }
    }
    return undefined
  }

  /**
   * Puts a commit that cannot be applied yet in the pending buffer, within its bounds. `blocked`: its
   * predecessor is accepted and it waits for an owner commit it names; else it waits for its predecessor.
   * - a non-owner commit whose named owner commits are here is judged first, on everything that does not
   *   need its predecessor; a refused one is never held;
   * - one whose named owner commits are not all here yet, by an author holding no grant known here, is
   *   "ungranted": at most `maxPendingUngrantedPerSpace` per space and `maxPendingUngranted` in total;
   * - every held commit is within `maxPendingPerChain` of its chain's highest position (and its declared
   *   position within as much of the owner's), and the whole buffer holds at most `maxPendingCommits`.
   * Nothing is evicted to make room: a commit that does not fit is dropped (sync offers it again later).
   */
  #park(prepared: Prepared, blocked: boolean, origin: Origin, result: IngestResult | undefined): void {
    const commit = prepared.commit
    const space = commit.space
    let ungranted = false
    if (commit.author !== space) {
      const seen = blocked ? undefined : this.#seenOwnerCommit(commit)
      if (seen !== undefined) {
        const refusal = this.#judge(commit, seen, undefined)
        if (refusal !== undefined) {
          this.#reject(result, commit.id, refusal, origin)
          return
        }
      } else {
        const ownerHead = this.#chains.get(chainKey(space, space))?.seq ?? 0
        if (commit.dep > ownerHead + this.#maxPendingPerChain) {
          this.#log(
            'dropped %s seq %d: it depends on owner commit %d, too far ahead',
            commit.author,
            commit.seq,
            commit.dep
          )
          return
        }
        ungranted = this.#authority.get(space)?.bySubject.has(commit.author) !== true
      }
    }
    const key = chainKey(space, commit.author)
    const head = this.#chains.get(key)?.seq ?? 0
    if (this.#pendingCount >= this.#maxPending || commit.seq > head + this.#maxPendingPerChain) {
      this.#log(
        'pending buffer full; dropped %s seq %d (a later sync will offer it again)',
        commit.author,
        commit.seq
      )
      return
    }
    let strangers = this.#ungranted.get(space)
    if (ungranted) {
      if (
        this.#ungrantedCount >= this.#maxPendingUngranted ||
        (strangers?.size ?? 0) >= this.#maxPendingUngrantedPerSpace
      ) {
        this.#log(
          'ungranted share of the pending buffer full; dropped %s seq %d in %s',
          commit.author,
          commit.seq,
          space
        )
        return
      }
    }
    const chain = this.#chain(space, commit.author)
    const held: Held = {
      commit,
      grants: prepared.grants,
      revocations: prepared.revocations,
      origin,
      ungranted,
      blockedOn: undefined
    }
    if (blocked) {
      const owner = this.#chains.get(chainKey(space, space))
      const missing = commit.seen.find(
        (id) => (owner?.get(commit.dep, id) ?? owner?.findForked(id)) === undefined
      )
      const blockKey = `${space}\n${toHex(missing ?? (commit.seen[0] as Uint8Array))}`
      held.blockedOn = blockKey
      const list = this.#blocked.get(blockKey)
      if (list === undefined) this.#blocked.set(blockKey, [held])
      else list.push(held)
      this.#blockedIds.add(toHex(commit.id))
    } else {
      let waiting = this.#pending.get(key)
      if (waiting === undefined) {
        waiting = new Map()
        this.#pending.set(key, waiting)
      }
      const list = waiting.get(commit.seq)
      if (list === undefined) waiting.set(commit.seq, [held])
      else list.push(held)
    }
    this.#pendingCount++
    chain.waiting++
    if (ungranted) {
      if (strangers === undefined) {
        strangers = new Set()
        this.#ungranted.set(space, strangers)
      }
      strangers.add(held)
      this.#ungrantedCount++
    }
    if (!blocked && this.events.has('chain:gap')) {
      this.events.emit('chain:gap', {
        space,
        author: commit.author,
        have: chain.seq,
        got: commit.seq,
        origin
      })
    }
  }

  /** Counters of a commit leaving the pending buffer (the caller takes it out of its map). */
  #unpark(held: Held): void {
    this.#pendingCount--
    const chain = this.#chains.get(chainKey(held.commit.space, held.commit.author))
    if (chain !== undefined) chain.waiting--
    if (held.blockedOn !== undefined) this.#blockedIds.delete(toHex(held.commit.id))
    if (held.ungranted) this.#countedAsGranted(held)
  }

  /** Takes a held commit out of the ungranted share (it stays held, or is leaving the buffer). */
  #countedAsGranted(held: Held): void {
    held.ungranted = false
    this.#ungrantedCount--
    const strangers = this.#ungranted.get(held.commit.space)
    strangers?.delete(held)
    if (strangers?.size === 0) this.#ungranted.delete(held.commit.space)
  }

  /** Removes and returns the held commits whose predecessor is `parent` (of `chain`). */
  #takeChildren(chain: ChainTree, parent: ChainNode): Held[] {
    const key = chainKey(chain.space, chain.author)
    const waiting = this.#pending.get(key)
    const list = waiting?.get(parent.seq + 1)
    if (waiting === undefined || list === undefined) return []
    const children = list.filter((held) => equalBytes(held.commit.prev as Uint8Array, parent.id))
    if (children.length === 0) return children
    const rest = list.filter((held) => !children.includes(held))
    if (rest.length > 0) waiting.set(parent.seq + 1, rest)
    else waiting.delete(parent.seq + 1)
    if (waiting.size === 0) this.#pending.delete(key)
    for (const held of children) this.#unpark(held)
    return children
  }

  /** Removes and returns the blocked commits that waited for the owner commit `node` of `space`. */
  #takeUnblocked(space: string, node: ChainNode): Held[] {
    const key = `${space}\n${toHex(node.id)}`
    const list = this.#blocked.get(key)
    if (list === undefined) return []
    this.#blocked.delete(key)
    for (const held of list) this.#unpark(held)
    return list
  }

  /** Releases, transitively, every held commit that `node` (just accepted) made ready. */
  #drain(
    chain: ChainTree,
    node: ChainNode,
    accepted: Prepared[] | undefined,
    result: IngestResult | undefined
  ): void {
    const work: Array<[ChainTree, ChainNode]> = [[chain, node]]
    while (work.length > 0 && this.#pendingCount > 0) {
      const [tree, done] = work.pop() as [ChainTree, ChainNode]
      for (const child of this.#takeChildren(tree, done)) {
        // A released commit is reported against the peer it came from, not the one that released it.
        const placed = this.#place(child, done, child.origin, accepted, result)
        if (placed !== undefined) work.push([tree, placed])
      }
      if (tree.author !== tree.space) continue
      // An owner commit: held strangers of its space may be judged now, and commits of other authors that
      // named it may be ready (or blocked again, on another owner commit they name).
      if (this.#ungranted.has(tree.space)) this.#rejudgeUngranted(tree.space, result)
      if (this.#blocked.size === 0) continue
      for (const ready of this.#takeUnblocked(tree.space, done)) {
        const other = this.#chain(ready.commit.space, ready.commit.author)
        const parent =
          ready.commit.seq === 1 ? null : other.get(ready.commit.seq - 1, ready.commit.prev as Uint8Array)
        if (parent === undefined) {
          this.#park(ready, false, ready.origin, result)
          continue
        }
        const placed = this.#place(ready, parent, ready.origin, accepted, result)
        if (placed !== undefined) work.push([other, placed])
      }
    }
  }

  /**
   * The owner's chain of `space` moved: ungranted commits held there (waiting for their predecessor) whose
   * named owner commits are now all here are judged like any commit about to be held. Refused ones leave
   * the buffer (so strangers cannot keep their share occupied in a space this replica follows); the others
   * stop counting as ungranted. Blocked ones are judged in full when what they wait for arrives.
   */
  #rejudgeUngranted(space: string, result: IngestResult | undefined): void {
    const strangers = this.#ungranted.get(space)
    if (strangers === undefined) return
    const ownerHead = this.#chains.get(chainKey(space, space))?.seq ?? 0
    for (const held of [...strangers]) {
      if (held.blockedOn !== undefined || held.commit.dep > ownerHead) continue
      const seen = this.#seenOwnerCommit(held.commit)
      if (seen === undefined) continue
      const refusal = this.#judge(held.commit, seen, undefined)
      if (refusal === undefined) {
        this.#countedAsGranted(held)
        continue
      }
      const key = chainKey(space, held.commit.author)
      const waiting = this.#pending.get(key)
      const list = waiting?.get(held.commit.seq)
      if (waiting !== undefined && list !== undefined) {
        const rest = list.filter((other) => other !== held)
        if (rest.length > 0) waiting.set(held.commit.seq, rest)
        else waiting.delete(held.commit.seq)
        if (waiting.size === 0) this.#pending.delete(key)
      }
      this.#unpark(held)
      this.#reject(result, held.commit.id, refusal, held.origin)
    }
  }

  /**
   * Accepts a judged commit into its chain (its predecessor `parent` and the owner commits it names,
   * `seen`, are accepted) and applies its ops: authority was judged for the whole commit (`#judge`).
   */
  #apply(
    prepared: Prepared,
    origin: Origin,
    chain: ChainTree,
    parent: ChainNode | null,
    seen: SeenOwnerCommit
  ): ChainNode {
    const commit = prepared.commit
    const space = commit.space
    const author = commit.author
    const node = this.#link(chain, commit, parent, seen.nodes, origin)
    if (prepared.grants.length > 0 || prepared.revocations.length > 0) this.#record(prepared, node)
    const ops = commit.ops
    let paths = this.#spaces.get(space)
    if (paths === undefined) {
      paths = new Map()
      this.#spaces.set(space, paths)
    }
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i] as CommitOp
      this.#applyOp(
        paths,
        space,
        op.path,
        op.field,
        {
          hlc: op.hlc,
          signer: author,
          value: op.value,
          wire: op.wire,
          commit: commit.id
        },
        origin
      )
    }
    return node
  }

  /** Chain bookkeeping of an accepted commit; reports a fork when its position was taken already. */
  #link(
    chain: ChainTree,
    commit: Commit,
    parent: ChainNode | null,
    declared: readonly ChainNode[],
    origin: Origin
  ): ChainNode {
    const owner = declared.length === 0 ? undefined : this.#chains.get(chainKey(commit.space, commit.space))
    // The owner commits that count for this commit: what it names plus what its branch had named before
    // (causal positions only move forward along a chain, on every branch).
    const seen =
      owner === undefined ? (parent?.seen ?? NO_NODES) : mergeSeen(owner, parent?.seen ?? NO_NODES, declared)
    const { node, sibling } = chain.add(commit.id, commit.seq, parent, seen, commit.maxHlc, commit.dep)
    if (sibling !== undefined) {
      this.#log.error(
        '%s signed two commits for seq %d in the space of %s: treat the key as compromised or cloned',
        commit.author,
        commit.seq,
        commit.space
      )
      this.events.emit('chain:forked', {
        space: commit.space,
        author: commit.author,
        seq: commit.seq,
        commits: [toHex(sibling.id), toHex(commit.id)],
        origin
      })
    }
    return node
  }

  #record(prepared: Prepared, at: ChainNode): void {
    const space = prepared.commit.space
    let authority = this.#authority.get(space)
    if (authority === undefined) {
      authority = { owner: this.#chain(space, space), bySubject: new Map(), revocations: new Map() }
      this.#authority.set(space, authority)
    }
    const seq = prepared.commit.seq
    for (const grant of prepared.grants) {
      let list = authority.bySubject.get(grant.subject)
      if (list === undefined) {
        list = []
        authority.bySubject.set(grant.subject, list)
      }
      list.push({ grant, id: grantId(grant), seq, at })
    }
    for (const revocation of prepared.revocations) {
      let list = authority.revocations.get(revocation.grantId)
      if (list === undefined) {
        list = []
        authority.revocations.set(revocation.grantId, list)
      }
      list.push(at)
    }
  }

  /**
   * The authority rule: `author` may use `right` on `path` of `space` at time `atMs` from causal position
   * `seen` (owner commits; they and their ancestors form a prefix of the owner's chain) when a grant in
   * that prefix covers the path and right, its `[notBefore, expiresAt)` contains `atMs`, and no revocation
   * of it is in that prefix. A revocation in the prefix voids the grant whatever its `revokedAt` and the
   * op's stamp say: a writer that has seen it never writes under that grant again. Owners always may.
   */
  #allowed(
    space: string,
    author: string,
    path: string,
    right: GrantRight,
    atMs: number,
    seen: readonly ChainNode[]
  ): boolean {
    if (author === space) return true
    const authority = this.#authority.get(space)
    const grants = authority?.bySubject.get(author)
    if (authority === undefined || grants === undefined) return false
    const owner = authority.owner
    for (const record of grants) {
      if (!seenCovers(owner, seen, record.at)) continue
      const grant = record.grant
      if (atMs < grant.notBefore || atMs >= grant.expiresAt) continue
      if (!grant.scope.rights.includes(right) || !scopeCoversPath(grant.scope, path)) continue
      const revocations = authority.revocations.get(record.id)
      if (revocations?.some((at) => seenCovers(owner, seen, at)) === true) continue
      return true
    }
    return false
  }

  #applyOp(
    paths: Map<string, Map<string, FieldEntry>>,
    space: string,
    path: string,
    field: string,
    record: OpRecord,
    origin: Origin
  ): void {
    let fields = paths.get(path)
    if (fields === undefined) {
      fields = new Map()
      paths.set(path, fields)
    }
    const entry = fields.get(field)
    if (entry === undefined) {
      fields.set(field, { winner: record, losers: undefined })
      this.#notify(space, path, field, record, undefined, origin)
      return
    }
    if (compareOps(record, entry.winner) > 0) {
      const previous = entry.winner
      entry.losers ??= []
      entry.losers.push(previous)
      entry.winner = record
      this.#notify(space, path, field, record, previous, origin)
    } else {
      entry.losers ??= []
      entry.losers.push(record)
    }
  }

  #notify(
    space: string,
    path: string,
    field: string,
    record: OpRecord,
    previous: OpRecord | undefined,
    origin: Origin
  ): void {
    const wantsEvent = this.events.has('change')
    if (
      this.#soulSubscribers.size === 0 &&
      this.#spaceSubscribers.size === 0 &&
      this.#allSubscribers.size === 0 &&
      !wantsEvent
    ) {
      return
    }
    const soul = `${space}/${path}`
    const bySoul = this.#soulSubscribers.get(soul)
    const bySpace = this.#spaceSubscribers.get(space)
    if (bySoul === undefined && bySpace === undefined && this.#allSubscribers.size === 0 && !wantsEvent)
      return
    const change: GraphChange = {
      soul,
      field,
      value: record.value,
      deleted: record.wire === undefined,
      previous: previous?.value,
      hlc: record.hlc,
      signer: record.signer,
      origin
    }
    if (bySoul !== undefined) for (const fn of bySoul) this.#call(fn, change)
    if (bySpace !== undefined) for (const fn of bySpace) this.#call(fn, change)
    for (const fn of this.#allSubscribers) this.#call(fn, change)
    if (wantsEvent) this.events.emit('change', change)
  }

  #call(fn: Subscriber, change: GraphChange): void {
    try {
      fn(change)
    } catch (err) {
      this.#log.error('subscriber threw: %e', err)
    }
  }

  #chain(space: string, author: string): ChainTree {
    const key = chainKey(space, author)
    let chain = this.#chains.get(key)
    if (chain === undefined) {
      chain = new ChainTree(space, author)
      this.#chains.set(key, chain)
    }
    return chain
  }

  #ownChain(space: string): ChainTree {
    let chain = this.#ownChains.get(space)
    if (chain === undefined) {
      chain = this.#chain(space, this.address)
      this.#ownChains.set(space, chain)
    }
    return chain
  }

  #requireStarted(): void {
    if (this.#status === 'failed') throw this.#fatal as Error
    if (this.#status !== 'started') {
      throw new StoreClosedError('the graph is not started; call and await graph.start() first')
    }
  }

  // ---------------------------------------------------------------- reads

  /** The live fields of a soul (deleted fields left out), or `undefined` when it has none. */
  get(soul: Soul): Record<string, GraphValue> | undefined {
    const fields = this.#fields(soul)
    if (fields === undefined) return undefined
    let out: Record<string, GraphValue> | undefined
    for (const [field, entry] of fields) {
      if (entry.winner.wire === undefined) continue
      out ??= {}
      out[field] = entry.winner.value as GraphValue
    }
    return out
  }

  /** The state of one field, including a winning tombstone; `undefined` when never written. */
  getField(soul: Soul, field: string): FieldState | undefined {
    const winner = this.#fields(soul)?.get(field)?.winner
    if (winner === undefined) return undefined
    return { value: winner.value, deleted: winner.wire === undefined, hlc: winner.hlc, signer: winner.signer }
  }

  /**
   * Every accepted write of a field, winner first, then the losers in descending order. Losing values are
   * never dropped: this is how "no accepted write is lost" can be checked.
   */
  history(soul: Soul, field: string): HistoryEntry[] {
    const entry = this.#fields(soul)?.get(field)
    if (entry === undefined) return []
    const all = [entry.winner, ...(entry.losers ?? [])].sort((a, b) => compareOps(b, a))
    return all.map((op, index) => ({
      value: op.value,
      deleted: op.wire === undefined,
      hlc: op.hlc,
      signer: op.signer,
      commit: toHex(op.commit),
      winner: index === 0
    }))
  }

  /** The soul a field links to, or `undefined` when the field is not a live link. */
  follow(soul: Soul, field: string): Soul | undefined {
    const value = this.#fields(soul)?.get(field)?.winner.value
    return isLink(value) ? value['#'] : undefined
  }

  /** The live links of a soul. */
  links(soul: Soul): Array<{ readonly field: string; readonly target: Soul }> {
    const out: Array<{ field: string; target: Soul }> = []
    for (const [field, entry] of this.#fields(soul) ?? []) {
      const value = entry.winner.value
      if (entry.winner.wire !== undefined && isLink(value)) out.push({ field, target: value['#'] })
    }
    return out
  }

  /** Breadth-first walk along links from `start` (each soul visited once, bounded by depth and count). */
  traverse(start: Soul, options: TraverseOptions = {}): TraversalStep[] {
    const maxDepth = options.maxDepth ?? 3
    const maxNodes = options.maxNodes ?? 1000
    const fields = options.fields === undefined ? undefined : new Set(options.fields)
    const seen = new Set<Soul>([start])
    const out: TraversalStep[] = [{ soul: start, depth: 0, via: undefined }]
    for (let i = 0; i < out.length && out.length < maxNodes; i++) {
      const step = out[i] as TraversalStep
      if (step.depth >= maxDepth) continue
      for (const { field, target } of this.links(step.soul)) {
        if (fields !== undefined && !fields.has(field)) continue
        if (seen.has(target)) continue
        seen.add(target)
        out.push({ soul: target, depth: step.depth + 1, via: { soul: step.soul, field } })
        if (out.length >= maxNodes) break
      }
    }
    return out
  }

  /** Every soul with at least one field (live or deleted), optionally only in one space. */
  *souls(space?: string): IterableIterator<Soul> {
    for (const [owner, paths] of this.#spaces) {
      if (space !== undefined && owner !== space) continue
      for (const path of paths.keys()) yield `${owner}/${path}`
    }
  }

  #fields(soul: Soul): Map<string, FieldEntry> | undefined {
    const slash = typeof soul === 'string' ? soul.indexOf('/') : -1
    if (slash < 0) return undefined
    return this.#spaces.get(soul.slice(0, slash))?.get(soul.slice(slash + 1))
  }

  /**
   * Calls `listener` for every change of a winning value (local or remote) that matches the filter (a
   * soul, or `{ soul, field }`, or `{ space }`, or `{}` for all). Returns a function that unsubscribes.
   *
   * @example
   * ```ts
   * const stop = graph.subscribe(`${me.address}/notes/1`, (change) => console.log(change.field, change.value))
   * ```
   */
  subscribe(filter: Soul | SubscribeFilter, listener: (change: GraphChange) => void): () => void {
    const f: SubscribeFilter = typeof filter === 'string' ? { soul: filter } : filter
    const fn: Subscriber =
      f.field === undefined
        ? listener
        : (change) => {
            if (change.field === f.field) listener(change)
          }
    let set: Set<Subscriber>
    let cleanup: () => void
    if (f.soul !== undefined) {
      const soul = f.soul
      set = this.#soulSubscribers.get(soul) ?? new Set()
      this.#soulSubscribers.set(soul, set)
      cleanup = () => {
        if (set.size === 0) this.#soulSubscribers.delete(soul)
      }
    } else if (f.space !== undefined) {
      const space = f.space
      set = this.#spaceSubscribers.get(space) ?? new Set()
      this.#spaceSubscribers.set(space, set)
      cleanup = () => {
        if (set.size === 0) this.#spaceSubscribers.delete(space)
      }
    } else {
      set = this.#allSubscribers
      cleanup = () => {}
    }
    set.add(fn)
    return () => {
      set.delete(fn)
      cleanup()
    }
  }

  // ---------------------------------------------------------------- sync support

  /**
   * The version vector: the head of every known chain (optionally only in some spaces), the tip first.
   * A chain whose key forked has one entry per branch head (at most 16: the tip and the highest others).
   */
  versionVector(spaces?: ReadonlySet<string>): ChainHead[] {
    const out: ChainHead[] = []
    for (const chain of this.#chains.values()) {
      if (chain.seq === 0) continue
      if (spaces !== undefined && !spaces.has(chain.space)) continue
      for (const head of chain.heads(MAX_HEADS_PER_CHAIN))
        out.push({ space: chain.space, author: chain.author, seq: head.seq, head: head.id })
    }
    return out
  }

  /** The highest position applied of one chain. */
  chainLength(space: string, author: string): number {
    return this.#chains.get(chainKey(space, author))?.seq ?? 0
  }

  /** True when the commit at this position with this id is applied (sync support). */
  hasCommit(space: string, author: string, seq: number, id: Uint8Array): boolean {
    return this.#chains.get(chainKey(space, author))?.get(seq, id) !== undefined
  }

  /** True when the chain holds more than one commit at `seq`: its key forked there (sync support). */
  isForkedAt(space: string, author: string, seq: number): boolean {
    return this.#chains.get(chainKey(space, author))?.forkedAt(seq) === true
  }

  /**
   * Commits a peer can look for to find where its copy of a chain and ours part (sync support): our heads,
   * then commits on the path to our tip at exponentially spaced positions below `below`.
   */
  chainSample(space: string, author: string, below: number): CommitRef[] {
    const chain = this.#chains.get(chainKey(space, author))
    if (chain === undefined) return []
    const out = new Set<ChainNode>(chain.heads(MAX_HEADS_PER_CHAIN))
    for (const node of chain.sample(below)) out.add(node)
    return [...out].map((node) => ({ seq: node.seq, id: node.id }))
  }

  /**
   * Reads from the store, in batches and parents first, the commits of one chain that a peer holding
   * `heads` (and so all their ancestors) lacks (sync support). Heads this replica does not hold are
   * ignored. Only durable commits are returned.
   */
  async *readMissing(
    space: string,
    author: string,
    heads: readonly CommitRef[],
    options?: AbortOptions
  ): AsyncGenerator<MissingCommits> {
    this.#requireStarted()
    const chain = this.#chains.get(chainKey(space, author))
    if (chain === undefined) return
    const have: ChainNode[] = []
    for (const head of heads) {
      const node = chain.get(head.seq, head.id)
      if (node !== undefined) have.push(node)
    }
    for (const range of chain.missing(have)) {
      for (let from = range.from; from <= range.to; from += 512) {
        const to = Math.min(range.to, from + 511)
        let envelopes = await this.#store.readChain(space, author, from, to, options)
        // Where the chain forked, a position holds commits of several branches: keep this branch's.
        if (chain.forkSeq > 0 && to >= chain.forkSeq) {
          envelopes = envelopes.filter((envelope) => {
            const node = chain.findForked(commitId(envelope.subarray(SIGNATURE_BYTES)))
            return node === undefined || node.branch === range.branch
          })
        }
        // A branch has one commit per position, and durable commits are a prefix of it.
        if (envelopes.length > 0) yield { envelopes, seq: from + envelopes.length - 1 }
      }
    }
  }

  /**
   * Every chain whose key signed more than one commit for one position, by space and author. Each is
   * proven by two validly signed commits, which sync carries to every replica of the space; the report is
   * rebuilt from the store on restart.
   */
  forks(): ChainFork[] {
    const out: ChainFork[] = []
    for (const chain of this.#chains.values()) {
      const fork = forkOf(chain)
      if (fork !== undefined) out.push(fork)
    }
    return out.sort((a, b) => compareText(a.space, b.space) || compareText(a.author, b.author))
  }

  /** The fork of one chain, or `undefined` while its key signed one commit per position. */
  forkStatus(space: string, author: string): ChainFork | undefined {
    const chain = this.#chains.get(chainKey(space, author))
    return chain === undefined ? undefined : forkOf(chain)
  }

  /** Reads stored envelopes of one chain (for sync). Only durable commits are returned. */
  readChain(
    space: string,
    author: string,
    fromSeq: number,
    toSeq: number,
    options?: AbortOptions
  ): Promise<Uint8Array[]> {
    this.#requireStarted()
    return this.#store.readChain(space, author, fromSeq, toSeq, options)
  }
}

/**
 * Creates a graph replica. It does no I/O until `start()`.
 *
 * @example
 * ```ts
 * const graph = createGraph({ identity: await generateIdentity() })
 * await graph.start()
 * await graph.put(`${graph.address}/hello`, { text: 'world' })
 * ```
 */
export function createGraph(init: GraphInit): Graph {
  return new Graph(init)
}

/** A {@link CommitReceipt} whose hex id is computed only when read. */
class Receipt implements CommitReceipt {
  readonly #id: Uint8Array
  #hex: string | undefined
  readonly space: string
  readonly author: string
  readonly seq: number
  readonly ops: number
  constructor(id: Uint8Array, space: string, author: string, seq: number, ops: number) {
    this.#id = id
    this.space = space
    this.author = author
    this.seq = seq
    this.ops = ops
  }
  get id(): string {
    this.#hex ??= toHex(this.#id)
    return this.#hex
  }
  toJSON(): { id: string; space: string; author: string; seq: number; ops: number } {
    return { id: this.id, space: this.space, author: this.author, seq: this.seq, ops: this.ops }
  }
}

/** Souls already checked by a graph (bounded), so hot loops do not re-split and re-validate them. */
type SoulCache = Map<Soul, { readonly owner: string; readonly path: string }>
const SOUL_CACHE_LIMIT = 16_384

function cachedSoul(
  cache: SoulCache,
  soul: Soul,
  limits: CommitLimits
): { readonly owner: string; readonly path: string } {
  let parsed = cache.get(soul)
  if (parsed === undefined) {
    parsed = parseSoul(soul, limits)
    if (cache.size >= SOUL_CACHE_LIMIT) cache.clear()
    cache.set(soul, parsed)
  }
  return parsed
}

/** Collects the writes of one transaction, validated as they are added, grouped by space. */
class TransactionBuilder implements Transaction {
  readonly groups = new Map<string, LocalOp[]>()
  readonly #limits: CommitLimits
  readonly #liveFields: (soul: Soul) => string[]
  readonly #souls: SoulCache

  constructor(limits: CommitLimits, liveFields: (soul: Soul) => string[], souls: SoulCache) {
    this.#limits = limits
    this.#liveFields = liveFields
    this.#souls = souls
  }

  #add(soul: Soul, field: string, value: GraphValue | undefined): void {
    const { owner, path } = cachedSoul(this.#souls, soul, this.#limits)
    checkField(field, this.#limits)
    if (value !== undefined) checkValue(value, this.#limits)
    let ops = this.groups.get(owner)
    if (ops === undefined) {
      ops = []
      this.groups.set(owner, ops)
    }
    if (ops.length >= this.#limits.maxOpsPerCommit) {
      throw new InvalidGraphInputError(
        `a transaction may write at most ${this.#limits.maxOpsPerCommit} fields per space; split it`
      )
    }
    ops.push({ path, field, value })
  }

  put(soul: Soul, fields: Readonly<Record<string, GraphValue>>): Transaction {
    if (typeof fields !== 'object' || fields === null)
      throw new InvalidGraphInputError('put() takes an object of fields')
    for (const field in fields) {
      if (Object.hasOwn(fields, field)) this.#add(soul, field, fields[field] as GraphValue)
    }
    return this
  }

  set(soul: Soul, field: string, value: GraphValue): Transaction {
    this.#add(soul, field, value)
    return this
  }

  link(soul: Soul, field: string, target: Soul): Transaction {
    this.#add(soul, field, { '#': target })
    return this
  }

  remove(soul: Soul, field?: string): Transaction {
    if (field !== undefined) {
      this.#add(soul, field, undefined)
    } else {
      parseSoul(soul, this.#limits)
      for (const name of this.#liveFields(soul)) this.#add(soul, name, undefined)
    }
    return this
  }
}

function chainKey(space: string, author: string): string {
  return `${space}\n${author}`
}

/** What a commit naming `nodes` (owner commits) declares it had seen. */
function seenOf(nodes: readonly ChainNode[]): SeenOwnerCommit {
  if (nodes.length === 0) return NOTHING_SEEN
  let seq = 0
  let maxHlc = -1
  for (const node of nodes) {
    if (node.seq > seq) seq = node.seq
    if (node.maxHlc > maxHlc) maxHlc = node.maxHlc
  }
  return { nodes, seq, maxHlc }
}

function forkOf(chain: ChainTree): ChainFork | undefined {
  if (chain.forkSeq === 0) return undefined
  return {
    space: chain.space,
    author: chain.author,
    seq: chain.forkSeq,
    commits: chain
      .at(chain.forkSeq)
      .map((node) => node.id)
      .sort(compareBytes)
      .map(toHex)
  }
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function toStored(commit: Commit): StoredCommit {
  return {
    id: commit.id,
    space: commit.space,
    author: commit.author,
    seq: commit.seq,
    envelope: commit.envelope
  }
}

/**
 * The HAM order of two writes of one field: higher clock wins; on an exact tie the higher signer address
 * wins; then the higher sha256 of the canonical value bytes. Returns > 0 when `a` wins.
 */
function compareOps(a: OpRecord, b: OpRecord): number {
  if (a.hlc !== b.hlc) return a.hlc - b.hlc
  if (a.signer !== b.signer) return a.signer > b.signer ? 1 : -1
  a.hash ??= sha256(valueBytes(a.wire))
  b.hash ??= sha256(valueBytes(b.wire))
  for (let i = 0; i < 32; i++) {
    const d = (a.hash[i] as number) - (b.hash[i] as number)
    if (d !== 0) return d
  }
  return 0
}
