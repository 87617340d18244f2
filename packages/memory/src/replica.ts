import type { Graph, HistoryEntry } from '@araliya/crdt-graph'
import { equalBytes, type Identity } from '@araliya/identity'
import { hlcMs, NotStartedError } from '@araliya/interface'
import type { Logger } from '@libp2p/interface'
import { hkdf } from '@noble/hashes/hkdf.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { LRUCache } from 'lru-cache'
import type { TypedEventEmitter } from 'main-event'
import type { CatalogEntry, MemoryAccess, Write } from './access.js'
import {
  InvalidMemoryError,
  MemoryDecryptError,
  MemoryError,
  MemoryKeyError,
  MemoryNotFoundError
} from './errors.js'
import {
  KeyRing,
  keyedId,
  openKeyBox,
  ownerScopeKey,
  PRIVATE_SCOPE,
  PUBLIC_SCOPE,
  publicValue,
  randomId,
  randomVersion,
  sealKeyBox
} from './keys.js'
import type { MemoryItem, MemoryKind } from './model.js'
import {
  cleanRecord,
  decodeRecord,
  encodeRecord,
  versionBytes,
  MAX_RECORD_BYTES,
  type StoredRecord,
  toItem
} from './record.js'
import type { MemoryConflict, MemoryEvents, MemoryVersion } from './types.js'

/** Path (inside the owner's space) under which memories live; device grants cover it. */
export const MEMORY_PATH = 'memory/'
/** Path under which the owner stores content keys sealed to its devices and readers. */
export const KEY_BOX_PATH = 'keys/memory/'
const VALUE_FIELD = 'v'
/** Ops per commit when many memories are written at once (a document, an import). */
const WRITES_PER_COMMIT = 256

/** One sealed value waiting for the group commit. */
interface QueuedOp {
  readonly id: string
  readonly version: string
  readonly soul: string
  readonly value: Uint8Array
}

/** The ops of one write call and how to tell its caller they are durable. */
interface QueuedWrite {
  readonly ops: readonly QueuedOp[]
  resolve(): void
  reject(error: unknown): void
}

/** A stored version read from the local graph. */
interface Read {
  readonly record: StoredRecord
  readonly state: { readonly hlc: number; readonly signer: string }
  readonly scope: string
}

/** A version with whether it is the graph's current winner. */
export type RankedVersion = MemoryVersion & { winner: boolean }

/** What a {@link Replica} is built from. */
export interface ReplicaInit {
  readonly identity: Identity
  readonly owner: string
  readonly graph: Graph
  readonly events: TypedEventEmitter<MemoryEvents>
  readonly cacheSize: number
  readonly device: string | undefined
  readonly now: () => number
  readonly log: Logger
}

/**
 * This process's view of one owner's memory: the keys it holds, the catalog of what is stored, the hot
 * cache of decrypted memories, and the reading and writing of sealed versions in the graph. Internal:
 * the public surface is {@link Memory}.
 */
export class Replica {
  readonly owner: string
  started = false
  readonly #identity: Identity
  readonly #graph: Graph
  readonly #events: TypedEventEmitter<MemoryEvents>
  readonly #ring = new KeyRing()
  readonly #catalog = new Map<string, CatalogEntry>()
  readonly #groups = new Map<string, Set<string>>()
  readonly #conflicted = new Set<string>()
  readonly #cache: LRUCache<string, MemoryItem>
  readonly #device: string | undefined
  readonly #now: () => number
  readonly #log: Logger
  #writing = 0
  #loading: Map<string, MemoryItem> | undefined
  /** Writes waiting for the next group commit. */
  readonly #queue: QueuedWrite[] = []
  /** The newest queued (not yet committed) version of each memory. */
  readonly #queuedVersions = new Map<string, string>()
  /** Records of this process's writes until their commit is made, by soul (reads skip decrypting them). */
  readonly #written = new Map<string, { value: Uint8Array; record: StoredRecord; scope: string }>()
  #draining = false

  constructor(init: ReplicaInit) {
    this.#identity = init.identity
    this.owner = init.owner
    this.#graph = init.graph
    this.#events = init.events
    this.#cache = new LRUCache({ max: Math.max(1, init.cacheSize) })
    this.#device = init.device
    this.#now = init.now
    this.#log = init.log
  }

