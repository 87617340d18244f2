import { createGraph, type Graph, type GraphStore, type HistoryEntry } from '@araliya/crdt-graph'
import { levelStore } from '@araliya/crdt-graph/level'
import type { Identity } from '@araliya/identity'
import { type AbortOptions, hlcMs, NotStartedError } from '@araliya/interface'
import type { ComponentLogger, Logger } from '@libp2p/interface'
import { defaultLogger } from '@libp2p/logger'
import { LRUCache } from 'lru-cache'
import { TypedEventEmitter } from 'main-event'
import type { CatalogEntry, MemoryAccess, Write } from './access.js'
import { addDocument, type DocumentInit } from './documents.js'
import {
  InvalidMemoryError,
  MemoryDecryptError,
  MemoryError,
  MemoryKeyError,
  MemoryNotFoundError
} from './errors.js'
import { type FactQuery, facts, type RelateOptions, relate } from './facts.js'
import {
  checkScope,
  KeyRing,
  keyedId,
  openKeyBox,
  ownerScopeKey,
  PRIVATE_SCOPE,
  PUBLIC_SCOPE,
  publicValue,
  randomId,
  sealKeyBox
} from './keys.js'
import type { DocumentMemory, FactMemory, MemoryItem, MemoryKind, MetaValue, SessionMemory } from './model.js'
import { Profile } from './profile.js'
import { decodeRecord, encodeRecord, MAX_RECORD_BYTES, type StoredRecord, toItem } from './record.js'
import { SessionHandle } from './sessions.js'

/** Path (inside the owner's space) under which memories live; device grants cover it. */
export const MEMORY_PATH = 'memory/'
/** Path under which the owner stores content keys sealed to its devices and readers. */
export const KEY_BOX_PATH = 'keys/memory/'
const VALUE_FIELD = 'v'
/** Ops per commit when many memories are written at once (a document, an import). */
const WRITES_PER_COMMIT = 256

/** Where a memory's bytes come from when this device does not hold them: replicas of the owner's space. */
export interface MemoryRemote {
  /**
   * Brings the owner's space up to date from the swarm (finds replicas, syncs, verifies). Resolves
   * true when a replica answered, false when none could be reached.
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
  /** A directory to keep the memory in (a level store at `<dir>/graph`). Ignored when `graph` is given. */
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
  readonly #identity: Identity
  readonly #graph: Graph
  readonly #ownsGraph: boolean
  readonly #ring = new KeyRing()
  readonly #catalog = new Map<string, CatalogEntry>()
  readonly #groups = new Map<string, Set<string>>()
  readonly #conflicted = new Set<string>()
  readonly #cache: LRUCache<string, MemoryItem>
  readonly #device: string | undefined
  readonly #prefetchTurns: number
  readonly #remote: MemoryRemote | undefined
  readonly #now: () => number
  readonly #log: Logger
  readonly #access: MemoryAccess
  readonly #unsubscribe: Array<() => void> = []
  #writing = 0
  #started = false
  #startedGraph = false

