import type { CanonicalValue } from '@araliya/identity'
import type { MemoryItem, MemoryKind, MetaValue } from './model.js'

/** What the memory knows about one stored memory without decrypting it again. */
export interface CatalogEntry {
  readonly id: string
  readonly kind: MemoryKind
  readonly scope: string
  /** False once forgotten (the entry stays so `knownAt` queries still find its history). */
  readonly live: boolean
  /** Turns and sessions: the session id. Chunks: the document id. */
  readonly group?: string
  /** Turns and sessions: when said/started. */
  readonly time?: number
  /** Facts: lowercased subject and relation. Profile: lowercased name. */
  readonly subject?: string
  readonly relation?: string
  readonly hlc: number
}

/** One write of a memory version. */
export interface Write {
  readonly id: string
  readonly kind: MemoryKind
  readonly scope: string
  /** The kind's own fields (absent for a forget). */
  readonly body: Readonly<Record<string, CanonicalValue | undefined>>
  /** Versions superseded; `undefined` = the current version and every open conflict of this memory. */
  readonly supersedes?: readonly string[]
  readonly forget?: boolean
  readonly source?: string
  readonly meta?: Readonly<Record<string, MetaValue>>
}

/** The internal surface the feature modules (sessions, facts, profile, documents) work through. */
export interface MemoryAccess {
  readonly owner: string
  now(): number
  /** The id of a keyed memory in `scope` (the same on every device that holds the scope key). */
  keyedId(kind: string, appKey: string, scope: string): string
  newId(): string
  /** A live memory, from the hot cache or decrypted from the local graph. */
  item(id: string): MemoryItem | undefined
  /** Catalog entries, optionally only those of one kind. */
  entries(kind?: MemoryKind): Iterable<CatalogEntry>
  /** Entries of a group (a session's turns, a document's chunks). */
  group(kind: MemoryKind, group: string): Iterable<CatalogEntry>
  /** Writes versions in as few commits as the graph allows; resolves once durable. */
  write(writes: readonly Write[]): Promise<void>
  /** Warms the hot cache with these ids. */
  prefetch(ids: Iterable<string>): void
}
