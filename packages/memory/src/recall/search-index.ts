import type { AbortOptions } from '@araliya/interface'
import MiniSearch, { type SearchOptions } from 'minisearch'
import { factObjectText, type MemoryItem, type MemoryKind, memoryText } from '../model.js'
import { type Embedder, STOP_WORDS } from './embedder.js'

/**
 * What the index keeps about one memory besides its text: enough to filter candidates (kind, scope,
 * session, valid time) and to walk facts, without decrypting the memory again.
 */
export interface IndexedDoc {
  readonly id: string
  readonly hlc: number
  readonly kind: MemoryKind
  readonly scope: string
  /** Turns and sessions: the session id. */
  readonly session?: string
  readonly validFrom?: number
  readonly validTo?: number
  /** Facts: the lowercased subject, and the lowercased object text. */
  readonly subject?: string
  readonly object?: string
}

/**
 * The full-text search options, used by recall and by the benchmark's bare MiniSearch baseline alike:
 * BM25 (MiniSearch's default), a prefix match on the last query term (typing), a small edit distance on
 * longer terms (typos), any term may match.
 */
export const TEXT_SEARCH_OPTIONS: SearchOptions = {
  prefix: (term, index, terms) => index === terms.length - 1 && term.length >= 3,
  fuzzy: (term) => (term.length >= 5 ? 0.2 : false),
  combineWith: 'OR'
}

/** MiniSearch's construction options (the same when a snapshot is loaded). */
export const MINISEARCH_OPTIONS = {
  fields: ['text'],
  processTerm: (term: string): string | null => {
    const lower = term.toLowerCase()
    return STOP_WORDS.has(lower) ? null : lower
  },
  idField: 'id',
  storeFields: [] as string[],
  searchOptions: TEXT_SEARCH_OPTIONS
}

/** A scored candidate. */
export interface Hit {
  readonly id: string
  readonly score: number
}

/** The vectors of one embedder: a growable Float32Array matrix, one row per memory; cosine by dot product. */
export class VectorStore {
  readonly model: string
  readonly dimensions: number
  #ids: string[] = []
  readonly #slots = new Map<string, number>()
  #data: Float32Array

  constructor(model: string, dimensions: number, capacity = 64) {
    this.model = model
    this.dimensions = dimensions
    this.#data = new Float32Array(Math.max(1, capacity) * dimensions)
  }

  get size(): number {
    return this.#ids.length
  }

  has(id: string): boolean {
    return this.#slots.has(id)
  }

