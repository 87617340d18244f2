import type { AbortOptions } from '@araliya/interface'
import type { Logger } from '@libp2p/interface'
import type { TypedEventEmitter } from 'main-event'
import type { MemoryAccess } from '../access.js'
import { MemoryKeyError } from '../errors.js'
import { PRIVATE_SCOPE, PUBLIC_SCOPE } from '../keys.js'
import { type FactMemory, type MemoryItem, type MemoryKind, MEMORY_KINDS, memoryText } from '../model.js'
import type { MemoryChanged, MemoryEvents } from '../types.js'
import type { Embedder } from './embedder.js'
import { RecallLimitError } from './errors.js'
import { type Hit, type IndexedDoc, SearchIndex } from './search-index.js'
import { decodeSnapshot, encodeSnapshot, readSnapshot, writeSnapshot } from './snapshot.js'

/** The constant `k` of reciprocal rank fusion: a memory's hybrid score is Σ 1 / (RRF_K + rank). */
export const RRF_K = 60
/** Longest query string recall accepts, in characters. */
export const MAX_QUERY_CHARS = 4096
/** Largest `limit` of a recall or a graph walk. */
export const MAX_RECALL_LIMIT = 1000
/** Deepest graph walk {@link Memory.related} does. */
export const MAX_RELATED_DEPTH = 4

/** How {@link Memory.recall} finds memories. */
export type RecallMode = 'hybrid' | 'text' | 'vector' | 'key'

/** Conditions on the memory itself (checked after decryption, so they cost more than the others). */
export interface RecallFilters {
  /** Notes carrying every one of these tags. */
  readonly tags?: readonly string[]
  /** Written (transaction time) at or after this instant, ms since the epoch. */
  readonly writtenAfter?: number
  /** Written before this instant, ms since the epoch. */
  readonly writtenBefore?: number
  /** Any other condition. */
  readonly where?: (item: MemoryItem) => boolean
}

/** Options of {@link Memory.recall}. */
export interface RecallOptions extends AbortOptions {
  /** Results wanted, 1 to {@link MAX_RECALL_LIMIT}. Default 10. */
  limit?: number
  /** Only these kinds. */
  kinds?: readonly MemoryKind[]
  /** Only turns and the header of this session. */
  session?: string
  /** Only memories in this scope (`private`, `public` or a named scope). */
  scope?: string
  /**
   * Valid time: only facts that hold at this instant (ms since the epoch). Default: now. `null`: facts of
   * any valid time (including the ones a newer fact closed). Other kinds have no valid time.
   */
  validAt?: number | null
  /**
   * Transaction time: recall over the memories as this replica held them at this instant ("what did I
   * believe then"). It decrypts every memory's history and indexes it afresh: an audit query, not a hot path.
   */
  knownAt?: number
  /**
   * `hybrid` (default): full text and vectors fused by reciprocal rank; `text`: BM25 full text; `vector`:
   * cosine similarity of embeddings; `key`: the memory with this id, the note remembered under this
   * key, or the profile block of this name.
   */
  mode?: RecallMode
  filters?: RecallFilters
  /**
   * Vector matches less similar than this (cosine) are left out. Default: the embedder's `threshold`
   * (0.1 for the hashing embedder, 0 for a model unless configured).
   */
  minSimilarity?: number
}

/** One recalled memory. */
export interface RecallResult {
  readonly item: MemoryItem
  /**
   * The ranking score: BM25 (`text`), cosine similarity (`vector`), the reciprocal-rank-fusion sum
   * (`hybrid`) or 1 (`key`). Comparable only within one result list.
   */
  readonly score: number
  /** The 1-based rank the memory had in each list that found it. */
  readonly ranks: { readonly text?: number; readonly vector?: number }
}

/** Options of {@link Memory.related}. */
export interface RelatedOptions {
  /** Hops from the entity, 1 to {@link MAX_RELATED_DEPTH}. Default 1. */
  depth?: number
  /** Only facts with these relations (case-insensitive). */
  relations?: readonly string[]
  /** Valid time, as in {@link RecallOptions.validAt}. Default: now. */
  validAt?: number | null
  /** Facts returned at most, 1 to {@link MAX_RECALL_LIMIT}. Default 100. */
  limit?: number
}

/** A fact found by a graph walk, with how many hops from the entity it was. */
export interface RelatedFact {
  readonly item: FactMemory
  readonly depth: number
}

