import { TooLargeError } from '@araliya/interface'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type CanonicalValue, decodeCanonical, EncodingError, encodeCanonical } from '../src/index.js'

const value: fc.Arbitrary<CanonicalValue> = fc.letrec((tie) => ({
  leaf: fc.oneof(
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.string(),
    fc.uint8Array({ maxLength: 16 })
  ),
  node: fc.oneof(
    { depthSize: 'small' },
    tie('leaf'),
    fc.array(tie('node'), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 6 }), tie('node'), { maxKeys: 4 })
  )
})).node as fc.Arbitrary<CanonicalValue>

describe('canonical CBOR', () => {
  it('round-trips and is deterministic regardless of key insertion order', () => {
    fc.assert(
      fc.property(value, (v) => {
        const bytes = encodeCanonical(v)
        const back = decodeCanonical(bytes)
        expect(encodeCanonical(back)).toEqual(bytes)
      })
    )
    expect(encodeCanonical({ b: 1, a: 2 })).toEqual(encodeCanonical({ a: 2, b: 1 }))
  })

  it('rejects non-canonical encodings of valid data', () => {
    // {"b":1,"a":2} with keys out of canonical order
    expect(() => decodeCanonical(Uint8Array.from([0xa2, 0x61, 0x62, 0x01, 0x61, 0x61, 0x02]))).toThrowError(
      EncodingError
    )
    // 1 encoded in two bytes instead of one
    expect(() => decodeCanonical(Uint8Array.from([0x18, 0x01]))).toThrowError(EncodingError)
    // indefinite-length array
    expect(() => decodeCanonical(Uint8Array.from([0x9f, 0x01, 0xff]))).toThrowError(EncodingError)
    // duplicate keys
    expect(() => decodeCanonical(Uint8Array.from([0xa2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x02]))).toThrowError(
      EncodingError
    )
  })

  it('requireCanonical: false skips only the re-encoding check', () => {
    const relaxed = { requireCanonical: false } as const
    // keys out of canonical order: refused by default, read when the form carries no meaning
    const unordered = Uint8Array.from([0xa2, 0x61, 0x62, 0x01, 0x61, 0x61, 0x02])
    expect(() => decodeCanonical(unordered)).toThrowError(EncodingError)
    expect(decodeCanonical(unordered, relaxed)).toEqual({ b: 1, a: 2 })
    // every other check still applies
    expect(() => decodeCanonical(Uint8Array.from([0x9f, 0x01, 0xff]), relaxed)).toThrowError(EncodingError)
    expect(() =>
      decodeCanonical(Uint8Array.from([0xa2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x02]), relaxed)
    ).toThrowError(EncodingError)
    expect(() => decodeCanonical(new Uint8Array(101), { ...relaxed, maxBytes: 100 })).toThrowError(
      TooLargeError
    )
    expect(() =>
      decodeCanonical(Uint8Array.from([0x81, 0x81, 0x01]), { ...relaxed, maxDepth: 1 })
    ).toThrowError(EncodingError)
  })

  it('checks size before parsing and bounds nesting', () => {
    expect(() => decodeCanonical(new Uint8Array(101), { maxBytes: 100 })).toThrowError(TooLargeError)
    const deep = new Uint8Array(200).fill(0x81)
    deep[199] = 0x01
    expect(() => decodeCanonical(deep)).toThrowError(/nesting|invalid CBOR/)
    const veryDeep = new Uint8Array(500_000).fill(0x81)
    expect(() => decodeCanonical(veryDeep)).toThrowError(EncodingError)
  })

  it('garbage is always a typed error, never another exception', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          decodeCanonical(bytes)
        } catch (err) {
          expect(err).toBeInstanceOf(EncodingError)
        }
      }),
      { numRuns: 1000 }
    )
  })

  it('refuses values it cannot encode canonically', () => {
    expect(() => encodeCanonical(undefined as unknown as CanonicalValue)).toThrowError(EncodingError)
    expect(() => encodeCanonical(Number.NaN)).toThrowError(EncodingError)
  })
})
