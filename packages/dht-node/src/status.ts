import { type CanonicalValue, encodeCanonical, isAddress } from '@araliya/identity'
import { InvalidRecordError } from './errors.js'
import { isPlainMap, isSafeUint, unknownKey } from '@araliya/interface'
import { decodeRecordValue } from './presence.js'

/** Largest encoded `node-status` heartbeat accepted, in bytes; checked before decoding. */
export const MAX_STATUS_BYTES = 4096
/** Deepest nesting of a heartbeat: the top-level map is 1, `mesh` and `dht` are 2. */
const MAX_STATUS_DEPTH = 3
/** The roles a heartbeat may report. */
export const NODE_ROLES = ['bootstrap', 'full', 'light'] as const
/** The kad-dht modes a heartbeat may report. */
export const DHT_MODES = ['client', 'server'] as const
/** Most entries in a heartbeat's `mesh` map. */
export const MAX_STATUS_MESH_TOPICS = 64
/** Longest topic name used as a `mesh` key, in bytes (topic names are ASCII). */
const MAX_MESH_TOPIC_BYTES = 128
const MESH_TOPIC_PATTERN = /^[a-z0-9][a-z0-9._/-]*$/
const STATUS_FIELDS = new Set([
  'v',
  'address',
  'role',
  'peers',
  'mesh',
  'dht',
  'memory',
  'uptimeMs',
  'timestamp'
])
const DHT_FIELDS = new Set(['mode', 'routingTable'])

/**
 * A node's periodic health report, published on the `node-status` topic. It carries no signature of its
 * own: gossipsub's StrictSign signature by the publishing node covers it (see docs/protocols/node-status.md).
 */
export interface NodeStatus {
  readonly v: 1
  /** The publishing agent's address; must be the gossip message's signer. */
  readonly address: string
  /** `bootstrap`, `full` or `light`. */
  readonly role: (typeof NODE_ROLES)[number]
  /** Number of connected peers. */
  readonly peers: number
  /** Mesh size per topic (short topic name -> peers in the mesh). */
  readonly mesh: Readonly<Record<string, number>>
  /** DHT state: kad-dht mode (`client` or `server`) and routing table size. */
  readonly dht: { readonly mode: (typeof DHT_MODES)[number]; readonly routingTable: number }
  /** Heap in use, in bytes (0 when the platform does not tell). */
  readonly memory: number
  /** Milliseconds since the node started. */
  readonly uptimeMs: number
  /** When the report was made, ms since the epoch (the sender's clock; receivers do not check it). */
  readonly timestamp: number
}

/** Canonical CBOR of a status report. */
export function encodeNodeStatus(status: NodeStatus): Uint8Array {
  return encodeCanonical(status as unknown as CanonicalValue)
}

/**
 * Decodes a status report: size limit before parsing, then canonical CBOR and the exact shape (closed
 * field sets, the documented roles and modes, a canonical address).
 *
 * @throws {InvalidRecordError} with reason `too-large` or `malformed`.
 */
export function decodeNodeStatus(bytes: Uint8Array): NodeStatus {
  const value = decodeRecordValue(bytes, MAX_STATUS_BYTES, 'node status', MAX_STATUS_DEPTH)
  const problem = statusProblem(value as Record<string, unknown>)
  if (problem !== undefined) {
    throw new InvalidRecordError('malformed', `the bytes are not a version 1 node status: ${problem}`)
  }
  return value as unknown as NodeStatus
}

/**
 * The verdict on a `node-status` gossip message:
 * - `accept`: a heartbeat whose `address` is the gossip signer;
 * - `reject` (`signer-mismatch`): a heartbeat published by someone other than its `address`;
 * - `foreign` (`too-large` or `malformed`): not a heartbeat at all. The topic may be shared, so the node
 *   leaves such messages to the application's validators (rejected when there are none).
 */
export type NodeStatusVerdict =
  | { readonly action: 'accept'; readonly status: NodeStatus }
  | { readonly action: 'reject'; readonly reason: 'signer-mismatch'; readonly message: string }
  | { readonly action: 'foreign'; readonly reason: 'too-large' | 'malformed'; readonly message: string }

/** Judges a `node-status` message signed (gossipsub StrictSign) by `signer`. Never throws. */
export function checkNodeStatus(data: Uint8Array, signer: string): NodeStatusVerdict {
  let status: NodeStatus
  try {
    status = decodeNodeStatus(data)
  } catch (err) {
    if (!InvalidRecordError.isInstance(err)) throw err
    return {
      action: 'foreign',
      reason: err.reason === 'too-large' ? 'too-large' : 'malformed',
      message: err.message
    }
  }
  if (status.address !== signer) {
    return {
      action: 'reject',
      reason: 'signer-mismatch',
      message: `a heartbeat for ${status.address} was published by ${signer}`
    }
  }
  return { action: 'accept', status }
}

function statusProblem(v: Record<string, unknown>): string | undefined {
  const extra = unknownKey(v, STATUS_FIELDS)
  if (extra !== undefined) return `unknown field "${extra}"`
  if (v.v !== 1) return 'v is not 1'
  if (!isAddress(v.address)) return 'address is not a canonical Ed25519 address'
  if (!(NODE_ROLES as readonly unknown[]).includes(v.role))
    return `role is not one of ${NODE_ROLES.join(', ')}`
  if (!isSafeUint(v.peers)) return 'peers is not a non-negative integer'
  const mesh = v.mesh
  if (!isPlainMap(mesh)) return 'mesh is not a map'
  const topics = Object.keys(mesh)
  if (topics.length > MAX_STATUS_MESH_TOPICS) return `mesh has more than ${MAX_STATUS_MESH_TOPICS} topics`
  for (const topic of topics) {
    if (topic.length > MAX_MESH_TOPIC_BYTES || !MESH_TOPIC_PATTERN.test(topic)) return 'bad mesh topic name'
    if (!isSafeUint(mesh[topic])) return 'a mesh size is not a non-negative integer'
  }
  const dht = v.dht
  if (!isPlainMap(dht)) return 'dht is not a map'
  const extraDht = unknownKey(dht, DHT_FIELDS)
  if (extraDht !== undefined) return `unknown dht field "${extraDht}"`
  if (!(DHT_MODES as readonly unknown[]).includes(dht.mode))
    return `dht.mode is not one of ${DHT_MODES.join(', ')}`
  if (!isSafeUint(dht.routingTable)) return 'dht.routingTable is not a non-negative integer'
  if (!isSafeUint(v.memory)) return 'memory is not a non-negative integer'
  if (!isSafeUint(v.uptimeMs)) return 'uptimeMs is not a non-negative integer'
  if (!isSafeUint(v.timestamp)) return 'timestamp is not a non-negative integer'
  return undefined
}
