import { type CommitAccepted, createGraph, type Graph } from '@araliya/crdt-graph'
import { levelStore } from '@araliya/crdt-graph/level'
import type { Identity } from '@araliya/identity'
import type { AbortOptions } from '@araliya/interface'
import { defaultLogger } from '@libp2p/logger'
import { TypedEventEmitter } from 'main-event'
import type { MemoryAccess } from './access.js'
import { addDocument, type DocumentInit } from './documents.js'
import { InvalidMemoryError, MemoryNotFoundError } from './errors.js'
import { exportMemory, exportMemoryTo, type ImportLimits, type ImportReport, importMemory } from './export.js'
import {
  type BasicSessionImportOptions,
  type BasicSessionReport,
  importBasicSession
} from './import/basic-session.js'
import { type FactQuery, facts, type RelateOptions, relate } from './facts.js'
import { checkScope, PRIVATE_SCOPE, PUBLIC_SCOPE } from './keys.js'
import type { DocumentMemory, FactMemory, MemoryItem, MemoryKind, SessionMemory } from './model.js'
import { Profile } from './profile.js'
import { MEMORY_PATH, Replica, strip } from './replica.js'
import { type ContextOptions, type ContextResult, assembleContext } from './context.js'
import { hashingEmbedder } from './recall/embedder.js'
import {
  Recall,
  type RecallOptions,
  type RecallResult,
  type RecallStats,
  type RelatedFact,
  type RelatedOptions
} from './recall/recall.js'
import { INDEX_KEY_CONTEXT } from './recall/snapshot.js'
import { SessionHandle } from './sessions.js'
import type {
  Correction,
  MemoryConflict,
  MemoryEvents,
  MemoryInit,
  MemoryRemote,
  Provenance,
  RememberOptions
} from './types.js'

const CORRECTABLE: Readonly<Record<MemoryKind, readonly string[]>> = {
  note: ['text', 'tags'],
  turn: ['content', 'role', 'time', 'tokens', 'toolCalls'],
  session: ['title'],
  fact: ['object', 'validFrom', 'validTo', 'confidence'],
  profile: ['value'],
  document: ['title', 'uri'],
  chunk: ['text']
}

/**
 * An agent's memory: sessions, profile blocks, facts and documents in the owner's space of a signed CRDT
 * graph, encrypted on the device before they are written (see the package README and
 * docs/internals/memory.md).
 */
export class Memory {
  /** The owner's address: whose memory this is. */
  readonly owner: string
  readonly events = new TypedEventEmitter<MemoryEvents>()
  /** Named working-memory blocks (always in context). */
  readonly profile: Profile
  readonly #graph: Graph
  readonly #identity: Identity
  readonly #ownsGraph: boolean
  readonly #r: Replica
  readonly #access: MemoryAccess
  readonly #prefetchTurns: number
  readonly #remote: MemoryRemote | undefined
  readonly #unsubscribe: Array<() => void> = []
  readonly #recall: Recall
  #startedGraph = false

