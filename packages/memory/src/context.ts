import type { AbortOptions } from '@araliya/interface'
import {
  factObjectText,
  type MemoryItem,
  type MemoryKind,
  type ProfileMemory,
  type TurnMemory
} from './model.js'
import { RecallLimitError } from './recall/errors.js'
import { MAX_QUERY_CHARS, type RecallMode, type RecallOptions, type RecallResult } from './recall/recall.js'

/** Bytes of UTF-8 counted as one token by {@link estimateTokens}. */
export const BYTES_PER_TOKEN = 3
/** Largest `maxTokens` a context may ask for. */
export const MAX_CONTEXT_TOKENS = 2_000_000

const encoder = new TextEncoder()

/**
 * The token estimate every context budget is held to: `ceil(utf8Bytes(text) / 3)`. BPE tokenizers of
 * current models (cl100k, o200k, Llama 3, Mistral) average about 4 bytes of English or code per token, so
 * the estimate counts high for those; text of rare scripts, emoji or random strings can take more tokens
 * than this, so keep headroom in `maxTokens` for such content.
 */
export function estimateTokens(text: string): number {
  return Math.ceil(encoder.encode(text).byteLength / BYTES_PER_TOKEN)
}

/** Options of {@link Memory.context}. */
export interface ContextOptions extends AbortOptions {
  /** The budget, in {@link estimateTokens} tokens: `tokens` is never over it. 1 to 2,000,000. */
  maxTokens: number
  /** The conversation whose recent turns come second. */
  session?: string
  /** Most recent turns of `session` to include, newest kept first. Default 10, at most 1,000. */
  recentTurns?: number
  /** Recalled memories to consider. Default 20. */
  limit?: number
  /** Kinds recalled. Default note, fact, chunk and turn (turns of other sessions or older ones). */
  kinds?: readonly MemoryKind[]
  /** Recall mode. Default `hybrid`. */
  mode?: RecallMode
  /** Valid time of recalled facts (see `RecallOptions.validAt`). Default: now. */
  validAt?: number | null
}

/** What {@link Memory.context} assembled. */
export interface ContextResult {
  /** Profile blocks included (whole, or the last one cut when `profileTruncated`). */
  readonly profile: readonly ProfileMemory[]
  /** True when the profile blocks alone did not fit: blocks after the cut one were left out. */
  readonly profileTruncated: boolean
  /** The session's turns included, oldest first. */
  readonly turns: readonly TurnMemory[]
  /** Recalled memories included, best first. */
  readonly recalled: readonly RecallResult[]
  /** Ids whose text was cut to fit. */
  readonly truncated: readonly string[]
  /** Ids left out for the budget (profile blocks, turns, recalled memories). */
  readonly dropped: readonly string[]
  /** `estimateTokens(text)`: never over `maxTokens`. */
  readonly tokens: number
  /**
   * The context as one text, ready to send as a system message: `# Profile`, `# Conversation` and
   * `# Recalled` sections (empty sections left out), one line per block, turn and memory.
   */
  readonly text: string
}

/** What context assembly reads from the memory. */
export interface ContextSource {
  profile(): ProfileMemory[]
  turns(session: string, count: number): TurnMemory[]
  recall(query: string, options: RecallOptions): Promise<RecallResult[]>
}

interface Parts {
  profile: string[]
  turns: string[]
  recalled: string[]
}

/** The text of the sections, in their fixed order. */
export function renderContext(parts: Parts): string {
  const sections: string[] = []
  if (parts.profile.length > 0) sections.push(`# Profile\n${parts.profile.join('\n')}`)
  if (parts.turns.length > 0) sections.push(`# Conversation\n${parts.turns.join('\n')}`)
  if (parts.recalled.length > 0) sections.push(`# Recalled\n${parts.recalled.join('\n')}`)
  return sections.join('\n\n')
}

const ELLIPSIS = '…'

/**
 * Fits `line` into the parts (pushed onto `list`) within `maxTokens`: whole when it fits, else its longest
 * prefix (whole code points) followed by `…` when that keeps at least `minChars`, else not at all.
 * Returns 'whole', 'cut' or 'none'.
 */
function fit(
  parts: Parts,
  list: string[],
  line: string,
  maxTokens: number,
  minChars: number
): 'whole' | 'cut' | 'none' {
  list.push(line)
  if (estimateTokens(renderContext(parts)) <= maxTokens) return 'whole'
  const points = [...line]
  let lo = 0
  let hi = points.length - 1
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2)
    list[list.length - 1] = points.slice(0, mid).join('') + ELLIPSIS
    if (estimateTokens(renderContext(parts)) <= maxTokens) lo = mid
    else hi = mid - 1
  }
  if (lo >= minChars && lo > 0) {
    list[list.length - 1] = points.slice(0, lo).join('') + ELLIPSIS
    return 'cut'
  }
  list.pop()
  return 'none'
}