/** Recall options of {@link createMemory}. */
export interface RecallInit {
  /**
   * The embedder for vector recall. Default: {@link hashingEmbedder} (weightless). `null`: no vectors
   * (hybrid recall is full text only).
   */
  embedder?: Embedder | null
  /**
   * Keep an encrypted snapshot of the indexes at `<dir>/index/` for a fast open (only with `dir`).
   * Default true.
   */
  snapshot?: boolean
}

/** Index sizes (see {@link Memory.recallStats}). */
export interface RecallStats {
  /** Memories in the index (those this process can read). */
  readonly documents: number
  readonly vectors: number
  /** Memories waiting for their vector. */
  readonly pending: number
  /** The embedder's model id, or undefined without vectors. */
  readonly embedder: string | undefined
  /** How the index was opened: from a snapshot (and how many memories it had to catch up on), or rebuilt. */
  readonly opened: {
    readonly from: 'snapshot' | 'graph'
    readonly refreshed: number
    readonly reason?: string
  }
}

/** What {@link Recall} is built from. */
export interface RecallDeps {
  readonly access: MemoryAccess
  readonly events: TypedEventEmitter<MemoryEvents>
  readonly embedder: Embedder | undefined
  readonly dir: string | undefined
  /** The snapshot key (derived from the private content key), or undefined when this process has none. */
  readonly indexKey: () => Uint8Array | undefined
  readonly knownAt: (id: string, at: number) => MemoryItem | undefined
  readonly log: Logger
}

const DEFAULT_KINDS = new Set<MemoryKind>(MEMORY_KINDS)

/** The recall engine of one memory: its derived indexes and the queries over them. Internal. */
export class Recall {
  readonly #deps: RecallDeps
  #index: SearchIndex
  #opened: RecallStats['opened'] = { from: 'graph', refreshed: 0 }
  #dirty = false
  #embedding: Promise<void> | undefined
  #embedError: Error | undefined
  #abort = new AbortController()
  readonly #off: Array<() => void> = []

  constructor(deps: RecallDeps) {
    this.#deps = deps
    this.#index = new SearchIndex(deps.embedder)
  }

  get stats(): RecallStats {
    return {
      documents: this.#index.docs.size,
      vectors: this.#index.vectors?.size ?? 0,
      pending: this.#index.pending.size,
      embedder: this.#deps.embedder?.id,
      opened: this.#opened
    }
  }

  /** Loads the snapshot when there is a trustworthy one, catches up with the graph, follows changes. */
  async open(): Promise<void> {
    this.#abort = new AbortController()
    this.#index = new SearchIndex(this.#deps.embedder)
    this.#opened = { from: 'graph', refreshed: 0 }
    const key = this.#deps.dir === undefined ? undefined : this.#deps.indexKey()
    if (this.#deps.dir !== undefined && key !== undefined) {
      try {
        const bytes = await readSnapshot(this.#deps.dir)
        if (bytes === undefined) {
          this.#opened = { from: 'graph', refreshed: 0, reason: 'no snapshot' }
        } else {
          const { index } = decodeSnapshot(bytes, this.#deps.access.owner, key, this.#deps.embedder)
          this.#index = index
          this.#opened = { from: 'snapshot', refreshed: 0 }
        }
      } catch (error) {
        this.#deps.log.error(
          'recall index snapshot not used, rebuilding from the graph: %s',
          (error as Error).message
        )
        this.#index = new SearchIndex(this.#deps.embedder)
        this.#opened = { from: 'graph', refreshed: 0, reason: (error as Error).message }
      }
    }
    const refreshed = this.reconcile()
    this.#opened = { ...this.#opened, refreshed }
    const onChanged = (event: CustomEvent<MemoryChanged>): void => this.#onChanged(event.detail)
    const onKey = (): void => queueMicrotask(() => this.reconcile())
    this.#deps.events.addEventListener('memory:changed', onChanged)
    this.#deps.events.addEventListener('key:received', onKey)
    this.#off.push(
      () => this.#deps.events.removeEventListener('memory:changed', onChanged),
      () => this.#deps.events.removeEventListener('key:received', onKey)
    )
    this.#scheduleEmbedding()
  }

