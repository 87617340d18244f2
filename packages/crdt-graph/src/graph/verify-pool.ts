import { publicKeyFromAddress, signedBytes, verifyBatch } from '@araliya/identity'
import { throwIfAborted } from '@araliya/interface'
import type { Logger } from '@libp2p/logger'
import { COMMIT_CONTEXT } from '../commit.js'
import { YieldPacer } from '../yield.js'

/** One commit signature to check: the author's address, the signed body and the 64-byte signature. */
export interface SignatureJob {
  readonly author: string
  readonly body: Uint8Array
  readonly signature: Uint8Array
}

/**
 * Batches smaller than this are verified on the calling thread: posting them to a worker and back costs
 * more than it saves (a commit verifies in about 0.1 ms; a message round trip costs about as much).
 */
export const MIN_POOL_BATCH = 48
/**
 * Workers start only once a graph has verified this many signatures in large batches on the calling
 * thread: booting a thread costs tens of milliseconds of CPU (a hundred commits' worth), so a short sync
 * never pays for it; a sustained stream does, once.
 */
export const POOL_AFTER_SIGNATURES = 1024
/** How far the calling thread's fraction of a pooled batch moves per batch, and its bounds. */
const MINE_STEP = 0.02
const MINE_MIN = 0.05
const MINE_MAX = 0.9
/** The smallest share worth sending to a worker. */
const MIN_SHARE = 16
/** The calling thread verifies in slices of this many signatures, yielding between slices when due. */
const SLICE = 64
const YIELD_EVERY_ITEMS = 512
const YIELD_EVERY_MS = 20
const PUBLIC_KEY_BYTES = 32
const SIGNATURE_BYTES = 64
/** Bytes in front of each body in a packed batch: public key, signature, body length. */
const ITEM_HEADER_BYTES = PUBLIC_KEY_BYTES + SIGNATURE_BYTES + 4

/**
 * The worker's program. It is source text, not a file, so it runs the same whether this package is loaded
 * from its TypeScript sources, from the built `dist/` or from an application's bundle: nothing has to find
 * a worker script on disk. It verifies with node:crypto exactly the bytes `@araliya/identity` signs: the
 * context header (from identity's `signedBytes`, sent once as `workerData`) followed by the body. A batch
 * arrives packed in one transferred buffer: per item 32 bytes of public key, 64 of signature, a 4-byte
 * little-endian body length and the body; one byte per item goes back (1 = valid).
 */
const WORKER_SOURCE = `'use strict'
const { parentPort, workerData } = require('node:worker_threads')
const { createPublicKey, verify } = require('node:crypto')
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')
const header = Buffer.from(workerData.header)
const keys = new Map()
let scratch = Buffer.alloc(8192)
header.copy(scratch)
function publicKey(raw) {
  const id = raw.toString('latin1')
  let key = keys.get(id)
  if (key === undefined) {
    try {
      key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' })
    } catch {
      key = false
    }
    if (keys.size >= 4096) keys.clear()
    keys.set(id, key)
  }
  return key
}
parentPort.on('message', (job) => {
  const packed = Buffer.from(job.buffer)
  const verdicts = new Uint8Array(job.count)
  let at = 0
  for (let i = 0; i < job.count; i++) {
    const raw = packed.subarray(at, at + 32)
    const signature = packed.subarray(at + 32, at + 96)
    const length = packed.readUInt32LE(at + 96)
    at += 100
    const size = header.length + length
    if (size > scratch.length) {
      scratch = Buffer.alloc(Math.max(size, scratch.length * 2))
      header.copy(scratch)
    }
    packed.copy(scratch, header.length, at, at + length)
    at += length
    const key = publicKey(raw)
    let ok = false
    if (key !== false) {
      try {
        ok = verify(null, scratch.subarray(0, size), key, signature)
      } catch {
        ok = false
      }
    }
    verdicts[i] = ok ? 1 : 0
  }
  parentPort.postMessage({ id: job.id, verdicts, doneAt: performance.timeOrigin + performance.now() }, [
    verdicts.buffer
  ])
})
`

/** A batch being collected for the pool (see {@link VerifyPool.begin}). */
export interface VerifyRun {
  /** Adds the next job. */
  add(job: SignatureJob): void
  /** Verifies what is left here, waits for the workers' shares; one verdict per job, in order. */
  finish(): Promise<boolean[]>
}

