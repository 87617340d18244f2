import { encodeGrant, encodeRevocation, type Grant, type Identity, type Revocation } from '@araliya/identity'
import { type HybridClock, LOCAL_ORIGIN } from '@araliya/interface'
import type { TypedEventEmitter } from 'main-event'
import { type ChainNode, type ChainTree, NO_NODES } from '../chain.js'
import {
  COMMIT_CONTEXT,
  type Commit,
  type CommitLimits,
  type CommitOp,
  commitId,
  encodeCommitFrame,
  MAX_SEEN_COMMITS,
  SIGNATURE_BYTES,
  toWire
} from '../commit.js'
import { ChainError, GraphError, InvalidGraphInputError } from '../errors.js'
import { compareBytes, toHex } from '../hash.js'
import { checkField, checkValue, type GraphValue, parseSoul, type Soul } from '../model.js'
import { seenOf } from './chains.js'
import { type Durability, toStored } from './durability.js'
import type { Replica } from './replica.js'
import type { CommitReceipt, GraphEvents, Transaction } from './types.js'

/**
 * One local write before it is signed. It already has the shape of a decoded op ({@link CommitOp}): the
 * plan stamps `hlc` and the same object becomes the commit's op, so a write allocates one object per field.
 */
export interface LocalOp extends CommitOp {
  hlc: number
}