  set(id: string, vector: Float32Array): void {
    if (vector.length !== this.dimensions) {
      throw new RangeError(`a ${this.model} vector has ${this.dimensions} dimensions, not ${vector.length}`)
    }
    let slot = this.#slots.get(id)
    if (slot === undefined) {
      slot = this.#ids.length
      if ((slot + 1) * this.dimensions > this.#data.length) {
        const grown = new Float32Array(this.#data.length * 2)
        grown.set(this.#data)
        this.#data = grown
      }
      this.#ids.push(id)
      this.#slots.set(id, slot)
    }
    this.#data.set(vector, slot * this.dimensions)
  }

  delete(id: string): void {
    const slot = this.#slots.get(id)
    if (slot === undefined) return
    const last = this.#ids.length - 1
    if (slot !== last) {
      const moved = this.#ids[last] as string
      this.#data.copyWithin(slot * this.dimensions, last * this.dimensions, (last + 1) * this.dimensions)
      this.#ids[slot] = moved
      this.#slots.set(moved, slot)
    }
    this.#ids.pop()
    this.#slots.delete(id)
  }

  /** The `k` rows most similar to `query` (cosine; rows and query are unit length) that `accept` lets through. */
  search(query: Float32Array, k: number, accept: (id: string) => boolean, floor = -1): Hit[] {
    const top: Hit[] = []
    const dims = this.dimensions
    const data = this.#data
    for (let slot = 0; slot < this.#ids.length; slot++) {
      let dot = 0
      const base = slot * dims
      for (let d = 0; d < dims; d++) dot += (data[base + d] as number) * (query[d] as number)
      if (dot < floor || (top.length === k && dot <= (top[k - 1] as Hit).score)) continue
      const id = this.#ids[slot] as string
      if (!accept(id)) continue
      let at = top.length
      while (at > 0 && (top[at - 1] as Hit).score < dot) at--
      top.splice(at, 0, { id, score: dot })
      if (top.length > k) top.pop()
    }
    return top
  }

  /** Row ids in slot order and the rows as one buffer (for the snapshot). */
  export(): { ids: string[]; data: Float32Array } {
    return { ids: [...this.#ids], data: this.#data.slice(0, this.#ids.length * this.dimensions) }
  }

  static import(model: string, dimensions: number, ids: readonly string[], data: Float32Array): VectorStore {
    const store = new VectorStore(model, dimensions, ids.length + 64)
    store.#data.set(data)
    store.#ids = [...ids]
    for (const [slot, id] of ids.entries()) store.#slots.set(id, slot)
    return store
  }
}

/** What {@link SearchIndex.embedPending} needs to fetch a memory's text again. */
export type TextOf = (id: string) => string | undefined

/**
 * The derived, local indexes of the memories this process can read: MiniSearch for full text, a
 * {@link VectorStore} for similarity, and the facts' subject/object adjacency for graph walks. Kept in
 * step with the memory by {@link upsert} and {@link remove}; vectors are embedded in the background
 * ({@link embedPending}).
 */
export class SearchIndex {
  readonly docs = new Map<string, IndexedDoc>()
  readonly text: MiniSearch<{ id: string; text: string }>
  vectors: VectorStore | undefined
  readonly embedder: Embedder | undefined
  /** Ids whose vector is missing or stale. */
  readonly pending = new Set<string>()
  readonly #bySubject = new Map<string, Set<string>>()
  readonly #byObject = new Map<string, Set<string>>()

  constructor(embedder: Embedder | undefined, text?: MiniSearch<{ id: string; text: string }>) {
    this.embedder = embedder
    this.text = text ?? new MiniSearch(MINISEARCH_OPTIONS)
    this.vectors =
      embedder === undefined || embedder.dimensions === 0
        ? undefined
        : new VectorStore(embedder.id, embedder.dimensions)
  }

  /** Indexes (or re-indexes) a live memory. */
  upsert(item: MemoryItem): void {
    const before = this.docs.get(item.id)
    if (before !== undefined) this.#unlink(before)
    const doc = docOf(item)
    this.docs.set(item.id, doc)
    this.#link(doc)
    if (this.text.has(item.id)) this.text.discard(item.id)
    const text = memoryText(item)
    if (text.trim().length > 0) {
      this.text.add({ id: item.id, text })
      if (this.embedder !== undefined) this.pending.add(item.id)
    } else {
      this.pending.delete(item.id)
      this.vectors?.delete(item.id)
    }
  }

  /** Drops a memory from every index (it was forgotten, or is no longer readable). */
  remove(id: string): void {
    const doc = this.docs.get(id)
    if (doc === undefined) return
    this.#unlink(doc)
    this.docs.delete(id)
    if (this.text.has(id)) this.text.discard(id)
    this.vectors?.delete(id)
    this.pending.delete(id)
  }

  /** Adds doc metadata restored from a snapshot (its text and vector are restored separately). */
  restore(doc: IndexedDoc): void {
    this.docs.set(doc.id, doc)
    this.#link(doc)
  }

  /** Drops every vector and queues every memory with text for embedding again (the model changed size). */
  resetVectors(): void {
    this.vectors =
      this.embedder === undefined || this.embedder.dimensions === 0
        ? undefined
        : new VectorStore(this.embedder.id, this.embedder.dimensions)
    for (const doc of this.docs.values()) if (this.text.has(doc.id)) this.pending.add(doc.id)
  }

  /** Fact ids whose subject or object (lowercased) is `entity`. */
  factsAbout(entity: string): Set<string> {
    const out = new Set<string>()
    for (const id of this.#bySubject.get(entity) ?? []) out.add(id)
    for (const id of this.#byObject.get(entity) ?? []) out.add(id)
    return out
  }

  #link(doc: IndexedDoc): void {
    if (doc.subject !== undefined) addTo(this.#bySubject, doc.subject, doc.id)
    if (doc.object !== undefined) addTo(this.#byObject, doc.object, doc.id)
  }

  #unlink(doc: IndexedDoc): void {
    if (doc.subject !== undefined) this.#bySubject.get(doc.subject)?.delete(doc.id)
    if (doc.object !== undefined) this.#byObject.get(doc.object)?.delete(doc.id)
  }

  /** Full-text hits, best first (BM25 scores), all of them: the caller stops once it has enough. */
  searchText(query: string): Hit[] {
    return this.text.search(query, TEXT_SEARCH_OPTIONS) as Hit[]
  }

  /**
   * Embeds the memories still waiting for a vector, `batch` at a time. A memory changed or removed while
   * its batch was out is left for the next round. Throws the embedder's error (the rest stay pending).
   */
  async embedPending(textOf: TextOf, options: AbortOptions & { batch?: number } = {}): Promise<void> {
    const embedder = this.embedder
    if (embedder === undefined) return
    const batchSize = options.batch ?? 64
    while (this.pending.size > 0) {
      const ids: string[] = []
      const texts: string[] = []
      const hlcs: number[] = []
      for (const id of this.pending) {
        const text = textOf(id)
        const doc = this.docs.get(id)
        if (text === undefined || doc === undefined || text.trim().length === 0) {
          this.pending.delete(id)
          continue
        }
        ids.push(id)
        texts.push(text)
        hlcs.push(doc.hlc)
        if (ids.length === batchSize) break
      }
      if (ids.length === 0) return
      const vectors = await embedder.embed(texts, options)
      if (this.vectors === undefined || this.vectors.dimensions !== embedder.dimensions) {
        // The model answers in another size than the stored vectors: none of them can be compared any more.
        if (this.vectors !== undefined && this.vectors.size > 0) this.resetVectors()
        this.vectors = new VectorStore(embedder.id, embedder.dimensions)
      }
      for (const [i, id] of ids.entries()) {
        if (this.docs.get(id)?.hlc !== hlcs[i]) continue
        this.vectors.set(id, vectors[i] as Float32Array)
        this.pending.delete(id)
      }
    }
  }
}

function addTo(map: Map<string, Set<string>>, key: string, id: string): void {
  let set = map.get(key)
  if (set === undefined) {
    set = new Set()
    map.set(key, set)
  }
  set.add(id)
}

/** The index's metadata of a memory. */
export function docOf(item: MemoryItem): IndexedDoc {
  const base = { id: item.id, hlc: item.hlc, kind: item.kind, scope: item.scope }
  switch (item.kind) {
    case 'turn':
    case 'session':
      return { ...base, session: item.session }
    case 'fact':
      return {
        ...base,
        subject: item.subject.trim().toLowerCase(),
        object: factObjectText(item.object).trim().toLowerCase(),
        ...(item.validFrom === undefined ? {} : { validFrom: item.validFrom }),
        ...(item.validTo === undefined ? {} : { validTo: item.validTo })
      }
    default:
      return base
  }
}
