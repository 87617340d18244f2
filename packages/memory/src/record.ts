import { type CanonicalValue, decodeCanonical, encodeCanonical } from '@araliya/identity'
import { isByteString, isPlainMap, isSafeUint, isText } from '@araliya/interface'
import { MemoryDecryptError } from './errors.js'
import { base64url, fromBase64url, VERSION_BYTES } from './keys.js'
import { MEMORY_KINDS, type MemoryItem, type MemoryKind, type MetaValue } from './model.js'

/**
 * What is encrypted into a memory soul's `v` field: one version of one memory. Field names are short
 * because every memory carries them; the body's fields are the item's own (see model.ts).
 */
export interface StoredRecord {
  /** Record format version. */
  readonly v: 1
  readonly k: MemoryKind
  /** This version's id (11 characters: 8 random bytes, stored as those bytes). */
  readonly ver: string
  /** Versions this one supersedes (left out of the encoding when empty). */
  readonly sup: readonly string[]
  /** True when this version forgets the memory (a tombstone that keeps the history). */
  readonly del?: true
  readonly dev?: string
  readonly src?: string
  readonly meta?: Readonly<Record<string, MetaValue>>
  /** The kind's own fields. */
  readonly b: Readonly<Record<string, CanonicalValue>>
}

/** Largest plaintext record, in bytes: what fits a graph value once sealed. */
export const MAX_RECORD_BYTES = 60 * 1024
const RECORD_KEYS = new Set(['v', 'k', 'ver', 'sup', 'del', 'dev', 'src', 'meta', 'b'])
const MAX_SUPERSEDES = 64

/**
 * Records sit inside authenticated ciphertext, never signed or hashed on their own, so their byte form
 * carries no meaning: they are decoded strictly but without the re-encoding check (re-encoding every
 * synced record to compare it cost a fifth of a sync).
 */
const DECODE_LIMITS = { maxBytes: MAX_RECORD_BYTES, maxDepth: 8, requireCanonical: false } as const

/**
 * Encodes a record. Version ids travel as their 8 bytes, and an empty supersedes list not at all; a
 * sealed record leaves its version out (the nonce carries it): every memory carries these, so together
 * they are a tenth of a small memory's bytes on the wire.
 */
export function encodeRecord(record: StoredRecord, versionInNonce: boolean): Uint8Array {
  const wire = {
    ...record,
    ver: versionInNonce ? undefined : versionBytes(record.ver),
    sup: record.sup.length === 0 ? undefined : record.sup.map(versionBytes)
  }
  return encodeCanonical(stripUndefined(wire) as CanonicalValue)
}

/** Bytes of a version id. */
export function versionBytes(version: string): Uint8Array {
  const bytes = fromBase64url(version)
  if (bytes?.byteLength !== VERSION_BYTES) throw new TypeError(`not a version id: ${JSON.stringify(version)}`)
  return bytes
}

/** The record as decoding its encoding gives it back (absent optional fields left out, a fresh copy). */
export function cleanRecord(record: StoredRecord): StoredRecord {
  return stripUndefined(record) as StoredRecord
}

/** Canonical CBOR has no `undefined`: optional fields that are absent are left out. */
function stripUndefined(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripUndefined)
  if (isPlainMap(value)) {
    const out: Record<string, unknown> = {}
    for (const [key, entry] of Object.entries(value))
      if (entry !== undefined) out[key] = stripUndefined(entry)
    return out
  }
  return value
}

/**
 * Decodes and checks a record. A record is written by the owner or one of its devices, but a buggy or
 * compromised device could write anything its grant allows, so every field is checked and anything
 * malformed is a {@link MemoryDecryptError} (the memory is skipped and reported, never half-trusted).
 */
export function decodeRecord(soul: string, bytes: Uint8Array, nonceVersion?: Uint8Array): StoredRecord {
  let value: CanonicalValue
  try {
    value = decodeCanonical(bytes, DECODE_LIMITS)
  } catch (cause) {
    throw new MemoryDecryptError(`${soul}: the stored record is not valid CBOR`, { cause })
  }
  const bad = (why: string) => new MemoryDecryptError(`${soul}: malformed memory record: ${why}`)
  if (!isPlainMap(value)) throw bad('not a map')
  for (const key of Object.keys(value))
    if (!RECORD_KEYS.has(key)) throw bad(`unknown field ${key.slice(0, 16)}`)
  const record = value as Record<string, CanonicalValue>
  if (record.v !== 1) throw bad(`format ${String(record.v)} (upgrade @araliya/memory)`)
  if (!MEMORY_KINDS.includes(record.k as MemoryKind)) throw bad('unknown kind')
  const ver = nonceVersion ?? record.ver
  if (!isByteString(ver, VERSION_BYTES) || (nonceVersion !== undefined && record.ver !== undefined)) {
    throw bad('version id')
  }
  const sup = record.sup ?? []
  if (
    !Array.isArray(sup) ||
    (sup.length === 0) !== (record.sup === undefined) ||
    sup.length > MAX_SUPERSEDES ||
    !sup.every((s) => isByteString(s, VERSION_BYTES))
  )
    throw bad('supersedes')
  if (record.del !== undefined && record.del !== true) throw bad('del')
  if (record.dev !== undefined && !isText(record.dev, 1, 128)) throw bad('device')
  if (record.src !== undefined && !isText(record.src, 1, 64)) throw bad('source')
  if (record.meta !== undefined && !isPlainMap(record.meta)) throw bad('meta')
  if (!isPlainMap(record.b)) throw bad('body')
  return {
    ...record,
    ver: base64url(ver),
    sup: (sup as Uint8Array[]).map(base64url)
  } as unknown as StoredRecord
}

