// Text that came from the network is printed through these two functions and nothing else. A peer
// chooses bus topics, payloads, heartbeat fields and error details; printed raw, they could clear the
// operator's screen (ESC [2J), forge log lines (a newline, then text that looks like ours), reverse what
// follows (bidi overrides) or hide text (zero-width characters).

/**
 * Characters a terminal may act on, or that hide or reorder text: C0 and C1 controls and DEL (`Cc`),
 * format characters (`Cf`: bidi embeddings, overrides and isolates U+202A–202E and U+2066–2069, bidi
 * marks, zero-width space and joiners, word joiner, BOM, soft hyphen, tag characters), the line and
 * paragraph separators U+2028/2029, lone surrogates (`Cs` under the `u` flag matches only unpaired
 * ones), and a few letters that render as nothing (combining grapheme joiner, Hangul fillers). The
 * backslash is escaped too, so every escape on screen is one the peer actually sent.
 */
const UNSAFE_TEXT = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\u115F\u1160\u3164\uFFA0\\]|\u034F/gu

/** The same set minus what `JSON.stringify` already escapes (C0 controls, `"`, `\`, lone surrogates). */
const UNSAFE_IN_JSON = /[\u007F-\u009F\p{Cf}\p{Zl}\p{Zp}\u115F\u1160\u3164\uFFA0]|\u034F/gu

const SHORT: Readonly<Record<string, string>> = { '\t': '\\t', '\n': '\\n', '\r': '\\r', '\\': '\\\\' }

function hex(code: number, width: number): string {
  return code.toString(16).padStart(width, '0')
}

/**
 * Makes a string from the network safe to print on a terminal, on one line. Printable text in any
 * script (emoji included) is left as it is; each dangerous character becomes a visible escape in
 * JavaScript notation: `\n`, `\r`, `\t`, `\xHH` up to U+00FF (`\x1b` for ESC, `\x9b` for the C1 CSI),
 * `\uHHHH` in the BMP (`\u202e`, a lone `\ud800`), `\u{HHHHH}` above it; a backslash becomes `\\`.
 * The mapping is reversible, so nothing a peer sent is lost or ambiguous.
 */
export function escapeText(text: string): string {
  return text.replace(UNSAFE_TEXT, (char) => {
    const short = SHORT[char]
    if (short !== undefined) return short
    const code = char.codePointAt(0) as number
    if (code <= 0xff) return `\\x${hex(code, 2)}`
    if (code <= 0xffff) return `\\u${hex(code, 4)}`
    return `\\u{${hex(code, 5)}}`
  })
}

/** What `JSON.stringify` cannot print by itself: bytes, bigints. */
function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString()
  if (value instanceof Uint8Array) return { $bytes: Buffer.from(value).toString('base64') }
  return value
}

/**
 * One line of JSON that is safe on a terminal and parses back to the same value. `JSON.stringify`
 * escapes C0 controls and lone surrogates but leaves DEL, C1 controls, bidi and zero-width characters
 * and U+2028/2029 raw; those become `\uHHHH` escapes too (still valid JSON, the same string once
 * parsed). Byte strings print as `{"$bytes":"<base64>"}`, bigints as decimal strings, `undefined` as
 * `null`; a value that cannot be printed at all (a cycle) prints as a string that says so.
 */
export function safeJson(value: unknown): string {
  let json: string | undefined
  try {
    json = JSON.stringify(value, jsonReplacer)
  } catch (err) {
    json = JSON.stringify(`[unprintable: ${err instanceof Error ? err.message : String(err)}]`)
  }
  return (json ?? 'null').replace(UNSAFE_IN_JSON, (char) => {
    let out = ''
    for (let i = 0; i < char.length; i++) out += `\\u${hex(char.charCodeAt(i), 4)}`
    return out
  })
}
