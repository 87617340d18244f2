import { AraliyaError, InvalidInputError } from '@araliya/interface'

/** Base class of every error `@araliya/memory` throws. */
export class MemoryError<C extends string = 'ERR_MEMORY'> extends AraliyaError<C> {
  static override readonly code: string = 'ERR_MEMORY'
  override name = 'MemoryError'
}

/** An argument broke the memory model: an empty text, an unknown kind, a bad time range… */
export class InvalidMemoryError extends InvalidInputError<'ERR_MEMORY_INVALID'> {
  static override readonly code: string = 'ERR_MEMORY_INVALID'
  override name = 'InvalidMemoryError'
}

/** No live memory has this id (it never existed here, or it was forgotten). */
export class MemoryNotFoundError extends MemoryError<'ERR_MEMORY_NOT_FOUND'> {
  static override readonly code: string = 'ERR_MEMORY_NOT_FOUND'
  override name = 'MemoryNotFoundError'
  /** The id asked for. */
  readonly id: string
  constructor(id: string, message?: string) {
    super(
      message ?? `no memory with id ${JSON.stringify(id)}: it was never written here, or it was forgotten`
    )
    this.id = id
  }
}

/**
 * This key cannot read the memory: it is a device of the owner whose content key has not reached it
 * yet. The owner must call `memory.addDevice(<this address>)` on one of its devices, and the two must sync.
 */
export class MemoryKeyError extends MemoryError<'ERR_MEMORY_KEY'> {
  static override readonly code: string = 'ERR_MEMORY_KEY'
  override name = 'MemoryKeyError'
}

/**
 * A stored memory could not be decrypted or decoded with the keys this device holds: it was written
 * under a key this device never received, or its bytes are damaged. It is skipped (and reported in the
 * `memory:damaged` event), never trusted.
 */
export class MemoryDecryptError extends MemoryError<'ERR_MEMORY_DECRYPT'> {
  static override readonly code: string = 'ERR_MEMORY_DECRYPT'
  override name = 'MemoryDecryptError'
}

/** A profile block's value is larger than its limit, or does not pass its schema. */
export class ProfileBlockError extends InvalidInputError<'ERR_MEMORY_PROFILE'> {
  static override readonly code: string = 'ERR_MEMORY_PROFILE'
  override name = 'ProfileBlockError'
}

/** Every `code` an error thrown by this package can carry. */
export type MemoryErrorCode =
  | 'ERR_MEMORY'
  | 'ERR_MEMORY_INVALID'
  | 'ERR_MEMORY_NOT_FOUND'
  | 'ERR_MEMORY_KEY'
  | 'ERR_MEMORY_DECRYPT'
  | 'ERR_MEMORY_PROFILE'
  | 'ERR_MEMORY_EMBEDDER'
  | 'ERR_MEMORY_RECALL_LIMIT'
  | 'ERR_MEMORY_REPLICATION'
  | 'ERR_MEMORY_NO_REPLICA'
  | 'ERR_MEMORY_EXPORT'
  | 'ERR_MEMORY_BASIC_SESSION'
