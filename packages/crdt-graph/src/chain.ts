import { equalBytes } from '@araliya/identity'
import { compareBytes, toHex } from './hash.js'

/**
 * One accepted commit of a chain. A chain (one author's commits in one space) is a path while its key
 * signs one commit per position; when the key forks (one seed on two devices, a restored backup), every
 * validly signed commit whose `prev` is accepted is accepted too, and the chain becomes a tree.
 */
export interface ChainNode {
  readonly id: Uint8Array
  readonly seq: number
  readonly parent: ChainNode | null
  readonly branch: Branch
  /**
   * The owner commits this commit and the earlier commits of its chain had seen, as the maximal ones
   * (usually one): their ancestors are the owner commits whose grants and revocations count for it.
   * Empty in an owner's own chain.
   */
  readonly seen: readonly ChainNode[]
  /** The commit's highest stamp: the next commit on this branch must be stamped above it. */
  readonly maxHlc: number
  /** The owner-chain position the commit declared (`d`): the next commit on this branch may not go below. */
  readonly dep: number
}

/**
 * A maximal run of commits without a fork inside a chain's tree. Branches make ancestry questions cost
 * the number of forks on the way, not the length of the chain.
 */
export interface Branch {
  /** Position of the branch's first commit. */
  readonly start: number
  /** The branch the first commit's parent is on; `null` for a first commit (seq 1). */
  readonly parent: Branch | null
  /** The branch's last commit: a head (leaf) of the chain. */
  head: ChainNode
}

/** A commit named by position and id (what sync messages carry). */
export interface CommitRef {
  readonly seq: number
  readonly id: Uint8Array
}

/** A run of positions of one branch, `from..to`, that a peer lacks. */
export interface MissingRange {
  readonly branch: Branch
  readonly from: number
  readonly to: number
}

class BranchRecord implements Branch {
  readonly start: number
  readonly parent: Branch | null
  /** Set by {@link ChainTree.add} right after construction, with the branch's first node. */
  head!: ChainNode
  constructor(start: number, parent: Branch | null) {
    this.start = start
    this.parent = parent
  }
}

export const NO_NODES: readonly ChainNode[] = Object.freeze([])

/**
 * The accepted commits of one chain, as a tree with a deterministic tip: the highest position, and on
 * a tie the lowest id. Only what was accepted is here; the pending buffer lives in the graph.
 */
export class ChainTree {
  readonly space: string
  readonly author: string
  /** Commits waiting for a predecessor or an owner commit (a replica must not sign over a hole). */
  waiting = 0
  /** Accepted commits by position (index `seq - 1`): one node, or several where the key forked. */
  readonly #bySeq: Array<ChainNode | ChainNode[]> = []
  /** Branches in creation order (a parent branch always comes before its children). */
  readonly #branches: Branch[] = []
  #tip: ChainNode | null = null
  /** Lowest position holding more than one commit; 0 while the chain is a path. */
  #forkSeq = 0
  /** Hex id -> node for every node at or above the lowest fork (built when the chain first forks). */
  #byId: Map<string, ChainNode> | undefined

  constructor(space: string, author: string) {
    this.space = space
    this.author = author
  }

  /** The highest position accepted (0 for an empty chain). */
  get seq(): number {
    return this.#bySeq.length
  }

  /** Where local writes go next: the highest position, lowest id on a tie. */
  get tip(): ChainNode | null {
    return this.#tip
  }

  /** Lowest position at which the key signed more than one accepted commit; 0 when it never forked. */
  get forkSeq(): number {
    return this.#forkSeq
  }

  /** The accepted commits at one position. */
  at(seq: number): readonly ChainNode[] {
    const slot = this.#bySeq[seq - 1]
    if (slot === undefined) return NO_NODES
    return Array.isArray(slot) ? slot : [slot]
  }

