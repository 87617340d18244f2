import { type CanonicalValue, encodeCanonical } from '@araliya/identity'
import { isByteString, isPlainMap, isSafeUint, TooLargeError, unknownKey } from '@araliya/interface'
import { CborWriter } from './cbor.js'
import { isReadOp, readCommitCbor } from './cbor-read.js'
import { CommitFormatError } from './errors.js'
import { compareBytes, sha256, toHex } from './hash.js'
import { DEFAULT_MODEL_LIMITS, type GraphValue, isSpace, type ModelLimits } from './model.js'

/** The signature context of graph commits (domain separation: such a signature is valid for nothing else). */
export const COMMIT_CONTEXT = 'araliya/graph-commit/v1'
/** The commit format version this release writes and reads. */
export const COMMIT_VERSION = 1
/** Length of an ed25519 signature; a commit envelope starts with one. */
export const SIGNATURE_BYTES = 64
/** Most owner commits one commit may name as seen (key `h`): the heads of a forked owner chain. */
export const MAX_SEEN_COMMITS = 16

/** Limits enforced by {@link decodeCommit}; all have safe defaults. */
export interface CommitLimits extends ModelLimits {
  /** Largest commit envelope accepted, in bytes; checked before parsing. Default 1 MiB. */
  maxCommitBytes: number
  /** Most ops one commit may carry. Default 10,000. */
  maxOpsPerCommit: number
  /** Most grants plus revocations one commit may carry. Default 64. */
  maxGrantsPerCommit: number
}

/** Default {@link CommitLimits}. */
export const DEFAULT_COMMIT_LIMITS: CommitLimits = Object.freeze({
  ...DEFAULT_MODEL_LIMITS,
  maxCommitBytes: 1024 * 1024,
  maxOpsPerCommit: 10_000,
  maxGrantsPerCommit: 64
})

/** A value as it is encoded: a link becomes a one-element array `[soul]`. */
export type WireValue = null | boolean | number | string | Uint8Array | readonly [string]

/** One op as encoded: `[path, field, dt]` is a tombstone, `[path, field, dt, value]` a put. */
export type OpTuple = readonly [string, string, number] | readonly [string, string, number, WireValue]

/** One field write inside a commit, decoded. */
export interface CommitOp {
  /** The path of the soul inside the commit's space. */
  readonly path: string
  readonly field: string
  /** The op's hybrid-logical-clock stamp (commit base + the op's delta). */
  readonly hlc: number
  /** `undefined` for a tombstone. */
  readonly value: GraphValue | undefined
  /** The value as encoded (used for the deterministic tie break). `undefined` for a tombstone. */
  readonly wire: WireValue | undefined
}

/** The signed body of a commit. */
export interface CommitBody {
  /** The space (owner address) every op of this commit writes into. */
  readonly space: string
  /** The signing key's address. */
  readonly author: string
  /** Position in the author's chain in this space, from 1. */
  readonly seq: number
  /** Id of the previous commit of the chain, `null` for seq 1. */
  readonly prev: Uint8Array | null
  /** Base clock stamp; each op adds its delta. */
  readonly clock: number
  /**
   * The causal position the author claims in the owner's own chain of this space (how many of the owner's
   * commits it had seen). Grants and revocations up to there decide what this commit may write. 0 for
   * the owner's own commits.
   */
  readonly dep: number
  /**
   * The ids of the owner commits the author had applied when it signed (key `h`): the heads of the
   * owner's chain of this space, one of them at position `dep`, in byte order. One id unless the owner's
   * own key forked; empty exactly when `dep` is 0. Grants and revocations in these commits and their
   * ancestors decide what this commit may write.
   */
  readonly seen: readonly Uint8Array[]
  readonly ops: readonly CommitOp[]
  /** Encoded grants (only in the owner's own chain). */
  readonly grants: readonly Uint8Array[]
  /** Encoded revocations (only in the owner's own chain). */
  readonly revocations: readonly Uint8Array[]
}