  /** True once this process holds the owner's private content key. */
  get readable(): boolean {
    return this.#ring.has(PRIVATE_SCOPE)
  }

  /**
   * A 32-byte key derived from the private content key for data derived from the memories (the recall
   * index snapshot), or undefined when this process does not hold that key.
   */
  derivedKey(context: string): Uint8Array | undefined {
    const key = this.#ring.scope(PRIVATE_SCOPE)
    return key === undefined
      ? undefined
      : hkdf(sha256, key.key, undefined, new TextEncoder().encode(context), 32)
  }

  /** Decrypted memories in the hot cache. */
  get cached(): number {
    return this.#cache.size
  }

  /** Every catalogued memory id with an open conflict. */
  conflicted(): string[] {
    return [...this.#conflicted].sort()
  }

  /** A catalog entry. */
  entry(id: string): CatalogEntry | undefined {
    return this.#catalog.get(id)
  }

  /** The scopes of catalogued memories (what a new device must receive keys for). */
  scopes(): Set<string> {
    return new Set([...this.#catalog.values()].map((e) => e.scope))
  }

  /** Holds the owner's own keys when this process runs the owner key. */
  open(): void {
    if (this.#identity.address === this.owner) this.#ring.add(ownerScopeKey(this.#identity, PRIVATE_SCOPE))
    this.started = true
    // Everything decrypted while loading stays at hand until `settle()`, so the indexes built right
    // after read it without decrypting each memory a second time (the cache holds only `cacheSize`).
    this.#loading = new Map()
    this.loadKeyBoxes()
    this.loadAll()
  }

  /** Drops what `open()` kept at hand for the indexes. */
  settle(): void {
    this.#loading = undefined
  }

  close(): void {
    this.started = false
    this.#loading = undefined
    this.#cache.clear()
  }

  /** Versions a memory path of a commit refers to: the id of the memory, or undefined. */
  static idOfPath(path: string): string | undefined {
    return path.startsWith(MEMORY_PATH) ? path.slice(MEMORY_PATH.length) : undefined
  }

  async putKeyBoxes(recipient: string, scopes: readonly string[]): Promise<void> {
    const fields: Record<string, Uint8Array> = {}
    for (const scope of scopes) {
      const key = this.#keyFor(scope)
      fields[key.tag] = sealKeyBox(this.owner, key, recipient)
    }
    await this.#graph.put(`${this.owner}/${KEY_BOX_PATH}${recipient}`, fields)
  }

  requireOwner(what: string): void {
    this.requireStarted()
    if (this.#identity.address !== this.owner) {
      throw new MemoryError(
        `only the owner's key (${this.owner}) can ${what}; this is ${this.#identity.address}`
      )
    }
  }

  requireStarted(): void {
    if (!this.started) throw new NotStartedError('memory')
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

  keyedId(kind: string, appKey: string, scope: string): string {
    // Public memories have no key: their keyed ids are derived from the owner's private key, so the
    // owner's devices agree on them and nobody else can predict them.
    return keyedId(this.#keyFor(scope === PUBLIC_SCOPE ? PRIVATE_SCOPE : scope), kind, appKey)
  }

  makeAccess(): MemoryAccess {
    return {
      owner: this.owner,
      now: () => this.#now(),
      keyedId: (kind, appKey, scope) => this.keyedId(kind, appKey, scope),
      newId: randomId,
      item: (id) => this.item(id),
      entries: (kind) => this.#entries(kind),
      group: (kind, group) => this.#group(kind, group),
      write: (writes) => this.#write(writes),
      prefetch: (ids) => {
        for (const id of ids) this.item(id)
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
    this.requireStarted()
    const ops: QueuedOp[] = []
    for (const write of writes) {
      const soul = this.#soul(write.id)
      const supersedes = write.supersedes ?? this.#openVersions(write.id)
      // a version of this memory still waiting in the queue was written before this one, here: superseded
      const queued = this.#queuedVersions.get(write.id)
      const record: StoredRecord = {
        v: 1,
        k: write.kind,
        ver: randomVersion(),
        sup: queued === undefined || supersedes.includes(queued) ? supersedes : [...supersedes, queued],
        ...(write.forget === true ? { del: true as const } : {}),
        ...(this.#device === undefined ? {} : { dev: this.#device }),
        ...(write.source === undefined ? {} : { src: write.source }),
        ...(write.meta === undefined ? {} : { meta: write.meta }),
        b: write.forget === true ? {} : (write.body as StoredRecord['b'])
      }
      const sealed = write.scope !== PUBLIC_SCOPE
      const plaintext = encodeRecord(record, sealed)
      if (plaintext.byteLength > MAX_RECORD_BYTES) {
        throw new InvalidMemoryError(
          `a ${write.kind} memory is ${plaintext.byteLength} bytes encoded; the limit is ${MAX_RECORD_BYTES}: store long text with addDocument()`
        )
      }
      const value = sealed
        ? this.#ring.seal(this.#keyFor(write.scope), soul, plaintext, versionBytes(record.ver))
        : publicValue(plaintext)
      ops.push({ id: write.id, version: record.ver, soul, value })
      this.#written.set(soul, { value, record: cleanRecord(record), scope: write.scope })
    }
    for (const op of ops) this.#queuedVersions.set(op.id, op.version)
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ ops, resolve, reject })
      if (!this.#draining) {
        this.#draining = true
        queueMicrotask(() => void this.#drain())
      }
    })
  }

  /**
   * Group commit: every write queued in the same turn of the event loop (`Promise.all` of many
   * `remember` calls, a turn with the facts learnt from it) goes into as few signed commits as the
   * graph allows, each write whole in one commit (unless it alone is larger), instead of one commit
   * per write: signing and verifying per commit is what syncing many small writes costs. Commits are
   * made one after the other, so a later write always carries a later clock stamp; writes queued while
   * one is being made wait for it and go out together in the next.
   */
  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const queue = this.#queue.splice(0)
        try {
          await this.#commit(queue)
          for (const write of queue) write.resolve()
        } catch (error) {
          for (const write of queue) write.reject(error)
        }
      }
    } finally {
      this.#draining = false
    }
  }

  /** Commits queued writes in order, each write whole in one commit (unless it alone is larger). */
  async #commit(queue: readonly QueuedWrite[]): Promise<void> {
    const chunks: QueuedOp[][] = []
    let chunk: QueuedOp[] = []
    for (const write of queue) {
      if (chunk.length > 0 && chunk.length + write.ops.length > WRITES_PER_COMMIT) {
        chunks.push(chunk)
        chunk = []
      }
      chunk.push(...write.ops)
    }
    if (chunk.length > 0) chunks.push(chunk)
    this.#writing++
    try {
      for (const ops of chunks) {
        for (let i = 0; i < ops.length; i += WRITES_PER_COMMIT) {
          const batch = ops.slice(i, i + WRITES_PER_COMMIT)
          await this.#graph.transact((tx) => {
            for (const op of batch) tx.set(op.soul, VALUE_FIELD, op.value)
          })
        }
      }
    } finally {
      this.#writing--
      for (const write of queue) {
        for (const op of write.ops) {
          if (this.#queuedVersions.get(op.id) === op.version) this.#queuedVersions.delete(op.id)
          if (this.#written.get(op.soul)?.value === op.value) this.#written.delete(op.soul)
        }
      }
    }
  }

  /** The winner's version and every open conflict's: what a new write of this memory supersedes. */
  #openVersions(id: string): string[] {
    const versions = this.versions(id)
    const winner = versions.find((v) => v.winner)
    if (winner === undefined) return []
    const conflict = this.conflictOf(id, versions)
    return [winner.version, ...(conflict?.losers.map((l) => l.version) ?? [])]
  }

  #soul(id: string): string {
    return `${this.owner}/${MEMORY_PATH}${id}`
  }

