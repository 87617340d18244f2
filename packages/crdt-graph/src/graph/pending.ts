import { equalBytes } from '@araliya/identity'
import type { Origin } from '@araliya/interface'
import type { Logger } from '@libp2p/logger'
import type { TypedEventEmitter } from 'main-event'
import type { ChainNode, ChainTree } from '../chain.js'
import type { Commit } from '../commit.js'
import { toHex } from '../hash.js'
import type { Authority } from './authority.js'
import { type Chains, chainKey } from './chains.js'
import type { GraphEvents, IngestResult } from './types.js'
import type { Prepared } from './verify.js'

/** A verified commit waiting in the pending buffer. */
export interface Held extends Prepared {
  /** Where it came from (a refusal on release is reported against that origin). */
  readonly origin: Origin
  /** Counted against the ungranted share: its position is not here yet and its author holds no known grant. */
  ungranted: boolean
  /** While it waits for an owner commit it names (its predecessor is accepted): that commit's key. */
  blockedOn: string | undefined
}

/** The bounds of the pending buffer (see `GraphInit`). */
export interface PendingLimits {
  readonly maxPending: number
  readonly maxPendingPerChain: number
  readonly maxPendingUngranted: number
  readonly maxPendingUngrantedPerSpace: number
}

/** Reports a refused commit (against the origin it came from). */
export type Reject = (
  result: IngestResult | undefined,
  id: Uint8Array | undefined,
  error: Error,
  origin: Origin
) => void

/**
 * The pending buffer: verified commits that cannot be applied yet, because their predecessor is not
 * accepted (`#pending`) or an owner commit they name is not (`#blocked`). Bounded in total, per chain,
 * and for "ungranted" commits (by authors holding no grant known here) per space; nothing is evicted to
 * make room. See decision 0011 and `docs/internals/crdt-graph.md`.
 */
export class PendingBuffer {
  readonly #chains: Chains
  readonly #authority: Authority
  readonly #limits: PendingLimits
  readonly #events: TypedEventEmitter<GraphEvents>
  readonly #reject: Reject
  readonly #log: Logger
  /** Verified commits whose predecessor is not accepted yet: chain key -> position -> commits. */
  readonly #pending = new Map<string, Map<number, Held[]>>()
  /**
   * Verified commits whose predecessor is accepted but not an owner commit they name, by that owner
   * commit (space and hex id), so accepting an owner commit looks only at the commits waiting for it.
   */
  readonly #blocked = new Map<string, Held[]>()
  /** Hex ids of the commits in `#blocked`. */
  readonly #blockedIds = new Set<string>()
  #count = 0
  /**
   * Held commits counted against the ungranted share (in `#pending` or `#blocked`), by space: at most
   * `maxPendingUngrantedPerSpace` each, so re-judging a space when its owner's chain moves stays cheap.
   */
  readonly #ungranted = new Map<string, Set<Held>>()
  #ungrantedCount = 0

  constructor(
    chains: Chains,
    authority: Authority,
    limits: PendingLimits,
    events: TypedEventEmitter<GraphEvents>,
    reject: Reject,
    log: Logger
  ) {
    this.#chains = chains
    this.#authority = authority
    this.#limits = limits
    this.#events = events
    this.#reject = reject
    this.#log = log
  }

  /** Number of commits held. */
  get count(): number {
    return this.#count
  }

  /** True when no commit is blocked on an owner commit. */
  get noneBlocked(): boolean {
    return this.#blocked.size === 0
  }

  /** True when ungranted commits of `space` are held. */
  hasUngranted(space: string): boolean {
    return this.#ungranted.has(space)
  }

