/**
 * Strings that look like, or decode like, a real Araliya address but are not it: for tests that every
 * place an address enters refuses them. Written out by hand (a plain base58btc encoder) so the tests do
 * not trust the decoder under test.
 */

const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'

/** The base58btc (Bitcoin alphabet) text of `bytes`, leading zero bytes as `1`. */
export function base58btc(bytes: Uint8Array): string {
  let n = 0n
  for (const byte of bytes) n = n * 256n + BigInt(byte)
  let out = ''
  while (n > 0n) {
    out = BASE58[Number(n % 58n)] + out
    n /= 58n
  }
  for (const byte of bytes) {
    if (byte !== 0) break
    out = `1${out}`
  }
  return out
}

/** A PeerId string: an identity multihash (code 0x00, one length byte) around `protobuf`, base58btc. */
export function peerIdString(protobuf: readonly number[]): string {
  return base58btc(Uint8Array.from([0x00, protobuf.length, ...protobuf]))
}

/** `s` with the character at `index` replaced by `ch`. */
export function replaceAt(s: string, index: number, ch: string): string {
  return s.slice(0, index) + ch + s.slice(index + 1)
}

/**
 * Non-ASCII look-alikes of `address` (one character replaced near the end, where the unpatched base58
 * decoder still finds a key), keyed by what was used.
 */
export function lookAlikeAddresses(address: string): Record<string, string> {
  const last = address.length - 1
  return {
    cyrillicZe: replaceAt(address, last, '\u0437'),
    fullwidthA: replaceAt(address, last - 1, '\uff21'),
    cyrillicO: replaceAt(address, last - 3, '\u043e'),
    greekAlpha: replaceAt(address, last - 5, '\u0391')
  }
}

/**
 * Other ASCII base58btc spellings of the PeerId of the Ed25519 `publicKey` (the key's protobuf encoded
 * with its fields re-ordered, repeated or padded): libp2p decodes each to the same key, but none is the
 * key's address.
 */
export function secondSpellings(publicKey: Uint8Array): Record<string, string> {
  const key = Array.from(publicKey)
  return {
    reordered: peerIdString([0x12, 0x20, ...key, 0x08, 0x01]),
    repeatedType: peerIdString([0x08, 0x01, 0x08, 0x01, 0x12, 0x20, ...key]),
    extraField: peerIdString([0x08, 0x01, 0x12, 0x20, ...key, 0x18, 0x00])
  }
}
