import { isPlainMap } from '@araliya/interface'
import type { MemoryAccess, Write } from '../access.js'
import { MemoryError } from '../errors.js'
import { PRIVATE_SCOPE } from '../keys.js'
import type { MemoryItem, Role } from '../model.js'
import { DEFAULT_PROFILE_LIMIT } from '../profile.js'
import { MAX_TURN_CHARS } from '../sessions.js'

/** The file of a `basic_session` store holding its key/value pairs. */
export const BASIC_SESSION_KV = 'kv.json'
/** The file of a `basic_session` store holding its transcript. */
export const BASIC_SESSION_TRANSCRIPT = 'transcript.md'
/** Default bounds of {@link importBasicSession}. */
export const DEFAULT_BASIC_SESSION_LIMITS: Readonly<BasicSessionLimits> = Object.freeze({
  maxFileBytes: 16 * 1024 * 1024,
  maxEntries: 50_000
})

const ROLES: ReadonlySet<string> = new Set(['user', 'assistant', 'system', 'tool'])
const KEY_FIELDS = ['key', 'k', 'name', 'id'] as const
const VALUE_FIELDS = ['value', 'v', 'val', 'data', 'content', 'text'] as const
const PROFILE_NAME = /^[A-Za-z0-9_.-]{1,64}$/
const MAX_NOTE_CHARS = 48 * 1024
const MAX_KV_KEY_CHARS = 1024
/** Marks what an import wrote (in each memory's `meta`). */
const IMPORTED_FROM = 'basic_session'

/** Bounds of a `basic_session` import. */
export interface BasicSessionLimits {
  /** Largest `kv.json` or `transcript.md` read, in bytes. Default 16 MiB. */
  maxFileBytes: number
  /** Most transcript entries, and most key/value pairs. Default 50,000 each. */
  maxEntries: number
}

/** Options of {@link importBasicSession}. */
export interface BasicSessionImportOptions {
  /** The session id the transcript's turns go to. Default: the store directory's name. */
  session?: string
  /**
   * Where the key/value pairs go: `notes` (default) — one keyed note per pair (the key is the note's
   * `key`, so `remember(text, { key })` updates it later); `profile` — one profile block per pair (keys
   * must be valid block names); `skip` — not imported.
   */
  kv?: 'notes' | 'profile' | 'skip'
  /**
   * Transcript roles that are not `user`, `assistant`, `system` or `tool`, mapped to one of those
   * (compared case-insensitively, e.g. `{ bot: 'assistant', human: 'user' }`). A role neither known nor
   * mapped is refused with {@link BasicSessionFormatError}: a turn's role decides how a model reads it,
   * so it is never guessed.
   */
  roles?: Readonly<Record<string, Role>>
  /** Tags of the notes made from key/value pairs. Default `['basic_session']`. */
  tags?: readonly string[]
  limits?: Partial<BasicSessionLimits>
}

/** What an import of a `basic_session` store did. */
export interface BasicSessionReport {
  readonly session: string
  /** Transcript entries found. */
  readonly turns: number
  /** Key/value pairs found. */
  readonly pairs: number
  /** Memories written (new, or changed since an earlier import). */
  readonly written: number
  /** Memories that were already there as the store has them (an earlier import). */
  readonly unchanged: number
  /** Pairs with an empty value, and text before the transcript's first header: not imported. */
  readonly skipped: number
}

/** One transcript entry as parsed. */
export interface TranscriptEntry {
  readonly role: string
  /** As written (may be empty). */
  readonly timestamp: string
  readonly content: string
}

/**
 * A `basic_session` store could not be imported: a file is malformed, of an unknown shape, too large,
 * or uses a role that is not mapped. `file` names which; nothing was written.
 */
export class BasicSessionFormatError extends MemoryError<'ERR_MEMORY_BASIC_SESSION'> {
  static override readonly code: string = 'ERR_MEMORY_BASIC_SESSION'
  override name = 'BasicSessionFormatError'
  readonly file: string
  constructor(file: string, message: string, options?: ErrorOptions) {
    super(`${file}: ${message}`, options)
    this.file = file
  }
}