  /** Stops following changes, finishes (or abandons) background embedding, writes the snapshot if due. */
  async close(): Promise<void> {
    for (const off of this.#off.splice(0)) off()
    this.#abort.abort()
    await this.#embedding
    const key = this.#deps.indexKey()
    if (this.#deps.dir !== undefined && key !== undefined && this.#dirty) {
      try {
        await writeSnapshot(this.#deps.dir, encodeSnapshot(this.#index, this.#deps.access.owner, key))
        this.#dirty = false
      } catch (error) {
        this.#deps.log.error('the recall index snapshot could not be written: %s', (error as Error).message)
      }
    }
  }

  /**
   * Brings the index in line with the catalog: (re)indexes every live memory whose version it does not
   * hold, drops every memory that is gone or no longer readable. Returns how many it changed.
   */
  reconcile(): number {
    const access = this.#deps.access
    const live = new Map<string, number>()
    let changed = 0
    for (const entry of access.entries()) {
      if (!entry.live) continue
      if (this.#index.docs.get(entry.id)?.hlc === entry.hlc) {
        live.set(entry.id, entry.hlc)
        continue
      }
      const item = access.item(entry.id)
      if (item === undefined) continue // unreadable now (reported as damaged): dropped below
      live.set(entry.id, entry.hlc)
      this.#index.upsert(item)
      changed++
    }
    for (const id of [...this.#index.docs.keys()]) {
      if (live.has(id)) continue
      this.#index.remove(id)
      changed++
    }
    if (changed > 0 || this.#opened.from === 'graph') this.#dirty = true
    this.#scheduleEmbedding()
    return changed
  }

  #onChanged(change: MemoryChanged): void {
    if (change.item === undefined) this.#index.remove(change.id)
    else this.#index.upsert(change.item)
    this.#dirty = true
    this.#scheduleEmbedding()
  }

  #scheduleEmbedding(): void {
    if (this.#embedding !== undefined || this.#index.pending.size === 0 || this.#abort.signal.aborted) return
    this.#embedError = undefined
    const index = this.#index
    this.#embedding = index
      .embedPending((id) => this.#textOf(id), { signal: this.#abort.signal })
      .then(
        () => {
          this.#dirty = true
        },
        (error: Error) => {
          if (this.#abort.signal.aborted) return
          this.#embedError = error
          this.#deps.log.error('embedding memories for recall failed (they stay pending): %s', error.message)
        }
      )
      .finally(() => {
        this.#embedding = undefined
        if (this.#embedError === undefined && index === this.#index) this.#scheduleEmbedding()
      })
  }

  #textOf(id: string): string | undefined {
    const item = this.#deps.access.item(id)
    return item === undefined ? undefined : memoryText(item)
  }

  /** Waits until every indexed memory has its vector; throws the embedder's error if it fails. */
  async #vectorsReady(options: AbortOptions): Promise<void> {
    if (this.#embedding !== undefined) await this.#embedding
    if (this.#index.pending.size > 0) {
      await this.#index.embedPending((id) => this.#textOf(id), options)
      this.#dirty = true
    }
  }

  /** See {@link Memory.recall}. */
  async recall(query: string, options: RecallOptions = {}): Promise<RecallResult[]> {
    const limit = checkLimit(options.limit ?? 10, 'limit')
    if (typeof query !== 'string') throw new RecallLimitError('a recall query is a string')
    if (query.length > MAX_QUERY_CHARS) {
      throw new RecallLimitError(
        `a recall query is at most ${MAX_QUERY_CHARS} characters (this one has ${query.length}): recall with its key phrases`
      )
    }
    const mode = options.mode ?? 'hybrid'
    if (!['hybrid', 'text', 'vector', 'key'].includes(mode)) {
      throw new RecallLimitError(`mode is 'hybrid', 'text', 'vector' or 'key'; got ${JSON.stringify(mode)}`)
    }
    options.signal?.throwIfAborted()
    if (query.trim().length === 0) return []
    const validAt = options.validAt === undefined ? this.#deps.access.now() : options.validAt
    if (options.knownAt !== undefined) return this.#recallKnownAt(query, limit, mode, validAt, options)
    const read = (id: string): MemoryItem | undefined => this.#deps.access.item(id)
    const accept = acceptor(this.#index, options, validAt, read)
    if (mode === 'key') return this.#byKey(query, limit, accept, read)
    return this.#search(this.#index, query, limit, mode, accept, read, options)
  }

  async #search(
    index: SearchIndex,
    query: string,
    limit: number,
    mode: RecallMode,
    accept: (id: string) => boolean,
    read: (id: string) => MemoryItem | undefined,
    options: RecallOptions
  ): Promise<RecallResult[]> {
    const depth = mode === 'hybrid' ? Math.min(MAX_RECALL_LIMIT, Math.max(limit * 3, 30)) : limit
    let textHits: Hit[] = []
    let vectorHits: Hit[] = []
    if (mode === 'text' || mode === 'hybrid') {
      for (const hit of index.searchText(query)) {
        if (!accept(hit.id)) continue
        textHits.push(hit)
        if (textHits.length === depth) break
      }
      if (mode === 'text') return toResults(textHits, read, limit, (_, rank) => ({ text: rank }))
    }
    if (index.embedder !== undefined) {
      try {
        const ready = async (): Promise<void> => {
          if (index === this.#index) await this.#vectorsReady(options)
          else await index.embedPending(() => undefined, options)
        }
        await ready()
        const [vector] = await index.embedder.embed([query], options)
        if (
          vector !== undefined &&
          index.vectors !== undefined &&
          vector.length !== index.vectors.dimensions
        ) {
          // The model now answers in another size than the stored vectors (it changed under the same id).
          index.resetVectors()
          await ready()
        }
        if (vector !== undefined && index.vectors !== undefined && vector.length === index.vectors.dimensions)
          vectorHits = index.vectors.search(
            vector,
            depth,
            accept,
            options.minSimilarity ?? index.embedder.threshold ?? 0
          )
      } catch (error) {
        if (mode === 'vector' || options.signal?.aborted === true) throw error
        this.#deps.log.error(
          'vector recall failed, answering from full text only: %s',
          (error as Error).message
        )
      }
    }
    if (mode === 'vector') return toResults(vectorHits, read, limit, (_, rank) => ({ vector: rank }))
    // Reciprocal rank fusion: score = Σ over the lists that found it of 1 / (RRF_K + rank).
    const fused = new Map<string, { score: number; ranks: { text?: number; vector?: number } }>()
    for (const [list, name] of [
      [textHits, 'text'],
      [vectorHits, 'vector']
    ] as const) {
      for (const [i, hit] of list.entries()) {
        const entry = fused.get(hit.id) ?? { score: 0, ranks: {} }
        entry.score += 1 / (RRF_K + i + 1)
        entry.ranks[name] = i + 1
        fused.set(hit.id, entry)
      }
    }
    textHits = []
    vectorHits = []
    const ranked = [...fused.entries()].sort((a, b) => b[1].score - a[1].score || (a[0] < b[0] ? -1 : 1))
    const out: RecallResult[] = []
    for (const [id, { score, ranks }] of ranked) {
      const item = read(id)
      if (item === undefined) continue
      out.push({ item, score, ranks })
      if (out.length === limit) break
    }
    return out
  }

  #byKey(
    query: string,
    limit: number,
    accept: (id: string) => boolean,
    read: (id: string) => MemoryItem | undefined
  ): RecallResult[] {
    const access = this.#deps.access
    const ids: string[] = [query]
    const scopes = new Set([PRIVATE_SCOPE, PUBLIC_SCOPE])
    for (const doc of this.#index.docs.values()) scopes.add(doc.scope)
    for (const scope of scopes) {
      try {
        ids.push(access.keyedId('note', query, scope))
      } catch (error) {
        // A scope whose key this process does not hold has no readable keyed notes.
        if (!MemoryKeyError.isInstance(error)) throw error
      }
    }
    if (/^[A-Za-z0-9_.-]{1,64}$/.test(query))
      ids.push(access.keyedId('profile', query.toLowerCase(), PRIVATE_SCOPE))
    const out: RecallResult[] = []
    for (const id of new Set(ids)) {
      if (!this.#index.docs.has(id) || !accept(id)) continue
      const item = read(id)
      if (item !== undefined) out.push({ item, score: 1, ranks: {} })
      if (out.length === limit) break
    }
    return out
  }

  async #recallKnownAt(
    query: string,
    limit: number,
    mode: RecallMode,
    validAt: number | null,
    options: RecallOptions
  ): Promise<RecallResult[]> {
    const at = options.knownAt as number
    if (!Number.isFinite(at)) throw new RecallLimitError('knownAt is milliseconds since the epoch')
    const past = new Map<string, MemoryItem>()
    const index = new SearchIndex(this.#deps.embedder)
    for (const entry of this.#deps.access.entries()) {
      const item = this.#deps.knownAt(entry.id, at)
      if (item === undefined) continue
      past.set(item.id, item)
      index.upsert(item)
      options.signal?.throwIfAborted()
    }
    if (this.#deps.embedder !== undefined) {
      await index.embedPending((id) => {
        const item = past.get(id)
        return item === undefined ? undefined : memoryText(item)
      }, options)
    }
    const read = (id: string): MemoryItem | undefined => past.get(id)
    const accept = acceptor(index, options, validAt, read)
    if (mode === 'key') {
      const found = past.get(query)
      return found !== undefined && accept(found.id) ? [{ item: found, score: 1, ranks: {} }] : []
    }
    return this.#search(index, query, limit, mode, accept, read, options)
  }

  /** See {@link Memory.related}. */
  related(entity: string, options: RelatedOptions = {}): RelatedFact[] {
    if (typeof entity !== 'string' || entity.trim().length === 0 || entity.length > 1024) {
      throw new RecallLimitError('an entity is a non-empty string of at most 1024 characters')
    }
    const depth = options.depth ?? 1
    if (!Number.isSafeInteger(depth) || depth < 1 || depth > MAX_RELATED_DEPTH) {
      throw new RecallLimitError(`depth is 1 to ${MAX_RELATED_DEPTH} hops; got ${depth}`)
    }
    const limit = checkLimit(options.limit ?? 100, 'limit')
    const relations =
      options.relations === undefined
        ? undefined
        : new Set(options.relations.map((r) => r.trim().toLowerCase()))
    const validAt = options.validAt === undefined ? this.#deps.access.now() : options.validAt
    const out: RelatedFact[] = []
    const seen = new Set<string>()
    const visited = new Set<string>()
    let frontier = new Set([entity.trim().toLowerCase()])
    for (let hop = 1; hop <= depth && frontier.size > 0; hop++) {
      const next = new Set<string>()
      for (const node of frontier) {
        visited.add(node)
        for (const id of [...this.#index.factsAbout(node)].sort()) {
          if (seen.has(id)) continue
          const doc = this.#index.docs.get(id)
          if (doc === undefined || !validOk(doc, validAt)) continue
          const item = this.#deps.access.item(id)
          if (item?.kind !== 'fact') continue
          if (relations !== undefined && !relations.has(item.relation.trim().toLowerCase())) continue
          seen.add(id)
          out.push({ item, depth: hop })
          if (out.length === limit) return out
          const other = doc.subject === node ? doc.object : doc.subject
          if (other !== undefined && !visited.has(other)) next.add(other)
        }
      }
      frontier = next
    }
    return out
  }
}

function checkLimit(limit: number, what: string): number {
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_RECALL_LIMIT) {
    throw new RecallLimitError(`${what} is 1 to ${MAX_RECALL_LIMIT}; got ${limit}`)
  }
  return limit
}

function validOk(doc: IndexedDoc, validAt: number | null): boolean {
  if (validAt === null || doc.kind !== 'fact') return true
  if (doc.validFrom !== undefined && validAt < doc.validFrom) return false
  return !(doc.validTo !== undefined && validAt >= doc.validTo)
}

/** The filter a candidate must pass: cheap metadata checks first, the memory itself only when asked. */
function acceptor(
  index: SearchIndex,
  options: RecallOptions,
  validAt: number | null,
  read: (id: string) => MemoryItem | undefined
): (id: string) => boolean {
  const kinds = options.kinds === undefined ? DEFAULT_KINDS : new Set(options.kinds)
  const { session, scope, filters } = options
  const needItem =
    filters !== undefined &&
    (filters.tags !== undefined ||
      filters.writtenAfter !== undefined ||
      filters.writtenBefore !== undefined ||
      filters.where !== undefined)
  return (id) => {
    const doc = index.docs.get(id)
    if (doc === undefined || !kinds.has(doc.kind)) return false
    if (session !== undefined && doc.session !== session) return false
    if (scope !== undefined && doc.scope !== scope) return false
    if (!validOk(doc, validAt)) return false
    if (!needItem || filters === undefined) return true
    const item = read(id)
    if (item === undefined) return false
    if (filters.tags !== undefined) {
      const tags = item.kind === 'note' ? item.tags : []
      if (!filters.tags.every((tag) => tags.includes(tag))) return false
    }
    if (filters.writtenAfter !== undefined && item.writtenAt < filters.writtenAfter) return false
    if (filters.writtenBefore !== undefined && item.writtenAt >= filters.writtenBefore) return false
    return filters.where === undefined || filters.where(item)
  }
}

function toResults(
  hits: readonly Hit[],
  read: (id: string) => MemoryItem | undefined,
  limit: number,
  ranks: (hit: Hit, rank: number) => RecallResult['ranks']
): RecallResult[] {
  const out: RecallResult[] = []
  for (const [i, hit] of hits.entries()) {
    const item = read(hit.id)
    if (item === undefined) continue
    out.push({ item, score: hit.score, ranks: ranks(hit, i + 1) })
    if (out.length === limit) break
  }
  return out
}
