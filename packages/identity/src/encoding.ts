import { EncodingError } from './errors.js'
import { decode, encode } from 'cborg'
import { TooLargeError } from '@araliya/interface'

/**
 * A value that canonical CBOR can carry: JSON-like scalars, byte arrays, arrays and plain objects with
 * string keys. `undefined`, non-finite numbers, Maps, Sets and class instances are not allowed.
 */
export type CanonicalValue =
  | null
  | boolean
  | number
  | string
  | Uint8Array
  | readonly CanonicalValue[]
  | { readonly [key: string]: CanonicalValue }

/** Limits enforced by {@link decodeCanonical}. */
export interface DecodeLimits {
  /** Largest input accepted, in bytes; checked before any parsing. Default 1 MiB. */
  maxBytes?: number
  /** Deepest nesting of arrays/maps accepted. Default 32. */
  maxDepth?: number
  /**
   * Refuse input that does not re-encode to the very same bytes. Default true. Only bytes whose form
   * carries no meaning of their own (never signed or hashed, e.g. a record inside authenticated
   * ciphertext) may skip it, to save the re-encoding; every other check still applies.
   */
  requireCanonical?: boolean
}

/** Default largest input {@link decodeCanonical} accepts (1 MiB). */
export const DEFAULT_MAX_DECODE_BYTES = 1024 * 1024
/** Default deepest nesting {@link decodeCanonical} accepts. */
export const DEFAULT_MAX_DECODE_DEPTH = 32

const ENCODE_OPTIONS = {
  float64: false,
  typeEncoders: {
    // The decoder refuses NaN and ±Infinity, so the encoder must refuse them too.
    number: (n: number) => {
      if (!Number.isFinite(n)) throw new EncodingError(`${n} has no canonical encoding; use null or a string`)
      return null
    },
    undefined: () => {
      throw new EncodingError('undefined has no canonical encoding; omit the field or use null')
    }
  }
}
const DECODE_OPTIONS = {
  strict: true,
  allowIndefinite: false,
  allowUndefined: false,
  allowInfinity: false,
  allowNaN: false,
  allowBigInt: false,
  rejectDuplicateMapKeys: true,
  useMaps: false
} as const

/**
 * Encodes a value as deterministic CBOR (RFC 8949 core deterministic encoding as cborg implements it:
 * shortest forms, map keys sorted length-first then bytewise, no indefinite lengths). This is the only
 * encoding Araliya signs or hashes; equal values always give equal bytes.
 *
 * @throws {EncodingError} for values CBOR cannot carry canonically (undefined, NaN, Infinity, functions, …).
 */
export function encodeCanonical(value: CanonicalValue): Uint8Array {
  try {
    return encode(value, ENCODE_OPTIONS)
  } catch (err) {
    if (EncodingError.isInstance(err)) throw err
    throw new EncodingError(`cannot encode value canonically: ${(err as Error).message}`, { cause: err })
  }
}

/**
 * Decodes canonical CBOR, enforcing the size limit before parsing and rejecting non-canonical input
 * (it must re-encode to the very same bytes), duplicate keys, indefinite lengths and excess nesting.
 *
 * @throws {TooLargeError} when `bytes` exceeds `maxBytes`.
 * @throws {EncodingError} for anything else that is not canonical CBOR within the limits.
 */
export function decodeCanonical(bytes: Uint8Array, limits: DecodeLimits = {}): CanonicalValue {
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_DECODE_BYTES
  if (!(bytes instanceof Uint8Array)) throw new EncodingError('expected a Uint8Array of CBOR bytes')
  if (bytes.byteLength > maxBytes) throw new TooLargeError('CBOR input', bytes.byteLength, maxBytes)
  let value: CanonicalValue
  try {
    value = decode(bytes, DECODE_OPTIONS) as CanonicalValue
  } catch (err) {
    // cborg throws plain Errors (and RangeError on absurd nesting); both mean "not valid input".
    throw new EncodingError(`invalid CBOR: ${(err as Error).message}`, { cause: err })
  }
  checkDepth(value, limits.maxDepth ?? DEFAULT_MAX_DECODE_DEPTH)
  if (limits.requireCanonical === false) return value
  const again = encode(value, ENCODE_OPTIONS)
  if (!equalBytes(again, bytes)) throw new EncodingError('CBOR input is valid but not in canonical form')
  return value
}

function checkDepth(root: CanonicalValue, maxDepth: number): void {
  const stack: Array<[CanonicalValue, number]> = [[root, 0]]
  while (stack.length > 0) {
    const [value, depth] = stack.pop() as [CanonicalValue, number]
    if (value === null || typeof value !== 'object' || value instanceof Uint8Array) continue
    if (depth >= maxDepth) throw new EncodingError(`CBOR nesting is deeper than the limit of ${maxDepth}`)
    const children = Array.isArray(value) ? value : Object.values(value)
    for (const child of children) stack.push([child as CanonicalValue, depth + 1])
  }
}

/** Constant-shape byte comparison (not constant time; use for public data only). */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}