/**
 * Parses a `basic_session` transcript: entries start at lines `### {role} — {timestamp}` (an em dash
 * between spaces); a header without ` — ` is all role, with an empty timestamp. The content is the lines
 * up to the next `### ` line, without the blank line after the header and trailing blank lines. Text
 * before the first header is returned as `preamble`.
 */
export function parseTranscript(text: string): { entries: TranscriptEntry[]; preamble: string } {
  const lines = text.replace(/\r\n?/g, '\n').split('\n')
  const entries: TranscriptEntry[] = []
  const preamble: string[] = []
  let current: { role: string; timestamp: string; lines: string[] } | undefined
  const flush = (): void => {
    if (current === undefined) return
    const body = current.lines
    if (body.length > 0 && body[0]?.trim() === '') body.shift()
    while (body.length > 0 && body[body.length - 1]?.trim() === '') body.pop()
    entries.push({ role: current.role, timestamp: current.timestamp, content: body.join('\n') })
  }
  for (const line of lines) {
    if (line.startsWith('### ')) {
      flush()
      const header = line.slice(4).trim()
      const dash = header.indexOf(' — ')
      current =
        dash < 0
          ? { role: header, timestamp: '', lines: [] }
          : { role: header.slice(0, dash).trim(), timestamp: header.slice(dash + 3).trim(), lines: [] }
    } else if (current === undefined) {
      preamble.push(line)
    } else {
      current.lines.push(line)
    }
  }
  flush()
  return { entries, preamble: preamble.join('\n').trim() }
}

/**
 * Parses a `basic_session` `kv.json`, either shape: `{ cap, order: [keys], values: { key: value } }`
 * (newer; pairs in `order`, then keys `order` misses, sorted) or `{ entries: [{ key, value }], cap }`
 * (older; the key may be called `key`, `k`, `name` or `id`, the value `value`, `v`, `val`, `data`,
 * `content` or `text`). A value that is not a string is kept as its JSON text. Any other shape throws.
 */
export function parseKv(text: string): Array<{ key: string; value: string }> {
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch (error) {
    throw new BasicSessionFormatError(BASIC_SESSION_KV, `not JSON: ${(error as Error).message}`, {
      cause: error
    })
  }
  const fail = (what: string): never => {
    throw new BasicSessionFormatError(BASIC_SESSION_KV, what)
  }
  if (!isPlainMap(data)) return fail('not a JSON object')
  const asText = (value: unknown): string =>
    typeof value === 'string' ? value : (JSON.stringify(value) ?? '')
  if (isPlainMap(data.values)) {
    const values = data.values
    const order = data.order ?? []
    if (!Array.isArray(order) || !order.every((k) => typeof k === 'string'))
      fail('"order" is not a list of keys')
    const keys = [...new Set(order as string[])].filter((k) => Object.hasOwn(values, k))
    const rest = Object.keys(values)
      .filter((k) => !keys.includes(k))
      .sort()
    return [...keys, ...rest].map((key) => ({ key, value: asText(values[key]) }))
  }
  if (Array.isArray(data.entries)) {
    return data.entries.map((entry, index) => {
      if (!isPlainMap(entry)) return fail(`entry ${index} is not an object`)
      const keyField = KEY_FIELDS.find((f) => typeof entry[f] === 'string')
      const valueField = VALUE_FIELDS.find((f) => entry[f] !== undefined)
      if (keyField === undefined || valueField === undefined) {
        return fail(
          `entry ${index} has no key (${KEY_FIELDS.join(', ')}) or value (${VALUE_FIELDS.join(', ')}) field; it has ${Object.keys(entry).join(', ') || 'none'}`
        )
      }
      return { key: entry[keyField] as string, value: asText(entry[valueField]) }
    })
  }
  return fail(
    `unknown shape (fields ${Object.keys(data).join(', ') || 'none'}): expected { order, values } or { entries }`
  )
}

