import type { CanonicalValue } from '@araliya/identity'

/** Thrown by {@link readCbor} for input outside the supported subset; the caller maps it to a typed error. */
export class CborReadError extends Error {
  override name = 'CborReadError'
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/**
 * A small, bounded reader of the CBOR subset commit bodies use: unsigned and negative integers (safe
 * range), half/single/double floats (finite), text and byte strings, arrays, null and booleans, and one
 * map with text keys at the top. Definite lengths only; nesting at most `maxDepth`; every byte must be
 * consumed. It does not check canonical form: the caller re-encodes and compares.
 */
export function readCbor(bytes: Uint8Array, maxDepth: number): CanonicalValue {
  return read(bytes, maxDepth, false)
}

/**
 * One op of a commit body as {@link readCommitCbor} reads it: the op tuple `[path, field, dt, value?]`
 * read straight into the object the decoder turns into the commit's op (no array in between). `hlc`
 * holds `dt` until the decoder adds the commit's clock; `value` is filled in by the decoder. Its items
 * are whatever CBOR held: the decoder checks them as it checks an op tuple.
 */
export interface ReadOp {
  path: CanonicalValue
  field: CanonicalValue
  hlc: CanonicalValue
  value: undefined
  wire: CanonicalValue | undefined
}

/**
 * {@link readCbor} for a commit body: the items of the top-level key `o` that are arrays of three or four
 * items are read as {@link ReadOp} objects instead of arrays (anything else as usual, for the decoder to
 * refuse). Same limits, same errors.
 */
export function readCommitCbor(bytes: Uint8Array, maxDepth: number): CanonicalValue {
  return read(bytes, maxDepth, true)
}

/** True for what {@link readCommitCbor} reads an op tuple into. */
export function isReadOp(value: unknown): value is ReadOp {
  return value instanceof ReadOpRecord
}

/** The class behind {@link ReadOp} (one shape for every op, and a cheap `instanceof`). */
class ReadOpRecord implements ReadOp {
  path: CanonicalValue
  field: CanonicalValue
  hlc: CanonicalValue
  value: undefined = undefined
  wire: CanonicalValue | undefined
  constructor(
    path: CanonicalValue,
    field: CanonicalValue,
    dt: CanonicalValue,
    wire: CanonicalValue | undefined
  ) {
    this.path = path
    this.field = field
    this.hlc = dt
    this.wire = wire
  }
}

function read(bytes: Uint8Array, maxDepth: number, commitOps: boolean): CanonicalValue {
  const reader = new Reader(bytes, maxDepth, commitOps)
  const value = reader.item(0)
  if (reader.offset !== bytes.byteLength) throw new CborReadError('trailing bytes after the CBOR item')
  return value
}

class Reader {
  offset = 0
  readonly #bytes: Uint8Array
  readonly #view: DataView
  readonly #maxDepth: number
  readonly #commitOps: boolean

  constructor(bytes: Uint8Array, maxDepth: number, commitOps: boolean) {
    this.#bytes = bytes
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    this.#maxDepth = maxDepth
    this.#commitOps = commitOps
  }

  #need(n: number): void {
    if (this.offset + n > this.#bytes.byteLength) throw new CborReadError('truncated CBOR')
  }

  /** Reads the argument of a head whose additional info is `info`. */
  #argument(info: number): number {
    if (info < 24) return info
    const view = this.#view
    switch (info) {
      case 24:
        this.#need(1)
        return this.#bytes[this.offset++] as number
      case 25: {
        this.#need(2)
        const v = view.getUint16(this.offset)
        this.offset += 2
        return v
      }
      case 26: {
        this.#need(4)
        const v = view.getUint32(this.offset)
        this.offset += 4
        return v
      }
      case 27: {
        this.#need(8)
        const high = view.getUint32(this.offset)
        const low = view.getUint32(this.offset + 4)
        this.offset += 8
        if (high >= 0x200000) throw new CborReadError('integer beyond the safe range')
        return high * 0x100000000 + low
      }
      default:
        throw new CborReadError('indefinite lengths and reserved values are not allowed')
    }
  }

  #length(info: number): number {
    const n = this.#argument(info)
    if (n > this.#bytes.byteLength - this.offset) throw new CborReadError('length runs past the end')
    return n
  }