  /** True when more than one accepted commit sits at `seq`. */
  forkedAt(seq: number): boolean {
    return Array.isArray(this.#bySeq[seq - 1])
  }

  /** The accepted commit with this position and id. */
  get(seq: number, id: Uint8Array): ChainNode | undefined {
    const slot = this.#bySeq[seq - 1]
    if (slot === undefined) return undefined
    if (!Array.isArray(slot)) return equalBytes(slot.id, id) ? slot : undefined
    for (const node of slot) if (equalBytes(node.id, id)) return node
    return undefined
  }

  /**
   * The accepted commit with this id at a forked part of the chain (at or above the lowest fork), where
   * positions alone do not name a commit. Below the lowest fork use {@link get}.
   */
  findForked(id: Uint8Array): ChainNode | undefined {
    return this.#byId?.get(toHex(id))
  }

  /**
   * Accepts a commit whose parent is accepted (`null` for seq 1), with the owner commits that count for it
   * (`seen`), its highest stamp and its declared owner position. Returns the node and, when the position
   * was taken already, a commit that was there first (the proof of a fork is the pair).
   */
  add(
    id: Uint8Array,
    seq: number,
    parent: ChainNode | null,
    seen: readonly ChainNode[],
    maxHlc: number,
    dep: number
  ): { node: ChainNode; sibling: ChainNode | undefined } {
    const continues = parent !== null && parent.branch.head === parent
    const branch = continues ? parent.branch : new BranchRecord(seq, parent?.branch ?? null)
    const node: ChainNode = { id, seq, parent, branch, seen, maxHlc, dep }
    branch.head = node
    if (!continues) this.#branches.push(branch)
    const slot = this.#bySeq[seq - 1]
    let sibling: ChainNode | undefined
    if (slot === undefined) {
      this.#bySeq[seq - 1] = node
    } else {
      sibling = Array.isArray(slot) ? slot[0] : slot
      if (Array.isArray(slot)) slot.push(node)
      else this.#bySeq[seq - 1] = [slot, node]
      if (this.#forkSeq === 0 || seq < this.#forkSeq) this.#indexFrom(seq)
    }
    if (this.#byId !== undefined && seq >= this.#forkSeq) this.#byId.set(toHex(id), node)
    const tip = this.#tip
    if (tip === null || seq > tip.seq || (seq === tip.seq && compareBytes(id, tip.id) < 0)) this.#tip = node
    return { node, sibling }
  }

  /** Indexes ids from `seq` up to where the index already starts (the lowest fork moved down to `seq`). */
  #indexFrom(seq: number): void {
    this.#byId ??= new Map()
    const end = this.#forkSeq === 0 ? this.#bySeq.length : this.#forkSeq - 1
    this.#forkSeq = seq
    for (let s = seq; s <= end; s++) for (const node of this.at(s)) this.#byId.set(toHex(node.id), node)
  }

  /** The heads (leaves) of the chain: the tip first, then the others by position (highest first) and id. */
  heads(limit: number): ChainNode[] {
    const tip = this.#tip
    if (tip === null) return []
    if (this.#branches.length === 1) return [tip]
    const others = this.#branches
      .map((branch) => branch.head)
      .filter((head) => head !== tip)
      .sort((a, b) => b.seq - a.seq || compareBytes(a.id, b.id))
    return [tip, ...others].slice(0, limit)
  }

  /** True when `node` is `of` or one of its ancestors. Costs the number of forks between them. */
  isAncestorOrSelf(node: ChainNode, of: ChainNode): boolean {
    if (node.seq > of.seq) return false
    if (this.#forkSeq === 0 || node.seq < this.#forkSeq) return true
    let branch: Branch | null = of.branch
    let top = of.seq
    while (branch !== null && branch !== node.branch) {
      if (branch.start <= node.seq) return false
      top = branch.start - 1
      branch = branch.parent
    }
    return branch !== null && node.seq <= top
  }

  /** The ancestor of `of` at position `seq` (or `of` itself). */
  ancestorAt(of: ChainNode, seq: number): ChainNode | undefined {
    if (seq > of.seq || seq < 1) return undefined
    if (this.#forkSeq === 0 || seq < this.#forkSeq) return this.at(seq)[0]
    let branch: Branch | null = of.branch
    while (branch !== null && branch.start > seq) branch = branch.parent
    return this.at(seq).find((node) => node.branch === branch)
  }

  /**
   * What a peer that holds `have` (and so all their ancestors) lacks, as runs of positions per branch,
   * parents' branches first. For a chain that never forked it is one run above the peer's position.
   */
  missing(have: readonly ChainNode[]): MissingRange[] {
    const covered = new Map<Branch, number>()
    for (const head of have) {
      let branch: Branch | null = head.branch
      let top = head.seq
      while (branch !== null && (covered.get(branch) ?? 0) < top) {
        covered.set(branch, top)
        top = branch.start - 1
        branch = branch.parent
      }
    }
    const out: MissingRange[] = []
    for (const branch of this.#branches) {
      const from = Math.max(branch.start, (covered.get(branch) ?? 0) + 1)
      if (from <= branch.head.seq) out.push({ branch, from, to: branch.head.seq })
    }
    return out
  }

  /**
   * Commits along the path to the tip at exponentially spaced positions below `below` (`m, m-1, m-2,
   * m-4, …` with `m = min(tip, below)`): a peer whose chain forked from ours at depth `k` under `m` finds
   * a common one within `2k` of the fork, so what it sends back is at most twice what we lack.
   */
  sample(below: number): ChainNode[] {
    const tip = this.#tip
    if (tip === null) return []
    const top = Math.min(tip.seq, below)
    const out: ChainNode[] = []
    for (let distance = 0; top - distance >= 1; distance = distance === 0 ? 1 : distance * 2) {
      const node = this.ancestorAt(tip, top - distance)
      if (node !== undefined) out.push(node)
    }
    return out
  }
}

/**
 * The maximal elements of `base` plus `added` in an owner chain: the owner commits whose ancestors are
 * "seen". Returns `base` itself when `added` brings nothing new (the common case: no allocation).
 */
export function mergeSeen(
  owner: ChainTree,
  base: readonly ChainNode[],
  added: readonly ChainNode[]
): readonly ChainNode[] {
  let out: ChainNode[] | undefined
  for (const node of added) {
    const current: readonly ChainNode[] = out ?? base
    if (current.some((kept) => owner.isAncestorOrSelf(node, kept))) continue
    out = current.filter((kept) => !owner.isAncestorOrSelf(kept, node))
    out.push(node)
  }
  return out ?? base
}

/** True when `node` (an owner commit) is one of the owner commits `seen` makes count. */
export function seenCovers(owner: ChainTree, seen: readonly ChainNode[], node: ChainNode): boolean {
  for (const kept of seen) if (owner.isAncestorOrSelf(node, kept)) return true
  return false
}
