import type { MemoryAccess, Write } from './access.js'
import { InvalidMemoryError } from './errors.js'
import { checkScope, PRIVATE_SCOPE } from './keys.js'
import type { DocumentMemory, MetaValue } from './model.js'

/** Default chunk size, in characters. */
export const DEFAULT_CHUNK_CHARS = 1500
/** Largest document accepted in one call, in characters. */
export const MAX_DOCUMENT_CHARS = 16 * 1024 * 1024

/** A document to store. */
export interface DocumentInit {
  title: string
  text: string
  uri?: string
  /** Target chunk size in characters (chunks end at a paragraph, sentence or word boundary). Default 1500. */
  chunkChars?: number
  scope?: string
  meta?: Readonly<Record<string, MetaValue>>
}

/**
 * Splits text into chunks of at most `size` characters, preferring to end at a blank line, then a line
 * end, then a sentence end, then a space; never splits inside a surrogate pair.
 */
export function chunkText(text: string, size = DEFAULT_CHUNK_CHARS): string[] {
  const out: string[] = []
  let start = 0
  while (start < text.length) {
    let end = Math.min(text.length, start + size)
    if (end < text.length) {
      const window = text.slice(start, end)
      const cut = [
        window.lastIndexOf('\n\n'),
        window.lastIndexOf('\n'),
        sentenceEnd(window),
        window.lastIndexOf(' ')
      ].find((at) => at > size / 2)
      if (cut !== undefined) end = start + cut + 1
      const code = text.charCodeAt(end - 1)
      if (code >= 0xd800 && code <= 0xdbff) end -= 1
    }
    const chunk = text.slice(start, end).trim()
    if (chunk.length > 0) out.push(chunk)
    start = end
  }
  return out
}

function sentenceEnd(window: string): number {
  const match = /[.!?]\s[^.!?]*$/.exec(window)
  return match === null ? -1 : match.index + 1
}

/** Stores a document and its chunks (see `Memory.addDocument`). */
export async function addDocument(access: MemoryAccess, init: DocumentInit): Promise<DocumentMemory> {
  if (typeof init.title !== 'string' || init.title.trim().length === 0 || init.title.length > 1024) {
    throw new InvalidMemoryError("a document's title is a non-empty string of at most 1024 characters")
  }
  if (typeof init.text !== 'string' || init.text.trim().length === 0)
    throw new InvalidMemoryError("a document's text is a non-empty string")
  if (init.text.length > MAX_DOCUMENT_CHARS) {
    throw new InvalidMemoryError(
      `a document is at most ${MAX_DOCUMENT_CHARS} characters; split this one (${init.text.length})`
    )
  }
  const size = init.chunkChars ?? DEFAULT_CHUNK_CHARS
  if (!Number.isSafeInteger(size) || size < 100 || size > 16_384)
    throw new InvalidMemoryError('chunkChars is 100 to 16384')
  const scope = checkScope(init.scope ?? PRIVATE_SCOPE)
  const id = access.newId()
  const chunks = chunkText(init.text, size)
  const writes: Write[] = [
    {
      id,
      kind: 'document',
      scope,
      supersedes: [],
      body: { title: init.title, uri: init.uri, chunks: chunks.length },
      ...(init.meta === undefined ? {} : { meta: init.meta })
    },
    ...chunks.map((text, index) => ({
      id: access.newId(),
      kind: 'chunk' as const,
      scope,
      supersedes: [],
      body: { document: id, index, text }
    }))
  ]
  await access.write(writes)
  const written = access.item(id)
  if (written?.kind !== 'document')
    throw new InvalidMemoryError(`the document ${id} was written but cannot be read back`)
  return written
}