  /** True when this very commit (same id) is held. */
  holds(commit: Commit): boolean {
    if (this.#count === 0) return false
    const same = (prepared: Prepared): boolean => equalBytes(prepared.commit.id, commit.id)
    if (this.#pending.get(chainKey(commit.space, commit.author))?.get(commit.seq)?.some(same) === true)
      return true
    return this.#blockedIds.size > 0 && this.#blockedIds.has(toHex(commit.id))
  }

  /**
   * Puts a commit that cannot be applied yet in the pending buffer, within its bounds. `blocked`: its
   * predecessor is accepted and it waits for an owner commit it names; else it waits for its predecessor.
   * - a non-owner commit whose named owner commits are here is judged first, on everything that does not
   *   need its predecessor; a refused one is never held;
   * - one whose named owner commits are not all here yet, by an author holding no grant known here, is
   *   "ungranted": at most `maxPendingUngrantedPerSpace` per space and `maxPendingUngranted` in total;
   * - every held commit is within `maxPendingPerChain` of its chain's highest position (and its declared
   *   position within as much of the owner's), and the whole buffer holds at most `maxPendingCommits`.
   * Nothing is evicted to make room: a commit that does not fit is dropped (sync offers it again later).
   */
  park(prepared: Prepared, blocked: boolean, origin: Origin, result: IngestResult | undefined): void {
    const commit = prepared.commit
    const space = commit.space
    let ungranted = false
    if (commit.author !== space) {
      const seen = blocked ? undefined : this.#chains.seenOwnerCommit(commit)
      if (seen !== undefined) {
        const refusal = this.#authority.judge(commit, seen, undefined)
        if (refusal !== undefined) {
          this.#reject(result, commit.id, refusal, origin)
          return
        }
      } else {
        const ownerHead = this.#chains.get(space, space)?.seq ?? 0
        if (commit.dep > ownerHead + this.#limits.maxPendingPerChain) {
          this.#log(
            'dropped %s seq %d: it depends on owner commit %d, too far ahead',
            commit.author,
            commit.seq,
            commit.dep
          )
          return
        }
        ungranted = !this.#authority.knowsGrantFor(space, commit.author)
      }
    }
    const key = chainKey(space, commit.author)
    const head = this.#chains.get(space, commit.author)?.seq ?? 0
    if (this.#count >= this.#limits.maxPending || commit.seq > head + this.#limits.maxPendingPerChain) {
      this.#log(
        'pending buffer full; dropped %s seq %d (a later sync will offer it again)',
        commit.author,
        commit.seq
      )
      return
    }
    let strangers = this.#ungranted.get(space)
    if (ungranted) {
      if (
        this.#ungrantedCount >= this.#limits.maxPendingUngranted ||
        (strangers?.size ?? 0) >= this.#limits.maxPendingUngrantedPerSpace
      ) {
        this.#log(
          'ungranted share of the pending buffer full; dropped %s seq %d in %s',
          commit.author,
          commit.seq,
          space
        )
        return
      }
    }
    const chain = this.#chains.chain(space, commit.author)
    const held: Held = {
      commit,
      grants: prepared.grants,
      revocations: prepared.revocations,
      origin,
      ungranted,
      blockedOn: undefined
    }
    if (blocked) {
      const owner = this.#chains.get(space, space)
      const missing = commit.seen.find(
        (id) => (owner?.get(commit.dep, id) ?? owner?.findForked(id)) === undefined
      )
      const blockKey = `${space}\n${toHex(missing ?? (commit.seen[0] as Uint8Array))}`
      held.blockedOn = blockKey
      const list = this.#blocked.get(blockKey)
      if (list === undefined) this.#blocked.set(blockKey, [held])
      else list.push(held)
      this.#blockedIds.add(toHex(commit.id))
    } else {
      let waiting = this.#pending.get(key)
      if (waiting === undefined) {
        waiting = new Map()
        this.#pending.set(key, waiting)
      }
      const list = waiting.get(commit.seq)
      if (list === undefined) waiting.set(commit.seq, [held])
      else list.push(held)
    }
    this.#count++
    chain.waiting++
    if (ungranted) {
      if (strangers === undefined) {
        strangers = new Set()
        this.#ungranted.set(space, strangers)
      }
      strangers.add(held)
      this.#ungrantedCount++
    }
    if (!blocked && this.#events.listenerCount('commit:held') > 0) {
      this.#events.safeDispatchEvent('commit:held', {
        detail: { space, author: commit.author, have: chain.seq, got: commit.seq, origin }
      })
    }
  }

  /** Counters of a commit leaving the pending buffer (the caller takes it out of its map). */
  #unpark(held: Held): void {
    this.#count--
    const chain = this.#chains.get(held.commit.space, held.commit.author)
    if (chain !== undefined) chain.waiting--
    if (held.blockedOn !== undefined) this.#blockedIds.delete(toHex(held.commit.id))
    if (held.ungranted) this.#countedAsGranted(held)
  }

  /** Takes a held commit out of the ungranted share (it stays held, or is leaving the buffer). */
  #countedAsGranted(held: Held): void {
    held.ungranted = false
    this.#ungrantedCount--
    const strangers = this.#ungranted.get(held.commit.space)
    strangers?.delete(held)
    if (strangers?.size === 0) this.#ungranted.delete(held.commit.space)
  }

  /** Removes and returns the held commits whose predecessor is `parent` (of `chain`). */
  takeChildren(chain: ChainTree, parent: ChainNode): Held[] {
    const key = chainKey(chain.space, chain.author)
    const waiting = this.#pending.get(key)
    const list = waiting?.get(parent.seq + 1)
    if (waiting === undefined || list === undefined) return []
    const children = list.filter((held) => equalBytes(held.commit.prev as Uint8Array, parent.id))
    if (children.length === 0) return children
    const rest = list.filter((held) => !children.includes(held))
    if (rest.length > 0) waiting.set(parent.seq + 1, rest)
    else waiting.delete(parent.seq + 1)
    if (waiting.size === 0) this.#pending.delete(key)
    for (const held of children) this.#unpark(held)
    return children
  }

  /** Removes and returns the blocked commits that waited for the owner commit `node` of `space`. */
  takeUnblocked(space: string, node: ChainNode): Held[] {
    const key = `${space}\n${toHex(node.id)}`
    const list = this.#blocked.get(key)
    if (list === undefined) return []
    this.#blocked.delete(key)
    for (const held of list) this.#unpark(held)
    return list
  }

  /**
   * The owner's chain of `space` moved: ungranted commits held there (waiting for their predecessor) whose
   * named owner commits are now all here are judged like any commit about to be held. Refused ones leave
   * the buffer (so strangers cannot keep their share occupied in a space this replica follows); the others
   * stop counting as ungranted. Blocked ones are judged in full when what they wait for arrives.
   */
  rejudgeUngranted(space: string, result: IngestResult | undefined): void {
    const strangers = this.#ungranted.get(space)
    if (strangers === undefined) return
    const ownerHead = this.#chains.get(space, space)?.seq ?? 0
    for (const held of [...strangers]) {
      if (held.blockedOn !== undefined || held.commit.dep > ownerHead) continue
      const seen = this.#chains.seenOwnerCommit(held.commit)
      if (seen === undefined) continue
      const refusal = this.#authority.judge(held.commit, seen, undefined)
      if (refusal === undefined) {
        this.#countedAsGranted(held)
        continue
      }
      const key = chainKey(space, held.commit.author)
      const waiting = this.#pending.get(key)
      const list = waiting?.get(held.commit.seq)
      if (waiting !== undefined && list !== undefined) {
        const rest = list.filter((other) => other !== held)
        if (rest.length > 0) waiting.set(held.commit.seq, rest)
        else waiting.delete(held.commit.seq)
        if (waiting.size === 0) this.#pending.delete(key)
      }
      this.#unpark(held)
      this.#reject(result, held.commit.id, refusal, held.origin)
    }
  }
}