/** A decoded commit with its id and the exact bytes it came from. */
export interface Commit extends CommitBody {
  /** sha256 of the signed body bytes. */
  readonly id: Uint8Array
  /** The signed body bytes. */
  readonly body: Uint8Array
  readonly signature: Uint8Array
  /** `signature || body`: the form stored and sent. */
  readonly envelope: Uint8Array
  /** Highest op stamp in the commit (the base clock when it has no ops). */
  readonly maxHlc: number
}

export { toHex }

/** Commit ids are sha256 of the signed body bytes. */
export function commitId(body: Uint8Array): Uint8Array {
  return sha256(body)
}

/** Turns a value into its wire form. */
export function toWire(value: GraphValue): WireValue {
  if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) return [value['#']]
  return value as WireValue
}

/** The input of {@link encodeCommitBody}. */
export interface CommitBodyInit {
  space: string
  author: string
  seq: number
  prev: Uint8Array | null
  clock: number
  dep: number
  /** Owner commit ids seen (key `h`), in byte order; required when `dep > 0`, else empty or absent. */
  seen?: readonly Uint8Array[]
  ops: readonly OpTuple[]
  grants?: readonly Uint8Array[]
  revocations?: readonly Uint8Array[]
}

/**
 * A body to encode from decoded ops (the local write path): each op is written as the tuple
 * `[path, field, hlc - clock, wire?]`, with no tuple arrays built in between.
 */
export interface LocalCommitBodyInit extends Omit<CommitBodyInit, 'ops'> {
  ops: readonly CommitOp[]
}

/** Encodes the unsigned body of a commit (canonical CBOR). */
export function encodeCommitBody(init: CommitBodyInit): Uint8Array {
  return writeCommitBody(init, 0).finish()
}

/**
 * Encodes a body with 64 free bytes in front: `frame` becomes the envelope once the signature is copied
 * into its first 64 bytes (saves a copy on the hot path). `body` is a view into `frame`.
 */
export function encodeCommitFrame(init: CommitBodyInit | LocalCommitBodyInit): {
  body: Uint8Array
  frame: Uint8Array
} {
  const frame = writeCommitBody(init, SIGNATURE_BYTES).frame()
  return { body: frame.subarray(SIGNATURE_BYTES), frame }
}

// One scratch writer: encoding is synchronous, so it is never used by two encodes at once.
const scratch = new CborWriter(4096)

function writeCommitBody(init: CommitBodyInit | LocalCommitBodyInit, reserve: number): CborWriter {
  const grants = init.grants !== undefined && init.grants.length > 0 ? init.grants : undefined
  const revocations =
    init.revocations !== undefined && init.revocations.length > 0 ? init.revocations : undefined
  const seen = init.seen !== undefined && init.seen.length > 0 ? init.seen : undefined
  const w = scratch.reset(reserve)
  // Keys in canonical order (all one byte long, so plain byte order): a d g h n o p r s t v.
  w.head(
    5,
    8 + (grants === undefined ? 0 : 1) + (seen === undefined ? 0 : 1) + (revocations === undefined ? 0 : 1)
  )
  w.string('a')
  w.string(init.author)
  w.string('d')
  w.number(init.dep)
  if (grants !== undefined) {
    w.string('g')
    w.head(4, grants.length)
    for (const grant of grants) w.bytes(grant)
  }
  if (seen !== undefined) {
    w.string('h')
    w.head(4, seen.length)
    for (const id of seen) w.bytes(id)
  }
  w.string('n')
  w.number(init.seq)
  w.string('o')
  w.head(4, init.ops.length)
  for (const op of init.ops) {
    if (Array.isArray(op)) {
      w.head(4, op.length)
      w.string(op[0])
      w.string(op[1])
      w.number(op[2])
      if (op.length === 4) w.value(op[3] as CanonicalValue)
    } else {
      const { path, field, hlc, wire } = op as CommitOp
      w.head(4, wire === undefined ? 3 : 4)
      w.string(path)
      w.string(field)
      w.number(hlc - init.clock)
      if (wire !== undefined) w.value(wire as CanonicalValue)
    }
  }
  w.string('p')
  if (init.prev === null) w.simple(null)
  else w.bytes(init.prev)
  if (revocations !== undefined) {
    w.string('r')
    w.head(4, revocations.length)
    for (const revocation of revocations) w.bytes(revocation)
  }
  w.string('s')
  w.string(init.space)
  w.string('t')
  w.number(init.clock)
  w.string('v')
  w.number(COMMIT_VERSION)
  return w
}

