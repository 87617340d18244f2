import type { Origin } from '@araliya/interface'
import type { Logger } from '@libp2p/logger'
import type { TypedEventEmitter } from 'main-event'
import { type ChainNode, type ChainTree, mergeSeen, NO_NODES } from '../chain.js'
import type { Commit, CommitOp } from '../commit.js'
import { toHex } from '../hash.js'
import { Authority } from './authority.js'
import { Chains, type SeenOwnerCommit } from './chains.js'
import type { FieldTable } from './fields.js'
import { PendingBuffer, type PendingLimits } from './pending.js'
import type { GraphEvents, IngestResult } from './types.js'
import type { Prepared } from './verify.js'

/**
 * The accept path of a replica: where a verified commit goes once its predecessor and the owner commits
 * it names are here (judged, linked into its chain, its ops applied to the field state), or waits (the
 * pending buffer) until they are; accepting one releases what waited for it. Every refusal is reported
 * with the origin the commit came from.
 */
export class Replica {
  readonly chains = new Chains()
  readonly authority: Authority
  readonly pending: PendingBuffer
  readonly #fields: FieldTable
  readonly #events: TypedEventEmitter<GraphEvents>
  readonly #log: Logger

  constructor(
    fields: FieldTable,
    limits: PendingLimits,
    events: TypedEventEmitter<GraphEvents>,
    log: Logger
  ) {
    this.#fields = fields
    this.#events = events
    this.#log = log
    this.authority = new Authority(this.chains)
    this.pending = new PendingBuffer(
      this.chains,
      this.authority,
      limits,
      events,
      (result, id, error, origin) => this.reject(result, id, error, origin),
      log
    )
  }

  /** True when this very commit (same id) is already applied or waiting. */
  has(commit: Commit): boolean {
    if (this.chains.get(commit.space, commit.author)?.get(commit.seq, commit.id) !== undefined) return true
    return this.pending.holds(commit)
  }

