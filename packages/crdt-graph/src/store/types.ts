import type { AbortOptions } from '@araliya/interface'

/** One accepted commit as a store keeps it. */
export interface StoredCommit {
  /** sha256 of the signed body. */
  readonly id: Uint8Array
  readonly space: string
  readonly author: string
  readonly seq: number
  /** `signature || body`, exactly as signed and sent. */
  readonly envelope: Uint8Array
}

/** What a store keeps besides the commits. */
export interface StoreState {
  /** The highest hybrid-logical-clock stamp issued or observed; restored so the clock never runs backwards. */
  readonly clock: number
}

/** Something wrong found while reading a store back. */
export interface StoreProblem {
  /** Where (a key or an index). */
  readonly where: string
  readonly error: Error
}

/**
 * Where a graph keeps its accepted commits. The graph holds its indexes in memory and uses the store as
 * a durable, append-only log: {@link GraphStore.append} resolves only once the commits are durable,
 * {@link GraphStore.replay} gives them back in the order they were appended (a causal order), and
 * {@link GraphStore.readChain} serves sync.
 *
 * Every implementation runs the acceptance suite in `test/store-acceptance.ts`.
 */
export interface GraphStore {
  /** Opens the store. Throws `StoreLockedError` when another process holds it. Safe to call twice. */
  open(options?: AbortOptions): Promise<void>
  /** Closes the store; appends still queued are flushed first. Safe to call twice. */
  close(): Promise<void>
  /**
   * Appends commits (already checked by the graph) and the new state, atomically: after a crash either
   * all of them are there or none. Calls are applied in call order. Resolves once durable.
   */
  append(commits: readonly StoredCommit[], state: StoreState, options?: AbortOptions): Promise<void>
  /** The stored state, or `undefined` for an empty store. */
  readState(options?: AbortOptions): Promise<StoreState | undefined>
  /**
   * Every stored envelope in append order, in batches. Damaged entries are skipped and reported through
   * `onProblem`.
   */
  replay(
    options?: AbortOptions & { onProblem?: (problem: StoreProblem) => void }
  ): AsyncIterable<Uint8Array[]>
  /**
   * Envelopes of one chain (space, author) with `fromSeq <= seq <= toSeq`, in position order. Where the
   * author's key forked, a position holds several commits: all of them are returned (in any order among
   * themselves); appending the same commit twice keeps it once.
   */
  readChain(
    space: string,
    author: string,
    fromSeq: number,
    toSeq: number,
    options?: AbortOptions
  ): Promise<Uint8Array[]>
}
