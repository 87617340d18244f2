import { type ChainNode, ChainTree, type CommitRef, NO_NODES } from '../chain.js'
import type { CommitBody } from '../commit.js'
import { compareBytes, toHex } from '../hash.js'
import type { ChainFork, ChainHead } from './types.js'

/** Most heads of one chain a version vector lists (a key that forked more often gets the highest ones). */
const MAX_HEADS_PER_CHAIN = 16

/**
 * The owner commits a writer declares it had seen when it signed (key `h`, see
 * {@link Chains.seenOwnerCommit}): the heads of the owner's chain it had applied (one, unless the owner's
 * key forked).
 */
export interface SeenOwnerCommit {
  /** The owner commits named (all accepted here). */
  readonly nodes: readonly ChainNode[]
  /** Their highest position (the commit's `dep`). */
  readonly seq: number
  /** The highest stamp over them: every stamp of the writer's commit must be above it. */
  readonly maxHlc: number
}

/** What an owner's commit, or a commit at position 0, has seen of the owner's chain: nothing. */
export const NOTHING_SEEN: SeenOwnerCommit = Object.freeze({ nodes: NO_NODES, seq: 0, maxHlc: -1 })

/** The key of one chain (one author in one space) in the maps of a graph. */
export function chainKey(space: string, author: string): string {
  return `${space}\n${author}`
}

/** What a commit naming `nodes` (owner commits) declares it had seen. */
export function seenOf(nodes: readonly ChainNode[]): SeenOwnerCommit {
  if (nodes.length === 0) return NOTHING_SEEN
  let seq = 0
  let maxHlc = -1
  for (const node of nodes) {
    if (node.seq > seq) seq = node.seq
    if (node.maxHlc > maxHlc) maxHlc = node.maxHlc
  }
  return { nodes, seq, maxHlc }
}

/**
 * Every chain a graph knows (one per author and space), each a tree of accepted commits (see `chain.ts`),
 * and the read-only questions sync asks of them: version vector, positions, samples, forks.
 */
export class Chains {
  readonly #chains = new Map<string, ChainTree>()

  /** The chain of `author` in `space`, or `undefined` when nothing of it was applied or held. */
  get(space: string, author: string): ChainTree | undefined {
    return this.#chains.get(chainKey(space, author))
  }

  /** The chain of `author` in `space`, created empty when new. */
  chain(space: string, author: string): ChainTree {
    const key = chainKey(space, author)
    let chain = this.#chains.get(key)
    if (chain === undefined) {
      chain = new ChainTree(space, author)
      this.#chains.set(key, chain)
    }
    return chain
  }

  /**
   * The owner commits a non-owner commit declares it had seen when it was signed (the ids it names in `h`,
   * at most one per branch head of the owner's chain, the highest at its position `d`), or `undefined`
   * while one of them is not accepted here yet. Owners' commits, and commits at position 0, have seen
   * nothing. Every position- and stamp-based authority decision goes through here.
   */
  seenOwnerCommit(
    commit: Pick<CommitBody, 'space' | 'author' | 'dep' | 'seen'>
  ): SeenOwnerCommit | undefined {
    if (commit.author === commit.space || commit.seen.length === 0) return NOTHING_SEEN
    const owner = this.#chains.get(chainKey(commit.space, commit.space))
    if (owner === undefined) return undefined
    const nodes: ChainNode[] = []
    for (const id of commit.seen) {
      const node = owner.get(commit.dep, id) ?? owner.findForked(id)
      if (node === undefined) return undefined
      nodes.push(node)
    }
    return seenOf(nodes)
  }

  /** See `Graph.versionVector`. */
  versionVector(spaces?: ReadonlySet<string>): ChainHead[] {
    const out: ChainHead[] = []
    for (const chain of this.#chains.values()) {
      if (chain.seq === 0) continue
      if (spaces !== undefined && !spaces.has(chain.space)) continue
      for (const head of chain.heads(MAX_HEADS_PER_CHAIN))
        out.push({ space: chain.space, author: chain.author, seq: head.seq, head: head.id })
    }
    return out
  }

  /** The highest position applied of one chain. */
  chainLength(space: string, author: string): number {
    return this.#chains.get(chainKey(space, author))?.seq ?? 0
  }

  /** True when the commit at this position with this id is applied. */
  hasCommit(space: string, author: string, seq: number, id: Uint8Array): boolean {
    return this.#chains.get(chainKey(space, author))?.get(seq, id) !== undefined
  }

  /** True when the chain holds more than one commit at `seq`: its key forked there. */
  isForkedAt(space: string, author: string, seq: number): boolean {
    return this.#chains.get(chainKey(space, author))?.forkedAt(seq) === true
  }

  /** See `Graph.chainSample`. */
  chainSample(space: string, author: string, below: number): CommitRef[] {
    const chain = this.#chains.get(chainKey(space, author))
    if (chain === undefined) return []
    const out = new Set<ChainNode>(chain.heads(MAX_HEADS_PER_CHAIN))
    for (const node of chain.sample(below)) out.add(node)
    return [...out].map((node) => ({ seq: node.seq, id: node.id }))
  }

  /** Every forked chain, by space and author. */
  forks(): ChainFork[] {
    const out: ChainFork[] = []
    for (const chain of this.#chains.values()) {
      const fork = forkOf(chain)
      if (fork !== undefined) out.push(fork)
    }
    return out.sort((a, b) => compareText(a.space, b.space) || compareText(a.author, b.author))
  }

  /** The fork of one chain, or `undefined` while its key signed one commit per position. */
  forkStatus(space: string, author: string): ChainFork | undefined {
    const chain = this.#chains.get(chainKey(space, author))
    return chain === undefined ? undefined : forkOf(chain)
  }
}

function forkOf(chain: ChainTree): ChainFork | undefined {
  if (chain.forkSeq === 0) return undefined
  return {
    space: chain.space,
    author: chain.author,
    seq: chain.forkSeq,
    commits: chain
      .at(chain.forkSeq)
      .map((node) => node.id)
      .sort(compareBytes)
      .map(toHex)
  }
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
