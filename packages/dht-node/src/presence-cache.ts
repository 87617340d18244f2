import { InvalidInputError } from '@araliya/interface'
import { LRUCache } from 'lru-cache'
import {
  DEFAULT_MAX_RECORD_BYTES,
  DEFAULT_MAX_RECORD_TTL_MS,
  type PresenceRecord,
  presenceKey,
  validatePresenceRecord
} from './presence.js'
import { equalBytes } from './util.js'

/** Default number of presence records a node keeps from announcements and lookups. */
export const DEFAULT_PRESENCE_CACHE_ENTRIES = 10_000
/** Default time a remembered record answers lookups after it was last confirmed: 5 minutes. */
export const DEFAULT_PRESENCE_CACHE_MAX_AGE_MS = 5 * 60 * 1000

/** Settings of the presence cache (`presence({ cache })`). */
export interface PresenceCacheInit {
  /**
   * Most records kept; the least recently used one is evicted first, so a flood of announcements cannot
   * grow it. Default {@link DEFAULT_PRESENCE_CACHE_ENTRIES} (10 000, about 10 MB at the 1 KB a typical
   * record takes). `0` turns the cache off: every lookup asks the DHT.
   */
  maxEntries?: number
  /**
   * How long a remembered record answers `findAgent` without a DHT query after it was heard (an
   * announcement) or confirmed (a DHT lookup), ms; never past the record's own `expires`. After that the
   * lookup asks the DHT again. Default {@link DEFAULT_PRESENCE_CACHE_MAX_AGE_MS} (5 min).
   */
  maxAgeMs?: number
}

interface Entry {
  readonly record: PresenceRecord
  /** When the entry stops answering lookups by itself (the record may still serve as a seq floor). */
  freshUntil: number
}

/**
 * @internal Verified presence records by address, bounded (LRU) and expiring. A record gets in only
 * through {@link validatePresenceRecord} under the key of the address it is offered for (the checks every
 * DHT server applies: size, shape, key binding, address, expiry, signature), and replaces a held one only
 * with a higher `seq`; `get` never returns a record past its `expires`. So the cache can never answer
 * with a record the DHT validator would refuse, nor let a replayed older record displace a newer one.
 */
export class PresenceCache {
  readonly #max: number
  // Made on the first record: an LRUCache allocates its arrays for `max` entries up front (about a
  // millisecond for 10 000), which a node need not pay before it is ready.
  #lru: LRUCache<string, Entry> | undefined
  readonly #maxAgeMs: number
  readonly #limits: { maxRecordBytes: number; maxRecordTtlMs: number }
  readonly #now: () => number

  constructor(
    init: PresenceCacheInit & { maxRecordBytes?: number; maxRecordTtlMs?: number; now?: () => number } = {}
  ) {
    const max = init.maxEntries ?? DEFAULT_PRESENCE_CACHE_ENTRIES
    if (!Number.isSafeInteger(max) || max < 1) {
      throw new InvalidInputError(`presence cache maxEntries must be a positive integer, got ${String(max)}`)
    }
    const maxAgeMs = init.maxAgeMs ?? DEFAULT_PRESENCE_CACHE_MAX_AGE_MS
    if (!(maxAgeMs >= 0)) {
      throw new InvalidInputError(`presence cache maxAgeMs must be >= 0, got ${String(maxAgeMs)}`)
    }
    this.#max = max
    this.#maxAgeMs = maxAgeMs
    this.#limits = {
      maxRecordBytes: init.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES,
      maxRecordTtlMs: init.maxRecordTtlMs ?? DEFAULT_MAX_RECORD_TTL_MS
    }
    this.#now = init.now ?? Date.now
  }

  /** Number of records held. */
  get size(): number {
    return this.#lru?.size ?? 0
  }

  /** Most records held. */
  get maxEntries(): number {
    return this.#max
  }

  /**
   * Validates `bytes` as the presence record of `address`, exactly as a DHT server does for the key
   * `/araliya/presence/<address>`, and keeps it when it is newer (higher `seq`) than the record held; the
   * same record again refreshes its age. Returns the validated record, kept or not.
   *
   * @throws {InvalidRecordError} naming the rule the record broke (nothing is kept).
   */
  async offer(address: string, bytes: Uint8Array): Promise<PresenceRecord> {
    const record = await validatePresenceRecord(presenceKey(address), bytes, {
      ...this.#limits,
      now: this.#now()
    })
    this.admit(record)
    return record
  }

  /**
   * Keeps a record that `validatePresenceRecord` has just accepted under the key of its own address (the
   * DHT validator accepted it: a PUT this node stores, or a value a GET returned), when it is newer than
   * the record held. Only for callers that ran that validation on exactly this record; everything else
   * goes through {@link offer}.
   */
  admit(record: PresenceRecord): void {
    const now = this.#now()
    if (record.expires <= now) return
    const address = record.address
    const held = this.#held(address, now)
    const freshUntil = Math.min(now + this.#maxAgeMs, record.expires)
    if (held === undefined || record.seq > held.record.seq) {
      this.#lru ??= new LRUCache({ max: this.#max })
      this.#lru.set(address, { record, freshUntil })
    } else if (record.seq === held.record.seq && equalBytes(record.sig, held.record.sig)) {
      held.freshUntil = Math.max(held.freshUntil, freshUntil)
    }
  }

  /** The record that answers a lookup of `address` now: held, unexpired and heard within `maxAgeMs`. */
  get(address: string): PresenceRecord | undefined {
    const now = this.#now()
    const entry = this.#held(address, now)
    return entry !== undefined && now < entry.freshUntil ? entry.record : undefined
  }

  /** The newest unexpired record held for `address`, however long ago it was heard. */
  newest(address: string): PresenceRecord | undefined {
    return this.#held(address, this.#now())?.record
  }

  /** Forgets every record. */
  clear(): void {
    this.#lru?.clear()
  }

  #held(address: string, now: number): Entry | undefined {
    const entry = this.#lru?.get(address)
    if (entry === undefined) return undefined
    // An expired record is one the DHT validator refuses: it is never returned, and never blocks a
    // replacement (as on a DHT server, where an expired stored record does not block an older valid one).
    if (entry.record.expires <= now) {
      this.#lru?.delete(address)
      return undefined
    }
    return entry
  }
}