/** A local write of `value` (`undefined`: a delete) to a field, not stamped yet. */
function localOp(path: string, field: string, value: GraphValue | undefined): LocalOp {
  return { path, field, hlc: 0, value, wire: value === undefined ? undefined : toWire(value) }
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

interface Plan {
  readonly space: string
  readonly author: string
  readonly seq: number
  readonly dep: number
  /** The owner commits the new commit names as seen (the heads of the owner's chain here). */
  readonly declared: readonly ChainNode[]
  /** The base stamp. */
  readonly clock: number
  readonly ops: CommitOp[]
  readonly grants: Grant[]
  readonly revocations: Revocation[]
}

const NO_IDS: readonly Uint8Array[] = []
const NO_BYTES: readonly Uint8Array[] = Object.freeze([])

/**
 * The local write path: plans a commit (judged by the very rules every replica applies on ingest, so a
 * local write never signs what they would refuse), applies it at once so reads see it, signs it, and
 * queues it for the store; it is announced (`commit:accepted`) once durable.
 */
export class LocalWriter {
  readonly #identity: Identity
  readonly #replica: Replica
  readonly #clock: HybridClock
  readonly #limits: CommitLimits
  readonly #durability: Durability
  readonly #events: TypedEventEmitter<GraphEvents>
  readonly #ownChains = new Map<string, ChainTree>()
  readonly #soulCache: SoulCache = new Map()

  constructor(
    identity: Identity,
    replica: Replica,
    clock: HybridClock,
    limits: CommitLimits,
    durability: Durability,
    events: TypedEventEmitter<GraphEvents>
  ) {
    this.#identity = identity
    this.#replica = replica
    this.#clock = clock
    this.#limits = limits
    this.#durability = durability
    this.#events = events
  }

  /** Plans, signs and queues one commit per group (space); every group is judged before any is signed. */
  commitGroups(groups: Map<string, LocalOp[]>): Promise<CommitReceipt[]> {
    if (groups.size === 1) {
      const [space, ops] = groups.entries().next().value as [string, LocalOp[]]
      const { receipt, done } = this.commitLocal(this.plan(space, ops, [], []))
      return done.then(() => [receipt])
    }
    const receipts: CommitReceipt[] = []
    const durable: Promise<CommitReceipt>[] = []
    // Authority is checked for every group before anything is signed, so a refused write changes nothing.
    const planned = [...groups].map(([space, ops]) => this.plan(space, ops, [], []))
    for (const plan of planned) {
      const { receipt, done } = this.commitLocal(plan)
      receipts.push(receipt)
      durable.push(done)
    }
    return Promise.all(durable).then(() => receipts)
  }

  /** Sets fields of a soul in one commit: the hot path of one-op commits (no transaction object). */
  put(soul: Soul, fields: Readonly<Record<string, GraphValue>>): Promise<CommitReceipt> {
    if (typeof fields !== 'object' || fields === null) {
      throw new InvalidGraphInputError('put() takes an object of fields')
    }
    const limits = this.#limits
    const { owner, path } = cachedSoul(this.#soulCache, soul, limits)
    const ops: LocalOp[] = []
    for (const field in fields) {
      if (!Object.hasOwn(fields, field)) continue
      const value = fields[field] as GraphValue
      checkField(field, limits)
      checkValue(value, limits)
      ops.push(localOp(path, field, value))
    }
    if (ops.length === 0) throw new InvalidGraphInputError('put() needs at least one field')
    if (ops.length > limits.maxOpsPerCommit) {
      throw new InvalidGraphInputError(
        `a commit holds at most ${limits.maxOpsPerCommit} fields; split the write`
      )
    }
    return this.commitLocal(this.plan(owner, ops, [], [])).done
  }

  /** A transaction collecting writes for {@link LocalWriter.commitGroups}. */
  transaction(liveFields: (soul: Soul) => string[]): TransactionBuilder {
    return new TransactionBuilder(this.#limits, liveFields, this.#soulCache)
  }

  /** Records grants or revocations in this owner's chain; resolves once durable. */
  async authorise(grants: Grant[], revocations: Revocation[]): Promise<void> {
    const { done } = this.commitLocal(this.plan(this.#identity.address, [], grants, revocations))
    await done
  }

  /** Plans one commit of local ops (or grants and revocations), judged as every replica would judge it. */
  plan(space: string, ops: readonly LocalOp[], grants: Grant[], revocations: Revocation[]): Plan {
    const author = this.#identity.address
    const chain = this.#ownChain(space)
    if (chain.waiting > 0) {
      // Later commits of our own chain exist (we hold them) but an earlier one is missing, e.g. after
      // storage damage or from another device with this key: signing now would fork our own chain.
      throw new ChainError(
        `this replica's chain in ${space} has a gap after seq ${chain.seq} (damaged storage, or this key ` +
          'in use on another device?); sync with a peer that has the missing commits before writing there again'
      )
    }
    const owner = author === space ? undefined : this.#replica.chains.get(space, space)
    // A writer names every head of the owner's chain it holds, so a revocation on any branch binds it.
    // The clock has observed all of them, so the stamps below are above theirs.
    const declared = owner?.heads(MAX_SEEN_COMMITS) ?? NO_NODES
    const dep = declared[0]?.seq ?? 0
    // One tick, then consecutive stamps: what ticking once per op gives within one millisecond, without
    // reading the wall clock per op.
    const base = this.#clock.tick()
    const decoded: CommitOp[] = new Array(ops.length)
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i] as LocalOp
      op.hlc = base + i
      decoded[i] = op
    }
    if (ops.length > 1) this.#clock.observe(base + ops.length - 1)
    const plan: Plan = {
      space,
      author,
      seq: (chain.tip?.seq ?? 0) + 1,
      dep,
      declared,
      clock: base,
      ops: decoded,
      grants,
      revocations
    }
    // The very rules every replica applies on ingest: a local write never signs what they would refuse.
    const refusal = this.#replica.authority.judge(plan, seenOf(declared), chain.tip)
    if (refusal !== undefined) throw refusal
    return plan
  }

  commitLocal(plan: Plan): { receipt: CommitReceipt; done: Promise<CommitReceipt> } {
    const chain = this.#ownChain(plan.space)
    // Local writes extend the tip (highest position, lowest id), the same one on every replica.
    const parent = chain.tip
    const seq = (parent?.seq ?? 0) + 1
    const prev = parent?.id ?? null
    const encodedGrants = plan.grants.length === 0 ? NO_BYTES : plan.grants.map(encodeGrant)
    const encodedRevocations =
      plan.revocations.length === 0 ? NO_BYTES : plan.revocations.map(encodeRevocation)
    const seen = plan.declared.length === 0 ? NO_IDS : plan.declared.map((node) => node.id).sort(compareBytes)
    const { body, frame } = encodeCommitFrame({
      space: plan.space,
      author: plan.author,
      seq,
      prev,
      clock: plan.clock,
      dep: plan.dep,
      seen,
      ops: plan.ops,
      grants: encodedGrants,
      revocations: encodedRevocations
    })
    if (body.byteLength + 64 > this.#limits.maxCommitBytes) {
      throw new InvalidGraphInputError(
        `the commit would be ${body.byteLength + 64} bytes, over maxCommitBytes (${this.#limits.maxCommitBytes}); split the transaction`
      )
    }
    const id = commitId(body)
    let maxHlc = plan.clock
    for (const op of plan.ops) if (op.hlc > maxHlc) maxHlc = op.hlc
    const signing = this.#identity.sign(COMMIT_CONTEXT, body)
    // The commit is applied now (so reads see it at once) but announced to peers only once durable.
    const commit: Mutable<Commit> = {
      id,
      space: plan.space,
      author: plan.author,
      seq,
      prev,
      clock: plan.clock,
      dep: plan.dep,
      seen,
      ops: plan.ops,
      grants: encodedGrants,
      revocations: encodedRevocations,
      body,
      signature: new Uint8Array(0),
      envelope: new Uint8Array(0),
      maxHlc
    }
    this.#replica.apply(
      { commit, grants: plan.grants, revocations: plan.revocations },
      LOCAL_ORIGIN,
      chain,
      parent,
      seenOf(plan.declared)
    )
    const events = this.#events
    const receipt = new Receipt(id, plan.space, plan.author, seq, plan.ops.length)
    // Resolves with the receipt, so a one-commit write hands it back without another promise.
    const done = this.#durability
      .append(() =>
        signing.then((signature) => {
          if (signature.byteLength !== SIGNATURE_BYTES)
            throw new GraphError('the signer returned a malformed signature')
          frame.set(signature)
          commit.signature = frame.subarray(0, SIGNATURE_BYTES)
          commit.envelope = frame
          return [toStored(commit)]
        })
      )
      .then(() => {
        if (events.listenerCount('commit:accepted') > 0)
          events.safeDispatchEvent('commit:accepted', { detail: { commit, origin: LOCAL_ORIGIN } })
        return receipt
      })
    return { receipt, done }
  }

  #ownChain(space: string): ChainTree {
    let chain = this.#ownChains.get(space)
    if (chain === undefined) {
      chain = this.#replica.chains.chain(space, this.#identity.address)
      this.#ownChains.set(space, chain)
    }
    return chain
  }
}

/** A {@link CommitReceipt} whose hex id is computed only when read. */
class Receipt implements CommitReceipt {
  readonly #id: Uint8Array
  #hex: string | undefined
  readonly space: string
  readonly author: string
  readonly seq: number
  readonly ops: number
  constructor(id: Uint8Array, space: string, author: string, seq: number, ops: number) {
    this.#id = id
    this.space = space
    this.author = author
    this.seq = seq
    this.ops = ops
  }
  get id(): string {
    this.#hex ??= toHex(this.#id)
    return this.#hex
  }
  toJSON(): { id: string; space: string; author: string; seq: number; ops: number } {
    return { id: this.id, space: this.space, author: this.author, seq: this.seq, ops: this.ops }
  }
}

/** Souls already checked by a graph (bounded), so hot loops do not re-split and re-validate them. */
type SoulCache = Map<Soul, { readonly owner: string; readonly path: string }>
const SOUL_CACHE_LIMIT = 16_384

function cachedSoul(
  cache: SoulCache,
  soul: Soul,
  limits: CommitLimits
): { readonly owner: string; readonly path: string } {
  let parsed = cache.get(soul)
  if (parsed === undefined) {
    parsed = parseSoul(soul, limits)
    if (cache.size >= SOUL_CACHE_LIMIT) cache.clear()
    cache.set(soul, parsed)
  }
  return parsed
}

/** Collects the writes of one transaction, validated as they are added, grouped by space. */
export class TransactionBuilder implements Transaction {
  readonly groups = new Map<string, LocalOp[]>()
  readonly #limits: CommitLimits
  readonly #liveFields: (soul: Soul) => string[]
  readonly #souls: SoulCache

  constructor(limits: CommitLimits, liveFields: (soul: Soul) => string[], souls: SoulCache) {
    this.#limits = limits
    this.#liveFields = liveFields
    this.#souls = souls
  }

  #add(soul: Soul, field: string, value: GraphValue | undefined): void {
    const { owner, path } = cachedSoul(this.#souls, soul, this.#limits)
    checkField(field, this.#limits)
    if (value !== undefined) checkValue(value, this.#limits)
    let ops = this.groups.get(owner)
    if (ops === undefined) {
      ops = []
      this.groups.set(owner, ops)
    }
    if (ops.length >= this.#limits.maxOpsPerCommit) {
      throw new InvalidGraphInputError(
        `a transaction may write at most ${this.#limits.maxOpsPerCommit} fields per space; split it`
      )
    }
    ops.push(localOp(path, field, value))
  }

  put(soul: Soul, fields: Readonly<Record<string, GraphValue>>): Transaction {
    if (typeof fields !== 'object' || fields === null)
      throw new InvalidGraphInputError('put() takes an object of fields')
    for (const field in fields) {
      if (Object.hasOwn(fields, field)) this.#add(soul, field, fields[field] as GraphValue)
    }
    return this
  }

  set(soul: Soul, field: string, value: GraphValue): Transaction {
    this.#add(soul, field, value)
    return this
  }

  link(soul: Soul, field: string, target: Soul): Transaction {
    this.#add(soul, field, { '#': target })
    return this
  }

  remove(soul: Soul, field?: string): Transaction {
    if (field !== undefined) {
      this.#add(soul, field, undefined)
    } else {
      parseSoul(soul, this.#limits)
      for (const name of this.#liveFields(soul)) this.#add(soul, name, undefined)
    }
    return this
  }
}
