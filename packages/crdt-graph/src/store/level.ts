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

function chainKey(space: string, author: string, seq: number): string {
  return CHAIN_PREFIX + space + SEP + author + SEP + seq.toString(16).padStart(INDEX_DIGITS, '0')
}

function numberBytes(value: number): Uint8Array {
  const out = new Uint8Array(8)
  new DataView(out.buffer).setFloat64(0, value)
  return out
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
  readonly location: string
  #db: LevelDatabase | undefined
  #opening: Promise<void> | undefined
  #nextIndex = 0
  #clock = 0
  #queue: Pending[] = []
  #flushing: Promise<void> | undefined

  constructor(init: LevelStoreInit) {
    this.location = init.location
  }

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
    const iterator = db.iterator({ gte: LOG_PREFIX, lt: `${LOG_PREFIX}~`, reverse: true, limit: 1 })
    try {
      const last = await iterator.nextv(1)
      const key = last[0]?.[0]
      this.#nextIndex = key === undefined ? 0 : Number.parseInt(key.slice(1), 16) + 1
    } finally {
      await iterator.close()
    }
    const state = await db.get(STATE_KEY)
    this.#clock = state === undefined ? 0 : bytesNumber(state) || 0
    this.#db = db
  }

  async close(): Promise<void> {
    const opening = this.#opening
    if (opening === undefined) return
    await opening.catch(() => {})
    while (this.#flushing !== undefined) await this.#flushing
    const db = this.#db
    this.#db = undefined
    this.#opening = undefined
    if (db !== undefined) await db.close()
  }

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
              key: chainKey(commit.space, commit.author, commit.seq),
              value: numberBytes(at)
            })
          }
          if (item.state.clock > clock) clock = item.state.clock
        }
        operations.push({ type: 'put', key: STATE_KEY, value: numberBytes(clock) })
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

  async readState(options?: AbortOptions): Promise<StoreState | undefined> {
    throwIfAborted(options?.signal)
    this.#requireOpen()
    return this.#nextIndex === 0 && this.#clock === 0 ? undefined : { clock: this.#clock }
  }

  async *replay(
    options?: AbortOptions & { onProblem?: (problem: StoreProblem) => void }
  ): AsyncIterable<Uint8Array[]> {
    const db = this.#requireOpen()
    const iterator = db.iterator({ gte: LOG_PREFIX, lt: `${LOG_PREFIX}~` })
    try {
      while (true) {
        throwIfAborted(options?.signal)
        const entries = await iterator.nextv(2048)
        if (entries.length === 0) break
        const batch: Uint8Array[] = []
        for (const [key, value] of entries) {
          if (!(value instanceof Uint8Array) || value.byteLength === 0) {
            options?.onProblem?.({ where: key, error: new StoreCorruptError(`empty log entry ${key}`) })
            continue
          }
          batch.push(value)
        }
        yield batch
      }
    } finally {
      await iterator.close()
    }
  }

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
    const iterator = db.iterator({ gte: chainKey(space, author, first), lte: chainKey(space, author, toSeq) })
    let pointers: Array<[string, Uint8Array]>
    try {
      pointers = await iterator.nextv(Math.max(0, toSeq - first + 1))
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