interface RunState {
  readonly jobs: SignatureJob[]
  readonly verdicts: boolean[]
  /** The shares sent, one per worker so far (in `workers` order). */
  readonly sent: Promise<number>[]
  readonly workers: readonly PoolWorker[]
  /** Jobs per worker share. */
  readonly share: number
  /** The first job not sent to a worker. */
  from: number
  readonly signal: AbortSignal | undefined
}

/** A worker's answer to one batch: a verdict byte per item, and when it was done (see absoluteMs). */
interface WorkerAnswer {
  readonly id: number
  readonly verdicts: Uint8Array
  readonly doneAt: number
}

/** The parts of node:worker_threads' `Worker` the pool uses. */
interface NodeWorker {
  postMessage(value: unknown, transfer?: readonly ArrayBuffer[]): void
  on(event: 'message', listener: (value: WorkerAnswer) => void): this
  on(event: 'online', listener: () => void): this
  on(event: 'error', listener: (err: Error) => void): this
  on(event: 'exit', listener: (code: number) => void): this
  ref(): void
  unref(): void
  terminate(): Promise<number>
}
type WorkerConstructor = new (
  source: string,
  options: { eval: true; workerData: unknown; name?: string }
) => NodeWorker

interface PoolWorker {
  readonly worker: NodeWorker
  /** True once the worker runs (it can take work without keeping a batch waiting for its boot). */
  online: boolean
  /** Batches sent and not answered yet, by id. */
  readonly waiting: Map<number, { resolve: (answer: WorkerAnswer) => void; reject: (err: Error) => void }>
}

/**
 * The default pool size: one less than the available cores (the calling thread verifies a share too), at
 * most 2; 0 where worker threads are unavailable.
 */
export function defaultVerifyWorkers(): number {
  if (workerConstructor() === undefined) return 0
  const getBuiltin = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process
    ?.getBuiltinModule
  const os = getBuiltin?.('node:os') as { availableParallelism?: () => number } | undefined
  const cores = os?.availableParallelism?.() ?? 1
  return Math.max(0, Math.min(2, cores - 1))
}

/** node:worker_threads' `Worker` where this runtime has it (Node), else `undefined` (browsers). */
function workerConstructor(): WorkerConstructor | undefined {
  const getBuiltin = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process
    ?.getBuiltinModule
  if (typeof getBuiltin !== 'function') return undefined
  const threads = getBuiltin('node:worker_threads') as { Worker?: WorkerConstructor } | undefined
  return threads?.Worker
}

/**
 * Verifies commit signatures on a pool of worker threads. Workers start once large batches have kept the
 * calling thread busy for a while (see POOL_AFTER_SIGNATURES), take work once they run, and stop with
 * {@link VerifyPool.stop}; the calling thread verifies a share of each batch itself meanwhile. Where
 * there are no worker threads (browsers), with a size of 0, for small batches, or once a worker failed,
 * every signature is verified on the calling thread through `@araliya/identity`'s `verifyBatch`. The
 * verdicts are the same either way.
 */
export class VerifyPool {
  readonly #size: number
  readonly #log: Logger
  #workers: PoolWorker[] | undefined
  #disabled = false
  #nextId = 0
  #header: Uint8Array | undefined
  /** Signatures of large batches verified on the calling thread (see POOL_AFTER_SIGNATURES). */
  #verifiedHere = 0
  /** The fraction of a pooled batch the calling thread verifies itself (set by the first one). */
  #mine: number | undefined

  /** @param size how many worker threads at most (0: verify on the calling thread only). */
  constructor(size: number, log: Logger) {
    this.#size = size
    this.#log = log
  }

  /** How many worker threads are running now. */
  get running(): number {
    return this.#workers?.length ?? 0
  }

  /**
   * One verdict per job, in order (true: the signature is the author's over the body under the commit
   * context). Never throws for a bad signature; throws only when `signal` aborts.
   */
  verify(jobs: readonly SignatureJob[], signal?: AbortSignal): Promise<boolean[]> {
    const run = this.begin(jobs.length, signal)
    for (const job of jobs) run.add(job)
    return run.finish()
  }