  constructor(init: MemoryInit) {
    this.#identity = init.identity
    this.owner = init.owner ?? init.identity.address
    this.#ownsGraph = init.graph === undefined
    this.#graph =
      init.graph ??
      createGraph({
        identity: init.identity,
        store: init.store ?? (init.dir === undefined ? undefined : levelStore(`${init.dir}/graph`)),
        ...(init.logger === undefined ? {} : { logger: init.logger })
      })
    this.#cache = new LRUCache({ max: Math.max(1, init.cacheSize ?? 2000) })
    this.#device = init.device
    this.#prefetchTurns = init.prefetchTurns ?? 20
    this.#remote = init.remote
    this.#now = init.now ?? Date.now
    this.#log = (init.logger ?? defaultLogger()).forComponent('araliya:memory')
    this.#access = this.#makeAccess()
    this.profile = new Profile(this.#access)
  }

  /** The graph the memory lives in (shared with sync and replication). */
  get graph(): Graph {
    return this.#graph
  }

  /** True once this process holds the owner's private content key (the owner, or a device it added). */
  get readable(): boolean {
    return this.#ring.has(PRIVATE_SCOPE)
  }

  get started(): boolean {
    return this.#started
  }

  /** Opens the graph (when the memory owns it), loads the keys and the catalog. Safe to call twice. */
  async start(options?: AbortOptions): Promise<void> {
    if (this.#started) return
    if (!this.#graph.started) {
      await this.#graph.start(options)
      this.#startedGraph = true
    }
    if (this.#identity.address === this.owner) this.#ring.add(ownerScopeKey(this.#identity, PRIVATE_SCOPE))
    this.#unsubscribe.push(
      this.#graph.subscribe({ space: this.owner }, (change) => this.#onField(change.soul, change.field))
    )
    const onCommit = (
      event: CustomEvent<{ commit: { space: string; ops: readonly { path: string }[] } }>
    ): void => {
      const { commit } = event.detail
      if (commit.space !== this.owner) return
      for (const op of commit.ops)
        if (op.path.startsWith(MEMORY_PATH)) this.#checkConflict(op.path.slice(MEMORY_PATH.length))
    }
    this.#graph.events.addEventListener('commit:accepted', onCommit)
    this.#unsubscribe.push(() => this.#graph.events.removeEventListener('commit:accepted', onCommit))
    this.#started = true
    this.#loadKeyBoxes()
    this.#loadAll()
  }

  /** Stops following the graph; stops the graph too when the memory opened it. Safe to call twice. */
  async stop(): Promise<void> {
    if (!this.#started) return
    this.#started = false
    for (const off of this.#unsubscribe.splice(0)) off()
    this.#cache.clear()
    if (this.#ownsGraph || this.#startedGraph) await this.#graph.stop()
    this.#startedGraph = false
  }

  /** Remembers a note. With `key`, remembering again under that key supersedes the earlier note. */
  async remember(text: string, options: RememberOptions = {}): Promise<MemoryItem> {
    const scope = checkScope(options.scope ?? PRIVATE_SCOPE)
    checkText(text, 'a memory')
    const tags = [...(options.tags ?? [])]
    for (const tag of tags) checkText(tag, 'a tag', 128)
    const id = options.key === undefined ? randomId() : this.#keyedId('note', options.key, scope)
    await this.#access.write([
      {
        id,
        kind: 'note',
        scope,
        body: { text, tags, key: options.key },
        ...(options.source === undefined ? {} : { source: options.source }),
        ...(options.meta === undefined ? {} : { meta: options.meta })
      }
    ])
    return this.#mustRead(id)
  }

  /**
   * A live memory by id, or `undefined`. With `knownAt`, the memory as this replica held it then
   * (transaction time: "what did I believe on date X").
   */
  get(id: string, options: { knownAt?: number } = {}): MemoryItem | undefined {
    this.#requireStarted()
    if (options.knownAt !== undefined) return this.#knownAt(id, options.knownAt)
    return this.#item(id)
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
    this.#requireStarted()
    const entries = [...this.#access.entries(options.kind)].filter(
      (entry) => entry.live && (options.scope === undefined || entry.scope === options.scope)
    )
    entries.sort((a, b) => b.hlc - a.hlc)
    const out: MemoryItem[] = []
    for (const entry of entries.slice(0, options.limit ?? entries.length)) {
      const item = this.#item(entry.id)
      if (item !== undefined) out.push(item)
    }
    return out
  }

  /**
   * Corrects a memory: writes a new version that supersedes the current one (and resolves its open
   * conflicts). The old version stays in the history ({@link why}); nothing is deleted.
   */
  async correct(id: string, correction: Correction, options: { source?: string } = {}): Promise<MemoryItem> {
    const current = this.#item(id)
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
    return this.#mustRead(id)
  }

  /** Forgets a memory: a tombstone version; recall no longer finds it, its history keeps what was. */
  async forget(id: string): Promise<void> {
    const entry = this.#catalog.get(id)
    if (entry === undefined || !entry.live) throw new MemoryNotFoundError(id)
    await this.#access.write([{ id, kind: entry.kind, scope: entry.scope, body: {}, forget: true }])
  }

  /** Where a memory came from: every version, who signed it, from which device and turn, and its conflicts. */
  why(id: string): Provenance {
    this.#requireStarted()
    const versions = this.#versions(id)
    if (versions.length === 0)
      throw new MemoryNotFoundError(id, `no memory with id ${JSON.stringify(id)} is stored here`)
    const current = versions.find((v) => v.winner)
    const conflict = this.#conflictOf(id, versions)
    const kind = this.#catalog.get(id)?.kind ?? (current?.item?.kind as MemoryKind)
    const sourceId = current?.item?.source
    const source = sourceId === undefined ? undefined : this.#item(sourceId)
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
    this.#requireStarted()
    const ids = id === undefined ? [...this.#conflicted].sort() : [id]
    const out: MemoryConflict[] = []
    for (const one of ids) {
      const conflict = this.#conflictOf(one, this.#versions(one))
      if (conflict !== undefined) out.push(conflict)
    }
    return out
  }

  /** A conversation: append turns, read them in order. Opening it warms its recent turns into the cache. */
  session(id: string): SessionHandle {
    this.#requireStarted()
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
    this.#requireStarted()
    return relate(this.#access, subject, relation, object, options)
  }

  /** Facts matching a query: by subject, relation, valid time (`validAt`) or transaction time (`knownAt`). */
  facts(query: FactQuery = {}): FactMemory[] {
    this.#requireStarted()
    return facts(this.#access, query, (id, at) => this.#knownAt(id, at))
  }

  /** Stores a document as chunks (for recall); returns the document memory. */
  addDocument(init: DocumentInit): Promise<DocumentMemory> {
    this.#requireStarted()
    return addDocument(this.#access, init)
  }

  /**
   * Lets a device key of the owner read and write this memory: a grant for the `memory/` path and the
   * content keys sealed to it. Only the owner's key can do this.
   */
  async addDevice(address: string, options: { expiresAt: number; notBefore?: number }): Promise<void> {
    this.#requireOwner('add a device')
    await this.#graph.grant(address, { pathPrefix: MEMORY_PATH, rights: ['write', 'delete'] }, options)
    const scopes = new Set([PRIVATE_SCOPE, ...[...this.#catalog.values()].map((e) => e.scope)])
    scopes.delete(PUBLIC_SCOPE)
    await this.#putKeyBoxes(address, [...scopes])
  }

  /** Lets another agent read the memories of one named scope (it receives that scope's key, sealed to it). */
  async shareScope(scope: string, reader: string): Promise<void> {
    this.#requireOwner('share a scope')
    if (checkScope(scope) === PRIVATE_SCOPE || scope === PUBLIC_SCOPE) {
      throw new InvalidMemoryError(
        `"${scope}" cannot be shared: share a named scope (write memories with { scope: 'team' })`
      )
    }
    await this.#putKeyBoxes(reader, [scope])
  }

  async #putKeyBoxes(recipient: string, scopes: readonly string[]): Promise<void> {
    const fields: Record<string, Uint8Array> = {}
    for (const scope of scopes) {
      const key = this.#keyFor(scope)
      fields[key.tag] = sealKeyBox(this.owner, key, recipient)
    }
    await this.#graph.put(`${this.owner}/${KEY_BOX_PATH}${recipient}`, fields)
  }

  #requireOwner(what: string): void {
    this.#requireStarted()
    if (this.#identity.address !== this.owner) {
      throw new MemoryError(
        `only the owner's key (${this.owner}) can ${what}; this is ${this.#identity.address}`
      )
    }
  }

  #requireStarted(): void {
    if (!this.#started) throw new NotStartedError('memory')
  }

  #keyFor(scope: string) {
    const held = this.#ring.scope(scope)
    if (held !== undefined) return held
    if (this.#identity.address === this.owner) {
      const key = ownerScopeKey(this.#identity, scope)
      this.#ring.add(key)
      return key
    }
    return this.#ring.require(scope, this.#identity.address)
  }

  #keyedId(kind: string, appKey: string, scope: string): string {
    // Public memories have no key: their keyed ids are derived from the owner's private key, so the
    // owner's devices agree on them and nobody else can predict them.
    return keyedId(this.#keyFor(scope === PUBLIC_SCOPE ? PRIVATE_SCOPE : scope), kind, appKey)
  }

  #makeAccess(): MemoryAccess {
    return {
      owner: this.owner,
      now: () => this.#now(),
      keyedId: (kind, appKey, scope) => this.#keyedId(kind, appKey, scope),
      newId: randomId,
      item: (id) => this.#item(id),
      entries: (kind) => this.#entries(kind),
      group: (kind, group) => this.#group(kind, group),
      write: (writes) => this.#write(writes),
      prefetch: (ids) => {
        for (const id of ids) this.#item(id)
      }
    }
  }

  *#entries(kind?: MemoryKind): Iterable<CatalogEntry> {
    for (const entry of this.#catalog.values()) if (kind === undefined || entry.kind === kind) yield entry
  }

  *#group(kind: MemoryKind, group: string): Iterable<CatalogEntry> {
    for (const id of this.#groups.get(`${kind}\u0000${group}`) ?? []) {
      const entry = this.#catalog.get(id)
      if (entry !== undefined) yield entry
    }
  }

  async #write(writes: readonly Write[]): Promise<void> {
    this.#requireStarted()
    const ops: Array<{ soul: string; value: Uint8Array }> = []
    for (const write of writes) {
      const soul = this.#soul(write.id)
      const record: StoredRecord = {
        v: 1,
        k: write.kind,
        ver: randomId(),
        sup: write.supersedes ?? this.#openVersions(write.id),
        ...(write.forget === true ? { del: true as const } : {}),
        ...(this.#device === undefined ? {} : { dev: this.#device }),
        ...(write.source === undefined ? {} : { src: write.source }),
        ...(write.meta === undefined ? {} : { meta: write.meta }),
        b: write.forget === true ? {} : (write.body as StoredRecord['b'])
      }
      const plaintext = encodeRecord(record)
      if (plaintext.byteLength > MAX_RECORD_BYTES) {
        throw new InvalidMemoryError(
          `a ${write.kind} memory is ${plaintext.byteLength} bytes encoded; the limit is ${MAX_RECORD_BYTES}: store long text with addDocument()`
        )
      }
      const value =
        write.scope === PUBLIC_SCOPE
          ? publicValue(plaintext)
          : this.#ring.seal(this.#keyFor(write.scope), soul, plaintext)
      ops.push({ soul, value })
    }
    this.#writing++
    try {
      for (let i = 0; i < ops.length; i += WRITES_PER_COMMIT) {
        const batch = ops.slice(i, i + WRITES_PER_COMMIT)
        await this.#graph.transact((tx) => {
          for (const op of batch) tx.set(op.soul, VALUE_FIELD, op.value)
        })
      }
    } finally {
      this.#writing--
    }
  }

  /** The winner's version and every open conflict's: what a new write of this memory supersedes. */
  #openVersions(id: string): string[] {
    const versions = this.#versions(id)
    const winner = versions.find((v) => v.winner)
    if (winner === undefined) return []
    const conflict = this.#conflictOf(id, versions)
    return [winner.version, ...(conflict?.losers.map((l) => l.version) ?? [])]
  }

  #soul(id: string): string {
    return `${this.owner}/${MEMORY_PATH}${id}`
  }

  #item(id: string): MemoryItem | undefined {
    const cached = this.#cache.get(id)
    if (cached !== undefined) return cached
    const entry = this.#catalog.get(id)
    if (entry !== undefined && !entry.live) return undefined
    const read = this.#read(id)
    if (read === undefined || read.record.del === true) return undefined
    const item = this.#toItem(id, read)
    if (item !== undefined) this.#cache.set(id, item)
    return item
  }

  #mustRead(id: string): MemoryItem {
    const item = this.#item(id)
    if (item === undefined)
      throw new MemoryNotFoundError(id, `the memory ${id} was written but cannot be read back`)
    return item
  }

