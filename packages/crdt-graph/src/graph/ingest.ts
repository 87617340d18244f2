import { HLC_UNITS_PER_MS, type HybridClock, type Origin, throwIfAborted } from '@araliya/interface'
import type { TypedEventEmitter } from 'main-event'
import { type Commit, type CommitLimits, decodeCommit, toHex } from '../commit.js'
import { ClockSkewError, StoreClosedError } from '../errors.js'
import { YieldPacer } from '../yield.js'
import { type Durability, toStored } from './durability.js'
import type { Replica } from './replica.js'
import type { GraphEvents, IngestOptions, IngestResult } from './types.js'
import { type Prepared, prepareVerified } from './verify.js'
import type { VerifyPool } from './verify-pool.js'

/** `ingest` yields to the event loop after this many commits… */
const INGEST_YIELD_EVERY_COMMITS = 512
/** …or this many milliseconds of checking, whichever comes first. */
const INGEST_YIELD_EVERY_MS = 20

/** What pass 1 of {@link ingest} settled about one envelope. */
type Step =
  | typeof IGNORED
  | typeof DUPLICATE
  | { readonly index: number; readonly commit: Commit; readonly error: Error; readonly job?: undefined }
  | { readonly index: number; readonly commit: Commit; readonly job: number; readonly error?: undefined }
const IGNORED = 'ignored'
const DUPLICATE = 'duplicate'

/** What {@link ingest} works with: the parts of a started graph. */
export interface IngestContext {
  readonly replica: Replica
  readonly clock: HybridClock
  readonly limits: CommitLimits
  readonly maxSkewUnits: number
  readonly durability: Durability
  readonly events: TypedEventEmitter<GraphEvents>
  /** Where signatures are verified (worker threads, or this thread). */
  readonly verifier: VerifyPool
  /** True while the graph is started. */
  started(): boolean
}

/**
 * The remote-commit pipeline behind `Graph.ingest` (see its documentation): decode, skip replays, check
 * clock skew and signatures (yielding now and then), then offer each verified commit to the replica and
 * queue the accepted ones for the store.
 */
export async function ingest(
  ctx: IngestContext,
  envelopes: readonly Uint8Array[],
  origin: Origin,
  options?: IngestOptions
): Promise<IngestResult> {
  const { replica, clock, limits, maxSkewUnits } = ctx
  const result: IngestResult = {
    accepted: 0,
    duplicates: 0,
    pending: 0,
    rejected: [],
    ignored: 0,
    held: 0,
    dropped: 0
  }
  const spaces = options?.spaces
  // Pass 1 decodes and settles what needs no signature (replays, foreign spaces, clock skew), in order,
  // up to the first envelope that does not decode. Nothing is applied or reported yet.
  const steps: Step[] = []
  // Signatures go to the verify pool as they are decoded: a worker starts on its share meanwhile.
  const run = ctx.verifier.begin(envelopes.length, options?.signal)
  let jobs = 0
  let undecodable: { index: number; error: Error } | undefined
  const pacer = new YieldPacer(INGEST_YIELD_EVERY_COMMITS, INGEST_YIELD_EVERY_MS)
  for (let index = 0; index < envelopes.length; index++) {
    if (index > 0 && pacer.due()) {
      // Nothing is applied yet, so other work (and other ingests) may run here; the last pass below
      // checks again what became known meanwhile.
      await pacer.yield()
      if (!ctx.started()) break
    }
    throwIfAborted(options?.signal)
    const envelope = envelopes[index] as Uint8Array
    let commit: Commit
    try {
      commit = decodeCommit(envelope, limits)
    } catch (err) {
      undecodable = { index, error: err as Error }
      break
    }
    if (spaces !== undefined && !spaces.has(commit.space)) {
      steps.push(IGNORED)
      continue
    }
    // Only an exact replay is settled before the signature is checked: a different commit at a known
    // position proves nothing until its signature verifies (else anyone could frame an honest key).
    if (replica.has(commit)) {
      steps.push(DUPLICATE)
      continue
    }
    const ahead = commit.maxHlc - (clock.nowMs() * HLC_UNITS_PER_MS + maxSkewUnits)
    if (ahead > 0) {
      const aheadMs = Math.ceil(ahead / HLC_UNITS_PER_MS) + maxSkewUnits / HLC_UNITS_PER_MS
      steps.push({
        index,
        commit,
        error: new ClockSkewError(
          `commit ${toHex(commit.id).slice(0, 16)} by ${commit.author} is stamped ${aheadMs} ms ahead of local time, ` +
            `over maxClockSkewMs (${maxSkewUnits / HLC_UNITS_PER_MS}); it is dropped, not parked: check both clocks, ` +
            'the peer will offer it again on a later sync',
          aheadMs
        )
      })
      continue
    }
    steps.push({ index, commit, job: jobs++ })
    run.add(commit)
  }
  // Pass 2 verifies every remaining signature at once (on the worker pool when the batch is large).
  const verdicts = await run.finish()
  if (!ctx.started())
    throw ctx.durability.fatal ?? new StoreClosedError('the graph was stopped during ingest')
  // Pass 3 reports in envelope order, exactly as a one-by-one check would: everything after the first
  // bad signature (or undecodable envelope) is dropped unreported.
  const checked: Prepared[] = []
  let stopped = false
  for (const step of steps) {
    if (step === IGNORED) {
      result.ignored++
    } else if (step === DUPLICATE) {
      result.duplicates++
    } else if (step.error !== undefined) {
      replica.reject(result, step.commit.id, step.error, origin)
    } else {
      try {
        const prepared = prepareVerified(step.commit, verdicts[step.job] === true)
        checked.push(prepared instanceof Promise ? await prepared : prepared)
      } catch (err) {
        replica.reject(result, step.commit.id, err as Error, origin)
        result.dropped = envelopes.length - step.index - 1
        stopped = true
        break
      }
    }
  }
  if (!stopped && undecodable !== undefined) {
    replica.reject(result, undefined, undecodable.error, origin)
    result.dropped = envelopes.length - undecodable.index - 1
  }
  if (!ctx.started())
    throw ctx.durability.fatal ?? new StoreClosedError('the graph was stopped during ingest')
  const accepted: Prepared[] = []
  for (const prepared of checked) {
    // The same commit twice in one batch.
    if (replica.has(prepared.commit)) {
      result.duplicates++
      continue
    }
    const waiting = replica.pending.count
    replica.offer(prepared, origin, accepted, result)
    // Parking adds exactly one and releases nothing; applying can only release.
    if (replica.pending.count > waiting) result.held++
  }
  result.accepted = accepted.length
  result.pending = replica.pending.count
  if (accepted.length > 0) {
    for (const prepared of accepted) clock.observe(prepared.commit.maxHlc)
    const events = ctx.events
    const done = ctx.durability
      .append(() => accepted.map((p) => toStored(p.commit)))
      .then(() => {
        if (events.listenerCount('commit:accepted') === 0) return
        for (const prepared of accepted)
          events.safeDispatchEvent('commit:accepted', { detail: { commit: prepared.commit, origin } })
      })
    ctx.durability.track(done)
    await done
  }
  return result
}
