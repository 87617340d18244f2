import type { MemoryAccess } from './access.js'
import { InvalidMemoryError } from './errors.js'
import { PRIVATE_SCOPE } from './keys.js'
import type { MetaValue, Role, SessionMemory, TokenCounts, ToolCall, TurnMemory } from './model.js'

const ROLES: readonly Role[] = ['user', 'assistant', 'system', 'tool']
/** Longest turn content, in characters (a longer text belongs in a document). */
export const MAX_TURN_CHARS = 48 * 1024

/** A turn to append. */
export interface TurnInit {
  role: Role
  content: string
  /** When it was said (ms since the epoch). Default: now. */
  time?: number
  tokens?: TokenCounts
  toolCalls?: readonly ToolCall[]
  meta?: Readonly<Record<string, MetaValue>>
}

/** Options of {@link SessionHandle.turns}. */
export interface TurnsOptions {
  /** Only the last `limit` turns (still oldest first). */
  limit?: number
  /** Only turns said before this time (ms since the epoch). */
  before?: number
}

/** One conversation (thread) of the memory: ordered turns. Get one with `memory.session(id)`. */
export class SessionHandle {
  readonly id: string
  readonly #access: MemoryAccess
  readonly #headerId: string

  constructor(access: MemoryAccess, id: string) {
    if (typeof id !== 'string' || id.length === 0 || id.length > 1024) {
      throw new InvalidMemoryError('a session id is a string of 1 to 1024 characters')
    }
    this.#access = access
    this.id = id
    this.#headerId = access.keyedId('session', id, PRIVATE_SCOPE)
  }

  /** Appends a turn; resolves with it once durable. The first turn also records the session header. */
  async append(turn: TurnInit): Promise<TurnMemory> {
    if (!ROLES.includes(turn.role))
      throw new InvalidMemoryError(`a turn's role is one of ${ROLES.join(', ')}`)
    if (typeof turn.content !== 'string') throw new InvalidMemoryError("a turn's content is a string")
    if (turn.content.length > MAX_TURN_CHARS) {
      throw new InvalidMemoryError(
        `a turn is at most ${MAX_TURN_CHARS} characters (this one has ${turn.content.length}): store long text with addDocument()`
      )
    }
    const time = turn.time ?? this.#access.now()
    if (!Number.isFinite(time)) throw new InvalidMemoryError("a turn's time is milliseconds since the epoch")
    const id = this.#access.newId()
    const header = this.#access.item(this.#headerId)
    await this.#access.write([
      ...(header === undefined
        ? [
            {
              id: this.#headerId,
              kind: 'session' as const,
              scope: PRIVATE_SCOPE,
              body: { session: this.id, time }
            }
          ]
        : []),
      {
        id,
        kind: 'turn',
        scope: PRIVATE_SCOPE,
        body: {
          session: this.id,
          role: turn.role,
          content: turn.content,
          time,
          tokens: turn.tokens as never,
          toolCalls: turn.toolCalls as never
        },
        ...(turn.meta === undefined ? {} : { meta: turn.meta })
      }
    ])
    const written = this.#access.item(id)
    if (written?.kind !== 'turn')
      throw new InvalidMemoryError(`the turn ${id} was written but cannot be read back`)
    return written
  }

  /** The session's turns, oldest first (by time, then write order). */
  turns(options: TurnsOptions = {}): TurnMemory[] {
    const entries = [...this.#access.group('turn', this.id)].filter(
      (entry) => entry.live && (options.before === undefined || (entry.time ?? 0) < options.before)
    )
    entries.sort((a, b) => (a.time ?? 0) - (b.time ?? 0) || a.hlc - b.hlc || (a.id < b.id ? -1 : 1))
    const chosen =
      options.limit === undefined ? entries : entries.slice(Math.max(0, entries.length - options.limit))
    const out: TurnMemory[] = []
    for (const entry of chosen) {
      const item = this.#access.item(entry.id)
      if (item?.kind === 'turn') out.push(item)
    }
    return out
  }

  /** The session header (title, start time), once a turn was appended. */
  info(): SessionMemory | undefined {
    const item = this.#access.item(this.#headerId)
    return item?.kind === 'session' ? item : undefined
  }

  /** Sets the session's title. */
  async setTitle(title: string): Promise<void> {
    const time = this.info()?.time ?? this.#access.now()
    await this.#access.write([
      { id: this.#headerId, kind: 'session', scope: PRIVATE_SCOPE, body: { session: this.id, time, title } }
    ])
  }

  /** Warms the last `count` turns into the hot cache. */
  prefetch(count: number): void {
    if (count <= 0) return
    const entries = [...this.#access.group('turn', this.id)].filter((e) => e.live)
    entries.sort((a, b) => (b.time ?? 0) - (a.time ?? 0) || b.hlc - a.hlc)
    this.#access.prefetch(entries.slice(0, count).map((e) => e.id))
  }
}
