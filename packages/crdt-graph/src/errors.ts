import { AraliyaError, InvalidInputError } from '@araliya/interface'

/** Base class of every error `@araliya/crdt-graph` throws. */
export class GraphError<C extends string = 'ERR_GRAPH'> extends AraliyaError<C> {
  static override readonly code: string = 'ERR_GRAPH'
  override name = 'GraphError'
}

/** A soul, field name or value broke the data model (see the package README). */
export class InvalidGraphInputError extends InvalidInputError<'ERR_GRAPH_INVALID_INPUT'> {
  static override readonly code: string = 'ERR_GRAPH_INVALID_INPUT'
  override name = 'InvalidGraphInputError'
}

/** Bytes that should hold a commit or a sync message could not be decoded. */
export class CommitFormatError extends InvalidInputError<'ERR_GRAPH_COMMIT_FORMAT'> {
  static override readonly code: string = 'ERR_GRAPH_COMMIT_FORMAT'
  override name = 'CommitFormatError'
}

/** A commit's signature does not verify against its author's key. */
export class InvalidSignatureError extends GraphError<'ERR_GRAPH_SIGNATURE'> {
  static override readonly code: string = 'ERR_GRAPH_SIGNATURE'
  override name = 'InvalidSignatureError'
}

/**
 * A clock stamp lies further in the future than `maxClockSkewMs` allows. Nothing is parked: the commit
 * is dropped and the peer will offer it again on a later sync, when it is no longer in the future.
 */
export class ClockSkewError extends GraphError<'ERR_GRAPH_CLOCK_SKEW'> {
  static override readonly code: string = 'ERR_GRAPH_CLOCK_SKEW'
  override name = 'ClockSkewError'
  /** How far ahead of the local clock the stamp was, in milliseconds. */
  readonly aheadMs: number
  constructor(message: string, aheadMs: number, options?: { cause?: unknown }) {
    super(message, options)
    this.aheadMs = aheadMs
  }
}

/** A key tried to write into a space it neither owns nor holds a valid grant for. */
export class UnauthorizedWriteError extends GraphError<'ERR_GRAPH_UNAUTHORIZED'> {
  static override readonly code: string = 'ERR_GRAPH_UNAUTHORIZED'
  override name = 'UnauthorizedWriteError'
}

/**
 * A commit claims a position behind what its writer had already claimed or seen: a stamp not above the
 * previous commit of its chain or the owner commit it declares it had seen, or an owner-chain position
 * behind its chain's. Honest writers never sign such a commit (their clock only moves forward and observes
 * every accepted commit), so it was backdated; it is refused as a whole.
 */
export class BackdatedCommitError extends GraphError<'ERR_GRAPH_BACKDATED'> {
  static override readonly code: string = 'ERR_GRAPH_BACKDATED'
  override name = 'BackdatedCommitError'
}

/** A commit was rejected for breaking a chain rule (wrong `prev`, bad sequence number, …). */
export class ChainError extends GraphError<'ERR_GRAPH_CHAIN'> {
  static override readonly code: string = 'ERR_GRAPH_CHAIN'
  override name = 'ChainError'
}

/** A store problem. */
export class StoreError<C extends string = 'ERR_GRAPH_STORE'> extends GraphError<C> {
  static override readonly code: string = 'ERR_GRAPH_STORE'
  override name = 'StoreError'
}

/** Another process (or another open handle) holds the store. */
export class StoreLockedError extends StoreError<'ERR_GRAPH_STORE_LOCKED'> {
  static override readonly code: string = 'ERR_GRAPH_STORE_LOCKED'
  override name = 'StoreLockedError'
}

/** The store (or the graph) is not open: call `start()` first, or do not use it after `stop()`. */
export class StoreClosedError extends StoreError<'ERR_GRAPH_STORE_CLOSED'> {
  static override readonly code: string = 'ERR_GRAPH_STORE_CLOSED'
  override name = 'StoreClosedError'
}

/** Stored data could not be read back; the damaged entries were skipped. */
export class StoreCorruptError extends StoreError<'ERR_GRAPH_STORE_CORRUPT'> {
  static override readonly code: string = 'ERR_GRAPH_STORE_CORRUPT'
  override name = 'StoreCorruptError'
}

/** A sync message broke the protocol (unknown version or type, bad shape). */
export class SyncProtocolError<C extends string = 'ERR_GRAPH_SYNC_PROTOCOL'> extends InvalidInputError<C> {
  static override readonly code: string = 'ERR_GRAPH_SYNC_PROTOCOL'
  override name = 'SyncProtocolError'
}

/**
 * A sync message holds more entries (commits, version-vector entries, CBOR items) than the receiver's
 * limit allows. It is refused as soon as the count passes the limit, before the entries are decoded, so
 * refusing it costs about `limit` steps whatever its size. The sender should split its batches (senders
 * of this package put at most 1,024 commits in a message); raise the limit only for peers you trust.
 */
export class TooManyEntriesError extends SyncProtocolError<'ERR_GRAPH_SYNC_TOO_MANY_ENTRIES'> {
  static override readonly code: string = 'ERR_GRAPH_SYNC_TOO_MANY_ENTRIES'
  override name = 'TooManyEntriesError'
  /** How many entries were counted when the message was refused (at least `limit + 1`). */
  readonly count: number
  /** The configured limit. */
  readonly limit: number
  constructor(what: string, count: number, limit: number) {
    super(
      `${what} holds at least ${count} entries, over the limit of ${limit}; the sender must split it ` +
        '(or raise the limit option for a peer you trust)'
    )
    this.count = count
    this.limit = limit
  }
}

/**
 * Every `code` an error of this package carries, so `switch (err.code)` over them narrows.
 *
 * @example
 * ```ts
 * import { GraphError, type GraphErrorCode } from '@araliya/crdt-graph'
 *
 * function explain(err: GraphError<GraphErrorCode>): string {
 *   switch (err.code) {
 *     case 'ERR_GRAPH_UNAUTHORIZED':
 *       return 'ask the owner for a grant'
 *     default:
 *       return err.message
 *   }
 * }
 * ```
 */
export type GraphErrorCode =
  | 'ERR_GRAPH'
  | 'ERR_GRAPH_INVALID_INPUT'
  | 'ERR_GRAPH_COMMIT_FORMAT'
  | 'ERR_GRAPH_SIGNATURE'
  | 'ERR_GRAPH_CLOCK_SKEW'
  | 'ERR_GRAPH_UNAUTHORIZED'
  | 'ERR_GRAPH_BACKDATED'
  | 'ERR_GRAPH_CHAIN'
  | 'ERR_GRAPH_STORE'
  | 'ERR_GRAPH_STORE_LOCKED'
  | 'ERR_GRAPH_STORE_CLOSED'
  | 'ERR_GRAPH_STORE_CORRUPT'
  | 'ERR_GRAPH_SYNC_PROTOCOL'
  | 'ERR_GRAPH_SYNC_TOO_MANY_ENTRIES'