  item(id: string): MemoryItem | undefined {
    const cached = this.#cache.get(id) ?? this.#loading?.get(id)
    if (cached !== undefined) return cached
    const entry = this.#catalog.get(id)
    if (entry !== undefined && !entry.live) return undefined
    const read = this.#read(id)
    if (read === undefined || read.record.del === true) return undefined
    const item = this.#toItem(id, read)
    if (item !== undefined) this.#cache.set(id, item)
    return item
  }

  mustRead(id: string): MemoryItem {
    const item = this.item(id)
    if (item === undefined)
      throw new MemoryNotFoundError(id, `the memory ${id} was written but cannot be read back`)
    return item
  }

  #read(id: string): Read | undefined {
    const soul = this.#soul(id)
    const state = this.#graph.getField(soul, VALUE_FIELD)
    if (state === undefined || state.deleted || !(state.value instanceof Uint8Array)) return undefined
    const mine = this.#written.get(soul)
    if (mine !== undefined && (mine.value === state.value || equalBytes(mine.value, state.value))) {
      // this process's own write, being committed: its record is at hand, no need to open it again
      return { record: mine.record, state, scope: mine.scope }
    }
    try {
      const { scope, plaintext, version } = this.#ring.open(soul, state.value)
      return { record: decodeRecord(soul, plaintext, version), state, scope }
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
    this.#events.safeDispatchEvent('memory:damaged', { detail: { id, error: err } })
  }

