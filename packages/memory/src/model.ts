/** What a memory is. */
export type MemoryKind = 'note' | 'turn' | 'session' | 'fact' | 'profile' | 'document' | 'chunk'

/** Every kind, in a fixed order. */
export const MEMORY_KINDS: readonly MemoryKind[] = [
  'note',
  'turn',
  'session',
  'fact',
  'profile',
  'document',
  'chunk'
]

/** Who spoke a turn. */
export type Role = 'user' | 'assistant' | 'system' | 'tool'

/** One tool call made in a turn. `arguments` and `result` are JSON text, as models produce them. */
export interface ToolCall {
  readonly id: string
  readonly name: string
  readonly arguments: string
  readonly result?: string
}

/** Token counts a model reported for a turn. */
export interface TokenCounts {
  readonly input?: number
  readonly output?: number
}

/** The object of a fact: a value, or a reference to another entity (`{ ref: 'ada' }`). */
export type FactObject = string | number | boolean | { readonly ref: string }

/**
 * Who can read a memory. `private` (the default): the owner and its devices. A named scope (`[a-z0-9-]`,
 * 1 to 32 characters): also the agents the owner shared that scope with. `public`: anyone who can reach
 * a replica (stored unencrypted: a deliberate choice).
 */
export type Scope = string

/** What every memory carries besides its content. */
export interface MemoryBase {
  /** Stable id of the memory (16 characters, URL-safe); keyed memories get the same id on every device. */
  readonly id: string
  readonly kind: MemoryKind
  /** Id of this version of the memory (each write makes a new one). */
  readonly version: string
  /** The versions this one replaces (what the writer saw as current, and conflicts it resolved). */
  readonly supersedes: readonly string[]
  /** The address of the key that signed this version (the owner, or one of its devices). */
  readonly writer: string
  /** The device label the writer gave (`createMemory({ device })`), if any. */
  readonly device?: string
  /** The memory this one was derived from (e.g. the turn a fact was learnt in), if recorded. */
  readonly source?: string
  /** Transaction time: when this version was written, milliseconds since the epoch (from the graph's HLC). */
  readonly writtenAt: number
  /** The version's hybrid-logical-clock stamp (total order of writes). */
  readonly hlc: number
  readonly scope: Scope
  /** Free-form metadata the app attached (JSON-like values). */
  readonly meta?: Readonly<Record<string, MetaValue>>
}

/** A JSON-like value kept in `meta`. */
export type MetaValue =
  | string
  | number
  | boolean
  | null
  | readonly MetaValue[]
  | { readonly [key: string]: MetaValue }

/** Something the agent was told or noted, in its own words. */
export interface NoteMemory extends MemoryBase {
  readonly kind: 'note'
  readonly text: string
  readonly tags: readonly string[]
  /** The app's key for it, when written with one (`remember(text, { key })`). */
  readonly key?: string
}

/** One turn of a conversation. */
export interface TurnMemory extends MemoryBase {
  readonly kind: 'turn'
  readonly session: string
  readonly role: Role
  readonly content: string
  /** When it was said, milliseconds since the epoch. */
  readonly time: number
  readonly tokens?: TokenCounts
  readonly toolCalls?: readonly ToolCall[]
}

/** A conversation (thread) header. */
export interface SessionMemory extends MemoryBase {
  readonly kind: 'session'
  readonly session: string
  readonly title?: string
  /** When the session started, milliseconds since the epoch. */
  readonly time: number
}

/**
 * A fact: subject, relation, object, with valid time (when it holds in the world) beside the
 * transaction time every memory has. A single-valued fact has one current object per subject and relation.
 */
export interface FactMemory extends MemoryBase {
  readonly kind: 'fact'
  readonly subject: string
  readonly relation: string
  readonly object: FactObject
  readonly single: boolean
  /** From when the fact holds, milliseconds since the epoch (open when absent). */
  readonly validFrom?: number
  /** Until when the fact holds, exclusive (open when absent). */
  readonly validTo?: number
  /** How sure the writer was, 0 to 1. */
  readonly confidence?: number
}

/** A named working-memory block, always put in front of the model. */
export interface ProfileMemory extends MemoryBase {
  readonly kind: 'profile'
  readonly name: string
  readonly value: string
  /** Largest value accepted, in characters. */
  readonly limit: number
}

/** A document, stored as chunks. */
export interface DocumentMemory extends MemoryBase {
  readonly kind: 'document'
  readonly title: string
  readonly uri?: string
  readonly chunks: number
}

/** One chunk of a document. */
export interface ChunkMemory extends MemoryBase {
  readonly kind: 'chunk'
  readonly document: string
  readonly index: number
  readonly text: string
}

/** A memory as an app reads it (decrypted). */
export type MemoryItem =
  | NoteMemory
  | TurnMemory
  | SessionMemory
  | FactMemory
  | ProfileMemory
  | DocumentMemory
  | ChunkMemory

/** The searchable text of a memory: what full-text and vector recall index. */
export function memoryText(item: MemoryItem): string {
  switch (item.kind) {
    case 'note':
      return item.tags.length > 0 ? `${item.text}\n${item.tags.join(' ')}` : item.text
    case 'turn':
      return item.content
    case 'session':
      return item.title ?? ''
    case 'fact':
      return `${item.subject} ${item.relation} ${factObjectText(item.object)}`
    case 'profile':
      return `${item.name}: ${item.value}`
    case 'document':
      return item.title
    case 'chunk':
      return item.text
  }
}

/** A fact's object as text. */
export function factObjectText(object: FactObject): string {
  return typeof object === 'object' ? object.ref : String(object)
}
