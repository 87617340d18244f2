import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { escapeText, safeJson } from '../src/escape.ts'

/**
 * What a terminal may act on, or what hides or reorders text: C0 and C1 controls and DEL, format
 * characters (bidi overrides and isolates, zero-width characters, BOM, tags), line and paragraph
 * separators, lone surrogates.
 */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u

/** Letters that render as nothing (combining grapheme joiner, Hangul fillers): escaped as well. */
const INVISIBLE = /[\u034F\u115F\u1160\u3164\uFFA0]/u

/** The inverse of escapeText, written independently from its description in the README. */
function unescapeText(text: string): string {
  return text.replace(
    /\\(?:x([0-9a-f]{2})|u\{([0-9a-f]+)\}|u([0-9a-f]{4})|([tnr\\]))/g,
    (_, x, u6, u4, c) => {
      if (x !== undefined) return String.fromCharCode(Number.parseInt(x, 16))
      if (u6 !== undefined) return String.fromCodePoint(Number.parseInt(u6, 16))
      if (u4 !== undefined) return String.fromCharCode(Number.parseInt(u4, 16))
      return ({ t: '\t', n: '\n', r: '\r', '\\': '\\' } as Record<string, string>)[c as string] as string
    }
  )
}

/** Any UTF-16 string, lone surrogates included, with the dangerous characters over-represented. */
const hostileString = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.string({
    unit: fc.constantFrom(
      '\x1b',
      '[',
      '2J',
      '\n',
      '\r',
      '\t',
      '\x00',
      '\x7f',
      '\x9b',
      '\u0085',
      '\u202a',
      '\u202e',
      '\u2066',
      '\u2069',
      '\u200b',
      '\u200d',
      '\u2028',
      '\u2029',
      '\ufeff',
      '\u{e0041}',
      '\ud800',
      '\udfff',
      '\\',
      'x1b',
      'a',
      'é',
      '日',
      '😀'
    )
  })
)

describe('escapeText', () => {
  it('shows each dangerous character as a visible escape', () => {
    expect(escapeText('\x1b[2J')).toBe('\\x1b[2J')
    expect(escapeText('ok\nFAKE LOG LINE')).toBe('ok\\nFAKE LOG LINE')
    expect(escapeText('a\rb\tc')).toBe('a\\rb\\tc')
    expect(escapeText('\x9b31m')).toBe('\\x9b31m') // C1 CSI: some terminals treat it as ESC [
    expect(escapeText('file\u202egnp.exe')).toBe('file\\u202egnp.exe')
    expect(escapeText('\u2066x\u2069')).toBe('\\u2066x\\u2069')
    expect(escapeText('a\u200bb\ufeff')).toBe('a\\u200bb\\ufeff')
    expect(escapeText('\u2028')).toBe('\\u2028')
    expect(escapeText('\ud800x\udc00')).toBe('\\ud800x\\udc00')
    expect(escapeText('tag\u{e0041}')).toBe('tag\\u{e0041}')
    expect(escapeText('a\u034fb\u3164')).toBe('a\\u034fb\\u3164') // render as nothing
    // A backslash is doubled, so a peer cannot make its text look like an escape it did not send.
    expect(escapeText('\\x1b')).toBe('\\\\x1b')
  })

  it('leaves printable text alone, in any script, emoji included', () => {
    for (const text of [
      'agents/hello',
      'ünïcödé',
      '日本語のテキスト',
      'emoji 😀 ok',
      '/ip4/127.0.0.1/tcp/4001'
    ]) {
      expect(escapeText(text)).toBe(text)
    }
  })

  it('property: the output never holds a character a terminal acts on, and it reads back to the input', () => {
    fc.assert(
      fc.property(hostileString, (text) => {
        const escaped = escapeText(text)
        expect(escaped).not.toMatch(UNSAFE)
        expect(unescapeText(escaped)).toBe(text)
      }),
      { numRuns: 2000 }
    )
  })

  it('property: text without dangerous characters or backslashes is printed as it is', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (text) => {
        fc.pre(!UNSAFE.test(text) && !INVISIBLE.test(text) && !text.includes('\\'))
        expect(escapeText(text)).toBe(text)
      })
    )
  })
})

describe('safeJson', () => {
  it('escapes what JSON.stringify leaves raw: DEL, C1 controls, bidi and zero-width characters', () => {
    const value = { topic: 'agents/\u202e\x9b\x7f\u200b\u2028', [`k\u2066`]: '\x1b[2J\nFAKE' }
    const json = safeJson(value)
    expect(json).not.toMatch(UNSAFE)
    expect(json).not.toContain('\n')
    expect(JSON.parse(json)).toEqual(value)
  })

  it('never throws: bytes, bigints, undefined and cycles still print', () => {
    expect(safeJson(new Uint8Array([1, 2, 255]))).toBe('{"$bytes":"AQL/"}')
    expect(safeJson({ n: 2n ** 64n })).toBe('{"n":"18446744073709551616"}')
    expect(safeJson(undefined)).toBe('null')
    const cycle: Record<string, unknown> = {}
    cycle.self = cycle
    expect(safeJson(cycle)).toMatch(/^"\[unprintable: .*\]"$/)
  })

  it('property: any JSON value round-trips, and the output is one line with no dangerous character', () => {
    const json = fc.jsonValue({ maxDepth: 4, stringUnit: 'binary' }).map((v) => JSON.parse(JSON.stringify(v)))
    fc.assert(
      fc.property(json, (value) => {
        const out = safeJson(value)
        expect(out).not.toMatch(UNSAFE)
        expect(JSON.parse(out)).toEqual(value)
      }),
      { numRuns: 1000 }
    )
  })
})
