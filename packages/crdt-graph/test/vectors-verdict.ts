/**
 * The verdict our code reaches on one published commit vector (docs/protocols/graph-sync.md), through the
 * public API only: `decodeCommit` for the format, then a fresh graph that ingests the vector's `given`
 * envelopes (each must be accepted) and the envelope under test.
 */
import type { Identity } from '@araliya/identity'
import { fromHex, toHex } from '@araliya/test-support/doc-vectors'
import { createGraph, DEFAULT_COMMIT_LIMITS, memoryStore } from '../src/index.js'
import { decodeCommit } from '../src/commit.js'

/** One vector as published. */
export interface CommitVector {
  name: string
  /** Envelopes (hex) ingested first, in order; each is accepted. */
  given?: string[]
  /** The envelope under test: `signature (64 bytes) || body`. */
  hex: string
  /** Commit id (hex sha256 of the body), for envelopes that decode. */
  id?: string
  /** A commit size limit replacing the context's for this vector. */
  maxCommitBytes?: number
  /** `accept`, or the name of the error the commit is refused with. */
  verdict: string
}

/** What every vector shares. */
export interface CommitVectorContext {
  /** The receiver's wall clock (ms since the epoch). */
  now: number
  maxClockSkewMs: number
  maxCommitBytes: number
}

/** Judges `vector` as a receiver (`receiver` is its own key, which signs nothing here) would. */
export async function judgeCommit(
  vector: CommitVector,
  context: CommitVectorContext,
  receiver: Identity
): Promise<{ verdict: string; id?: string }> {
  const limits = { ...DEFAULT_COMMIT_LIMITS, maxCommitBytes: vector.maxCommitBytes ?? context.maxCommitBytes }
  const envelope = fromHex(vector.hex)
  let id: string | undefined
  try {
    id = toHex(decodeCommit(envelope, limits).id)
  } catch (err) {
    return { verdict: (err as Error).name }
  }
  const graph = createGraph({
    identity: receiver,
    store: memoryStore(),
    now: () => context.now,
    maxClockSkewMs: context.maxClockSkewMs,
    limits
  })
  await graph.start()
  try {
    for (const given of vector.given ?? []) {
      const result = await graph.ingest([fromHex(given)])
      if (result.accepted !== 1) {
        throw new Error(
          `vector "${vector.name}": a given envelope was not accepted (${result.rejected[0]?.error.message ?? 'held'})`
        )
      }
    }
    const result = await graph.ingest([envelope], { kind: 'remote', peer: 'vectors' })
    const rejected = result.rejected[0]
    if (rejected !== undefined) return { verdict: rejected.error.name, id }
    if (result.accepted === 1) return { verdict: 'accept', id }
    return { verdict: result.held === 1 ? 'held' : 'duplicate', id }
  } finally {
    await graph.stop()
  }
}
