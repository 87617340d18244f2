/**
 * A persistent {@link GraphStore} on `level`: classic-level (LevelDB) in Node, browser-level (IndexedDB)
 * in browsers. Appends are grouped and written as one atomic batch with `sync: true`, so an acknowledged
 * commit survives a crash or SIGKILL.
 *
 * @example
 * ```ts
 * import { createGraph } from '@araliya/crdt-graph'
 * import { levelStore } from '@araliya/crdt-graph/level'
 *
 * const graph = createGraph({ identity, store: levelStore('./data/graph') })
 * await graph.start()
 * ```
 *
 * @packageDocumentation
 */
import { openBackend, SYNC_WRITES } from '#level-backend'
import { type AbortOptions, throwIfAborted } from '@araliya/interface'
import { StoreClosedError, StoreCorruptError, StoreError, StoreLockedError } from '../errors.js'
import { toHex } from '../hash.js'
import type { LevelDatabase } from './level-backend.js'
import type { GraphStore, StoreProblem, StoreState, StoredCommit } from './types.js'

const STATE_KEY = 's'
const LOG_PREFIX = 'l'
const CHAIN_PREFIX = 'c'
const SEP = '\u0000'
const INDEX_DIGITS = 13

function logKey(index: number): string {
  return LOG_PREFIX + index.toString(16).padStart(INDEX_DIGITS, '0')
}

/** Where the chain index entries of one position start (and, for `seq + 1`, where they end). */
function chainKey(space: string, author: string, seq: number): string {
  return CHAIN_PREFIX + space + SEP + author + SEP + seq.toString(16).padStart(INDEX_DIGITS, '0')
}

/**
 * The chain index key of one commit: its position and its id, so a position can hold several commits
 * (an author whose key forked). Keys written before ids were added (position only) sort in the same
 * range and are read alike.
 */
function commitKey(space: string, author: string, seq: number, id: Uint8Array): string {
  return chainKey(space, author, seq) + SEP + toHex(id)
}

function numberBytes(value: number): Uint8Array {
  const out = new Uint8Array(8)
  new DataView(out.buffer).setFloat64(0, value)
  return out
}

function stateBytes(clock: number, nextIndex: number): Uint8Array {
  const out = new Uint8Array(16)
  const view = new DataView(out.buffer)
  view.setFloat64(0, clock)
  view.setFloat64(8, nextIndex)
  return out
}

/** True when the key holds a value, or cannot be read because it is damaged (so it must not be reused). */
async function exists(db: LevelDatabase, key: string): Promise<boolean> {
  try {
    return (await db.get(key)) !== undefined
  } catch {
    return true
  }
}

function isCorruption(err: unknown): boolean {
  const code = (err as { code?: string; cause?: { code?: string } })?.code
  return (
    code === 'LEVEL_CORRUPTION' || (err as { cause?: { code?: string } })?.cause?.code === 'LEVEL_CORRUPTION'
  )
}

function bytesNumber(bytes: Uint8Array): number {
  if (bytes.byteLength !== 8) return Number.NaN
  return new DataView(bytes.buffer, bytes.byteOffset, 8).getFloat64(0)
}

interface Pending {
  readonly commits: readonly StoredCommit[]
  readonly state: StoreState
  readonly resolve: () => void
  readonly reject: (err: Error) => void
}

/** Options of {@link levelStore}. */
export interface LevelStoreInit {
  /** A directory (Node) or database name (browsers). */
  location: string
}

/** A {@link GraphStore} on classic-level / browser-level. Create it with {@link levelStore}. */
export class LevelGraphStore implements GraphStore {
  /** The directory (Node) or database name (browsers). */
  readonly location: string
  #db: LevelDatabase | undefined
  #opening: Promise<void> | undefined
  #nextIndex = 0
  #clock = 0
  #queue: Pending[] = []
  /** Problems found while opening, reported by the next replay. */
  readonly #problems: StoreProblem[] = []
  #flushing: Promise<void> | undefined

  /** Use {@link levelStore}. */
  constructor(init: LevelStoreInit) {
    this.location = init.location
  }

