import {
  type Grant,
  type GrantScope,
  type Identity,
  issueGrant,
  type Revocation,
  revokeGrant
} from '@araliya/identity'
import {
  type AbortOptions,
  HLC_UNITS_PER_MS,
  HybridClock,
  LOCAL_ORIGIN,
  type Origin,
  throwIfAborted
} from '@araliya/interface'
import type { Logger } from '@libp2p/interface'
import { defaultLogger } from '@libp2p/logger'
import { type TypedEventTarget, TypedEventEmitter } from 'main-event'
import type { CommitRef } from './chain.js'
import { type CommitLimits, DEFAULT_COMMIT_LIMITS, decodeCommit, decodeStoredCommit } from './commit.js'
import { InvalidGraphInputError, StoreClosedError } from './errors.js'
import { Durability } from './graph/durability.js'
import { FieldTable } from './graph/fields.js'
import { type IngestContext, ingest } from './graph/ingest.js'
import { readMissing } from './graph/missing.js'
import { fieldHistory, follow, links, readField, readSoul, traverse } from './graph/queries.js'
import { Replica } from './graph/replica.js'
import { Subscriptions } from './graph/subscriptions.js'
import type {
  ChainFork,
  ChainHead,
  CommitReceipt,
  FieldState,
  GraphChange,
  GraphEvents,
  GraphInit,
  HistoryEntry,
  IngestOptions,
  IngestResult,
  MissingCommits,
  SubscribeFilter,
  Transaction,
  TraversalStep,
  TraverseOptions
} from './graph/types.js'
import { decodeAuthority, type Prepared, verifyCommitAsync } from './graph/verify.js'
import { defaultVerifyWorkers, VerifyPool } from './graph/verify-pool.js'
import { LocalWriter } from './graph/writes.js'
import type { GraphValue, Soul } from './model.js'
import { MemoryGraphStore } from './store/memory.js'
import type { GraphStore, StoreProblem } from './store/types.js'

export type * from './graph/types.js'

/**
 * A signed, owner-partitioned CRDT graph replica. Create it with {@link createGraph}, then `start()` it.
 * See the package README for the model and `docs/internals/crdt-graph.md` for the algorithm.
 *
 * The class is a front: the chains and pending buffer, authority, field state, subscriptions, the local
 * write path and the durability queue are separate modules under `src/graph/`.
 */
export class Graph {
  /**
   * Typed events (`field:changed`, `commit:accepted`, `commit:rejected`, `commit:held`, `chain:forked`,
   * `store:damaged`): `graph.events.addEventListener('commit:accepted', (event) => event.detail)`.
   */
  readonly events: TypedEventTarget<GraphEvents>
  /** This replica's signing address. */
  readonly address: string
  readonly #emitter: TypedEventEmitter<GraphEvents>
  readonly #store: GraphStore
  readonly #clock: HybridClock
  readonly #limits: CommitLimits
  readonly #maxSkewUnits: number
  readonly #verifyOnLoad: boolean
  readonly #log: Logger
  readonly #fields: FieldTable
  readonly #subscriptions: Subscriptions
  readonly #replica: Replica
  readonly #durability: Durability
  readonly #writer: LocalWriter
  readonly #identity: Identity
  readonly #ingestContext: IngestContext
  readonly #liveFields = (soul: Soul): string[] => this.#fields.liveFields(soul)
  #status: 'stopped' | 'starting' | 'started' | 'failed' = 'stopped'
  #starting: Promise<void> | undefined
  readonly #verifier: VerifyPool

