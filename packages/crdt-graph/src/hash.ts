import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js'

type Hasher = (bytes: Uint8Array) => Uint8Array

/**
 * sha256 through node:crypto where it is available synchronously (Node >= 20.16 exposes
 * `process.getBuiltinModule`), which is several times faster than pure JS on the small inputs hashed here;
 * @noble/hashes everywhere else (browsers, other runtimes). Both give the same digest.
 */
function pickHasher(): Hasher {
  const getBuiltin = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process
    ?.getBuiltinModule
  if (typeof getBuiltin === 'function') {
    const crypto = getBuiltin('node:crypto') as
      | {
          createHash?: (name: string) => { update(b: Uint8Array): { digest(): Uint8Array } }
          hash?: (name: string, data: Uint8Array, encoding: 'buffer' | 'latin1') => Uint8Array | string
        }
      | undefined
    const oneShot = crypto?.hash
    if (typeof oneShot === 'function') {
      try {
        // crypto.hash (Node >= 20.12) skips the Hash object. Asked for 'latin1' it answers a 32-character
        // string, one character per byte, which is quicker to turn into bytes here than its 'buffer'
        // answer (not an encoding name, so it takes Node's slow encoding look-up on every call). Check
        // both agree before trusting it.
        const probeInput = Uint8Array.of(1, 2, 3)
        const bytesOf = (text: string): Uint8Array => {
          const out = new Uint8Array(32)
          for (let i = 0; i < 32; i++) out[i] = text.charCodeAt(i)
          return out
        }
        const viaBuffer = oneShot('sha256', probeInput, 'buffer')
        const viaText = oneShot('sha256', probeInput, 'latin1')
        if (
          viaBuffer instanceof Uint8Array &&
          viaBuffer.byteLength === 32 &&
          typeof viaText === 'string' &&
          viaText.length === 32 &&
          bytesOf(viaText).every((byte, i) => byte === viaBuffer[i])
        ) {
          return (bytes) => bytesOf(oneShot('sha256', bytes, 'latin1') as string)
        }
      } catch {
        // fall through to createHash
      }
    }
    if (typeof crypto?.createHash === 'function') {
      const createHash = crypto.createHash
      return (bytes) => {
        const digest = createHash('sha256').update(bytes).digest()
        return new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength)
      }
    }
  }
  return nobleSha256
}

/** sha256 of `bytes`. */
export const sha256: Hasher = pickHasher()

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

/** Lowercase hex of bytes. */
export function toHex(bytes: Uint8Array): string {
  let out = ''
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i] as number]
  return out
}

/** Byte order of two byte strings (ids are compared this way wherever an order is needed). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.byteLength && i < b.byteLength; i++) {
    const d = (a[i] as number) - (b[i] as number)
    if (d !== 0) return d
  }
  return a.byteLength - b.byteLength
}
