/**
 * Runs jobs one after another, in the order they were added: the one serial queue of this package (the
 * graph's durability queue, a sync session's receive and send queues). Each caller gets its own job's
 * outcome; the queue only orders, so a failed job never blocks the next.
 *
 * Not `p-queue`: a job here may hand back a promise of work it started without the queue waiting for it
 * to finish (the graph orders when store appends are issued, not when they complete, so writes
 * pipeline), and the hot write path cannot afford p-queue's per-job events; see decision 0014.
 */
export class SerialQueue {
  #tail: Promise<void> = Promise.resolve()
  #added = 0

  /** Runs `job` once every job added before it has settled. */
  add<T>(job: () => T | PromiseLike<T>): Promise<T> {
    const run = this.#tail.then(job)
    this.#added++
    // The tail only orders: the caller holds `run` and handles its outcome.
    this.#tail = run.then(settledOk, settledOk)
    return run
  }

  /** How many jobs were ever added (tells a waiter whether more came while it waited). */
  get added(): number {
    return this.#added
  }

  /** Resolves once every job added so far has settled. */
  settled(): Promise<void> {
    return this.#tail
  }
}

function settledOk(): void {}