  constructor(init: GraphInit) {
    if (init?.identity === undefined)
      throw new InvalidGraphInputError('createGraph needs an identity to sign with')
    this.#identity = init.identity
    this.address = init.identity.address
    this.#store = init.store ?? new MemoryGraphStore()
    this.#clock = new HybridClock(init.now ?? Date.now)
    this.#limits = { ...DEFAULT_COMMIT_LIMITS, ...init.limits }
    this.#maxSkewUnits = (init.maxClockSkewMs ?? 60_000) * HLC_UNITS_PER_MS
    this.#verifyOnLoad = init.verifyOnLoad ?? false
    this.#log = (init.logger ?? defaultLogger()).forComponent('araliya:graph')
    this.#emitter = new TypedEventEmitter<GraphEvents>()
    this.events = this.#emitter
    this.#subscriptions = new Subscriptions(this.#emitter, this.#log)
    this.#fields = new FieldTable(this.#subscriptions)
    this.#replica = new Replica(
      this.#fields,
      {
        maxPending: init.maxPendingCommits ?? 10_000,
        maxPendingPerChain: init.maxPendingPerChain ?? 4096,
        maxPendingUngranted: init.maxPendingUngranted ?? 1024,
        maxPendingUngrantedPerSpace: init.maxPendingUngrantedPerSpace ?? 64
      },
      this.#emitter,
      this.#log
    )
    this.#durability = new Durability(
      this.#store,
      () => this.#clock.last,
      () => {
        this.#status = 'failed'
      },
      this.#log
    )
    this.#writer = new LocalWriter(
      init.identity,
      this.#replica,
      this.#clock,
      this.#limits,
      this.#durability,
      this.#emitter
    )
    this.#verifier = new VerifyPool(init.verifyWorkers ?? defaultVerifyWorkers(), this.#log)
    this.#ingestContext = {
      replica: this.#replica,
      clock: this.#clock,
      limits: this.#limits,
      maxSkewUnits: this.#maxSkewUnits,
      durability: this.#durability,
      events: this.#emitter,
      verifier: this.#verifier,
      started: () => this.#status === 'started'
    }
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
    return this.#replica.pending.count
  }

  /** True between a successful `start()` and `stop()`. */
  get started(): boolean {
    return this.#status === 'started'
  }

  /** Opens the store and loads every stored commit. Safe to call twice. */
  start(options?: AbortOptions): Promise<void> {
    if (this.#status === 'started') return Promise.resolve()
    // After a failed write the in-memory state is ahead of the store: only a fresh graph may reload it.
    const fatal = this.#durability.fatal
    if (fatal !== undefined) return Promise.reject(fatal)
    this.#starting ??= this.#start(options).catch((err: unknown) => {
      this.#starting = undefined
      this.#status = 'stopped'
      throw err
    })
    return this.#starting
  }

  async #start(options?: AbortOptions): Promise<void> {
    this.#status = 'starting'
    await this.#store.open(options)
    const state = await this.#store.readState(options)
    if (state !== undefined) this.#clock.observe(state.clock)
    const onProblem = (problem: StoreProblem): void => {
      this.#log.error('store problem at %s: %e', problem.where, problem.error)
      this.#emitter.safeDispatchEvent('store:damaged', { detail: problem })
    }
    let loaded = 0
    for await (const batch of this.#store.replay({ ...options, onProblem })) {
      for (const envelope of batch) {
        let prepared: Prepared
        try {
          const commit = this.#verifyOnLoad
            ? decodeCommit(envelope, this.#limits)
            : decodeStoredCommit(envelope, this.#limits)
          prepared = this.#verifyOnLoad ? await verifyCommitAsync(commit) : decodeAuthority(commit)
        } catch (err) {
          onProblem({ where: `commit #${loaded}`, error: err as Error })
          continue
        }
        loaded++
        this.#clock.observe(prepared.commit.maxHlc)
        this.#replica.offer(prepared, LOCAL_ORIGIN, undefined, undefined)
      }
    }
    this.#log('started %s with %d stored commits', this.address, loaded)
    this.#status = 'started'
  }

  /** Waits for queued writes, then closes the store. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.#starting !== undefined) {
      await this.#starting.catch((err: unknown) => {
        this.#log('stopping after a failed start: %e', err)
      })
    }
    await this.#durability.settle()
    await this.#verifier.stop()
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
    try {
      this.#requireStarted()
      throwIfAborted(options?.signal)
      return this.#writer.put(soul, fields)
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
    const tx = this.#writer.transaction(this.#liveFields)
    await fn(tx)
    throwIfAborted(options?.signal)
    this.#requireStarted()
    return this.#writer.commitGroups(tx.groups)
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
    await this.#writer.authorise([issued], [])
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
    await this.#writer.authorise([], [revocation])
    return revocation
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
    return ingest(this.#ingestContext, envelopes, origin, options)
  }

  #requireStarted(): void {
    if (this.#status === 'failed') throw this.#durability.fatal as Error
    if (this.#status !== 'started') {
      throw new StoreClosedError('the graph is not started; call and await graph.start() first')
    }
  }

  // ---------------------------------------------------------------- reads

  /** The live fields of a soul (deleted fields left out), or `undefined` when it has none. */
  get(soul: Soul): Record<string, GraphValue> | undefined {
    return readSoul(this.#fields, soul)
  }

  /** The state of one field, including a winning tombstone; `undefined` when never written. */
  getField(soul: Soul, field: string): FieldState | undefined {
    return readField(this.#fields, soul, field)
  }

  /**
   * Every accepted write of a field, winner first, then the losers in descending order. Losing values are
   * never dropped: this is how "no accepted write is lost" can be checked.
   */
  history(soul: Soul, field: string): HistoryEntry[] {
    return fieldHistory(this.#fields, soul, field)
  }

  /** The soul a field links to, or `undefined` when the field is not a live link. */
  follow(soul: Soul, field: string): Soul | undefined {
    return follow(this.#fields, soul, field)
  }

  /** The live links of a soul. */
  links(soul: Soul): Array<{ readonly field: string; readonly target: Soul }> {
    return links(this.#fields, soul)
  }

  /** Breadth-first walk along links from `start` (each soul visited once, bounded by depth and count). */
  traverse(start: Soul, options: TraverseOptions = {}): TraversalStep[] {
    return traverse(this.#fields, start, options)
  }

  /** Every soul with at least one field (live or deleted), optionally only in one space. */
  souls(space?: string): IterableIterator<Soul> {
    return this.#fields.souls(space)
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
    return this.#subscriptions.subscribe(filter, listener)
  }

  // ---------------------------------------------------------------- sync support

  /**
   * The version vector: the head of every known chain (optionally only in some spaces), the tip first.
   * A chain whose key forked has one entry per branch head (at most 16: the tip and the highest others).
   */
  versionVector(spaces?: ReadonlySet<string>): ChainHead[] {
    return this.#replica.chains.versionVector(spaces)
  }

  /** The highest position applied of one chain. */
  chainLength(space: string, author: string): number {
    return this.#replica.chains.chainLength(space, author)
  }

  /** True when the commit at this position with this id is applied (sync support). */
  hasCommit(space: string, author: string, seq: number, id: Uint8Array): boolean {
    return this.#replica.chains.hasCommit(space, author, seq, id)
  }

  /** True when the chain holds more than one commit at `seq`: its key forked there (sync support). */
  isForkedAt(space: string, author: string, seq: number): boolean {
    return this.#replica.chains.isForkedAt(space, author, seq)
  }

  /**
   * Commits a peer can look for to find where its copy of a chain and ours part (sync support): our heads,
   * then commits on the path to our tip at exponentially spaced positions below `below`.
   */
  chainSample(space: string, author: string, below: number): CommitRef[] {
    return this.#replica.chains.chainSample(space, author, below)
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
    yield* readMissing(this.#replica.chains, this.#store, space, author, heads, options)
  }

  /**
   * Every chain whose key signed more than one commit for one position, by space and author. Each is
   * proven by two validly signed commits, which sync carries to every replica of the space; the report is
   * rebuilt from the store on restart.
   */
  forks(): ChainFork[] {
    return this.#replica.chains.forks()
  }

  /** The fork of one chain, or `undefined` while its key signed one commit per position. */
  forkStatus(space: string, author: string): ChainFork | undefined {
    return this.#replica.chains.forkStatus(space, author)
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
