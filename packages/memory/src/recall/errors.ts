import { InvalidInputError } from '@araliya/interface'
import { MemoryError } from '../errors.js'

/**
 * An embedder failed: the server could not be reached, answered with an error, timed out, or returned
 * something that is not one vector of the expected dimension per text. The message says what to check.
 */
export class EmbedderError extends MemoryError<'ERR_MEMORY_EMBEDDER'> {
  static override readonly code: string = 'ERR_MEMORY_EMBEDDER'
  override name = 'EmbedderError'
}

/**
 * A recall or context request asked for more work than is bounded: a query string, a limit, a graph-walk
 * depth or a token budget out of range. Nothing was searched.
 */
export class RecallLimitError extends InvalidInputError<'ERR_MEMORY_RECALL_LIMIT'> {
  static override readonly code: string = 'ERR_MEMORY_RECALL_LIMIT'
  override name = 'RecallLimitError'
}
