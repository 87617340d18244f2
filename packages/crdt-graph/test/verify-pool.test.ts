import { verifySync } from '@araliya/identity'
import fc from 'fast-check'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { COMMIT_CONTEXT, decodeCommit } from '../src/commit.js'
import { MIN_POOL_BATCH, POOL_AFTER_SIGNATURES, VerifyPool } from '../src/graph/verify-pool.js'
import { createGraph, type Graph, type IngestResult, memoryStore } from '../src/index.js'
import { snapshot, testIdentity } from './helpers.js'

const AUTHORS = 3
const PER_AUTHOR = 80

/** Single-op commits by a few authors in their own spaces, interleaved as a sync from several peers. */
async function commitsFromPeers(): Promise<Uint8Array[]> {
  const chains: Uint8Array[][] = []
  for (let a = 0; a < AUTHORS; a++) {
    const identity = await testIdentity(700 + a)
    const graph = createGraph({ identity, store: memoryStore() })
    await graph.start()
    for (let i = 0; i < PER_AUTHOR; i++) await graph.put(`${identity.address}/n${i % 7}`, { v: i })
    chains.push(await graph.readChain(identity.address, identity.address, 1, PER_AUTHOR))
    await graph.stop()
  }
  const out: Uint8Array[] = []
  for (let i = 0; i < PER_AUTHOR; i++) for (const chain of chains) out.push(chain[i] as Uint8Array)
  return out
}

const peerCommits = commitsFromPeers()

/** A copy of `envelope` with one byte of its signature flipped. */
function forged(envelope: Uint8Array, at = 7): Uint8Array {
  const copy = Uint8Array.from(envelope)
  copy[at % 64] = (copy[at % 64] as number) ^ 0x40
  return copy
}

/** What an ingest reported, comparable across graphs. */
function verdict(result: IngestResult): unknown {
  return {
    ...result,
    rejected: result.rejected.map((r) => ({ id: r.id, code: (r.error as { code?: string }).code }))
  }
}

/** Commits of another author, ingested first so the pool's workers are up when the batch under test comes. */
const warmUp = (async () => {
  const identity = await testIdentity(760)
  const graph = createGraph({ identity, store: memoryStore() })
  await graph.start()
  for (let i = 0; i < POOL_AFTER_SIGNATURES; i++) await graph.put(`${identity.address}/w${i % 5}`, { v: i })
  const chain = await graph.readChain(identity.address, identity.address, 1, POOL_AFTER_SIGNATURES)
  await graph.stop()
  return chain
})()

/** Starts the pool of `graph` (enough large batches) and waits until its workers run. */
async function warm(graph: Graph, workers: TrackedWorker[]): Promise<void> {
  const commits = await warmUp
  for (let at = 0; at < commits.length; at += 256) {
    const result = await graph.ingest(commits.slice(at, at + 256))
    expect(result.rejected).toEqual([])
  }
  await Promise.all(workers.map((w) => w.online))
}

/**
 * Ingests the same batch into a graph that verifies on the calling thread only and one whose pool runs;
 * returns both results, whether the states are equal, and how many batches went to a worker.
 */
async function bothWays(
  batch: Uint8Array[],
  workers: TrackedWorker[]
): Promise<{ sync: unknown; pool: unknown; same: boolean; pooled: number }> {
  const out: Array<{ result: unknown; state: string }> = []
  let pooled = 0
  for (const verifyWorkers of [0, 1]) {
    const graph = createGraph({ identity: await testIdentity(799), store: memoryStore(), verifyWorkers })
    await graph.start()
    await warm(graph, workers)
    const before = sentToWorkers(workers)
    const result = await graph.ingest(batch, { kind: 'remote', peer: 'p' })
    if (verifyWorkers > 0) pooled = sentToWorkers(workers) - before
    out.push({ result: verdict(result), state: snapshot(graph) })
    await graph.stop()
  }
  const [sync, pool] = out as [{ result: unknown; state: string }, { result: unknown; state: string }]
  return { sync: sync.result, pool: pool.result, same: sync.state === pool.state, pooled }
}

interface TrackedWorker {
  exited: boolean
  /** Batches posted to it. */
  batches: number
  /** Resolves once it runs. */
  online: Promise<void>
}

function sentToWorkers(workers: TrackedWorker[]): number {
  return workers.reduce((sum, w) => sum + w.batches, 0)
}

