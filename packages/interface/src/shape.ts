/**
 * The checks every decoder of a signed record applies to a decoded CBOR value before trusting any field
 * of it: one implementation, used by identity (grants, revocations, ETH links), dht-node (presence,
 * node status, ETH records), channel-p2p (envelopes, receipts) and crdt-graph (commits, sync messages).
 * Each predicate is a plain type guard so a record checker reads as its protocol document's table.
 *
 * @example
 * ```ts
 * import { isByteString, isPlainMap, isText, unknownKey } from '@araliya/interface'
 *
 * function statusProblem(value: unknown): string | undefined {
 *   if (!isPlainMap(value)) return 'not a map'
 *   const extra = unknownKey(value, new Set(['v', 'name', 'id']))
 *   if (extra !== undefined) return `unknown field ${JSON.stringify(extra)}`
 *   if (!isText(value.name, 1, 64)) return 'name must be text of 1-64 bytes'
 *   if (!isByteString(value.id, 16)) return 'id must be 16 bytes'
 *   return undefined
 * }
 * ```
 */

/** A string-keyed map: an object that is not null, an array or a byte string. */
export function isPlainMap(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array)
  )
}

/** The first key of `map` not in `allowed` (cut to 32 characters), or `undefined` when every key is allowed. */
export function unknownKey(map: Record<string, unknown>, allowed: ReadonlySet<string>): string | undefined {
  for (const key of Object.keys(map)) if (!allowed.has(key)) return key.slice(0, 32)
  return undefined
}

/** A safe integer of at least `min` (default 0) and at most `max` (default 2^53 - 1). */
export function isSafeUint(value: unknown, min = 0, max = Number.MAX_SAFE_INTEGER): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max
}

/** A byte string, of exactly `length` bytes when given. */
export function isByteString(value: unknown, length?: number): value is Uint8Array {
  return value instanceof Uint8Array && (length === undefined || value.byteLength === length)
}

const textEncoder = new TextEncoder()

/** A string whose UTF-8 encoding is `min` to `max` bytes long (the length CBOR itself records). */
export function isText(value: unknown, min: number, max: number): value is string {
  if (typeof value !== 'string') return false
  // UTF-8 takes at least one byte per UTF-16 unit and at most three, so most strings need no encoding.
  if (value.length < min / 3 || value.length > max) return false
  if (value.length * 3 <= max && value.length >= min) return true
  const bytes = textEncoder.encode(value).byteLength
  return bytes >= min && bytes <= max
}
