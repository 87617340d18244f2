/**
 * An agent's memory on its own signed CRDT graph: sessions with ordered turns, profile blocks always in
 * context, facts with valid time, documents. Encrypted on the device before it is written, so replicas on
 * other machines verify and merge it without reading it; merged across the owner's devices with nothing
 * lost and conflicts listed, never hidden.
 *
 * @example
 * ```ts
 * import { generateIdentity } from '@araliya/identity'
 * import { createMemory } from '@araliya/memory'
 *
 * const memory = createMemory({ identity: await generateIdentity() })
 * await memory.start()
 * await memory.session('chat-1').append({ role: 'user', content: 'I moved to Lisbon last spring' })
 * await memory.relate('user', 'lives in', 'Lisbon', { single: true })
 * console.log(memory.facts({ subject: 'user' }).map((f) => f.object)) // [ 'Lisbon' ]
 * await memory.stop()
 * ```
 *
 * @packageDocumentation
 */
export type { CatalogEntry } from './access.js'
export { chunkText, DEFAULT_CHUNK_CHARS, type DocumentInit, MAX_DOCUMENT_CHARS } from './documents.js'
export * from './errors.js'
export {
  DEFAULT_IMPORT_LIMITS,
  EXPORT_CONTEXT,
  EXPORT_FORMAT_VERSION,
  EXPORT_MAGIC,
  type ExportFileReason,
  type ExportManifest,
  type ExportSource,
  exportMemory,
  exportMemoryTo,
  type ImportLimits,
  type ImportReport,
  type ImportTarget,
  importMemory,
  MemoryExportError,
  readExportManifest
} from './export.js'
export type { FactQuery, RelateOptions } from './facts.js'
export { CONTENT_KEY_CONTEXT, KEY_BOX_CONTEXT, PRIVATE_SCOPE, PUBLIC_SCOPE } from './keys.js'
export {
  BASIC_SESSION_KV,
  BASIC_SESSION_TRANSCRIPT,
  BasicSessionFormatError,
  type BasicSessionImportOptions,
  type BasicSessionLimits,
  type BasicSessionReport,
  DEFAULT_BASIC_SESSION_LIMITS,
  parseKv,
  parseTranscript,
  type TranscriptEntry
} from './import/basic-session.js'
export { createMemory, Memory, type RelateObject } from './memory.js'
export { KEY_BOX_PATH, MEMORY_PATH } from './replica.js'
export * from './replication/index.js'
export type {
  Correction,
  MemoryChanged,
  MemoryConflict,
  MemoryDamaged,
  MemoryEvents,
  MemoryInit,
  MemoryRemote,
  MemoryVersion,
  Provenance,
  RememberOptions
} from './types.js'
export {
  type ChunkMemory,
  type DocumentMemory,
  type FactMemory,
  type FactObject,
  factObjectText,
  MEMORY_KINDS,
  type MemoryBase,
  type MemoryItem,
  type MemoryKind,
  type MetaValue,
  memoryText,
  type NoteMemory,
  type ProfileMemory,
  type Role,
  type Scope,
  type SessionMemory,
  type TokenCounts,
  type ToolCall,
  type TurnMemory
} from './model.js'
export { DEFAULT_PROFILE_LIMIT, Profile, type ProfileSchema, type ProfileSetOptions } from './profile.js'
export { MAX_TURN_CHARS, SessionHandle, type TurnInit, type TurnsOptions } from './sessions.js'
export {
  BYTES_PER_TOKEN,
  type ContextOptions,
  type ContextResult,
  estimateTokens,
  MAX_CONTEXT_TOKENS
} from './context.js'
export {
  type Embedder,
  type HashingEmbedderInit,
  hashingEmbedder,
  type OpenAIEmbedderInit,
  openAIEmbedder,
  STOP_WORDS
} from './recall/embedder.js'
export { EmbedderError, RecallLimitError } from './recall/errors.js'
export {
  MAX_QUERY_CHARS,
  MAX_RECALL_LIMIT,
  MAX_RELATED_DEPTH,
  type RecallFilters,
  type RecallInit,
  type RecallMode,
  type RecallOptions,
  type RecallResult,
  type RecallStats,
  type RelatedFact,
  type RelatedOptions,
  RRF_K
} from './recall/recall.js'