/** The same body through the generic canonical encoder (the reference the fast path is tested against). */
export function encodeCommitBodyReference(init: CommitBodyInit): Uint8Array {
  const body: Record<string, CanonicalValue> = {
    v: COMMIT_VERSION,
    s: init.space,
    a: init.author,
    n: init.seq,
    p: init.prev,
    t: init.clock,
    d: init.dep,
    o: init.ops as unknown as CanonicalValue
  }
  if (init.grants !== undefined && init.grants.length > 0) body.g = init.grants as Uint8Array[]
  if (init.seen !== undefined && init.seen.length > 0) body.h = init.seen as Uint8Array[]
  if (init.revocations !== undefined && init.revocations.length > 0) body.r = init.revocations as Uint8Array[]
  return encodeCanonical(body)
}

/** Joins a signature and a body into an envelope. */
export function makeEnvelope(signature: Uint8Array, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(SIGNATURE_BYTES + body.byteLength)
  out.set(signature)
  out.set(body, SIGNATURE_BYTES)
  return out
}

const BODY_KEYS = new Set(['v', 's', 'a', 'n', 'p', 't', 'd', 'h', 'o', 'g', 'r'])

/**
 * Decodes a commit envelope, enforcing the size limit before parsing and every shape rule of the format.
 * The signature is NOT verified here.
 *
 * @throws {TooLargeError} when the envelope is over `maxCommitBytes`.
 * @throws {CommitFormatError} for anything that is not a well-formed commit.
 */
export function decodeCommit(envelope: Uint8Array, limits: CommitLimits = DEFAULT_COMMIT_LIMITS): Commit {
  return decodeCommitUsing(envelope, limits, parseBody)
}

const parseBody = (body: Uint8Array): CanonicalValue => readCommitCbor(body, 4)

/**
 * @internal Decodes a commit read back from this replica's own store: every shape rule is still checked,
 * but the canonical-form check (a re-encode) is skipped, since only checked commits were ever stored.
 */
export function decodeStoredCommit(envelope: Uint8Array, limits: CommitLimits): Commit {
  return decodeCommitUsing(envelope, limits, parseBody, true)
}

