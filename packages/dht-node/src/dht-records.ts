import type { KadDHT, SingleKadDHT } from '@libp2p/kad-dht'
import { PublishFailedError } from './errors.js'
import { equalBytes } from './util.js'

/**
 * Stores a record on the DHT and counts the servers that accepted it.
 *
 * @throws {PublishFailedError} when no server accepted it (a client-mode node) or every server refused it.
 */
export async function putRecord(
  dht: KadDHT,
  key: Uint8Array,
  bytes: Uint8Array,
  signal: AbortSignal
): Promise<number> {
  let accepted = 0
  const errors: Error[] = []
  for await (const event of dht.put(key, bytes, { signal })) {
    if (event.name === 'PEER_RESPONSE' && event.messageName === 'PUT_VALUE') {
      if (event.record !== undefined && equalBytes(event.record.value, bytes)) accepted++
    } else if (event.name === 'QUERY_ERROR') {
      errors.push(event.error)
    }
  }
  if (accepted === 0 && dht.getMode() === 'client') {
    throw new PublishFailedError(
      `no DHT server accepted the record (${errors.length} errors); is a full or bootstrap node reachable?`,
      { cause: new AggregateError(errors) }
    )
  }
  if (accepted === 0 && errors.length > 0) {
    throw new PublishFailedError(`every DHT server refused the record (${errors.length} errors)`, {
      cause: new AggregateError(errors)
    })
  }
  return accepted
}

/** The best value kad-dht finds for a key, or `undefined` when there is none. */
export async function getRecord(
  dht: KadDHT,
  key: Uint8Array,
  signal: AbortSignal
): Promise<Uint8Array | undefined> {
  let value: Uint8Array | undefined
  try {
    for await (const event of dht.get(key, { signal })) {
      if (event.name === 'VALUE') value = event.value
    }
  } catch (err) {
    if (value === undefined && (err as Error)?.name !== 'NotFoundError') throw err
  }
  return value
}

/** Number of peers in kad-dht's routing table. */
export function routingTableSize(dht: KadDHT): number {
  return (dht as SingleKadDHT).routingTable?.size ?? 0
}

/** Resolves true once the routing table holds a peer, false if `signal` fires first. */
export async function waitForDhtPeer(dht: KadDHT, signal: AbortSignal): Promise<boolean> {
  while (!signal.aborted) {
    if (routingTableSize(dht) > 0) return true
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return false
}
