import { type CanonicalValue, encodeCanonical } from '@araliya/identity'
import { InvalidRecordError } from './errors.js'
import { decodeRecordValue, isNonNegativeInteger } from './presence.js'

/** Largest encoded `node-status` heartbeat accepted. */
export const MAX_STATUS_BYTES = 4096

/** A node's periodic health report, published on the `node-status` topic. */
export interface NodeStatus {
  readonly v: 1
  /** The publishing agent's address; must match the gossip message's signer. */
  readonly address: string
  /** `bootstrap`, `full` or `light`. */
  readonly role: string
  /** Number of connected peers. */
  readonly peers: number
  /** Mesh size per topic (short topic name -> peers in the mesh). */
  readonly mesh: Readonly<Record<string, number>>
  /** DHT state: mode and routing table size. */
  readonly dht: { readonly mode: string; readonly routingTable: number }
  /** Heap in use, in bytes (0 when the platform does not tell). */
  readonly memory: number
  /** Milliseconds since the node started. */
  readonly uptimeMs: number
  /** When the report was made, ms since the epoch. */
  readonly timestamp: number
}

/** Canonical CBOR of a status report. */
export function encodeNodeStatus(status: NodeStatus): Uint8Array {
  return encodeCanonical(status as unknown as CanonicalValue)
}

/**
 * Decodes a status report (size limit before parsing, then shape).
 *
 * @throws {InvalidRecordError} with reason `too-large` or `malformed`.
 */
export function decodeNodeStatus(bytes: Uint8Array): NodeStatus {
  const v = decodeRecordValue(bytes, MAX_STATUS_BYTES, 'node status') as Record<string, unknown>
  const mesh = v.mesh as Record<string, unknown> | undefined
  const dht = v.dht as Record<string, unknown> | undefined
  if (
    v.v !== 1 ||
    typeof v.address !== 'string' ||
    typeof v.role !== 'string' ||
    !isNonNegativeInteger(v.peers) ||
    typeof mesh !== 'object' ||
    mesh === null ||
    Array.isArray(mesh) ||
    mesh instanceof Uint8Array ||
    !Object.values(mesh).every(isNonNegativeInteger) ||
    typeof dht !== 'object' ||
    dht === null ||
    typeof dht.mode !== 'string' ||
    !isNonNegativeInteger(dht.routingTable) ||
    !isNonNegativeInteger(v.memory) ||
    !isNonNegativeInteger(v.uptimeMs) ||
    !isNonNegativeInteger(v.timestamp)
  ) {
    throw new InvalidRecordError('malformed', 'the bytes are not a version 1 node status')
  }
  return v as unknown as NodeStatus
}
