import type { ComponentLogger, Logger } from '@libp2p/interface'
import { defaultLogger } from '@libp2p/logger'
import { type Datastore, Key } from 'interface-datastore'
import PQueue from 'p-queue'

const PREFIX = '/araliya/seen'

/** Default most unexpired ids a {@link SeenSet} holds (sizing: `docs/protocols/envelope.md`, "Replay protection"). */
export const DEFAULT_MAX_SEEN_ENTRIES = 100_000

/** Settings of a {@link SeenSet}. */
export interface SeenSetInit {
  /** Where entries persist across restarts. Without one the set lives in memory only. */
  datastore?: Datastore
  /**
   * Most unexpired entries held. A full set refuses new ids (`add` returns false) until some expire: it
   * never forgets an unexpired id to make room. Default {@link DEFAULT_MAX_SEEN_ENTRIES}.
   */
  maxEntries?: number
  /** How long new entries may wait before they are written out, in ms. Default 100. */
  flushIntervalMs?: number
  /** The clock, in ms. */
  now?: () => number
  /** Where its log lines go (`araliya:channel:seen`). Default `@libp2p/logger`'s. */
  logger?: ComponentLogger
}

/**
 * The set of envelopes already accepted, each kept until its own expiry. Envelopes past expiry are
 * refused by the expiry check, so together the two reject every replay, however late — long after
 * gossipsub's two-minute duplicate cache has forgotten the message, and across restarts when a
 * datastore is given.
 *
 * Memory is bounded by `maxEntries`, and the bound is kept by refusing, never by forgetting: an id is
 * dropped only once it has expired, so filling the set (with envelopes from many throwaway keys, say)
 * can make the node refuse new envelopes for a while but can never make it accept a replay.
 */
export class SeenSet {
  readonly #entries = new Map<string, number>()
  /** The same entries ordered by expiry, so expired ones are found without scanning the set. */
  readonly #expiries = new ExpiryHeap()
  readonly #pending = new Map<string, number>()
  readonly #datastore: Datastore | undefined
  readonly #maxEntries: number
  readonly #flushIntervalMs: number
  readonly #now: () => number
  readonly #log: Logger
  #timer: ReturnType<typeof setTimeout> | undefined
  /** Writes run one at a time, in order. */
  readonly #writes = new PQueue({ concurrency: 1 })
  /** New ids refused because the set was full of unexpired entries. */
  refused = 0

  constructor(init: SeenSetInit = {}) {
    this.#datastore = init.datastore
    this.#maxEntries = init.maxEntries ?? DEFAULT_MAX_SEEN_ENTRIES
    this.#flushIntervalMs = init.flushIntervalMs ?? 100
    this.#now = init.now ?? Date.now
    this.#log = (init.logger ?? defaultLogger()).forComponent('araliya:channel:seen')
  }

  /**
   * Loads the persisted entries that have not expired, and deletes the rest. Every unexpired entry is
   * loaded, even beyond `maxEntries` (when the limit was lowered since they were written): the set then
   * refuses new ids until enough of them expire.
   */
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
    if (this.#entries.size > this.#maxEntries) {
      this.#log(
        'loaded %d unexpired seen envelopes, over the limit of %d',
        this.#entries.size,
        this.#maxEntries
      )
    }
    this.#log('loaded %d seen envelopes, dropped %d expired', this.#entries.size, stale.length)
  }

  /** True when `id` was accepted before and has not expired. */
  has(id: string): boolean {
    const expiresAt = this.#entries.get(id)
    return expiresAt !== undefined && expiresAt > this.#now()
  }

  /**
   * Records `id` until `expiresAt` (ms); persisted within `flushIntervalMs`. Returns false, recording
   * nothing, when the set already holds `maxEntries` unexpired ids (counted in {@link refused}); an id
   * already held keeps the later of its two expiries.
   */
  add(id: string, expiresAt: number): boolean {
    this.#expire()
    const held = this.#entries.get(id)
    if (held === undefined && this.#entries.size >= this.#maxEntries) {
      this.refused++
      return false
    }
    if (held !== undefined && held >= expiresAt) return true
    this.#remember(id, expiresAt)
    if (this.#datastore === undefined) return true
    this.#pending.set(id, expiresAt)
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined
      void this.flush().catch((err: unknown) => this.#log.error('could not persist the seen-set: %e', err))
    }, this.#flushIntervalMs)
    return true
  }

  /** Writes out pending entries now and deletes expired ones. */
  flush(): Promise<void> {
    return this.#writes.add(() => this.#write())
  }

  /** Flushes and cancels the timer. */
  async close(): Promise<void> {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    await this.flush()
  }

  /** How many unexpired entries are held. */
  get size(): number {
    this.#expire()
    return this.#entries.size
  }

  /** The most unexpired entries held before new ids are refused. */
  get maxEntries(): number {
    return this.#maxEntries
  }

  #remember(id: string, expiresAt: number): void {
    const held = this.#entries.get(id)
    if (held !== undefined && held >= expiresAt) return
    this.#entries.set(id, expiresAt)
    this.#expiries.push(expiresAt, id)
    // An id re-added with a later expiry leaves a stale heap entry behind; rebuild before they pile up.
    if (this.#expiries.size > 2 * this.#entries.size + 1024) this.#expiries.rebuild(this.#entries)
  }

  /** Drops the entries that have expired, soonest first: O(log n) each, nothing for unexpired ones. */
  #expire(): void {
    const now = this.#now()
    for (let next = this.#expiries.peek(); next !== undefined && next <= now; next = this.#expiries.peek()) {
      const id = this.#expiries.pop() as string
      // Skip stale heap entries (the id was re-added with a later expiry).
      const expiresAt = this.#entries.get(id)
      if (expiresAt !== undefined && expiresAt <= now) this.#entries.delete(id)
    }
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

/** A binary min-heap of (expiry, id) pairs. */
class ExpiryHeap {
  #times: number[] = []
  #ids: string[] = []

  get size(): number {
    return this.#times.length
  }

  /** The soonest expiry, if any. */
  peek(): number | undefined {
    return this.#times[0]
  }

  push(time: number, id: string): void {
    const times = this.#times
    const ids = this.#ids
    let at = times.length
    times.push(time)
    ids.push(id)
    while (at > 0) {
      const parent = (at - 1) >> 1
      if ((times[parent] as number) <= time) break
      times[at] = times[parent] as number
      ids[at] = ids[parent] as string
      at = parent
    }
    times[at] = time
    ids[at] = id
  }

  /** Removes the entry with the soonest expiry and returns its id. */
  pop(): string | undefined {
    const times = this.#times
    const ids = this.#ids
    const top = ids[0]
    const lastTime = times.pop()
    const lastId = ids.pop()
    if (times.length === 0 || lastTime === undefined || lastId === undefined) return top
    let at = 0
    for (;;) {
      let child = 2 * at + 1
      if (child >= times.length) break
      if (child + 1 < times.length && (times[child + 1] as number) < (times[child] as number)) child++
      if ((times[child] as number) >= lastTime) break
      times[at] = times[child] as number
      ids[at] = ids[child] as string
      at = child
    }
    times[at] = lastTime
    ids[at] = lastId
    return top
  }

  /** Replaces the contents with exactly `entries`. */
  rebuild(entries: ReadonlyMap<string, number>): void {
    this.#times = []
    this.#ids = []
    for (const [id, time] of entries) this.push(time, id)
  }
}