function profileLine(block: ProfileMemory): string {
  return `${block.name}: ${block.value}`
}

function turnLine(turn: TurnMemory): string {
  return `${turn.role}: ${turn.content}`
}

function recalledLine(item: MemoryItem): string {
  const text = (() => {
    switch (item.kind) {
      case 'fact': {
        const from = item.validFrom === undefined ? '' : ` from ${new Date(item.validFrom).toISOString()}`
        const to = item.validTo === undefined ? '' : ` until ${new Date(item.validTo).toISOString()}`
        const valid = from === '' && to === '' ? '' : ` (valid${from}${to})`
        return `${item.subject} ${item.relation} ${factObjectText(item.object)}${valid}`
      }
      case 'note':
        return item.text
      case 'turn':
        return `${item.role}: ${item.content}`
      case 'chunk':
        return item.text
      case 'profile':
        return `${item.name}: ${item.value}`
      case 'document':
        return item.title
      case 'session':
        return item.title ?? item.session
    }
  })()
  return `- [${item.kind}] ${text.replace(/\s*\n\s*/g, ' ')}`
}

/**
 * Assembles a context within `maxTokens` (see {@link Memory.context}): profile blocks (by name) first and
 * always — when they alone are over the budget the first block that does not fit is cut and the rest
 * left out (`profileTruncated`) —, then the newest turns of `session` that fit whole, then recalled
 * memories by rank, each cut (keeping at least 32 characters) or left out to fit. The query is clamped to
 * its first 4,096 characters.
 */
export async function assembleContext(
  source: ContextSource,
  query: string,
  options: ContextOptions
): Promise<ContextResult> {
  const { maxTokens } = options
  if (!Number.isSafeInteger(maxTokens) || maxTokens < 1 || maxTokens > MAX_CONTEXT_TOKENS) {
    throw new RecallLimitError(`maxTokens is 1 to ${MAX_CONTEXT_TOKENS}; got ${maxTokens}`)
  }
  const recentTurns = options.recentTurns ?? 10
  if (!Number.isSafeInteger(recentTurns) || recentTurns < 0 || recentTurns > 1000) {
    throw new RecallLimitError(`recentTurns is 0 to 1000; got ${recentTurns}`)
  }
  const parts: Parts = { profile: [], turns: [], recalled: [] }
  const truncated: string[] = []
  const dropped: string[] = []
  const profile: ProfileMemory[] = []
  let profileTruncated = false
  for (const block of source.profile()) {
    if (profileTruncated) {
      dropped.push(block.id)
      continue
    }
    const result = fit(parts, parts.profile, profileLine(block), maxTokens, 1)
    if (result !== 'whole') profileTruncated = true
    if (result === 'none') dropped.push(block.id)
    else profile.push(block)
    if (result === 'cut') truncated.push(block.id)
  }

  const turns: TurnMemory[] = []
  const included = new Set<string>(profile.map((p) => p.id))
  if (options.session !== undefined && recentTurns > 0) {
    const recent = source.turns(options.session, recentTurns)
    const lines: string[] = []
    let full = false
    for (let i = recent.length - 1; i >= 0; i--) {
      const turn = recent[i] as TurnMemory
      if (full) {
        dropped.push(turn.id)
        continue
      }
      parts.turns = [turnLine(turn), ...lines]
      if (estimateTokens(renderContext(parts)) > maxTokens) {
        full = true
        dropped.push(turn.id)
        continue
      }
      lines.unshift(turnLine(turn))
      turns.unshift(turn)
      included.add(turn.id)
    }
    parts.turns = lines
  }
  // Every turn of the session counts as "in context" for recall, even those left out for the budget.
  for (const id of dropped) included.add(id)

  const recalled: RecallResult[] = []
  const clamped = query.length > MAX_QUERY_CHARS ? query.slice(0, MAX_QUERY_CHARS) : query
  if (clamped.trim().length > 0 && estimateTokens(renderContext(parts)) < maxTokens) {
    const found = await source.recall(clamped, {
      limit: options.limit ?? 20,
      kinds: options.kinds ?? ['note', 'fact', 'chunk', 'turn'],
      mode: options.mode ?? 'hybrid',
      ...(options.validAt === undefined ? {} : { validAt: options.validAt }),
      ...(options.signal === undefined ? {} : { signal: options.signal })
    })
    for (const result of found) {
      if (included.has(result.item.id)) continue
      const outcome = fit(parts, parts.recalled, recalledLine(result.item), maxTokens, 32)
      if (outcome === 'none') {
        dropped.push(result.item.id)
        continue
      }
      if (outcome === 'cut') truncated.push(result.item.id)
      recalled.push(result)
    }
  }
  const text = renderContext(parts)
  return {
    profile,
    profileTruncated,
    turns,
    recalled,
    truncated,
    dropped,
    tokens: estimateTokens(text),
    text
  }
}
