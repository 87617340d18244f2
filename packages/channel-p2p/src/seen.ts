import { logger } from '@libp2p/logger'
import { type Datastore, Key } from 'interface-datastore'

const log = logger('araliya:channel:seen')
const PREFIX = '/araliya/seen'

/** Settings of a {@link SeenSet}. */
export interface SeenSetInit {
  /** Where entries persist across restarts. Without one the set lives in memory only. */
  datastore?: Datastore
  /** Most entries kept; beyond it the oldest are evicted (counted in `evicted`). Default 100,000. */
  maxEntries?: number
  /** How long new entries may wait before they are written out, in ms. Default 100. */
  flushIntervalMs?: number
  /** The clock, in ms. */
  now?: () => number
}

/**
 * The set of envelopes already accepted, each kept until its own expiry. Envelopes past expiry are
 * refused by the expiry check, so together the two reject every replay, however late — long after
 * gossipsub's two-minute duplicate cache has forgotten the message, and across restarts when a
 * datastore is given. Memory is bounded by `maxEntries`.
 */
export class SeenSet {
  readonly #entries = new Map<string, number>()
  readonly #pending = new Map<string, number>()
  readonly #datastore: Datastore | undefined
  readonly #maxEntries: number
  readonly #flushIntervalMs: number
  readonly #now: () => number
  #timer: ReturnType<typeof setTimeout> | undefined
  #flushing: Promise<void> = Promise.resolve()
  #addsSincePrune = 0
  /** Unexpired entries dropped because the set was full. */
  evicted = 0

  constructor(init: SeenSetInit = {}) {
    this.#datastore = init.datastore
    this.#maxEntries = init.maxEntries ?? 100_000
    this.#flushIntervalMs = init.flushIntervalMs ?? 100
    this.#now = init.now ?? Date.now
  }

  /** Loads the persisted entries that have not expired, and deletes the rest. */
  async load(): Promise<void> {
    if (this.#datastore === undefined) return
    const now = this.#now()
    const stale: Key[] = []
    for await (const key of this.#datastore.queryKeys({ prefix: PREFIX })) {
      const parts = key
        .toString()
        .slice(PREFIX.length + 1)
        .split('/')
      const expiresAt = Number(parts[0])
      const id = parts.slice(1).join('/')
      if (!Number.isFinite(expiresAt) || expiresAt <= now || id.length === 0) stale.push(key)
      else this.#remember(id, expiresAt)
    }
    if (stale.length > 0) {
      const batch = this.#datastore.batch()
      for (const key of stale) batch.delete(key)
      await batch.commit()
    }
    log('loaded %d seen envelopes, dropped %d expired', this.#entries.size, stale.length)
  }

  /** True when `id` was accepted before and has not expired. */
  has(id: string): boolean {
    const expiresAt = this.#entries.get(id)
    return expiresAt !== undefined && expiresAt > this.#now()
  }

  /** Records `id` until `expiresAt` (ms). Persisted within `flushIntervalMs`. */
  add(id: string, expiresAt: number): void {
    this.#remember(id, expiresAt)
    if (this.#datastore === undefined) return
    this.#pending.set(id, expiresAt)
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined
      void this.flush().catch((err: unknown) => log.error('could not persist the seen-set: %e', err))
    }, this.#flushIntervalMs)
  }

  /** Writes out pending entries now and deletes expired ones. */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(() => this.#write())
    return this.#flushing
  }

  /** Flushes and cancels the timer. */
  async close(): Promise<void> {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    await this.flush()
  }

  /** How many entries are held in memory. */
  get size(): number {
    return this.#entries.size
  }

  #remember(id: string, expiresAt: number): void {
    this.#entries.delete(id)
    this.#entries.set(id, expiresAt)
    if (++this.#addsSincePrune >= 1024) this.#prune()
    if (this.#entries.size > this.#maxEntries) {
      this.#prune()
      while (this.#entries.size > this.#maxEntries) {
        const oldest = this.#entries.keys().next().value
        if (oldest === undefined) break
        this.#entries.delete(oldest)
        this.evicted++
      }
    }
  }

  #prune(): void {
    this.#addsSincePrune = 0
    const now = this.#now()
    for (const [id, expiresAt] of this.#entries) if (expiresAt <= now) this.#entries.delete(id)
  }

  async #write(): Promise<void> {
    const datastore = this.#datastore
    if (datastore === undefined || this.#pending.size === 0) return
    const batch = datastore.batch()
    for (const [id, expiresAt] of this.#pending) batch.put(entryKey(id, expiresAt), new Uint8Array(0))
    this.#pending.clear()
    const now = this.#now()
    // Expired entries: keys sort by expiry, so stop at the first one still valid.
    for await (const key of datastore.queryKeys({ prefix: PREFIX })) {
      const expiresAt = Number(
        key
          .toString()
          .slice(PREFIX.length + 1)
          .split('/')[0]
      )
      if (expiresAt > now) break
      batch.delete(key)
    }
    await batch.commit()
  }
}

function entryKey(id: string, expiresAt: number): Key {
  return new Key(`${PREFIX}/${String(expiresAt).padStart(15, '0')}/${id}`)
}