/** @internal {@link decodeCommit} with a given CBOR parser (tests compare parsers). */
export function decodeCommitUsing(
  envelope: Uint8Array,
  limits: CommitLimits,
  parse: (body: Uint8Array) => CanonicalValue,
  trusted = false
): Commit {
  if (!(envelope instanceof Uint8Array)) throw new CommitFormatError('a commit envelope is a Uint8Array')
  if (envelope.byteLength > limits.maxCommitBytes) {
    throw new TooLargeError('commit', envelope.byteLength, limits.maxCommitBytes)
  }
  if (envelope.byteLength <= SIGNATURE_BYTES) {
    throw new CommitFormatError(
      `a commit envelope is a 64-byte signature and a body; got ${envelope.byteLength} bytes`
    )
  }
  const signature = envelope.subarray(0, SIGNATURE_BYTES)
  const body = envelope.subarray(SIGNATURE_BYTES)
  let raw: CanonicalValue
  try {
    raw = parse(body)
  } catch (err) {
    throw new CommitFormatError(`commit body is not valid CBOR: ${(err as Error).message}`, { cause: err })
  }
  if (!isPlainMap(raw)) throw new CommitFormatError('commit body is not a map')
  const b = raw as Record<string, CanonicalValue>
  const unknown = unknownKey(b, BODY_KEYS)
  if (unknown !== undefined) throw new CommitFormatError(`unknown commit key "${unknown}"`)
  if (b.v !== COMMIT_VERSION)
    throw new CommitFormatError(`unsupported commit version ${String(b.v)}; upgrade @araliya/crdt-graph`)
  const space = b.s
  const author = b.a
  if (typeof space !== 'string' || !isSpace(space))
    throw new CommitFormatError('commit space is not an address')
  if (typeof author !== 'string' || !isSpace(author))
    throw new CommitFormatError('commit author is not an address')
  const seq = b.n
  if (!isSafeUint(seq, 1)) throw new CommitFormatError('bad commit seq')
  const prev = b.p
  if (seq === 1 ? prev !== null : !isByteString(prev, 32)) {
    throw new CommitFormatError('commit prev must be null for seq 1 and a 32-byte id otherwise')
  }
  const clock = b.t
  if (!isSafeUint(clock)) throw new CommitFormatError('bad commit clock')
  const dep = b.d
  if (!isSafeUint(dep)) throw new CommitFormatError('bad commit dep')
  if (author === space && dep !== 0) throw new CommitFormatError("an owner's commit has dep 0")
  const seen = seenList(b.h, dep)
  const rawOps = b.o
  if (!Array.isArray(rawOps)) throw new CommitFormatError('commit ops must be an array')
  if (rawOps.length > limits.maxOpsPerCommit) {
    throw new CommitFormatError(
      `commit has ${rawOps.length} ops, over the limit of ${limits.maxOpsPerCommit}`
    )
  }
  const ops: CommitOp[] = new Array(rawOps.length)
  let maxHlc = clock
  for (let i = 0; i < rawOps.length; i++) {
    const op = decodeOp(rawOps[i] as CanonicalValue, clock, limits)
    if (op.hlc > maxHlc) maxHlc = op.hlc
    ops[i] = op
  }
  const grants = byteList(b.g, 'g', limits)
  const revocations = byteList(b.r, 'r', limits)
  if ((grants.length > 0 || revocations.length > 0) && author !== space) {
    throw new CommitFormatError("grants and revocations belong in the owner's own chain")
  }
  if (grants.length + revocations.length > limits.maxGrantsPerCommit) {
    throw new CommitFormatError(
      `commit carries more than ${limits.maxGrantsPerCommit} grants and revocations`
    )
  }
  if (!Number.isSafeInteger(maxHlc)) throw new CommitFormatError('commit clock overflows')
  const canonical =
    trusted ||
    writeCommitBody(
      {
        space,
        author,
        seq,
        prev: prev as Uint8Array | null,
        clock,
        dep,
        seen,
        ops: rawOps as unknown as OpTuple[],
        grants,
        revocations
      },
      0
    ).equals(body)
  if (!canonical) throw new CommitFormatError('commit body is valid CBOR but not in canonical form')
  return {
    id: commitId(body),
    space,
    author,
    seq,
    prev: prev as Uint8Array | null,
    clock,
    dep,
    seen,
    ops,
    grants,
    revocations,
    body,
    signature,
    envelope,
    maxHlc
  }
}

/** Key `h`: present exactly when `dep > 0`; 1..16 distinct 32-byte ids in byte order. */
function seenList(value: CanonicalValue | undefined, dep: number): Uint8Array[] {
  if (value === undefined) {
    if (dep === 0) return []
    throw new CommitFormatError('a commit with d > 0 names the owner commits it has seen in h')
  }
  if (dep === 0) throw new CommitFormatError('a commit with d = 0 has no h')
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_SEEN_COMMITS) {
    throw new CommitFormatError(`commit key "h" must hold 1 to ${MAX_SEEN_COMMITS} commit ids`)
  }
  let previous: Uint8Array | undefined
  for (const id of value) {
    if (!isByteString(id, 32)) throw new CommitFormatError('commit key "h" holds 32-byte commit ids')
    if (previous !== undefined && compareBytes(previous, id) >= 0)
      throw new CommitFormatError('commit key "h" lists distinct ids in byte order')
    previous = id
  }
  return value as Uint8Array[]
}