/** Counts the worker threads the pool starts (it finds `Worker` through `process.getBuiltinModule`). */
function trackWorkers(options: { failFirstBatch?: boolean } = {}): TrackedWorker[] {
  const started: TrackedWorker[] = []
  const original = process.getBuiltinModule.bind(process)
  vi.spyOn(process, 'getBuiltinModule').mockImplementation(((id: string) => {
    const module = original(id as 'node:worker_threads')
    if (id !== 'node:worker_threads') return module
    const { Worker } = module as typeof import('node:worker_threads')
    class Tracked extends Worker {
      readonly #tracked: TrackedWorker
      constructor(...args: ConstructorParameters<typeof Worker>) {
        super(...args)
        let online = (): void => {}
        const tracked: TrackedWorker = {
          exited: false,
          batches: 0,
          online: new Promise<void>((resolve) => {
            online = resolve
          })
        }
        this.#tracked = tracked
        started.push(tracked)
        this.on('online', online)
        this.on('exit', () => {
          tracked.exited = true
        })
      }
      override postMessage(value: unknown, transfer?: readonly ArrayBuffer[]): void {
        this.#tracked.batches++
        // A worker that dies with a batch in hand (a crash, an out-of-memory kill).
        if (options.failFirstBatch === true) void this.terminate()
        else super.postMessage(value, transfer as never)
      }
    }
    return { ...module, Worker: Tracked }
  }) as typeof process.getBuiltinModule)
  return started
}

afterEach(() => {
  vi.restoreAllMocks()
})

