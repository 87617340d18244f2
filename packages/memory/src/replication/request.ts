import {
  type CanonicalValue,
  decodeCanonical,
  encodeCanonical,
  type Identity,
  isAddress,
  verify
} from '@araliya/identity'
import { isByteString, isPlainMap, isSafeUint, isText, unknownKey } from '@araliya/interface'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'

/** The protocol full nodes serve replication requests (and head queries) on. */
export const MEMORY_REPLICATION_PROTOCOL = '/araliya/memory-replicate/1.0.0'
/** The signature context of replication requests and revocations (domain separation). */
export const REPLICATION_CONTEXT = 'araliya/memory-replicate/v1'
/** Hashed with an owner's address into the DHT key its replicas provide. */
export const REPLICA_KEY_PREFIX = 'araliya/memory-replica/v1|'
/** Hashed into the DHT key every full node that accepts replication requests provides. */
export const REPLICATION_SERVICE_KEY = 'araliya/memory-replication/v1'
/** Largest message read on the protocol: requests are small, a head list is at most this. */
export const MAX_REPLICATION_MESSAGE_BYTES = 64 * 1024
/** Largest replication request or revocation accepted (the signed body and signature together). */
export const MAX_REQUEST_BYTES = 1024
/** Most replicas an owner may ask for in one request. */
export const MAX_REPLICAS = 16

const encoder = new TextEncoder()

/** What an owner signs to ask full nodes to keep its (encrypted) memory space, or to stop. */
export interface ReplicationOrder {
  /** `replicate` asks (or renews); `revoke` withdraws every earlier request. */
  readonly op: 'replicate' | 'revoke'
  /** The owner's address: the space to keep, and the key that signs. */
  readonly owner: string
  /** Orders of one owner are ordered by this: only a higher one has an effect (renewal, revocation). */
  readonly seq: number
  /** How many full nodes the owner asks (recorded; each full node keeps one copy). `replicate` only. */
  readonly replicas?: number
  /** When the request lapses, ms since the epoch. `replicate` only. */
  readonly expiresAt?: number
}

/** A {@link ReplicationOrder} with its encoding and the owner's signature over it. */
export interface SignedOrder extends ReplicationOrder {
  /** The canonical CBOR of the order: what was signed. */
  readonly body: Uint8Array
  readonly signature: Uint8Array
}

/** The DHT key an owner's replicas provide: a CIDv1 (raw) of sha256(`araliya/memory-replica/v1|<owner>`). */
export async function replicaKey(owner: string): Promise<CID> {
  return CID.createV1(raw.code, await sha256.digest(encoder.encode(REPLICA_KEY_PREFIX + owner)))
}

/** The DHT key full nodes that accept replication requests provide. */
export async function replicationServiceKey(): Promise<CID> {
  return CID.createV1(raw.code, await sha256.digest(encoder.encode(REPLICATION_SERVICE_KEY)))
}

/**
 * Signs a replication order with the owner's key.
 *
 * @throws {Error} when `identity` is not the owner's key.
 */
export async function signOrder(identity: Identity, order: ReplicationOrder): Promise<SignedOrder> {
  if (identity.address !== order.owner) {
    throw new Error(`only the owner's key (${order.owner}) signs its replication orders`)
  }
  const map: Record<string, CanonicalValue> = { v: 1, op: order.op, owner: order.owner, seq: order.seq }
  if (order.op === 'replicate') {
    map.replicas = order.replicas ?? 1
    map.expiresAt = order.expiresAt ?? 0
  }
  const body = encodeCanonical(map)
  const signature = await identity.sign(REPLICATION_CONTEXT, body)
  return { ...order, body, signature }
}

/** The wire form of a signed order: `{ body, sig }` in canonical CBOR. */
export function encodeSignedOrder(order: SignedOrder): Uint8Array {
  return encodeCanonical({ body: order.body, sig: order.signature })
}

/**
 * Decodes and verifies a signed order: bounded size, strict shape, the owner's own signature under
 * {@link REPLICATION_CONTEXT}. Returns the order, or the reason it is refused.
 */
export async function verifyOrder(bytes: Uint8Array): Promise<SignedOrder | { refused: string }> {
  if (!(bytes instanceof Uint8Array) || bytes.byteLength > MAX_REQUEST_BYTES) return { refused: 'too-large' }
  let outer: unknown
  let inner: unknown
  try {
    outer = decodeCanonical(bytes)
    if (!isPlainMap(outer) || unknownKey(outer, WIRE_KEYS) !== undefined) return { refused: 'malformed' }
    if (!isByteString(outer.body) || !isByteString(outer.sig, 64)) return { refused: 'malformed' }
    inner = decodeCanonical(outer.body)
  } catch {
    return { refused: 'malformed' }
  }
  const body = (outer as { body: Uint8Array }).body
  const signature = (outer as { sig: Uint8Array }).sig
  if (!isPlainMap(inner) || inner.v !== 1) return { refused: 'malformed' }
  const { op, owner, seq } = inner
  if ((op !== 'replicate' && op !== 'revoke') || typeof owner !== 'string' || !isAddress(owner))
    return { refused: 'malformed' }
  if (!isSafeUint(seq, 1)) return { refused: 'malformed' }
  let order: ReplicationOrder
  if (op === 'replicate') {
    if (unknownKey(inner, REPLICATE_KEYS) !== undefined) return { refused: 'malformed' }
    if (!isSafeUint(inner.replicas, 1, MAX_REPLICAS) || !isSafeUint(inner.expiresAt, 1))
      return { refused: 'malformed' }
    order = { op, owner, seq, replicas: inner.replicas, expiresAt: inner.expiresAt }
  } else {
    if (unknownKey(inner, REVOKE_KEYS) !== undefined) return { refused: 'malformed' }
    order = { op, owner, seq }
  }
  if (!(await verify(owner, REPLICATION_CONTEXT, body, signature))) return { refused: 'unsigned' }
  return { ...order, body, signature }
}

