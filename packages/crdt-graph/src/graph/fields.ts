import type { Origin } from '@araliya/interface'
import { valueBytes, type WireValue } from '../commit.js'
import { sha256 } from '../hash.js'
import type { GraphValue, Soul } from '../model.js'
import type { Subscriptions } from './subscriptions.js'

/** One accepted write of a field. */
export interface OpRecord {
  readonly hlc: number
  readonly signer: string
  readonly value: GraphValue | undefined
  readonly wire: WireValue | undefined
  readonly commit: Uint8Array
  hash?: Uint8Array
}

/** Every accepted write of one field: the HAM winner and the losers (never dropped). */
export interface FieldEntry {
  winner: OpRecord
  losers: OpRecord[] | undefined
}

/** The fields of one soul's path in a space. */
export type PathFields = Map<string, FieldEntry>

/**
 * The field state of a replica: space -> path -> field -> every accepted write, the winner chosen by HAM
 * (see {@link compareOps}). Two levels, so hot paths never build or hash whole soul strings. A change of a
 * winner goes to the subscriptions.
 */
export class FieldTable {
  readonly #spaces = new Map<string, Map<string, PathFields>>()
  readonly #subscriptions: Subscriptions

  constructor(subscriptions: Subscriptions) {
    this.#subscriptions = subscriptions
  }

  /** The paths of a space, created empty when new. */
  paths(space: string): Map<string, PathFields> {
    let paths = this.#spaces.get(space)
    if (paths === undefined) {
      paths = new Map()
      this.#spaces.set(space, paths)
    }
    return paths
  }

  /** Applies one accepted write; a new winner is announced. */
  applyOp(
    paths: Map<string, PathFields>,
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
      this.#subscriptions.notify(space, path, field, record, undefined, origin)
      return
    }
    if (compareOps(record, entry.winner) > 0) {
      const previous = entry.winner
      entry.losers ??= []
      entry.losers.push(previous)
      entry.winner = record
      this.#subscriptions.notify(space, path, field, record, previous, origin)
    } else {
      entry.losers ??= []
      entry.losers.push(record)
    }
  }

  /** The fields of a soul, or `undefined` when it has none. */
  fields(soul: Soul): PathFields | undefined {
    const slash = typeof soul === 'string' ? soul.indexOf('/') : -1
    if (slash < 0) return undefined
    return this.#spaces.get(soul.slice(0, slash))?.get(soul.slice(slash + 1))
  }

  /** The names of the live (not deleted) fields of a soul. */
  liveFields(soul: Soul): string[] {
    const out: string[] = []
    for (const [name, entry] of this.fields(soul) ?? []) if (entry.winner.wire !== undefined) out.push(name)
    return out
  }

  /** Every soul with at least one field (live or deleted), optionally only in one space. */
  *souls(space?: string): IterableIterator<Soul> {
    for (const [owner, paths] of this.#spaces) {
      if (space !== undefined && owner !== space) continue
      for (const path of paths.keys()) yield `${owner}/${path}`
    }
  }
}

/**
 * The HAM order of two writes of one field: higher clock wins; on an exact tie the higher signer address
 * wins; then the higher sha256 of the canonical value bytes. Returns > 0 when `a` wins.
 */
export function compareOps(a: OpRecord, b: OpRecord): number {
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