describe('signature verification on a worker pool', () => {
  it('accepts an honest batch on the pool exactly as on the calling thread', async () => {
    const workers = trackWorkers()
    const batch = await peerCommits
    const { sync, pool, same, pooled } = await bothWays(batch, workers)
    expect(pooled).toBe(1)
    expect(pool).toEqual(sync)
    expect(same).toBe(true)
    expect((pool as IngestResult).accepted).toBe(AUTHORS * PER_AUTHOR)
    expect(workers.length).toBe(1)
  })

  it('refuses a forged signature verified on the pool exactly as before, wherever it sits in the batch', async () => {
    const workers = trackWorkers()
    const honest = await peerCommits
    // The first share goes to the worker, the last to the calling thread: forge in both.
    for (const at of [0, 5, 100, honest.length - 3, honest.length - 1]) {
      const batch = [...honest]
      batch[at] = forged(batch[at] as Uint8Array, at)
      const { sync, pool, same, pooled } = await bothWays(batch, workers)
      expect(pooled).toBe(1)
      expect(pool).toEqual(sync)
      expect(same).toBe(true)
      const result = pool as { rejected: Array<{ code: string }>; dropped: number; accepted: number }
      expect(result.rejected.map((r) => r.code)).toEqual(['ERR_GRAPH_SIGNATURE'])
      expect(result.dropped).toBe(honest.length - at - 1)
      expect(result.accepted).toBe(at)
    }
  })

  it('reports bad signatures, garbage and replays in envelope order, as one-by-one checking did', async () => {
    const workers = trackWorkers()
    const honest = await peerCommits
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat(honest.length - 1), fc.constantFrom('forge', 'garbage', 'replay')), {
          maxLength: 4
        }),
        async (damage) => {
          const batch = [...honest]
          for (const [at, kind] of damage) {
            if (kind === 'forge') batch[at] = forged(batch[at] as Uint8Array, at)
            else if (kind === 'garbage') batch[at] = Uint8Array.of(1, 2, 3, at & 0xff)
            else batch.splice(at, 0, honest[Math.max(0, at - 4)] as Uint8Array)
          }
          const { sync, pool, same } = await bothWays(batch, workers)
          expect(pool).toEqual(sync)
          expect(same).toBe(true)
        }
      ),
      { numRuns: 12, seed: 15 }
    )
  })

  it('gives the verdicts identity.verifySync gives, for any flipped byte of body or signature', async () => {
    const workers = trackWorkers()
    const honest = (await peerCommits).map((e) => decodeCommit(e))
    const pool = new VerifyPool(2, (() => {}) as never)
    const jobsOf = () =>
      honest.map((c) => ({
        author: c.author,
        body: Uint8Array.from(c.body),
        signature: Uint8Array.from(c.signature)
      }))
    try {
      // Large batches start the workers once enough were verified here (these are, while they boot).
      for (let n = 0; n < POOL_AFTER_SIGNATURES; n += honest.length) {
        expect(workers).toHaveLength(0)
        expect(await pool.verify(jobsOf())).toEqual(honest.map(() => true))
      }
      expect(workers).toHaveLength(2)
      await Promise.all(workers.map((w) => w.online))
      await fc.assert(
        fc.asyncProperty(
          fc.array(
            fc.tuple(fc.nat(honest.length - 1), fc.boolean(), fc.nat(), fc.integer({ min: 1, max: 255 }))
          ),
          async (flips) => {
            const jobs = jobsOf()
            for (const [index, inSignature, at, xor] of flips) {
              const job = jobs[index] as { body: Uint8Array; signature: Uint8Array }
              const bytes = inSignature ? job.signature : job.body
              bytes[at % bytes.byteLength] = (bytes[at % bytes.byteLength] as number) ^ xor
            }
            const expected = jobs.map((j) => verifySync(j.author, COMMIT_CONTEXT, j.body, j.signature))
            expect(await pool.verify(jobs)).toEqual(expected)
          }
        ),
        { numRuns: 25, seed: 3 }
      )
      expect(pool.running).toBe(2)
      expect(sentToWorkers(workers)).toBeGreaterThanOrEqual(50)
    } finally {
      await pool.stop()
    }
    expect(pool.running).toBe(0)
    expect(workers.every((w) => w.exited)).toBe(true)
  })

  it('starts workers lazily and graph.stop() leaves none running', async () => {
    const workers = trackWorkers()
    const batch = await peerCommits
    const graph = createGraph({ identity: await testIdentity(798), store: memoryStore(), verifyWorkers: 2 })
    await graph.start()
    // Small batches never need a worker, nor does a short burst of large ones.
    await graph.ingest(batch.slice(0, MIN_POOL_BATCH - 1))
    await graph.ingest(batch.slice(MIN_POOL_BATCH - 1))
    expect(workers).toHaveLength(0)
    await warm(graph, workers)
    expect(workers).toHaveLength(2)
    await graph.stop()
    expect(workers.map((w) => w.exited)).toEqual([true, true])
    // A restarted graph starts them again with its next large batch, and stops them again.
    await graph.start()
    const author = await testIdentity(761)
    const other = createGraph({ identity: author, store: memoryStore() })
    await other.start()
    for (let i = 0; i < MIN_POOL_BATCH; i++) await other.put(`${author.address}/x`, { v: i })
    await graph.ingest(await other.readChain(author.address, author.address, 1, MIN_POOL_BATCH))
    await other.stop()
    expect(workers).toHaveLength(4)
    await Promise.all(workers.map((w) => w.online))
    await graph.stop()
    expect(workers.every((w) => w.exited)).toBe(true)
  })

  it('stop() while the workers are still booting leaves none running', async () => {
    const workers = trackWorkers()
    const graph = createGraph({ identity: await testIdentity(795), store: memoryStore(), verifyWorkers: 2 })
    await graph.start()
    // Enough large batches start the workers; stop() comes before they run.
    await graph.ingest(await warmUp)
    await graph.stop()
    expect(workers).toHaveLength(2)
    expect(workers.every((w) => w.exited)).toBe(true)
  })

  it('verifyWorkers: 0 verifies on the calling thread only', async () => {
    const workers = trackWorkers()
    const batch = await peerCommits
    const graph = createGraph({ identity: await testIdentity(797), store: memoryStore(), verifyWorkers: 0 })
    await graph.start()
    expect((await graph.ingest(await warmUp)).accepted).toBe(POOL_AFTER_SIGNATURES)
    const result = await graph.ingest(batch)
    expect(result.accepted).toBe(batch.length)
    expect(workers).toHaveLength(0)
    await graph.stop()
  })

  it('a worker that dies with a batch in hand: its share is verified on the calling thread, and a forgery is still refused', async () => {
    const workers = trackWorkers({ failFirstBatch: true })
    const honest = await peerCommits
    const batch = [...honest]
    batch[3] = forged(batch[3] as Uint8Array)
    const graph = createGraph({ identity: await testIdentity(796), store: memoryStore(), verifyWorkers: 1 })
    await graph.start()
    await warm(graph, workers)
    const result = await graph.ingest(batch)
    expect(workers.length).toBe(1)
    expect(sentToWorkers(workers)).toBe(1)
    expect(result.rejected.map((r) => (r.error as { code?: string }).code)).toEqual(['ERR_GRAPH_SIGNATURE'])
    expect(result.accepted).toBe(3)
    expect(result.dropped).toBe(batch.length - 4)
    // The pool gave up on workers: the rest is verified here.
    const again = await graph.ingest(honest)
    expect(again.accepted + again.duplicates).toBe(honest.length)
    expect(workers.length).toBe(1)
    expect(sentToWorkers(workers)).toBe(1)
    await graph.stop()
    expect(workers.every((w) => w.exited)).toBe(true)
  })
})