  item(depth: number): CanonicalValue {
    this.#need(1)
    const initial = this.#bytes[this.offset++] as number
    const major = initial >> 5
    const info = initial & 0x1f
    switch (major) {
      case 0:
        return this.#argument(info)
      case 1:
        return -1 - this.#argument(info)
      case 2: {
        const n = this.#length(info)
        const out = this.#bytes.slice(this.offset, this.offset + n)
        this.offset += n
        return out
      }
      case 3: {
        const n = this.#length(info)
        const start = this.offset
        this.offset += n
        return this.#text(start, n)
      }
      case 4: {
        if (depth >= this.#maxDepth) throw new CborReadError('CBOR nesting is too deep')
        const n = this.#length(info)
        const out: CanonicalValue[] = new Array(n)
        for (let i = 0; i < n; i++) out[i] = this.item(depth + 1)
        return out
      }
      case 5: {
        if (depth !== 0) throw new CborReadError('maps are only allowed at the top level')
        const n = this.#length(info)
        const out = Object.create(null) as Record<string, CanonicalValue>
        for (let i = 0; i < n; i++) {
          const key = this.item(this.#maxDepth)
          if (typeof key !== 'string') throw new CborReadError('map keys must be text')
          if (Object.hasOwn(out, key)) throw new CborReadError(`duplicate map key "${key}"`)
          out[key] = key === 'o' && this.#commitOps ? this.#ops(depth + 1) : this.item(depth + 1)
        }
        return out
      }
      case 7:
        return this.#simple(info)
      default:
        throw new CborReadError('tags are not allowed')
    }
  }

  /** The value of a commit body's `o`: as {@link Reader.item}, with op tuples read as ReadOps. */
  #ops(depth: number): CanonicalValue {
    this.#need(1)
    const initial = this.#bytes[this.offset] as number
    if (initial >> 5 !== 4 || depth >= this.#maxDepth) return this.item(depth)
    this.offset++
    const n = this.#length(initial & 0x1f)
    const out: CanonicalValue[] = new Array(n)
    for (let i = 0; i < n; i++) {
      this.#need(1)
      const head = this.#bytes[this.offset] as number
      // An array of 3 or 4 items (lengths under 24 sit in the head byte) nested no deeper than allowed.
      if ((head === 0x83 || head === 0x84) && depth + 1 < this.#maxDepth) {
        this.offset++
        const inner = depth + 2
        const path = this.item(inner)
        const field = this.item(inner)
        const dt = this.item(inner)
        const wire = head === 0x84 ? this.item(inner) : undefined
        out[i] = new ReadOpRecord(path, field, dt, wire) as unknown as CanonicalValue
      } else {
        out[i] = this.item(depth + 1)
      }
    }
    return out
  }

  #text(start: number, n: number): string {
    const bytes = this.#bytes
    if (n <= SHORT_TEXT) return shortText(bytes, start, n) ?? this.#utf8(start, n)
    if (n <= 64) {
      let ascii = true
      for (let i = start; i < start + n; i++) {
        if ((bytes[i] as number) >= 0x80) {
          ascii = false
          break
        }
      }
      if (ascii)
        return String.fromCharCode.apply(null, bytes.subarray(start, start + n) as unknown as number[])
    }
    return this.#utf8(start, n)
  }

  #utf8(start: number, n: number): string {
    try {
      return utf8.decode(this.#bytes.subarray(start, start + n))
    } catch {
      throw new CborReadError('text is not valid UTF-8')
    }
  }

  #simple(info: number): CanonicalValue {
    const view = this.#view
    let value: number
    switch (info) {
      case 20:
        return false
      case 21:
        return true
      case 22:
        return null
      case 25: {
        this.#need(2)
        value = halfToNumber(view.getUint16(this.offset))
        this.offset += 2
        break
      }
      case 26: {
        this.#need(4)
        value = view.getFloat32(this.offset)
        this.offset += 4
        break
      }
      case 27: {
        this.#need(8)
        value = view.getFloat64(this.offset)
        this.offset += 8
        break
      }
      default:
        throw new CborReadError('unsupported simple value')
    }
    if (!Number.isFinite(value)) throw new CborReadError('NaN and Infinity are not allowed')
    return value
  }
}

/** Texts up to this many bytes go through {@link shortText}. */
const SHORT_TEXT = 24
/** A direct-mapped cache of short ASCII texts, by a hash of their bytes. */
const SHORT_TEXTS: Array<string | undefined> = new Array(4096)

/**
 * A short ASCII text, taken from a small cache when the same bytes were read before (paths, field names and
 * keys repeat from commit to commit): no new string per op, and one string object per name, whose hash
 * the engine keeps for the map look-ups that follow. `undefined` when the bytes are not all ASCII.
 */
function shortText(bytes: Uint8Array, start: number, n: number): string | undefined {
  let hash = n
  for (let i = start; i < start + n; i++) {
    const b = bytes[i] as number
    if (b >= 0x80) return undefined
    hash = (Math.imul(hash, 31) + b) | 0
  }
  const slot = (hash ^ (hash >>> 12)) & 4095
  const cached = SHORT_TEXTS[slot]
  if (cached !== undefined && cached.length === n) {
    let same = true
    for (let i = 0; i < n; i++) {
      if (cached.charCodeAt(i) !== bytes[start + i]) {
        same = false
        break
      }
    }
    if (same) return cached
  }
  const text = String.fromCharCode.apply(null, bytes.subarray(start, start + n) as unknown as number[])
  SHORT_TEXTS[slot] = text
  return text
}

function halfToNumber(half: number): number {
  const sign = half & 0x8000 ? -1 : 1
  const exponent = (half >> 10) & 0x1f
  const fraction = half & 0x3ff
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024)
  if (exponent === 0x1f) return fraction === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024)
}