/** What the graph says about a stored version: who signed it and when. */
export interface VersionStamp {
  readonly id: string
  readonly scope: string
  readonly writer: string
  readonly hlc: number
  readonly writtenAt: number
}

const str = (value: CanonicalValue | undefined, max = 65_536): string | undefined =>
  isText(value, 0, max) ? value : undefined
const num = (value: CanonicalValue | undefined): number | undefined =>
  typeof value === 'number' && Number.isFinite(value) ? value : undefined

/**
 * Builds the item an app reads from a live (not forgotten) record, checking the kind's own fields.
 *
 * @throws {MemoryDecryptError} when a field the kind needs is missing or malformed
 */
export function toItem(soul: string, record: StoredRecord, stamp: VersionStamp): MemoryItem {
  const b = record.b
  const bad = (field: string) => new MemoryDecryptError(`${soul}: malformed ${record.k} memory: ${field}`)
  const base = {
    id: stamp.id,
    version: record.ver,
    supersedes: record.sup,
    writer: stamp.writer,
    hlc: stamp.hlc,
    writtenAt: stamp.writtenAt,
    scope: stamp.scope,
    ...(record.dev === undefined ? {} : { device: record.dev }),
    ...(record.src === undefined ? {} : { source: record.src }),
    ...(record.meta === undefined ? {} : { meta: record.meta })
  }
  switch (record.k) {
    case 'note': {
      const text = str(b.text)
      const tags = b.tags ?? []
      if (text === undefined) throw bad('text')
      if (!Array.isArray(tags) || !tags.every((t) => isText(t, 1, 128))) throw bad('tags')
      const key = str(b.key, 1024)
      return { ...base, kind: 'note', text, tags: tags as string[], ...(key === undefined ? {} : { key }) }
    }
    case 'turn': {
      const session = str(b.session, 1024)
      const content = str(b.content)
      const time = num(b.time)
      const role = b.role
      if (session === undefined || content === undefined || time === undefined)
        throw bad('session, content or time')
      if (role !== 'user' && role !== 'assistant' && role !== 'system' && role !== 'tool') throw bad('role')
      const tokens = b.tokens
      const toolCalls = b.toolCalls
      if (tokens !== undefined && !isPlainMap(tokens)) throw bad('tokens')
      if (toolCalls !== undefined && !(Array.isArray(toolCalls) && toolCalls.every(isToolCall)))
        throw bad('toolCalls')
      return {
        ...base,
        kind: 'turn',
        session,
        role,
        content,
        time,
        ...(tokens === undefined ? {} : { tokens: tokens as never }),
        ...(toolCalls === undefined ? {} : { toolCalls: toolCalls as never })
      }
    }
    case 'session': {
      const session = str(b.session, 1024)
      const time = num(b.time)
      if (session === undefined || time === undefined) throw bad('session or time')
      const title = str(b.title, 1024)
      return { ...base, kind: 'session', session, time, ...(title === undefined ? {} : { title }) }
    }
    case 'fact': {
      const subject = str(b.subject, 1024)
      const relation = str(b.relation, 1024)
      const object = b.object
      if (subject === undefined || relation === undefined) throw bad('subject or relation')
      const objectOk =
        typeof object === 'string' ||
        typeof object === 'boolean' ||
        (typeof object === 'number' && Number.isFinite(object)) ||
        (isPlainMap(object) && isText(object.ref, 1, 1024) && Object.keys(object).length === 1)
      if (!objectOk) throw bad('object')
      if (typeof b.single !== 'boolean') throw bad('single')
      const validFrom = num(b.validFrom)
      const validTo = num(b.validTo)
      const confidence = num(b.confidence)
      return {
        ...base,
        kind: 'fact',
        subject,
        relation,
        object: object as never,
        single: b.single,
        ...(validFrom === undefined ? {} : { validFrom }),
        ...(validTo === undefined ? {} : { validTo }),
        ...(confidence === undefined ? {} : { confidence })
      }
    }
    case 'profile': {
      const name = str(b.name, 128)
      const value = str(b.value)
      const limit = b.limit
      if (name === undefined || value === undefined || !isSafeUint(limit)) throw bad('name, value or limit')
      return { ...base, kind: 'profile', name, value, limit }
    }
    case 'document': {
      const title = str(b.title, 1024)
      const chunks = b.chunks
      if (title === undefined || !isSafeUint(chunks)) throw bad('title or chunks')
      const uri = str(b.uri, 4096)
      return { ...base, kind: 'document', title, chunks, ...(uri === undefined ? {} : { uri }) }
    }
    case 'chunk': {
      const document = str(b.document, 64)
      const text = str(b.text)
      const index = b.index
      if (document === undefined || text === undefined || !isSafeUint(index))
        throw bad('document, index or text')
      return { ...base, kind: 'chunk', document, index, text }
    }
  }
}

function isToolCall(value: CanonicalValue): boolean {
  return (
    isPlainMap(value) &&
    isText(value.id, 0, 256) &&
    isText(value.name, 1, 256) &&
    isText(value.arguments, 0, 65_536) &&
    (value.result === undefined || isText(value.result, 0, 65_536))
  )
}
