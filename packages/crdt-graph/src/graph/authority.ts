import { type Grant, type GrantRight, grantId, scopeCoversPath } from '@araliya/identity'
import { hlcMs } from '@araliya/interface'
import { type ChainNode, type ChainTree, mergeSeen, seenCovers } from '../chain.js'
import type { CommitBody } from '../commit.js'
import { BackdatedCommitError, ChainError, UnauthorizedWriteError } from '../errors.js'
import type { Chains, SeenOwnerCommit } from './chains.js'
import type { Prepared } from './verify.js'

/** What the authority rules look at in a commit (a decoded commit, or a local one before it is signed). */
export type Judged = Pick<CommitBody, 'space' | 'author' | 'seq' | 'dep' | 'clock' | 'ops'>

const NO_GRANTS: readonly GrantRecord[] = []

interface GrantRecord {
  readonly grant: Grant
  readonly id: string
  readonly seq: number
  /** The owner commit that carried it. */
  readonly at: ChainNode
}

interface SpaceAuthority {
  /** The owner's chain of the space, where the grants and revocations below live. */
  readonly owner: ChainTree
  readonly bySubject: Map<string, GrantRecord[]>
  /** grant id -> the owner commits that revoke it (a revocation any seen one reaches voids the grant). */
  readonly revocations: Map<string, ChainNode[]>
}

/**
 * Who may write where: the grants and revocations recorded in owners' chains, and the verdict on a commit
 * at the position it declares (the same pure function on every replica, and for local writes before they
 * are signed). See `docs/internals/crdt-graph.md` and decision 0009.
 */
export class Authority {
  readonly #chains: Chains
  readonly #spaces = new Map<string, SpaceAuthority>()

  constructor(chains: Chains) {
    this.#chains = chains
  }

  /** True when `author` holds a grant (valid or not) recorded in the owner's chain of `space`. */
  knowsGrantFor(space: string, author: string): boolean {
    return this.#spaces.get(space)?.bySubject.has(author) === true
  }

  /**
   * The verdict on a commit at the position it declares: `undefined` when it may be applied, else the error
   * every replica reaches for it (a pure function of the commit, its predecessor and the owner commits it
   * names, with their ancestors). `parent` is its predecessor (`null` for seq 1); `undefined` checks only
   * what does not need it (used before holding a commit whose predecessor is missing), and then refuses
   * nothing the full check could accept.
   *
   * The rules: (1) every stamp is above the predecessor's highest stamp; (2) the declared owner position is
   * not behind the predecessor's; (3) every stamp is above the highest stamp of the owner commits it names,
   * and the highest of them is at its declared position; (4) a non-owner commit carries ops, and a grant
   * covers each at its stamp, given the owner commits that count for it (see `allowed`). A commit's
   * lowest stamp is its base clock (op deltas are unsigned), so the floors check only that.
   */
  judge(
    commit: Judged,
    seen: SeenOwnerCommit,
    parent: ChainNode | null | undefined
  ): BackdatedCommitError | ChainError | UnauthorizedWriteError | undefined {
    const { space, author, seq } = commit
    if (parent !== undefined) {
      const last = parent === null ? -1 : parent.maxHlc
      if (commit.clock <= last) {
        return new BackdatedCommitError(
          `commit ${seq} by ${author} in the space of ${space} is stamped ${commit.clock}, not above ${last}, ` +
            "the highest stamp of its chain's previous commit: a writer's clock only moves forward, so it was " +
            'backdated (or the key signs on two devices: give each device its own key); it is refused as a whole'
        )
      }
      if (parent !== null && commit.dep < parent.dep) {
        return new BackdatedCommitError(
          `commit ${seq} by ${author} in the space of ${space} declares owner position ${commit.dep}, behind ` +
            `position ${parent.dep} its previous commit declared; positions only move forward, so it is refused ` +
            "as a whole (a writer that lost part of the owner's chain must sync it again before writing)"
        )
      }
    }
    if (author === space) return undefined
    if (seen.seq !== commit.dep) {
      return new ChainError(
        `commit ${seq} by ${author} in the space of ${space} claims owner position ${commit.dep} but the owner ` +
          `commits it names reach position ${seen.seq}; it is refused`
      )
    }
    if (commit.clock <= seen.maxHlc) {
      return new BackdatedCommitError(
        `commit ${seq} by ${author} in the space of ${space} is stamped ${commit.clock}, not above ${seen.maxHlc}, ` +
          `the highest stamp of the owner commits (up to position ${seen.seq}) it declares it had seen: a ` +
          "writer's clock observes every commit it accepts, so it was backdated; it is refused as a whole"
      )
    }
    if (commit.ops.length === 0) {
      return new UnauthorizedWriteError(
        `commit ${seq} by ${author} in the space of ${space} carries no ops: only the owner signs empty commits ` +
          'in its space; it is refused'
      )
    }
    const owner = this.#chains.get(space, space)
    // What counts: the owner commits named, plus those the earlier commits of its branch named (a writer
    // that has seen a revocation stays bound by it on every later commit).
    const counted =
      parent === undefined || parent === null || owner === undefined
        ? seen.nodes
        : mergeSeen(owner, parent.seen, seen.nodes)
    // The grants usable at a (right, millisecond) are the same for every op that shares them (the ops of
    // a commit mostly do): only the path is checked per op.
    let usableRight: GrantRight | undefined
    let usableAt = Number.NaN
    let usable: readonly GrantRecord[] = []
    for (const op of commit.ops) {
      const right: GrantRight = op.wire === undefined ? 'delete' : 'write'
      const atMs = hlcMs(op.hlc)
      if (right !== usableRight || atMs !== usableAt) {
        usable = this.#usable(space, author, right, atMs, counted)
        usableRight = right
        usableAt = atMs
      }
      if (!usable.some((record) => scopeCoversPath(record.grant.scope, op.path))) {
        // Without the predecessor, a forked owner chain may hold a grant on another branch that its
        // predecessor saw: only the full check can refuse then.
        if (parent === undefined && owner !== undefined && owner.forkSeq > 0) return undefined
        return new UnauthorizedWriteError(
          `${author} holds no grant to ${right} "${op.path}" in the space of ${space} at ` +
            `${new Date(atMs).toISOString()} from owner position ${seen.seq}, so the commit is refused as a ` +
            `whole: ask the owner for a grant covering that path with the "${right}" right (a grant whose ` +
            "revocation the writer has seen no longer counts), and sync the owner's chain before writing"
        )
      }
    }
    return undefined
  }