function byteList(value: CanonicalValue | undefined, key: string, limits: CommitLimits): Uint8Array[] {
  if (value === undefined) return []
  if (!Array.isArray(value) || value.length === 0)
    throw new CommitFormatError(`commit key "${key}" must be a non-empty array`)
  if (value.length > limits.maxGrantsPerCommit)
    throw new CommitFormatError(`commit key "${key}" has too many entries`)
  for (const item of value)
    if (!(item instanceof Uint8Array)) throw new CommitFormatError(`commit key "${key}" holds bytes only`)
  return value as Uint8Array[]
}

function decodeOp(raw: CanonicalValue, base: number, limits: CommitLimits): CommitOp {
  if (isReadOp(raw)) {
    // Read straight into this object (see readCommitCbor): check it as a tuple, then complete it.
    const { path, field, hlc: dt, wire } = raw
    if (typeof path !== 'string' || path.length === 0 || path.length > limits.maxPathLength)
      throw new CommitFormatError('bad op path')
    if (typeof field !== 'string' || field.length === 0 || field.length > limits.maxFieldLength)
      throw new CommitFormatError('bad op field')
    if (!isSafeUint(dt)) throw new CommitFormatError('bad op clock delta')
    const op = raw as unknown as { hlc: number; value: GraphValue | undefined }
    op.hlc = base + dt
    if (wire !== undefined) op.value = fromWire(wire, limits)
    return raw as unknown as CommitOp
  }
  if (!Array.isArray(raw) || (raw.length !== 3 && raw.length !== 4)) {
    throw new CommitFormatError('an op is [path, field, dt] or [path, field, dt, value]')
  }
  const [path, field, dt] = raw as [CanonicalValue, CanonicalValue, CanonicalValue]
  if (typeof path !== 'string' || path.length === 0 || path.length > limits.maxPathLength)
    throw new CommitFormatError('bad op path')
  if (typeof field !== 'string' || field.length === 0 || field.length > limits.maxFieldLength)
    throw new CommitFormatError('bad op field')
  if (!isSafeUint(dt)) throw new CommitFormatError('bad op clock delta')
  const hlc = base + dt
  if (raw.length === 3) return { path, field, hlc, value: undefined, wire: undefined }
  const wire = raw[3] as CanonicalValue
  return { path, field, hlc, value: fromWire(wire, limits), wire: wire as WireValue }
}

function fromWire(wire: CanonicalValue, limits: CommitLimits): GraphValue {
  switch (typeof wire) {
    case 'boolean':
    case 'number':
      return wire
    case 'string':
      if (wire.length > limits.maxValueLength) throw new CommitFormatError('op string value over the limit')
      return wire
    case 'object':
      if (wire === null) return null
      if (wire instanceof Uint8Array) {
        if (wire.byteLength > limits.maxValueLength)
          throw new CommitFormatError('op byte value over the limit')
        return wire
      }
      if (Array.isArray(wire) && wire.length === 1 && typeof wire[0] === 'string') {
        const soul = wire[0]
        const slash = soul.indexOf('/')
        if (slash < 0 || !isSpace(soul.slice(0, slash)) || slash === soul.length - 1) {
          throw new CommitFormatError('op link does not point at a soul')
        }
        return { '#': soul }
      }
  }
  throw new CommitFormatError('op value is not a scalar, bytes or a link')
}

const TOMBSTONE_BYTES = new Uint8Array([0xf7])

/** The bytes hashed for the last tie break: the canonical encoding of the wire value (0xf7 for a tombstone). */
export function valueBytes(wire: WireValue | undefined): Uint8Array {
  return wire === undefined ? TOMBSTONE_BYTES : encodeCanonical(wire as CanonicalValue)
}