const WIRE_KEYS = new Set(['body', 'sig'])
const REPLICATE_KEYS = new Set(['v', 'op', 'owner', 'seq', 'replicas', 'expiresAt'])
const REVOKE_KEYS = new Set(['v', 'op', 'owner', 'seq'])

/** A message on {@link MEMORY_REPLICATION_PROTOCOL}, client to server. */
export type ReplicationMessage =
  /** `sync: true` asks a full node that accepts to answer only once it has synced the space (see the protocol doc). */
  | { readonly op: 'order'; readonly order: Uint8Array; readonly sync?: true }
  | { readonly op: 'heads'; readonly owner: string }

/** The server's answer. */
export interface ReplicationReply {
  readonly ok: boolean
  /** Why it was refused (`light`, `unsigned`, `stale`, `full`, `expired`, `malformed`, `too-large`, `not-serving`). */
  readonly reason?: string
  /** The expiry the server applies (a `replicate` order it accepted), ms since the epoch. */
  readonly expiresAt?: number
  /**
   * Answer to an order sent with `sync: true`: whether the server held every head of the space the
   * asking peer holds, and had announced itself as the owner's replica, before it answered (false: not
   * within its bound; it goes on syncing).
   */
  readonly synced?: boolean
  /**
   * With a head query's answer, from a full node that replicates the owner: the owner's signed order it
   * holds (the wire form of {@link encodeSignedOrder}), which says how many replicas the owner asked for.
   */
  readonly order?: Uint8Array
  /** A head query's answer: the heads of every chain of the owner's space held, `[author, seq, id]`. */
  readonly heads?: ReadonlyArray<readonly [string, number, Uint8Array]>
}

export function encodeMessage(message: ReplicationMessage): Uint8Array {
  return encodeCanonical(message as unknown as CanonicalValue)
}

export function decodeMessage(bytes: Uint8Array): ReplicationMessage | undefined {
  let map: unknown
  try {
    map = decodeCanonical(bytes)
  } catch {
    return undefined
  }
  if (!isPlainMap(map)) return undefined
  if (map.op === 'order' && isByteString(map.order) && unknownKey(map, ORDER_KEYS) === undefined) {
    if (map.sync === undefined) return { op: 'order', order: map.order }
    if (map.sync === true) return { op: 'order', order: map.order, sync: true }
    return undefined
  }
  if (
    map.op === 'heads' &&
    typeof map.owner === 'string' &&
    isAddress(map.owner) &&
    unknownKey(map, HEADS_KEYS) === undefined
  )
    return { op: 'heads', owner: map.owner }
  return undefined
}

const ORDER_KEYS = new Set(['op', 'order', 'sync'])
const HEADS_KEYS = new Set(['op', 'owner'])

export function encodeReply(reply: ReplicationReply): Uint8Array {
  const map: Record<string, CanonicalValue> = { ok: reply.ok }
  if (reply.reason !== undefined) map.reason = reply.reason
  if (reply.expiresAt !== undefined) map.expiresAt = reply.expiresAt
  if (reply.synced !== undefined) map.synced = reply.synced
  if (reply.order !== undefined) map.order = reply.order
  if (reply.heads !== undefined) map.heads = reply.heads.map((h) => [...h])
  return encodeCanonical(map)
}

export function decodeReply(bytes: Uint8Array): ReplicationReply | undefined {
  let map: unknown
  try {
    map = decodeCanonical(bytes)
  } catch {
    return undefined
  }
  if (!isPlainMap(map) || typeof map.ok !== 'boolean') return undefined
  const reply: {
    ok: boolean
    reason?: string
    expiresAt?: number
    synced?: boolean
    order?: Uint8Array
    heads?: Array<[string, number, Uint8Array]>
  } = { ok: map.ok }
  if (map.reason !== undefined) {
    if (!isText(map.reason, 1, 64)) return undefined
    reply.reason = map.reason
  }
  if (map.expiresAt !== undefined) {
    if (!isSafeUint(map.expiresAt)) return undefined
    reply.expiresAt = map.expiresAt
  }
  if (map.order !== undefined) {
    if (!isByteString(map.order) || map.order.byteLength > MAX_REQUEST_BYTES) return undefined
    reply.order = map.order
  }
  if (map.synced !== undefined) {
    if (typeof map.synced !== 'boolean') return undefined
    reply.synced = map.synced
  }
  if (map.heads !== undefined) {
    if (!Array.isArray(map.heads)) return undefined
    const heads: Array<[string, number, Uint8Array]> = []
    for (const h of map.heads) {
      if (!Array.isArray(h) || h.length !== 3) return undefined
      const [author, seq, id] = h as unknown[]
      if (typeof author !== 'string' || !isSafeUint(seq, 1) || !isByteString(id)) return undefined
      heads.push([author, seq, id])
    }
    reply.heads = heads
  }
  return reply
}