  /** Every stored version of a memory, newest (winner) first, decrypted where this ring can. */
  versions(id: string): Array<MemoryVersion & { winner: boolean }> {
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
      const { scope, plaintext, version } = this.#ring.open(soul, entry.value)
      const record = decodeRecord(soul, plaintext, version)
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
  conflictOf(id: string, versions: Array<MemoryVersion & { winner: boolean }>): MemoryConflict | undefined {
    const winner = versions.find((v) => v.winner)
    if (winner === undefined || versions.length < 2) return undefined
    const superseded = new Set(versions.flatMap((v) => v.supersedes))
    const losers = versions
      .filter((v) => !v.winner && v.version !== winner.version && !superseded.has(v.version))
      .sort((a, b) => b.hlc - a.hlc || (a.writer < b.writer ? -1 : a.writer > b.writer ? 1 : 0))
      .map(strip)
    return losers.length === 0 ? undefined : { id, winner: strip(winner), losers }
  }

  checkConflict(id: string): void {
    if (this.#graph.history(this.#soul(id), VALUE_FIELD).length < 2) return
    const had = this.#conflicted.has(id)
    const conflict = this.conflictOf(id, this.versions(id))
    if (conflict === undefined) {
      this.#conflicted.delete(id)
      return
    }
    this.#conflicted.add(id)
    if (!had) this.#events.safeDispatchEvent('conflict:found', { detail: { id } })
  }

  knownAt(id: string, at: number): MemoryItem | undefined {
    let best: (MemoryVersion & { winner: boolean }) | undefined
    for (const version of this.versions(id)) {
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

  loadKeyBoxes(): void {
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
        this.#events.safeDispatchEvent('key:received', { detail: { scope: key.scope } })
      }
    }
    if (added && this.started) this.loadAll()
  }

  /** Rebuilds the catalog from the graph (at start, and when a new key makes more memories readable). */
  loadAll(): void {
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
        this.conflictOf(id, this.versions(id)) !== undefined
      ) {
        this.#conflicted.add(id)
      }
    }
  }

  /** Updates the catalog entry of one memory from the graph; returns the live item, if any. */
  #catalogue(id: string, notify: boolean): void {
    this.#cache.delete(id)
    this.#loading?.delete(id)
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
    if (item !== undefined) {
      if (this.#loading !== undefined) this.#loading.set(id, item)
      else this.#cache.set(id, item)
    }
    if (notify) {
      this.#events.safeDispatchEvent('memory:changed', {
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

  onField(soul: string, field: string): void {
    const prefix = `${this.owner}/`
    const path = soul.slice(prefix.length)
    if (path.startsWith(MEMORY_PATH) && field === VALUE_FIELD) {
      this.#catalogue(path.slice(MEMORY_PATH.length), true)
    } else if (path === `${KEY_BOX_PATH}${this.#identity.address}`) {
      this.loadKeyBoxes()
    }
  }
}

function strip(version: RankedVersion): MemoryVersion {
  const { winner: _winner, ...rest } = version
  return rest
}

export { strip }

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