  /** Records the grants and revocations of an accepted owner commit `at`. */
  record(prepared: Prepared, at: ChainNode): void {
    const space = prepared.commit.space
    let authority = this.#spaces.get(space)
    if (authority === undefined) {
      authority = { owner: this.#chains.chain(space, space), bySubject: new Map(), revocations: new Map() }
      this.#spaces.set(space, authority)
    }
    const seq = prepared.commit.seq
    for (const grant of prepared.grants) {
      let list = authority.bySubject.get(grant.subject)
      if (list === undefined) {
        list = []
        authority.bySubject.set(grant.subject, list)
      }
      list.push({ grant, id: grantId(grant), seq, at })
    }
    for (const revocation of prepared.revocations) {
      let list = authority.revocations.get(revocation.grantId)
      if (list === undefined) {
        list = []
        authority.revocations.set(revocation.grantId, list)
      }
      list.push(at)
    }
  }

  /**
   * The authority rule: `author` may use `right` on `path` of `space` at time `atMs` from causal position
   * `seen` (owner commits; they and their ancestors form a prefix of the owner's chain) when a grant in
   * that prefix covers the path and right, its `[notBefore, expiresAt)` contains `atMs`, and no revocation
   * of it is in that prefix. A revocation in the prefix voids the grant whatever its `revokedAt` and the
   * op's stamp say: a writer that has seen it never writes under that grant again. Owners always may.
   */
  allowed(
    space: string,
    author: string,
    path: string,
    right: GrantRight,
    atMs: number,
    seen: readonly ChainNode[]
  ): boolean {
    if (author === space) return true
    return this.#usable(space, author, right, atMs, seen).some((record) =>
      scopeCoversPath(record.grant.scope, path)
    )
  }

  /**
   * The grants of `author` in `space` that give `right` at `atMs` from causal position `seen` (in the
   * prefix, in force, not revoked in the prefix), whatever the path; see {@link Authority.allowed}.
   */
  #usable(
    space: string,
    author: string,
    right: GrantRight,
    atMs: number,
    seen: readonly ChainNode[]
  ): readonly GrantRecord[] {
    const authority = this.#spaces.get(space)
    const grants = authority?.bySubject.get(author)
    if (authority === undefined || grants === undefined) return NO_GRANTS
    const owner = authority.owner
    let usable: GrantRecord[] | undefined
    for (const record of grants) {
      if (!seenCovers(owner, seen, record.at)) continue
      const grant = record.grant
      if (atMs < grant.notBefore || atMs >= grant.expiresAt) continue
      if (!grant.scope.rights.includes(right)) continue
      const revocations = authority.revocations.get(record.id)
      if (revocations?.some((at) => seenCovers(owner, seen, at)) === true) continue
      usable ??= []
      usable.push(record)
    }
    return usable ?? NO_GRANTS
  }
}
