import { type CanonicalValue, encodeCanonical } from '@araliya/identity'

/**
 * A small writer of deterministic CBOR for the hot path (commit bodies). It produces exactly the bytes of
 * `encodeCanonical` from @araliya/identity for the values it handles (unsigned and negative safe integers,
 * strings, byte arrays, arrays, null, booleans, and maps whose keys the caller passes already in canonical
 * order); every other number is delegated to `encodeCanonical`. Receivers decode with the canonical
 * decoder, which rejects any difference, and a property test compares the two encoders.
 */
export class CborWriter {
  #buffer: Uint8Array
  #view: DataView
  #length = 0

  #reserve: number

  /** `reserve` bytes are left free in front of the output (for a signature written later). */
  constructor(initial = 256, reserve = 0) {
    this.#buffer = new Uint8Array(initial + reserve)
    this.#view = new DataView(this.#buffer.buffer)
    this.#length = reserve
    this.#reserve = reserve
  }

  #ensure(extra: number): void {
    const need = this.#length + extra
    if (need <= this.#buffer.byteLength) return
    let size = this.#buffer.byteLength * 2
    while (size < need) size *= 2
    const next = new Uint8Array(size)
    next.set(this.#buffer.subarray(0, this.#length))
    this.#buffer = next
    this.#view = new DataView(next.buffer)
  }

  /** Starts over, keeping the buffer (a reusable scratch writer). */
  reset(reserve = 0): this {
    this.#length = reserve
    this.#reserve = reserve
    this.#ensure(0)
    return this
  }

  /** A copy of the bytes written so far (without the reserved prefix). */
  finish(): Uint8Array {
    return this.#buffer.slice(this.#reserve, this.#length)
  }

  /** True when the bytes written (after the reserved prefix) equal `bytes`; no copy. */
  equals(bytes: Uint8Array): boolean {
    const n = this.#length - this.#reserve
    if (bytes.byteLength !== n) return false
    const b = this.#buffer
    const offset = this.#reserve
    for (let i = 0; i < n; i++) if (b[offset + i] !== bytes[i]) return false
    return true
  }

  /** A copy of the reserved prefix and the bytes written (small ones carved from a shared slab). */
  frame(): Uint8Array {
    const out = allocate(this.#length)
    out.set(this.#buffer.subarray(0, this.#length))
    return out
  }

  head(major: number, value: number): void {
    this.#ensure(9)
    const b = this.#buffer
    const m = major << 5
    if (value < 24) {
      b[this.#length++] = m | value
    } else if (value < 0x100) {
      b[this.#length++] = m | 24
      b[this.#length++] = value
    } else if (value < 0x10000) {
      b[this.#length++] = m | 25
      this.#view.setUint16(this.#length, value)
      this.#length += 2
    } else if (value < 0x100000000) {
      b[this.#length++] = m | 26
      this.#view.setUint32(this.#length, value)
      this.#length += 4
    } else {
      b[this.#length++] = m | 27
      this.#view.setUint32(this.#length, Math.floor(value / 0x100000000))
      this.#view.setUint32(this.#length + 4, value >>> 0)
      this.#length += 8
    }
  }

  number(value: number): void {
    if (Number.isSafeInteger(value) && !Object.is(value, -0)) {
      if (value >= 0) this.head(0, value)
      else this.head(1, -1 - value)
      return
    }
    this.raw(encodeCanonical(value))
  }

  string(value: string): void {
    const n = value.length
    if (n >= 40 && n <= 64) {
      // Long strings here are mostly addresses, written into every commit: keep their encodings.
      let encoded = longStrings.get(value)
      if (encoded === undefined) {
        const start = this.#length
        this.#writeString(value, n)
        encoded = this.#buffer.slice(start, this.#length)
        if (longStrings.size >= 1024) longStrings.clear()
        longStrings.set(value, encoded)
        return
      }
      this.raw(encoded)
      return
    }
    this.#writeString(value, n)
  }

  #writeString(value: string, n: number): void {
    // ASCII fast path: byte length equals string length.
    let ascii = true
    for (let i = 0; i < n; i++) {
      if (value.charCodeAt(i) > 0x7f) {
        ascii = false
        break
      }
    }
    if (!ascii) {
      const bytes = textEncoder.encode(value)
      this.head(3, bytes.byteLength)
      this.raw(bytes)
      return
    }
    this.head(3, n)
    this.#ensure(n)
    const b = this.#buffer
    let at = this.#length
    for (let i = 0; i < n; i++) b[at++] = value.charCodeAt(i)
    this.#length = at
  }

  bytes(value: Uint8Array): void {
    this.head(2, value.byteLength)
    this.raw(value)
  }

  raw(bytes: Uint8Array): void {
    this.#ensure(bytes.byteLength)
    this.#buffer.set(bytes, this.#length)
    this.#length += bytes.byteLength
  }

  simple(value: null | boolean): void {
    this.#ensure(1)
    this.#buffer[this.#length++] = value === null ? 0xf6 : value ? 0xf5 : 0xf4
  }

  /** Any value of the data model (scalars, bytes, arrays of those). */
  value(value: CanonicalValue): void {
    switch (typeof value) {
      case 'number':
        this.number(value)
        return
      case 'string':
        this.string(value)
        return
      case 'boolean':
        this.simple(value)
        return
      case 'object':
        if (value === null) {
          this.simple(null)
          return
        }
        if (value instanceof Uint8Array) {
          this.bytes(value)
          return
        }
        if (Array.isArray(value)) {
          this.head(4, value.length)
          for (const item of value) this.value(item as CanonicalValue)
          return
        }
    }
    this.raw(encodeCanonical(value))
  }
}

const textEncoder = new TextEncoder()
const longStrings = new Map<string, Uint8Array>()

const SLAB_BYTES = 64 * 1024
const SLAB_MAX_PIECE = 4096
let slab = new Uint8Array(SLAB_BYTES)
let slabOffset = 0

/**
 * Allocates `size` bytes. Small pieces are carved out of a shared 64 KiB slab (as Node's Buffer pool does),
 * which saves an ArrayBuffer per commit; like pooled Buffers, such views share their `.buffer`, so always
 * honour `byteOffset`/`byteLength`.
 */
export function allocate(size: number): Uint8Array {
  if (size > SLAB_MAX_PIECE) return new Uint8Array(size)
  if (slabOffset + size > SLAB_BYTES) {
    slab = new Uint8Array(SLAB_BYTES)
    slabOffset = 0
  }
  const out = slab.subarray(slabOffset, slabOffset + size)
  slabOffset = (slabOffset + size + 7) & ~7
  return out
}
