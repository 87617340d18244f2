import { describe, expect, it } from 'vitest'
import { isByteString, isPlainMap, isSafeUint, isText, unknownKey } from '../src/index.js'

describe('isText', () => {
  it('bounds the UTF-8 byte length, not the number of characters', () => {
    expect(isText('abc', 3, 3)).toBe(true)
    expect(isText('abc', 4, 10)).toBe(false)
    expect(isText('abc', 0, 2)).toBe(false)
    expect(isText('', 0, 0)).toBe(true)
    expect(isText('', 1, 10)).toBe(false)
  })

  it('counts multi-byte characters by their UTF-8 bytes', () => {
    // é is 2 bytes, € is 3, 😀 is 4 (two UTF-16 units).
    expect(isText('é', 2, 2)).toBe(true)
    expect(isText('é', 1, 1)).toBe(false)
    expect(isText('€', 3, 3)).toBe(true)
    expect(isText('€€', 1, 5)).toBe(false)
    expect(isText('€€', 6, 6)).toBe(true)
    expect(isText('😀', 4, 4)).toBe(true)
    expect(isText('😀', 1, 3)).toBe(false)
    expect(isText('😀', 5, 8)).toBe(false)
    // 64 characters of 3 bytes each: 192 bytes, over a 128-byte limit though only 64 characters long.
    expect(isText('€'.repeat(64), 1, 128)).toBe(false)
    expect(isText('€'.repeat(64), 1, 192)).toBe(true)
  })

  it('refuses what is not a string', () => {
    for (const value of [undefined, null, 1, new Uint8Array(1), ['a'], { a: 1 }]) {
      expect(isText(value, 0, 10)).toBe(false)
    }
  })
})

describe('isSafeUint', () => {
  it('accepts safe integers within the bounds, 0 to 2^53 - 1 by default', () => {
    expect(isSafeUint(0)).toBe(true)
    expect(isSafeUint(Number.MAX_SAFE_INTEGER)).toBe(true)
    expect(isSafeUint(-1)).toBe(false)
    expect(isSafeUint(Number.MAX_SAFE_INTEGER + 1)).toBe(false)
    expect(isSafeUint(1.5)).toBe(false)
    expect(isSafeUint(Number.NaN)).toBe(false)
    expect(isSafeUint(Number.POSITIVE_INFINITY)).toBe(false)
    expect(isSafeUint('1')).toBe(false)
    expect(isSafeUint(1n)).toBe(false)
  })

  it('honours min and max, inclusive', () => {
    expect(isSafeUint(5, 5, 10)).toBe(true)
    expect(isSafeUint(10, 5, 10)).toBe(true)
    expect(isSafeUint(4, 5, 10)).toBe(false)
    expect(isSafeUint(11, 5, 10)).toBe(false)
    expect(isSafeUint(-3, -5)).toBe(true)
  })
})

describe('unknownKey', () => {
  it('names the first key outside the allowed set, or undefined', () => {
    const allowed = new Set(['v', 'name'])
    expect(unknownKey({ v: 1, name: 'a' }, allowed)).toBeUndefined()
    expect(unknownKey({}, allowed)).toBeUndefined()
    expect(unknownKey({ v: 1, extra: true }, allowed)).toBe('extra')
  })

  it('cuts a long hostile key to 32 characters', () => {
    expect(unknownKey({ ['k'.repeat(1_000)]: 1 }, new Set())).toBe('k'.repeat(32))
  })
})

describe('isPlainMap and isByteString', () => {
  it('isPlainMap accepts objects only, not null, arrays or byte strings', () => {
    expect(isPlainMap({})).toBe(true)
    expect(isPlainMap({ a: 1 })).toBe(true)
    for (const value of [null, undefined, [], new Uint8Array(2), 'map', 3])
      expect(isPlainMap(value)).toBe(false)
  })

  it('isByteString checks the type and, when given, the exact length', () => {
    expect(isByteString(new Uint8Array(16))).toBe(true)
    expect(isByteString(new Uint8Array(16), 16)).toBe(true)
    expect(isByteString(new Uint8Array(15), 16)).toBe(false)
    expect(isByteString([1, 2, 3])).toBe(false)
    expect(isByteString('bytes')).toBe(false)
  })
})