  constructor(init: MemoryInit) {
    this.owner = init.owner ?? init.identity.address
    this.#identity = init.identity
    this.#ownsGraph = init.graph === undefined
    this.#graph =
      init.graph ??
      createGraph({
        identity: init.identity,
        store: init.store ?? (init.dir === undefined ? undefined : levelStore(`${init.dir}/graph`)),
        ...(init.logger === undefined ? {} : { logger: init.logger })
      })
    this.#r = new Replica({
      identity: init.identity,
      owner: this.owner,
      graph: this.#graph,
      events: this.events,
      cacheSize: init.cacheSize ?? 2000,
      device: init.device,
      now: init.now ?? Date.now,
      log: (init.logger ?? defaultLogger()).forComponent('araliya:memory')
    })
    this.#prefetchTurns = init.prefetchTurns ?? 20
    this.#remote = init.remote
    this.#access = this.#r.makeAccess()
    this.profile = new Profile(this.#access)
    const embedder =
      init.recall?.embedder === undefined ? hashingEmbedder() : (init.recall.embedder ?? undefined)
    this.#recall = new Recall({
      access: this.#access,
      events: this.events,
      embedder,
      dir: init.recall?.snapshot === false ? undefined : init.dir,
      indexKey: () => this.#r.derivedKey(INDEX_KEY_CONTEXT),
      knownAt: (id, at) => this.#r.knownAt(id, at),
      log: (init.logger ?? defaultLogger()).forComponent('araliya:memory:recall')
    })
  }

  /** The graph the memory lives in (shared with sync and replication). */
  get graph(): Graph {
    return this.#graph
  }

  /** True once this process holds the owner's private content key (the owner, or a device it added). */
  get readable(): boolean {
    return this.#r.readable
  }

  get started(): boolean {
    return this.#r.started
  }

  /** Live memories this process can read (catalogued; counting decrypts nothing). */
  get size(): number {
    let live = 0
    for (const entry of this.#access.entries()) if (entry.live) live++
    return live
  }

  /** Decrypted memories held in the hot cache (at most `cacheSize`). */
  get cached(): number {
    return this.#r.cached
  }

  /**
   * Opens the graph (when it is not running yet), loads the keys and the catalog. Safe to call twice.
   *
   * @throws {StoreLockedError} (from `@araliya/crdt-graph`) when `dir` is held by another process
   */
  async start(options?: AbortOptions): Promise<void> {
    if (this.#r.started) return
    if (!this.#graph.started) {
      await this.#graph.start(options)
      this.#startedGraph = true
    }
    this.#unsubscribe.push(
      this.#graph.subscribe({ space: this.owner }, (change) => this.#r.onField(change.soul, change.field))
    )
    const onCommit = (event: CustomEvent<CommitAccepted>): void => {
      const { commit } = event.detail
      if (commit.space !== this.owner) return
      for (const op of commit.ops) {
        const id = Replica.idOfPath(op.path)
        if (id !== undefined) this.#r.checkConflict(id)
      }
    }
    this.#graph.events.addEventListener('commit:accepted', onCommit)
    this.#unsubscribe.push(() => this.#graph.events.removeEventListener('commit:accepted', onCommit))
    this.#r.open()
    try {
      await this.#recall.open()
    } finally {
      this.#r.settle()
    }
  }

  /** Stops following the graph; stops the graph too when the memory opened it. Safe to call twice. */
  async stop(): Promise<void> {
    if (!this.#r.started) return
    await this.#recall.close()
    this.#r.close()
    for (const off of this.#unsubscribe.splice(0)) off()
    if (this.#ownsGraph || this.#startedGraph) await this.#graph.stop()
    this.#startedGraph = false
  }

  /** Remembers a note. With `key`, remembering again under that key supersedes the earlier note. */
  async remember(text: string, options: RememberOptions = {}): Promise<MemoryItem> {
    const scope = checkScope(options.scope ?? PRIVATE_SCOPE)
    checkText(text, 'a memory')
    const tags = [...(options.tags ?? [])]
    for (const tag of tags) checkText(tag, 'a tag', 128)
    const id = options.key === undefined ? this.#access.newId() : this.#r.keyedId('note', options.key, scope)
    await this.#access.write([
      {
        id,
        kind: 'note',
        scope,
        body: { text, tags: tags.length === 0 ? undefined : tags, key: options.key },
        ...(options.source === undefined ? {} : { source: options.source }),
        ...(options.meta === undefined ? {} : { meta: options.meta })
      }
    ])
    return this.#r.mustRead(id)
  }

  /**
   * A live memory by id, or `undefined`. With `knownAt`, the memory as this replica held it then
   * (transaction time: "what did I believe on date X").
   */
  get(id: string, options: { knownAt?: number } = {}): MemoryItem | undefined {
    this.#r.requireStarted()
    if (options.knownAt !== undefined) return this.#r.knownAt(id, options.knownAt)
    return this.#r.item(id)
  }

  /**
   * Like {@link get}, but on a miss asks the swarm (replicas of the owner's space, through `remote`) and
   * looks again once that sync is done.
   */
  async fetch(id: string, options?: AbortOptions): Promise<MemoryItem | undefined> {
    const local = this.get(id)
    if (local !== undefined || this.#remote === undefined) return local
    await this.#remote.fetchSpace(this.owner, options)
    return this.get(id)
  }

  /** Live memories, newest first, optionally of one kind or scope. */
  list(options: { kind?: MemoryKind; scope?: string; limit?: number } = {}): MemoryItem[] {
    this.#r.requireStarted()
    const entries = [...this.#access.entries(options.kind)].filter(
      (entry) => entry.live && (options.scope === undefined || entry.scope === options.scope)
    )
    entries.sort((a, b) => b.hlc - a.hlc)
    const out: MemoryItem[] = []
    for (const entry of entries.slice(0, options.limit ?? entries.length)) {
      const item = this.#r.item(entry.id)
      if (item !== undefined) out.push(item)
    }
    return out
  }

  /**
   * Corrects a memory: writes a new version that supersedes the current one (and resolves its open
   * conflicts). The old version stays in the history ({@link why}); nothing is deleted.
   */
  async correct(id: string, correction: Correction, options: { source?: string } = {}): Promise<MemoryItem> {
    const current = this.#r.item(id)
    if (current === undefined) throw new MemoryNotFoundError(id)
    const allowed = CORRECTABLE[current.kind]
    for (const field of Object.keys(correction)) {
      if (!allowed.includes(field)) {
        throw new InvalidMemoryError(
          `a ${current.kind} memory can be corrected in ${allowed.join(', ')}; not "${field}"`
        )
      }
    }
    const body = { ...bodyOf(current), ...correction } as Record<string, never>
    await this.#access.write([
      {
        id,
        kind: current.kind,
        scope: current.scope,
        body,
        ...(options.source === undefined ? {} : { source: options.source }),
        ...(current.meta === undefined ? {} : { meta: current.meta })
      }
    ])
    return this.#r.mustRead(id)
  }

  /** Forgets a memory: a tombstone version; recall no longer finds it, its history keeps what was. */
  async forget(id: string): Promise<void> {
    const entry = this.#r.entry(id)
    if (entry === undefined || !entry.live) throw new MemoryNotFoundError(id)
    await this.#access.write([{ id, kind: entry.kind, scope: entry.scope, body: {}, forget: true }])
  }

  /** Where a memory came from: every version, who signed it, from which device and turn, and its conflicts. */
  why(id: string): Provenance {
    this.#r.requireStarted()
    const versions = this.#r.versions(id)
    if (versions.length === 0)
      throw new MemoryNotFoundError(id, `no memory with id ${JSON.stringify(id)} is stored here`)
    const current = versions.find((v) => v.winner)
    const conflict = this.#r.conflictOf(id, versions)
    const kind = this.#r.entry(id)?.kind ?? (current?.item?.kind as MemoryKind)
    const sourceId = current?.item?.source
    const source = sourceId === undefined ? undefined : this.#r.item(sourceId)
    return {
      id,
      kind,
      current: current === undefined ? undefined : strip(current),
      history: versions.map(strip),
      conflicts: conflict?.losers ?? [],
      ...(source === undefined ? {} : { source })
    }
  }

  /**
   * Memories whose concurrent versions disagree (two devices changed one memory offline): the version
   * that won on every replica and the ones that lost, identical everywhere. Resolve one with
   * {@link correct} (or {@link forget}).
   */
  conflicts(id?: string): MemoryConflict[] {
    this.#r.requireStarted()
    const ids = id === undefined ? this.#r.conflicted() : [id]
    const out: MemoryConflict[] = []
    for (const one of ids) {
      const conflict = this.#r.conflictOf(one, this.#r.versions(one))
      if (conflict !== undefined) out.push(conflict)
    }
    return out
  }

  /** A conversation: append turns, read them in order. Opening it warms its recent turns into the cache. */
  session(id: string): SessionHandle {
    this.#r.requireStarted()
    const handle = new SessionHandle(this.#access, id)
    handle.prefetch(this.#prefetchTurns)
    return handle
  }

  /** Every session header, newest first. */
  sessions(): SessionMemory[] {
    return this.list({ kind: 'session' }).filter((item): item is SessionMemory => item.kind === 'session')
  }

  /**
   * Records a fact. A `single` fact has one current object per subject and relation: a new object
   * supersedes the old one and closes the old one's valid time (it stays queryable with `validAt`).
   */
  relate(
    subject: string,
    relation: string,
    object: RelateObject,
    options: RelateOptions = {}
  ): Promise<FactMemory> {
    this.#r.requireStarted()
    return relate(this.#access, subject, relation, object, options)
  }

  /** Facts matching a query: by subject, relation, valid time (`validAt`) or transaction time (`knownAt`). */
  facts(query: FactQuery = {}): FactMemory[] {
    this.#r.requireStarted()
    return facts(this.#access, query, (id, at) => this.#r.knownAt(id, at))
  }

  /** Stores a document as chunks (for recall); returns the document memory. */
  addDocument(init: DocumentInit): Promise<DocumentMemory> {
    this.#r.requireStarted()
    return addDocument(this.#access, init)
  }

  /**
   * Recalls memories for a query, best first: by full-text relevance (BM25), by vector similarity, both
   * fused by reciprocal rank (`hybrid`, the default; k = 60), or by key. Only memories this process can
   * decrypt are indexed. Refuses a query over 4,096 characters or a limit over 1,000 with
   * {@link RecallLimitError}.
   */
  recall(query: string, options?: RecallOptions): Promise<RecallResult[]> {
    this.#r.requireStarted()
    return this.#recall.recall(query, options)
  }

  /** Facts connected to an entity: a walk over subjects and objects, up to `depth` hops (at most 4). */
  related(entity: string, options?: RelatedOptions): RelatedFact[] {
    this.#r.requireStarted()
    return this.#recall.related(entity, options)
  }

  /**
   * What to put in front of a model for `query`, never over `maxTokens` by the package's token estimate
   * ({@link estimateTokens}): profile blocks first, then the session's most recent turns, then recalled
   * memories by rank.
   */
  context(query: string, options: ContextOptions): Promise<ContextResult> {
    this.#r.requireStarted()
    return assembleContext(
      {
        profile: () => this.profile.list(),
        turns: (session, count) => new SessionHandle(this.#access, session).turns({ limit: count }),
        recall: (q, o) => this.#recall.recall(q, o)
      },
      query,
      options
    )
  }

  /** The recall indexes' sizes and how they were opened (from a snapshot or rebuilt). */
  get recallStats(): RecallStats {
    return this.#recall.stats
  }

  /**
   * Lets a device key of the owner read and write this memory: a grant for the `memory/` path and the
   * content keys sealed to it. Only the owner's key can do this.
   */
  async addDevice(address: string, options: { expiresAt: number; notBefore?: number }): Promise<void> {
    this.#r.requireOwner('add a device')
    await this.#graph.grant(address, { pathPrefix: MEMORY_PATH, rights: ['write', 'delete'] }, options)
    const scopes = new Set([PRIVATE_SCOPE, ...this.#r.scopes()])
    scopes.delete(PUBLIC_SCOPE)
    await this.#r.putKeyBoxes(address, [...scopes])
  }

  /**
   * Exports the whole memory (every signed commit of the owner's space, values still sealed) to one
   * file, under a manifest signed by this process's key. See docs/protocols/memory-export.md.
   */
  export(options?: AbortOptions): Promise<Uint8Array> {
    this.#r.requireStarted()
    return exportMemory({ graph: this.#graph, owner: this.owner, identity: this.#identity }, options)
  }

  /** Writes {@link Memory.export}'s file to `path` (a temporary file renamed into place). */
  exportTo(path: string, options?: AbortOptions): Promise<void> {
    this.#r.requireStarted()
    return exportMemoryTo({ graph: this.#graph, owner: this.owner, identity: this.#identity }, path, options)
  }

  /**
   * Imports an export of this owner's memory (a backup, another device's file): verifies the manifest's
   * signature and digest and every commit, then merges them as a sync would. A refused file throws
   * `MemoryExportError` and changes nothing. Importing the same file twice adds nothing.
   */
  import(
    bytes: Uint8Array,
    options?: AbortOptions & { limits?: Partial<ImportLimits> }
  ): Promise<ImportReport> {
    this.#r.requireStarted()
    return importMemory({ graph: this.#graph, owner: this.owner }, bytes, options)
  }

  /**
   * Imports an Araliya Bot `basic_session` store (a directory with `kv.json` and `transcript.md`): the
   * transcript as the turns of one session, the key/value pairs as keyed notes (or profile blocks).
   * Importing the same store again writes nothing.
   */
  importBasicSession(dir: string, options?: BasicSessionImportOptions): Promise<BasicSessionReport> {
    this.#r.requireStarted()
    return importBasicSession(this.#access, dir, options)
  }

  /** Lets another agent read the memories of one named scope (it receives that scope's key, sealed to it). */
  async shareScope(scope: string, reader: string): Promise<void> {
    this.#r.requireOwner('share a scope')
    if (checkScope(scope) === PRIVATE_SCOPE || scope === PUBLIC_SCOPE) {
      throw new InvalidMemoryError(
        `"${scope}" cannot be shared: share a named scope (write memories with { scope: 'team' })`
      )
    }
    await this.#r.putKeyBoxes(reader, [scope])
  }
}

/** What {@link Memory.relate} takes as a fact's object. */
export type RelateObject = string | number | boolean | { readonly ref: string }

/** Creates a memory (call `start()` before use). */
export function createMemory(init: MemoryInit): Memory {
  return new Memory(init)
}

function checkText(text: unknown, what: string, max = 48 * 1024): asserts text is string {
  if (typeof text !== 'string' || text.trim().length === 0) {
    throw new InvalidMemoryError(
      `${what} is a non-empty string; got ${typeof text === 'string' ? 'an empty one' : typeof text}`
    )
  }
  if (text.length > max) {
    throw new InvalidMemoryError(
      `${what} is at most ${max} characters (this one has ${text.length}): store long text with addDocument()`
    )
  }
}

/** The kind's own fields of an item (what a correction starts from). */
function bodyOf(item: MemoryItem): Record<string, unknown> {
  const {
    id: _id,
    kind: _kind,
    version: _version,
    supersedes: _supersedes,
    writer: _writer,
    device: _device,
    source: _source,
    writtenAt: _writtenAt,
    hlc: _hlc,
    scope: _scope,
    meta: _meta,
    ...body
  } = item
  return body
}