  /**
   * Starts a batch of about `expected` jobs that are added one by one ({@link VerifyRun.add}), so a
   * worker's share goes out as soon as it is complete, while the caller still decodes the rest.
   */
  begin(expected: number, signal?: AbortSignal): VerifyRun {
    let workers: PoolWorker[] | undefined
    if (expected >= MIN_POOL_BATCH) {
      // A worker takes a few tens of milliseconds to boot, longer than a batch takes here: batches are
      // verified here until the workers are up.
      workers = this.#workers?.filter((w) => w.online)
      if (workers === undefined || workers.length === 0) {
        workers = undefined
        this.#verifiedHere += expected
        // Booting starts now; the workers take batches from the first one after they run.
        if (this.#verifiedHere >= POOL_AFTER_SIGNATURES) this.#start()
      }
    }
    // The calling thread keeps the fraction of the batch that lets it and the workers finish together:
    // it also decodes the batch and hands it out, and any core may be busier than another (see #finish).
    let share = 0
    if (workers !== undefined) {
      this.#mine ??= 1 / (workers.length + 1)
      const mine = Math.round(expected * this.#mine)
      share = Math.ceil((expected - mine) / workers.length)
      // A share too small to be worth a message stays here.
      if (share < MIN_SHARE) workers = undefined
    }
    const run: RunState = { jobs: [], verdicts: [], sent: [], workers: workers ?? [], share, from: 0, signal }
    return { add: (job) => this.#add(run, job), finish: () => this.#finish(run) }
  }

  #add(run: RunState, job: SignatureJob): void {
    run.jobs.push(job)
    const worker = run.workers[run.sent.length]
    if (worker !== undefined && run.jobs.length - run.from >= run.share) {
      run.sent.push(this.#send(worker, run.jobs, run.from, run.jobs.length, run.verdicts))
      run.from = run.jobs.length
    }
  }

  async #finish(run: RunState): Promise<boolean[]> {
    const { jobs, verdicts, sent, signal } = run
    verdicts.length = jobs.length
    try {
      await this.#verifyHere(jobs, run.from, jobs.length, verdicts, signal)
    } finally {
      // Even when aborted, the batches already sent are waited for (no answer arrives after return).
      const hereDone = absoluteMs()
      const thereDone = await Promise.all(sent)
      if (sent.length > 0 && this.#mine !== undefined) {
        // A worker done before this thread: take less next time; this thread done first: take more.
        const step = Math.max(...thereDone) < hereDone ? -MINE_STEP : MINE_STEP
        this.#mine = Math.min(MINE_MAX, Math.max(MINE_MIN, this.#mine + step))
      }
    }
    throwIfAborted(signal)
    return verdicts
  }

  /** Stops every worker thread; the pool starts them again when a later batch needs them. */
  async stop(): Promise<void> {
    const workers = this.#workers
    this.#workers = undefined
    if (workers === undefined) return
    await Promise.all(workers.map(({ worker }) => worker.terminate()))
  }

  #start(): PoolWorker[] | undefined {
    if (this.#workers !== undefined) return this.#workers
    if (this.#size <= 0 || this.#disabled) return undefined
    const Worker = workerConstructor()
    if (Worker === undefined) {
      this.#disabled = true
      return undefined
    }
    this.#header ??= signedBytes(COMMIT_CONTEXT, new Uint8Array(0))
    const workers: PoolWorker[] = []
    try {
      for (let i = 0; i < this.#size; i++) workers.push(this.#spawn(Worker, i))
    } catch (err) {
      this.#log.error('cannot start signature workers, verifying on this thread: %e', err)
      this.#disabled = true
      for (const { worker } of workers) this.#terminate(worker)
      return undefined
    }
    this.#log('started %d signature worker(s)', workers.length)
    this.#workers = workers
    return workers
  }

  #terminate(worker: NodeWorker): void {
    worker.terminate().catch((err: unknown) => {
      this.#log.error('cannot stop a signature worker: %e', err)
    })
  }

  #spawn(Worker: WorkerConstructor, index: number): PoolWorker {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { header: this.#header },
      name: `araliya-graph-verify-${index}`
    })
    // An idle pool never keeps the process alive; a batch in flight refs its worker (see #send).
    worker.unref()
    const entry: PoolWorker = { worker, online: false, waiting: new Map() }
    worker.on('online', () => {
      entry.online = true
    })
    worker.on('message', (answer) => {
      const waiter = entry.waiting.get(answer.id)
      if (waiter === undefined) return
      entry.waiting.delete(answer.id)
      if (entry.waiting.size === 0) worker.unref()
      waiter.resolve(answer)
    })
    const fail = (err: Error): void => {
      if (this.#workers?.includes(entry) === true) {
        // A crashed worker is not replaced: the pool stops and everything is verified here from now on.
        this.#log.error('a signature worker failed, verifying on this thread from now on: %e', err)
        this.#disabled = true
        const workers = this.#workers
        this.#workers = undefined
        for (const other of workers) this.#terminate(other.worker)
      }
      for (const waiter of entry.waiting.values()) waiter.reject(err)
      entry.waiting.clear()
    }
    worker.on('error', fail)
    worker.on('exit', (code) => fail(new Error(`signature worker exited with code ${code}`)))
    return entry
  }