/**
 * Imports an Araliya Bot `basic_session` store (a directory with `kv.json` and `transcript.md`) into a
 * memory: the transcript becomes the turns of one session, the pairs keyed notes or profile blocks.
 * Ids are derived from the session id and entry position (turns) or the key (pairs), so importing the
 * same store again writes nothing, and importing a store that grew adds only what is new. Everything
 * is checked before anything is written.
 */
export async function importBasicSession(
  access: MemoryAccess,
  dir: string,
  options: BasicSessionImportOptions = {}
): Promise<BasicSessionReport> {
  // node:fs and node:path are loaded here, so the package still loads where there is no file system
  const { basename, join, resolve } = await import('node:path')
  const limits = { ...DEFAULT_BASIC_SESSION_LIMITS, ...options.limits }
  const session = options.session ?? basename(resolve(dir))
  if (session.length === 0 || session.length > 1024) {
    throw new BasicSessionFormatError(dir, 'a session id is 1 to 1024 characters (pass { session })')
  }
  const kvText = await readBounded(join(dir, BASIC_SESSION_KV), BASIC_SESSION_KV, limits.maxFileBytes)
  const transcriptText = await readBounded(
    join(dir, BASIC_SESSION_TRANSCRIPT),
    BASIC_SESSION_TRANSCRIPT,
    limits.maxFileBytes
  )
  if (kvText === undefined && transcriptText === undefined) {
    throw new BasicSessionFormatError(
      dir,
      `not a basic_session store: neither ${BASIC_SESSION_KV} nor ${BASIC_SESSION_TRANSCRIPT} is there`
    )
  }
  const pairs = kvText === undefined || options.kv === 'skip' ? [] : parseKv(kvText)
  if (pairs.length > limits.maxEntries) {
    throw new BasicSessionFormatError(
      BASIC_SESSION_KV,
      `${pairs.length} pairs; the limit is ${limits.maxEntries}`
    )
  }
  const transcript =
    transcriptText === undefined ? { entries: [], preamble: '' } : parseTranscript(transcriptText)
  if (transcript.entries.length > limits.maxEntries) {
    throw new BasicSessionFormatError(
      BASIC_SESSION_TRANSCRIPT,
      `${transcript.entries.length} entries; the limit is ${limits.maxEntries}`
    )
  }

  const writes: Write[] = []
  let unchanged = 0
  let skipped = transcript.preamble.length > 0 ? 1 : 0
  const meta = { importedFrom: IMPORTED_FROM }
  const push = (write: Write, same: (item: MemoryItem) => boolean): void => {
    const existing = access.item(write.id)
    if (existing !== undefined && existing.kind === write.kind && same(existing)) unchanged++
    else writes.push(write)
  }

  // turns
  const roles = new Map<string, Role>()
  for (const [from, to] of Object.entries(options.roles ?? {})) {
    if (!ROLES.has(to))
      throw new BasicSessionFormatError(dir, `option roles maps "${from}" to "${to}", not a role`)
    roles.set(from.toLowerCase(), to)
  }
  const times = turnTimes(transcript.entries)
  transcript.entries.forEach((entry, index) => {
    const role = toRole(entry.role, roles, index)
    if (entry.content.length > MAX_TURN_CHARS) {
      throw new BasicSessionFormatError(
        BASIC_SESSION_TRANSCRIPT,
        `entry ${index} (${entry.role}) has ${entry.content.length} characters; a turn holds at most ${MAX_TURN_CHARS}`
      )
    }
    const time = times[index] as number
    const body = { session, role, content: entry.content, time }
    push(
      {
        id: access.keyedId('turn', `${IMPORTED_FROM}\u0000${session}\u0000${index}`, PRIVATE_SCOPE),
        kind: 'turn',
        scope: PRIVATE_SCOPE,
        body,
        meta: { ...meta, ...(entry.timestamp === '' ? {} : { timestamp: entry.timestamp }) }
      },
      (item) =>
        item.kind === 'turn' && item.role === role && item.content === entry.content && item.time === time
    )
  })
  if (transcript.entries.length > 0) {
    const headerId = access.keyedId('session', session, PRIVATE_SCOPE)
    if (access.item(headerId) === undefined) {
      writes.unshift({
        id: headerId,
        kind: 'session',
        scope: PRIVATE_SCOPE,
        body: { session, time: times[0] as number },
        meta
      })
    }
  }

  // pairs
  const tags = [...(options.tags ?? [IMPORTED_FROM])]
  for (const { key, value } of pairs) {
    if (key.length === 0 || key.length > MAX_KV_KEY_CHARS) {
      throw new BasicSessionFormatError(BASIC_SESSION_KV, `a key is 1 to ${MAX_KV_KEY_CHARS} characters`)
    }
    if (value.trim().length === 0) {
      skipped++
      continue
    }
    if (options.kv === 'profile') {
      if (!PROFILE_NAME.test(key)) {
        throw new BasicSessionFormatError(
          BASIC_SESSION_KV,
          `"${key}" cannot name a profile block (1 to 64 characters A-Z, a-z, 0-9, "_", "." or "-"): import the pairs as notes`
        )
      }
      if (value.length > 32_768) {
        throw new BasicSessionFormatError(BASIC_SESSION_KV, `the value of "${key}" is over 32768 characters`)
      }
      const limit = Math.max(DEFAULT_PROFILE_LIMIT, value.length)
      push(
        {
          id: access.keyedId('profile', key.toLowerCase(), PRIVATE_SCOPE),
          kind: 'profile',
          scope: PRIVATE_SCOPE,
          body: { name: key, value, limit },
          meta
        },
        (item) => item.kind === 'profile' && item.value === value
      )
    } else {
      if (value.length > MAX_NOTE_CHARS) {
        throw new BasicSessionFormatError(
          BASIC_SESSION_KV,
          `the value of "${key}" has ${value.length} characters; a note holds at most ${MAX_NOTE_CHARS}`
        )
      }
      push(
        {
          id: access.keyedId('note', key, PRIVATE_SCOPE),
          kind: 'note',
          scope: PRIVATE_SCOPE,
          body: { text: value, tags, key },
          meta
        },
        (item) => item.kind === 'note' && item.text === value
      )
    }
  }

  if (writes.length > 0) await access.write(writes)
  return {
    session,
    turns: transcript.entries.length,
    pairs: pairs.length,
    written: writes.length,
    unchanged,
    skipped
  }
}

