import type { Logger } from '@libp2p/logger'
import type { Commit } from '../commit.js'
import { GraphError } from '../errors.js'
import { SerialQueue } from '../serial.js'
import type { GraphStore, StoredCommit } from '../store/types.js'

/**
 * The write-behind of a graph: accepted commits are applied in memory at once and appended to the store
 * in acceptance order (appends are issued one after another and may complete together). A failed append
 * leaves memory ahead of the store, so the graph then refuses further writes until it is recreated.
 */
export class Durability {
  readonly #store: GraphStore
  readonly #clock: () => number
  readonly #onFail: () => void
  readonly #log: Logger
  readonly #queue = new SerialQueue()
  readonly #inflight = new Set<Promise<unknown>>()
  #fatal: Error | undefined

  constructor(store: GraphStore, clock: () => number, onFail: () => void, log: Logger) {
    this.#store = store
    this.#clock = clock
    this.#onFail = onFail
    this.#log = log
  }

  /** The error that failed the graph, once a write could not be made durable. */
  get fatal(): Error | undefined {
    return this.#fatal
  }

  /**
   * Appends the commits `prepare` produces (it may wait, e.g. for a signature) after every earlier append
   * was issued; resolves once they are durable. A failure fails the graph.
   */
  append(prepare: () => readonly StoredCommit[] | Promise<readonly StoredCommit[]>): Promise<void> {
    // No named closures here: this runs once per local write (and a named arrow costs a property define
    // per call under transpilers that keep function names).
    const issued = this.#queue.add(() => {
      const commits = prepare()
      return commits instanceof Promise ? commits.then((c) => this.#issue(c)) : this.#issue(commits)
    })
    // One promise settled by hand rather than a chain of then/catch.
    return new Promise<void>((resolve, reject) => {
      issued.then(
        ({ stored }) => {
          stored.then(resolve, (err: unknown) => {
            this.fail(err)
            reject(err)
          })
        },
        (err: unknown) => {
          this.fail(err)
          reject(err)
        }
      )
    })
  }

  /** Issues one append; wrapped, so the queue moves on once it is issued rather than when it completes. */
  #issue(commits: readonly StoredCommit[]): { stored: Promise<void> } {
    return { stored: this.#store.append(commits, { clock: this.#clock() }) }
  }

  /** Keeps `promise` (an ingest) in the set `settle()` waits for. */
  track<T>(promise: Promise<T>): void {
    this.#inflight.add(promise)
    const untrack = (): void => {
      this.#inflight.delete(promise)
    }
    promise.then(untrack, untrack)
  }

  /** Waits for tracked ingests and for every queued append to be issued. */
  async settle(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight])
    await this.#queue.settled()
  }

  /** Fails the graph: the commit is in memory but not durable, and later commits would chain onto it. */
  fail(err: unknown): void {
    // Refuse further writes until a restart reloads the durable state.
    this.#fatal ??= new GraphError(
      'a write could not be made durable; create a new graph on the store (or restart the process) to reload its durable state',
      {
        cause: err
      }
    )
    this.#onFail()
    this.#log.error('graph failed: %e', err)
  }
}

/** What the store keeps of a commit. */
export function toStored(commit: Commit): StoredCommit {
  return {
    id: commit.id,
    space: commit.space,
    author: commit.author,
    seq: commit.seq,
    envelope: commit.envelope
  }
}