  /** Reports a refused commit: in `result` (when given) and as `commit:rejected`. */
  reject(result: IngestResult | undefined, id: Uint8Array | undefined, error: Error, origin: Origin): void {
    const hex = id === undefined ? undefined : toHex(id)
    this.#log('rejected commit %s: %s', hex ?? '(undecodable)', error.message)
    result?.rejected.push(hex === undefined ? { error } : { id: hex, error })
    if (this.#events.listenerCount('commit:rejected') > 0) {
      this.#events.safeDispatchEvent('commit:rejected', {
        detail: hex === undefined ? { error, origin } : { id: hex, error, origin }
      })
    }
  }

  /**
   * Applies a verified commit once its predecessor and the owner commits it names are accepted (refusing
   * it as a whole if the authority rules say no), else holds it (bounded); then releases every held commit
   * that became ready. Any number of commits may follow one commit (a forked key): each is judged and
   * accepted on its own. `accepted`/`result` are undefined while loading from the store.
   */
  offer(
    prepared: Prepared,
    origin: Origin,
    accepted: Prepared[] | undefined,
    result: IngestResult | undefined
  ): void {
    const commit = prepared.commit
    // Chains are created only for commits that are applied or held: a refused commit leaves nothing behind.
    const chain = this.chains.get(commit.space, commit.author)
    const parent = commit.seq === 1 ? null : chain?.get(commit.seq - 1, commit.prev as Uint8Array)
    if (parent === undefined) {
      this.pending.park(prepared, false, origin, result)
      return
    }
    const node = this.place(prepared, parent, origin, accepted, result)
    if (node !== undefined && this.pending.count > 0)
      this.#drain(this.chains.chain(commit.space, commit.author), node, accepted, result)
  }

  /**
   * Judges and applies a commit whose predecessor `parent` is accepted, or holds it until the owner commits
   * it names are. A refused commit is reported (against `origin`) and changes nothing. Returns its node
   * when it was applied.
   */
  place(
    prepared: Prepared,
    parent: ChainNode | null,
    origin: Origin,
    accepted: Prepared[] | undefined,
    result: IngestResult | undefined
  ): ChainNode | undefined {
    const commit = prepared.commit
    const seen = this.chains.seenOwnerCommit(commit)
    if (seen === undefined) {
      this.pending.park(prepared, true, origin, result)
      return undefined
    }
    const refusal = this.authority.judge(commit, seen, parent)
    if (refusal !== undefined) {
      this.reject(result, commit.id, refusal, origin)
      return undefined
    }
    const node = this.apply(prepared, origin, this.chains.chain(commit.space, commit.author), parent, seen)
    accepted?.push(prepared)
    return node
  }

  /** Releases, transitively, every held commit that `node` (just accepted) made ready. */
  #drain(
    chain: ChainTree,
    node: ChainNode,
    accepted: Prepared[] | undefined,
    result: IngestResult | undefined
  ): void {
    const work: Array<[ChainTree, ChainNode]> = [[chain, node]]
    while (work.length > 0 && this.pending.count > 0) {
      const [tree, done] = work.pop() as [ChainTree, ChainNode]
      for (const child of this.pending.takeChildren(tree, done)) {
        // A released commit is reported against the peer it came from, not the one that released it.
        const placed = this.place(child, done, child.origin, accepted, result)
        if (placed !== undefined) work.push([tree, placed])
      }
      if (tree.author !== tree.space) continue
      // An owner commit: held strangers of its space may be judged now, and commits of other authors that
      // named it may be ready (or blocked again, on another owner commit they name).
      if (this.pending.hasUngranted(tree.space)) this.pending.rejudgeUngranted(tree.space, result)
      if (this.pending.noneBlocked) continue
      for (const ready of this.pending.takeUnblocked(tree.space, done)) {
        const other = this.chains.chain(ready.commit.space, ready.commit.author)
        const parent =
          ready.commit.seq === 1 ? null : other.get(ready.commit.seq - 1, ready.commit.prev as Uint8Array)
        if (parent === undefined) {
          this.pending.park(ready, false, ready.origin, result)
          continue
        }
        const placed = this.place(ready, parent, ready.origin, accepted, result)
        if (placed !== undefined) work.push([other, placed])
      }
    }
  }

  /**
   * Accepts a judged commit into its chain (its predecessor `parent` and the owner commits it names,
   * `seen`, are accepted) and applies its ops: authority was judged for the whole commit (`Authority.judge`).
   */
  apply(
    prepared: Prepared,
    origin: Origin,
    chain: ChainTree,
    parent: ChainNode | null,
    seen: SeenOwnerCommit
  ): ChainNode {
    const commit = prepared.commit
    const space = commit.space
    const author = commit.author
    const node = this.#link(chain, commit, parent, seen.nodes, origin)
    if (prepared.grants.length > 0 || prepared.revocations.length > 0) this.authority.record(prepared, node)
    const ops = commit.ops
    const paths = this.#fields.paths(space)
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i] as CommitOp
      this.#fields.applyOp(
        paths,
        space,
        op.path,
        op.field,
        {
          hlc: op.hlc,
          signer: author,
          value: op.value,
          wire: op.wire,
          commit: commit.id
        },
        origin
      )
    }
    return node
  }

  /** Chain bookkeeping of an accepted commit; reports a fork when its position was taken already. */
  #link(
    chain: ChainTree,
    commit: Commit,
    parent: ChainNode | null,
    declared: readonly ChainNode[],
    origin: Origin
  ): ChainNode {
    const owner = declared.length === 0 ? undefined : this.chains.get(commit.space, commit.space)
    // The owner commits that count for this commit: what it names plus what its branch had named before
    // (causal positions only move forward along a chain, on every branch).
    const seen =
      owner === undefined ? (parent?.seen ?? NO_NODES) : mergeSeen(owner, parent?.seen ?? NO_NODES, declared)
    const { node, sibling } = chain.add(commit.id, commit.seq, parent, seen, commit.maxHlc, commit.dep)
    if (sibling !== undefined) {
      this.#log.error(
        '%s signed two commits for seq %d in the space of %s: treat the key as compromised or cloned',
        commit.author,
        commit.seq,
        commit.space
      )
      this.#events.safeDispatchEvent('chain:forked', {
        detail: {
          space: commit.space,
          author: commit.author,
          seq: commit.seq,
          commits: [toHex(sibling.id), toHex(commit.id)],
          origin
        }
      })
    }
    return node
  }
}