function toRole(role: string, mapped: ReadonlyMap<string, Role>, index: number): Role {
  const lower = role.trim().toLowerCase()
  if (ROLES.has(lower)) return lower as Role
  const to = mapped.get(lower)
  if (to !== undefined) return to
  throw new BasicSessionFormatError(
    BASIC_SESSION_TRANSCRIPT,
    `entry ${index} has the role "${role}"; map it with { roles: { ${JSON.stringify(lower)}: 'assistant' } } (or user, system, tool)`
  )
}

/**
 * Each entry's time in ms: its timestamp, kept strictly increasing (at least 1 ms after the entry
 * before, so the transcript's order survives equal or missing timestamps). An entry without a valid
 * timestamp takes the one before it (+1 ms), or the first valid one after it, or 0.
 */
function turnTimes(entries: readonly TranscriptEntry[]): number[] {
  const parsed = entries.map((entry) => (entry.timestamp === '' ? Number.NaN : Date.parse(entry.timestamp)))
  const first = parsed.find((t) => Number.isFinite(t)) ?? 0
  const out: number[] = []
  let previous = Number.NEGATIVE_INFINITY
  for (const t of parsed) {
    const time = Number.isFinite(t)
      ? Math.max(t, previous + 1)
      : Number.isFinite(previous)
        ? previous + 1
        : first
    out.push(time)
    previous = time
  }
  return out
}

async function readBounded(path: string, name: string, max: number): Promise<string | undefined> {
  const { readFile, stat } = await import('node:fs/promises')
  let size: number
  try {
    size = (await stat(path)).size
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
  if (size > max) throw new BasicSessionFormatError(name, `${size} bytes; the limit is ${max}`)
  const text = await readFile(path, 'utf8')
  if (new TextEncoder().encode(text).byteLength > max)
    throw new BasicSessionFormatError(name, `over ${max} bytes`)
  return text
}