  #read(id: string): Read | undefined {
    const soul = this.#soul(id)
    const state = this.#graph.getField(soul, VALUE_FIELD)
    if (state === undefined || state.deleted || !(state.value instanceof Uint8Array)) return undefined
    try {
      const { scope, plaintext } = this.#ring.open(soul, state.value)
      return { record: decodeRecord(soul, plaintext), state, scope }
    } catch (error) {
      this.#damaged(id, error)
      return undefined
    }
  }

  #toItem(id: string, read: Read): MemoryItem | undefined {
    const { record, state, scope } = read
    try {
      return toItem(this.#soul(id), record, {
        id,
        scope,
        writer: state.signer,
        hlc: state.hlc,
        writtenAt: hlcMs(state.hlc)
      })
    } catch (error) {
      this.#damaged(id, error)
      return undefined
    }
  }

  #damaged(id: string, error: unknown): void {
    if (MemoryKeyError.isInstance(error) && !this.readable) return // a device waiting for its key
    const err = error instanceof Error ? error : new MemoryDecryptError(String(error))
    this.#log.error('memory %s cannot be read: %s', id, err.message)
    this.events.safeDispatchEvent('memory:damaged', { detail: { id, error: err } })
  }

  /** Every stored version of a memory, newest (winner) first, decrypted where this ring can. */
  #versions(id: string): Array<MemoryVersion & { winner: boolean }> {
    const soul = this.#soul(id)
    const out: Array<MemoryVersion & { winner: boolean }> = []
    for (const entry of this.#graph.history(soul, VALUE_FIELD)) {
      const version = this.#version(id, soul, entry)
      if (version !== undefined) out.push(version)
    }
    return out
  }

  #version(id: string, soul: string, entry: HistoryEntry): (MemoryVersion & { winner: boolean }) | undefined {
    if (!(entry.value instanceof Uint8Array)) return undefined
    try {
      const { scope, plaintext } = this.#ring.open(soul, entry.value)
      const record = decodeRecord(soul, plaintext)
      const stamp = { id, scope, writer: entry.signer, hlc: entry.hlc, writtenAt: hlcMs(entry.hlc) }
      return {
        version: record.ver,
        writer: entry.signer,
        ...(record.dev === undefined ? {} : { device: record.dev }),
        writtenAt: stamp.writtenAt,
        hlc: entry.hlc,
        commit: entry.commit,
        supersedes: record.sup,
        forgotten: record.del === true,
        ...(record.del === true ? {} : { item: toItem(soul, record, stamp) }),
        winner: entry.winner
      }
    } catch (error) {
      this.#damaged(id, error)
      return undefined
    }
  }

  /**
   * The conflict rule: a version that lost and that no other version supersedes was written without
   * knowledge of the winner. Every replica holding the same versions computes the same answer.
   */
  #conflictOf(id: string, versions: Array<MemoryVersion & { winner: boolean }>): MemoryConflict | undefined {
    const winner = versions.find((v) => v.winner)
    if (winner === undefined || versions.length < 2) return undefined
    const superseded = new Set(versions.flatMap((v) => v.supersedes))
    const losers = versions
      .filter((v) => !v.winner && v.version !== winner.version && !superseded.has(v.version))
      .sort((a, b) => b.hlc - a.hlc || (a.writer < b.writer ? -1 : a.writer > b.writer ? 1 : 0))
      .map(strip)
    return losers.length === 0 ? undefined : { id, winner: strip(winner), losers }
  }

  #checkConflict(id: string): void {
    if (this.#graph.history(this.#soul(id), VALUE_FIELD).length < 2) return
    const had = this.#conflicted.has(id)
    const conflict = this.#conflictOf(id, this.#versions(id))
    if (conflict === undefined) {
      this.#conflicted.delete(id)
      return
    }
    this.#conflicted.add(id)
    if (!had) this.events.safeDispatchEvent('conflict:found', { detail: { id } })
  }

  #knownAt(id: string, at: number): MemoryItem | undefined {
    let best: (MemoryVersion & { winner: boolean }) | undefined
    for (const version of this.#versions(id)) {
      if (version.writtenAt > at) continue
      if (
        best === undefined ||
        version.hlc > best.hlc ||
        (version.hlc === best.hlc && version.writer > best.writer)
      ) {
        best = version
      }
    }
    return best?.forgotten === false ? best.item : undefined
  }

  #loadKeyBoxes(): void {
    if (this.#identity.address === this.owner) return
    const boxes = this.#graph.get(`${this.owner}/${KEY_BOX_PATH}${this.#identity.address}`)
    if (boxes === undefined) return
    let added = false
    for (const value of Object.values(boxes)) {
      if (!(value instanceof Uint8Array)) continue
      const key = openKeyBox(this.#identity, this.owner, value)
      if (key === undefined) {
        this.#log.error('a key box for this key in %s does not open; ignored', this.owner)
        continue
      }
      if (this.#ring.add(key)) {
        added = true
        this.events.safeDispatchEvent('key:received', { detail: { scope: key.scope } })
      }
    }
    if (added && this.#started) this.#loadAll()
  }

  /** Rebuilds the catalog from the graph (at start, and when a new key makes more memories readable). */
  #loadAll(): void {
    this.#catalog.clear()
    this.#groups.clear()
    this.#conflicted.clear()
    this.#cache.clear()
    const prefix = `${this.owner}/${MEMORY_PATH}`
    for (const soul of this.#graph.souls(this.owner)) {
      if (!soul.startsWith(prefix)) continue
      const id = soul.slice(prefix.length)
      this.#catalogue(id, false)
      if (
        this.#graph.history(soul, VALUE_FIELD).length > 1 &&
        this.#conflictOf(id, this.#versions(id)) !== undefined
      ) {
        this.#conflicted.add(id)
      }
    }
  }

  /** Updates the catalog entry of one memory from the graph; returns the live item, if any. */
  #catalogue(id: string, notify: boolean): void {
    this.#cache.delete(id)
    const read = this.#read(id)
    const before = this.#catalog.get(id)
    if (read === undefined) {
      if (before !== undefined) this.#uncatalogue(before)
      return
    }
    const { record, state, scope } = read
    const item = record.del === true ? undefined : this.#toItem(id, read)
    if (record.del !== true && item === undefined) return
    if (before !== undefined) this.#uncatalogue(before)
    const entry: CatalogEntry = {
      id,
      kind: record.k,
      scope,
      live: item !== undefined,
      hlc: state.hlc,
      ...groupOf(item)
    }
    this.#catalog.set(id, entry)
    if (entry.group !== undefined) {
      const key = `${entry.kind}\u0000${entry.group}`
      const members = this.#groups.get(key) ?? new Set<string>()
      this.#groups.set(key, members)
      members.add(id)
    }
    if (item !== undefined) this.#cache.set(id, item)
    if (notify) {
      this.events.safeDispatchEvent('memory:changed', {
        detail: {
          id,
          kind: record.k,
          item,
          local: this.#writing > 0 && state.signer === this.#identity.address
        }
      })
    }
  }

  #uncatalogue(entry: CatalogEntry): void {
    this.#catalog.delete(entry.id)
    if (entry.group !== undefined) this.#groups.get(`${entry.kind}\u0000${entry.group}`)?.delete(entry.id)
  }

  #onField(soul: string, field: string): void {
    const prefix = `${this.owner}/`
    const path = soul.slice(prefix.length)
    if (path.startsWith(MEMORY_PATH) && field === VALUE_FIELD) {
      this.#catalogue(path.slice(MEMORY_PATH.length), true)
    } else if (path === `${KEY_BOX_PATH}${this.#identity.address}`) {
      this.#loadKeyBoxes()
    }
  }
}

/** A stored version read from the local graph. */
interface Read {
  readonly record: StoredRecord
  readonly state: { readonly hlc: number; readonly signer: string }
  readonly scope: string
}

/** What {@link Memory.relate} takes as a fact's object. */
export type RelateObject = string | number | boolean | { readonly ref: string }

/** Creates a memory (call `start()` before use). */
export function createMemory(init: MemoryInit): Memory {
  return new Memory(init)
}

function strip(version: MemoryVersion & { winner?: boolean }): MemoryVersion {
  const { winner: _winner, ...rest } = version
  return rest
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

function groupOf(item: MemoryItem | undefined): Partial<CatalogEntry> {
  if (item === undefined) return {}
  switch (item.kind) {
    case 'turn':
    case 'session':
      return { group: item.session, time: item.time }
    case 'chunk':
      return { group: item.document }
    case 'fact':
      return { subject: item.subject.trim().toLowerCase(), relation: item.relation.trim().toLowerCase() }
    case 'profile':
      return { subject: item.name.toLowerCase() }
    default:
      return {}
  }
}