  /** {@inheritDoc GraphStore.open} */
  open(options?: AbortOptions): Promise<void> {
    throwIfAborted(options?.signal)
    this.#opening ??= this.#open().catch((err: unknown) => {
      this.#opening = undefined
      throw err
    })
    return this.#opening
  }

  async #open(): Promise<void> {
    const db = openBackend(this.location)
    try {
      await db.open()
    } catch (err) {
      const code =
        (err as { code?: string; cause?: { code?: string } }).cause?.code ?? (err as { code?: string }).code
      if (code === 'LEVEL_LOCKED') {
        throw new StoreLockedError(
          `the graph store at ${this.location} is open in another process; stop that process (or use another location) and retry`,
          { cause: err }
        )
      }
      throw new StoreError(`cannot open the graph store at ${this.location}: ${(err as Error).message}`, {
        cause: err
      })
    }
    // The state record holds the clock and the next log index. If it (or the end of the log) is damaged,
    // fall back to looking, so a damaged store still opens (no crash loop) and never overwrites entries.
    let state: Uint8Array | undefined
    try {
      state = await db.get(STATE_KEY)
    } catch (err) {
      this.#problems.push({
        where: STATE_KEY,
        error: new StoreCorruptError('the store state record is damaged', { cause: err })
      })
    }
    this.#clock = state === undefined ? 0 : bytesNumber(state.subarray(0, 8)) || 0
    const recorded =
      state !== undefined && state.byteLength === 16 ? bytesNumber(state.subarray(8, 16)) : Number.NaN
    this.#nextIndex = Number.isSafeInteger(recorded) && recorded >= 0 ? recorded : await this.#findEnd(db)
    // Entries past the recorded end (none unless the state record was lost) must not be overwritten.
    while (await exists(db, logKey(this.#nextIndex))) this.#nextIndex++
    this.#db = db
  }

  /** {@inheritDoc GraphStore.close} */
  async close(): Promise<void> {
    const opening = this.#opening
    if (opening === undefined) return
    // A failed open was reported to whoever awaited open(); closing only needs it settled.
    await opening.catch(settledElsewhere)
    while (this.#flushing !== undefined) await this.#flushing
    const db = this.#db
    this.#db = undefined
    this.#opening = undefined
    if (db !== undefined) await db.close()
  }

  /** {@inheritDoc GraphStore.append} */
  append(commits: readonly StoredCommit[], state: StoreState, options?: AbortOptions): Promise<void> {
    if (this.#db === undefined)
      return Promise.reject(new StoreClosedError(`the graph store at ${this.location} is not open`))
    if (options?.signal?.aborted === true) return Promise.reject(options.signal.reason)
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ commits, state, resolve, reject })
      this.#flushing ??= this.#flush()
    })
  }

  /** Writes everything queued as one synced batch, again and again until the queue is empty (group commit). */
  async #flush(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const items = this.#queue
        this.#queue = []
        const db = this.#db
        if (db === undefined) {
          for (const item of items)
            item.reject(new StoreClosedError(`the graph store at ${this.location} is not open`))
          continue
        }
        const operations: Array<{ type: 'put'; key: string; value: Uint8Array }> = []
        let index = this.#nextIndex
        let clock = this.#clock
        for (const item of items) {
          for (const commit of item.commits) {
            const at = index++
            operations.push({ type: 'put', key: logKey(at), value: commit.envelope })
            operations.push({
              type: 'put',
              key: commitKey(commit.space, commit.author, commit.seq, commit.id),
              value: numberBytes(at)
            })
          }
          if (item.state.clock > clock) clock = item.state.clock
        }
        operations.push({ type: 'put', key: STATE_KEY, value: stateBytes(clock, index) })
        try {
          await db.batch(operations, { sync: SYNC_WRITES })
          this.#nextIndex = index
          this.#clock = clock
          for (const item of items) item.resolve()
        } catch (err) {
          const error = new StoreError(
            `writing to the graph store at ${this.location} failed: ${(err as Error).message}`,
            {
              cause: err
            }
          )
          for (const item of items) item.reject(error)
        }
      }
    } finally {
      this.#flushing = undefined
    }
  }

  /** {@inheritDoc GraphStore.readState} */
  async readState(options?: AbortOptions): Promise<StoreState | undefined> {
    throwIfAborted(options?.signal)
    this.#requireOpen()
    return this.#nextIndex === 0 && this.#clock === 0 ? undefined : { clock: this.#clock }
  }

  /** {@inheritDoc GraphStore.replay} */
  async *replay(
    options?: AbortOptions & { onProblem?: (problem: StoreProblem) => void }
  ): AsyncIterable<Uint8Array[]> {
    const db = this.#requireOpen()
    const report = (problem: StoreProblem): void => options?.onProblem?.(problem)
    for (const problem of this.#problems.splice(0)) report(problem)
    const end = this.#nextIndex
    let next = 0
    while (next < end) {
      // Fast path: iterate. On a damaged block, fall back to reading entries one by one until past it.
      const iterator = db.iterator({ gte: logKey(next), lt: logKey(end) })
      let failed = false
      try {
        while (true) {
          throwIfAborted(options?.signal)
          const entries = await iterator.nextv(2048)
          if (entries.length === 0) {
            next = end
            break
          }
          const batch: Uint8Array[] = []
          for (const [key, value] of entries) {
            const index = Number.parseInt(key.slice(1), 16)
            if (index > next) {
              report({
                where: `${logKey(next)}..${logKey(index - 1)}`,
                error: new StoreCorruptError(`log entries ${next}..${index - 1} are missing`)
              })
            }
            next = index + 1
            if (!(value instanceof Uint8Array) || value.byteLength === 0) {
              report({ where: key, error: new StoreCorruptError(`empty log entry ${key}`) })
              continue
            }
            batch.push(value)
          }
          yield batch
        }
      } catch (err) {
        if (!isCorruption(err)) throw err
        failed = true
      } finally {
        // Closing an iterator over a damaged region can fail too; the damage itself is reported.
        await iterator.close().catch(settledElsewhere)
      }
      if (!failed) break
      // Step over the damaged region entry by entry, reporting what cannot be read.
      let recovered = false
      while (next < end && !recovered) {
        throwIfAborted(options?.signal)
        const key = logKey(next)
        try {
          const value = await db.get(key)
          if (value !== undefined && value.byteLength > 0) {
            yield [value]
            recovered = true
          }
        } catch (err) {
          report({
            where: key,
            error: new StoreCorruptError(`log entry ${key} is damaged and was skipped`, { cause: err })
          })
        }
        next++
      }
    }
  }

  /** Finds the end of the log when the state record cannot tell (exponential, then binary search). */
  async #findEnd(db: LevelDatabase): Promise<number> {
    try {
      const iterator = db.iterator({ gte: LOG_PREFIX, lt: `${LOG_PREFIX}~`, reverse: true, limit: 1 })
      try {
        const last = await iterator.nextv(1)
        const key = last[0]?.[0]
        return key === undefined ? 0 : Number.parseInt(key.slice(1), 16) + 1
      } finally {
        // Closing an iterator over a damaged region can fail too; the damage itself is reported.
        await iterator.close().catch(settledElsewhere)
      }
    } catch (err) {
      this.#problems.push({
        where: 'log end',
        error: new StoreCorruptError('the end of the log is damaged', { cause: err })
      })
    }
    if (!(await exists(db, logKey(0)))) return 0
    let low = 0 // exists
    let high = 1
    while (await exists(db, logKey(high))) {
      low = high
      high *= 2
    }
    // entry `low` exists, entry `high` does not
    while (high - low > 1) {
      const mid = Math.floor((low + high) / 2)
      if (await exists(db, logKey(mid))) low = mid
      else high = mid
    }
    return low + 1
  }

  /** {@inheritDoc GraphStore.readChain} */
  async readChain(
    space: string,
    author: string,
    fromSeq: number,
    toSeq: number,
    options?: AbortOptions
  ): Promise<Uint8Array[]> {
    throwIfAborted(options?.signal)
    const db = this.#requireOpen()
    const out: Uint8Array[] = []
    const first = Math.max(1, fromSeq)
    if (toSeq < first) return out
    const iterator = db.iterator({
      gte: chainKey(space, author, first),
      lt: chainKey(space, author, toSeq + 1)
    })
    const pointers: Array<[string, Uint8Array]> = []
    try {
      for (;;) {
        const entries = await iterator.nextv(Math.max(1, toSeq - first + 1))
        if (entries.length === 0) break
        pointers.push(...entries)
      }
    } finally {
      await iterator.close()
    }
    if (pointers.length === 0) return out
    const envelopes = await db.getMany(pointers.map(([, value]) => logKey(bytesNumber(value))))
    for (const envelope of envelopes) if (envelope !== undefined) out.push(envelope)
    return out
  }

  #requireOpen(): LevelDatabase {
    if (this.#db === undefined)
      throw new StoreClosedError(`the graph store at ${this.location} is not open; call open() first`)
    return this.#db
  }
}

/** Creates a persistent store at `location` (a directory in Node, an IndexedDB name in browsers). */
export function levelStore(location: string): LevelGraphStore {
  return new LevelGraphStore({ location })
}

/** For a failure that is reported elsewhere (see the uses). */
function settledElsewhere(): void {}
