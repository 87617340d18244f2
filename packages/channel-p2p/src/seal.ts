import { decodeCanonical, encodeCanonical, type Identity, publicKeyFromAddress } from '@araliya/identity'
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js'
import { ed25519, x25519 } from '@noble/curves/ed25519.js'
import { hkdf } from '@noble/hashes/hkdf.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { DecryptionError } from './errors.js'

const INFO = new TextEncoder().encode('araliya/seal/v1')
const textEncoder = new TextEncoder()

/** The X25519 key pair derived from an identity's ed25519 key (RFC 7748 / libsodium conversion). */
export interface SealingKey {
  readonly address: string
  readonly secretKey: Uint8Array
  readonly publicKey: Uint8Array
}

/** Derives the X25519 key pair of an identity. Keep the result: derivation costs a scalar multiplication. */
export function sealingKey(identity: Identity): SealingKey {
  const secretKey = ed25519.utils.toMontgomerySecret(identity.exportSeed())
  return { address: identity.address, secretKey, publicKey: x25519.getPublicKey(secretKey) }
}

/** The X25519 public key of an address (derived from the ed25519 key it embeds). */
export function sealingPublicKey(address: string): Uint8Array {
  return ed25519.utils.toMontgomery(publicKeyFromAddress(address))
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.byteLength
  }
  return out
}

function associatedData(from: string, to: string): Uint8Array {
  return textEncoder.encode(`araliya/seal/v1|${from}|${to}`)
}

/**
 * Encrypts `plaintext` so only `to` can read it: an ephemeral X25519 key agrees a secret with the
 * recipient's key, HKDF-SHA256 turns it into an XChaCha20-Poly1305 key, and the sender and recipient
 * addresses are bound in as associated data (a body cut out of one envelope and pasted into another
 * sender's fails to open). Sender authenticity comes from the envelope signature.
 */
export function seal(plaintext: Uint8Array, from: string, to: string): Uint8Array {
  const recipient = sealingPublicKey(to)
  const ephemeral = x25519.utils.randomSecretKey()
  const epk = x25519.getPublicKey(ephemeral)
  const key = hkdf(sha256, x25519.getSharedSecret(ephemeral, recipient), concat(epk, recipient), INFO, 32)
  const nonce = new Uint8Array(24)
  globalThis.crypto.getRandomValues(nonce)
  const ct = xchacha20poly1305(key, nonce, associatedData(from, to)).encrypt(plaintext)
  return encodeCanonical({ v: 1, epk, nonce, ct })
}

/**
 * Opens a body sealed to `key` by `from`.
 *
 * @throws {DecryptionError} when the body is malformed, was sealed to another key, or was altered.
 */
export function open(sealed: Uint8Array, from: string, key: SealingKey, maxBytes: number): Uint8Array {
  let value: Record<string, unknown>
  try {
    value = decodeCanonical(sealed, { maxBytes, maxDepth: 1 }) as Record<string, unknown>
  } catch (err) {
    throw new DecryptionError('the sealed body is not valid', { cause: err })
  }
  const { v, epk, nonce, ct } = value ?? {}
  if (
    v !== 1 ||
    !(epk instanceof Uint8Array) ||
    epk.byteLength !== 32 ||
    !(nonce instanceof Uint8Array) ||
    nonce.byteLength !== 24 ||
    !(ct instanceof Uint8Array)
  ) {
    throw new DecryptionError('the sealed body is malformed')
  }
  try {
    const shared = x25519.getSharedSecret(key.secretKey, epk)
    const aead = hkdf(sha256, shared, concat(epk, key.publicKey), INFO, 32)
    return xchacha20poly1305(aead, nonce, associatedData(from, key.address)).decrypt(ct)
  } catch (err) {
    throw new DecryptionError(`cannot open a body sealed by ${from}: not for this key, or altered`, {
      cause: err
    })
  }
}
