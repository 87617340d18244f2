import type { CommitRef } from '../chain.js'
import { commitId, SIGNATURE_BYTES } from '../commit.js'
import type { ChainHead, Graph } from '../graph.js'
import { toHex } from '../hash.js'

// What a sync session sends and when: batching, the resend ledger and the pacing of repeated requests.

/** Commit batches smaller than this are sent uncompressed. */
export const COMPRESS_THRESHOLD = 4096
/** Senders put at most this many commits in one message (receivers accept `maxCommitsPerMessage`). */
export const MAX_COMMITS_SENT_PER_MESSAGE = 1024
/**
 * Commits a session may send again (that it had already sent this peer) on top of one resend of
 * everything it sent: resends are bounded by `sent + RESEND_ALLOWANCE`.
 */
export const RESEND_ALLOWANCE = 64

export function key(space: string, author: string): string {
  return `${space}\n${author}`
}

export type ProbeChain = readonly [string, string, ReadonlyArray<readonly [number, Uint8Array]>]

export interface ChainHeads {
  readonly space: string
  readonly author: string
  /** The highest position among the heads. */
  seq: number
  readonly heads: CommitRef[]
}

/** Groups version-vector entries (one per head) by chain. */
export function groupHeads(vector: Iterable<ChainHead>): Map<string, ChainHeads> {
  const out = new Map<string, ChainHeads>()
  for (const { space, author, seq, head } of vector) {
    const k = key(space, author)
    const chain = out.get(k)
    if (chain === undefined) out.set(k, { space, author, seq, heads: [{ seq, id: head }] })
    else {
      chain.heads.push({ seq, id: head })
      if (seq > chain.seq) chain.seq = seq
    }
  }
  return out
}

export function minSeq(refs: readonly CommitRef[]): number {
  let min = Number.POSITIVE_INFINITY
  for (const ref of refs) if (ref.seq < min) min = ref.seq
  return min
}

/** Collects envelopes into commits messages of about `target` bytes. */
export class Batch {
  #envelopes: Uint8Array[] = []
  #size = 0
  readonly #target: number
  readonly #send: (envelopes: Uint8Array[]) => Promise<void>

  constructor(target: number, send: (envelopes: Uint8Array[]) => Promise<void>) {
    this.#target = target
    this.#send = send
  }

  async add(envelope: Uint8Array): Promise<void> {
    if (
      this.#envelopes.length >= MAX_COMMITS_SENT_PER_MESSAGE ||
      (this.#size + envelope.byteLength > this.#target && this.#envelopes.length > 0)
    )
      await this.flush()
    this.#envelopes.push(envelope)
    this.#size += envelope.byteLength + 4
  }

  async flush(): Promise<void> {
    if (this.#envelopes.length === 0) return
    const envelopes = this.#envelopes
    this.#envelopes = []
    this.#size = 0
    await this.#send(envelopes)
  }
}

/**
 * What one session sent to its peer: the highest position of each chain, and by id the commits at
 * positions where their chain forked (a position names none of them there). Asking again for what was
 * sent is a resend; resends are bounded by the first sends plus {@link RESEND_ALLOWANCE}.
 */
export class SentLedger {
  readonly #graph: Graph
  /** The highest seq of each chain sent to this peer in this session: asking again for less is a resend. */
  readonly #sent = new Map<string, number>()
  /** Hex ids of the commits sent at positions where their chain forked (a position names none of them). */
  readonly #sentForked = new Set<string>()
  /** Commits sent for the first time, and again, in this session (resends are bounded by the first). */
  #firstSends = 0
  #resends = 0

  constructor(graph: Graph) {
    this.#graph = graph
  }

  /** True when `again` more resends fit the allowance. */
  mayResend(again: number): boolean {
    return this.#resends + again <= this.#firstSends + RESEND_ALLOWANCE
  }

  /** Counts `count` resends. */
  resent(count: number): void {
    this.#resends += count
  }

  /** True when this session sent the commit at `seq` of a chain (its envelope, or its id) before. */
  wasSent(space: string, author: string, seq: number, envelope: Uint8Array, id?: Uint8Array): boolean {
    // Where the key forked, a position names several commits: which went out is remembered by id.
    if (this.#graph.isForkedAt(space, author, seq))
      return this.#sentForked.has(toHex(id ?? commitId(envelope.subarray(SIGNATURE_BYTES))))
    return seq <= (this.#sent.get(key(space, author)) ?? 0)
  }

  /**
   * Records that the commit at `seq` of a chain (its envelope, or its id) goes to the peer; a first send
   * (one this session had not sent before) is counted towards the resend allowance.
   */
  noteSent(space: string, author: string, seq: number, envelope: Uint8Array, id?: Uint8Array): void {
    if (this.wasSent(space, author, seq, envelope, id)) return
    this.#firstSends++
    const k = key(space, author)
    if (this.#graph.isForkedAt(space, author, seq))
      this.#sentForked.add(toHex(id ?? commitId(envelope.subarray(SIGNATURE_BYTES))))
    if (seq > (this.#sent.get(k) ?? 0)) this.#sent.set(k, seq)
  }
}