  /** Sends jobs [from, to) to one worker; if it cannot answer, verifies them here instead. */
  async #send(
    entry: PoolWorker,
    jobs: readonly SignatureJob[],
    from: number,
    to: number,
    verdicts: boolean[]
  ): Promise<number> {
    // Never rejects: whatever goes wrong, the share is verified here (abort or not, so the caller's
    // finish() is the one place an abort surfaces).
    const packed = pack(jobs, from, to)
    if (packed === undefined) {
      await this.#verifyHere(jobs, from, to, verdicts, undefined)
      return absoluteMs()
    }
    const id = this.#nextId++
    try {
      const answer = await new Promise<WorkerAnswer>((resolve, reject) => {
        entry.waiting.set(id, { resolve, reject })
        entry.worker.ref()
        entry.worker.postMessage({ id, buffer: packed, count: to - from }, [packed])
      })
      for (let i = from; i < to; i++) verdicts[i] = answer.verdicts[i - from] === 1
      return answer.doneAt
    } catch (err) {
      this.#log('signature worker gave no answer (%e); verifying its batch here', err)
      await this.#verifyHere(jobs, from, to, verdicts, undefined)
      return absoluteMs()
    }
  }

  /** Verifies jobs [from, to) on this thread, in slices, yielding to the event loop when due. */
  async #verifyHere(
    jobs: readonly SignatureJob[],
    from: number,
    to: number,
    verdicts: boolean[],
    signal: AbortSignal | undefined
  ): Promise<void> {
    const pacer = new YieldPacer(YIELD_EVERY_ITEMS, YIELD_EVERY_MS)
    for (let at = from; at < to; at += SLICE) {
      throwIfAborted(signal)
      const end = Math.min(to, at + SLICE)
      const checks = []
      for (let i = at; i < end; i++) {
        const job = jobs[i] as SignatureJob
        checks.push({
          signer: job.author,
          context: COMMIT_CONTEXT,
          message: job.body,
          signature: job.signature
        })
      }
      const answers = await verifyBatch(checks)
      for (let i = at; i < end; i++) verdicts[i] = answers[i - at] as boolean
      let due = false
      for (let i = at; i < end && !due; i++) due = pacer.due()
      if (due && end < to) await pacer.yield()
    }
  }
}

/**
 * Packs jobs [from, to) into one transferable buffer (see WORKER_SOURCE for the layout), or `undefined`
 * when an author is not a valid address (left to the calling thread, which answers false for it).
 */
function pack(jobs: readonly SignatureJob[], from: number, to: number): ArrayBuffer | undefined {
  let size = 0
  for (let i = from; i < to; i++) size += ITEM_HEADER_BYTES + (jobs[i] as SignatureJob).body.byteLength
  const buffer = new ArrayBuffer(size)
  const bytes = new Uint8Array(buffer)
  const view = new DataView(buffer)
  let at = 0
  for (let i = from; i < to; i++) {
    const job = jobs[i] as SignatureJob
    let publicKey: Uint8Array
    try {
      publicKey = publicKeyFromAddress(job.author)
    } catch (err) {
      // Not reached for decoded commits (the decoder checks addresses); the calling thread answers it.
      if (err instanceof Error) return undefined
      throw err
    }
    if (publicKey.byteLength !== PUBLIC_KEY_BYTES || job.signature.byteLength !== SIGNATURE_BYTES)
      return undefined
    bytes.set(publicKey, at)
    bytes.set(job.signature, at + PUBLIC_KEY_BYTES)
    view.setUint32(at + PUBLIC_KEY_BYTES + SIGNATURE_BYTES, job.body.byteLength, true)
    at += ITEM_HEADER_BYTES
    bytes.set(job.body, at)
    at += job.body.byteLength
  }
  return buffer
}

/** Milliseconds on a clock every thread of the process shares (`performance` counts from each thread's start). */
function absoluteMs(): number {
  return performance.timeOrigin + performance.now()
}
