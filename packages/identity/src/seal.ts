import { xchacha20poly1305 } from '@noble/ciphers/chacha.js'
import { ed25519, x25519 } from '@noble/curves/ed25519.js'
import { hkdf } from '@noble/hashes/hkdf.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { InvalidContextError, SealError } from './errors.js'
import { publicKeyFromAddress } from './identity.js'

/** Version byte of a sealed box. */
const SEAL_VERSION = 1
const EPHEMERAL_BYTES = 32
const NONCE_BYTES = 24
const TAG_BYTES = 16
/** Bytes a sealed box adds to its plaintext: version, ephemeral key, nonce and tag. */
export const SEAL_OVERHEAD = 1 + EPHEMERAL_BYTES + NONCE_BYTES + TAG_BYTES

const encoder = new TextEncoder()

/** A context names what a box or a derived key is for: 1 to 128 printable ASCII characters. */
export function checkContext(context: string): Uint8Array {
  if (
    typeof context !== 'string' ||
    context.length === 0 ||
    context.length > 128 ||
    !/^[\x20-\x7e]+$/.test(context)
  ) {
    throw new InvalidContextError('a context is 1 to 128 printable ASCII characters, e.g. "myapp/key/v1"')
  }
  return encoder.encode(context)
}

function boxKey(
  shared: Uint8Array,
  ephemeral: Uint8Array,
  recipient: Uint8Array,
  context: Uint8Array
): Uint8Array {
  const salt = new Uint8Array(EPHEMERAL_BYTES * 2)
  salt.set(ephemeral, 0)
  salt.set(recipient, EPHEMERAL_BYTES)
  return hkdf(sha256, shared, salt, concat(encoder.encode('araliya/seal/v1|'), context), 32)
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength)
  out.set(a, 0)
  out.set(b, a.byteLength)
  return out
}

/**
 * Seals `plaintext` so that only the holder of `recipient`'s secret key can open it (with
 * {@link Identity.open}), under a context that names its purpose: a box sealed for one context never
 * opens under another. Anonymous: the box does not say who sealed it (sign it if that matters).
 *
 * X25519 (the recipient's ed25519 key in Montgomery form) with a fresh ephemeral key, HKDF-SHA256 and
 * XChaCha20-Poly1305. The box is {@link SEAL_OVERHEAD} bytes longer than the plaintext.
 *
 * @example
 * ```ts
 * import { generateIdentity, sealTo } from '@araliya/identity'
 *
 * const phone = await generateIdentity()
 * const box = sealTo(phone.address, new TextEncoder().encode('the key'), 'myapp/device-key/v1')
 * console.log(new TextDecoder().decode(phone.open(box, 'myapp/device-key/v1'))) // the key
 * ```
 *
 * @param recipient - the recipient's address, or its 32-byte ed25519 public key
 * @throws {InvalidKeyError} when `recipient` is not an address or an ed25519 public key
 * @throws {InvalidContextError} when the context is empty, too long or not printable ASCII
 */
export function sealTo(recipient: string | Uint8Array, plaintext: Uint8Array, context: string): Uint8Array {
  const info = checkContext(context)
  const publicKey = typeof recipient === 'string' ? publicKeyFromAddress(recipient) : recipient
  const recipientX = ed25519.utils.toMontgomery(publicKey)
  const ephemeralSecret = x25519.utils.randomSecretKey()
  const ephemeral = x25519.getPublicKey(ephemeralSecret)
  const key = boxKey(x25519.getSharedSecret(ephemeralSecret, recipientX), ephemeral, recipientX, info)
  const nonce = new Uint8Array(NONCE_BYTES)
  globalThis.crypto.getRandomValues(nonce)
  const sealed = xchacha20poly1305(key, nonce, info).encrypt(plaintext)
  const out = new Uint8Array(1 + EPHEMERAL_BYTES + NONCE_BYTES + sealed.byteLength)
  out[0] = SEAL_VERSION
  out.set(ephemeral, 1)
  out.set(nonce, 1 + EPHEMERAL_BYTES)
  out.set(sealed, 1 + EPHEMERAL_BYTES + NONCE_BYTES)
  return out
}

/** Opens a box sealed to the key with this seed. Used by {@link Identity.open}. */
export function openSealed(seed: Uint8Array, box: Uint8Array, context: string): Uint8Array {
  const info = checkContext(context)
  if (!(box instanceof Uint8Array) || box.byteLength < SEAL_OVERHEAD) {
    throw new SealError(`a sealed box is at least ${SEAL_OVERHEAD} bytes; this is not one`)
  }
  if (box[0] !== SEAL_VERSION) {
    throw new SealError(`unknown sealed box version ${box[0]}; upgrade @araliya/identity to open it`)
  }
  const ephemeral = box.subarray(1, 1 + EPHEMERAL_BYTES)
  const nonce = box.subarray(1 + EPHEMERAL_BYTES, 1 + EPHEMERAL_BYTES + NONCE_BYTES)
  const secretX = ed25519.utils.toMontgomerySecret(seed)
  const recipientX = x25519.getPublicKey(secretX)
  let shared: Uint8Array
  try {
    shared = x25519.getSharedSecret(secretX, ephemeral)
  } catch (cause) {
    throw new SealError('the sealed box carries an invalid ephemeral key', { cause })
  }
  const key = boxKey(shared, ephemeral, recipientX, info)
  try {
    return xchacha20poly1305(key, nonce, info).decrypt(box.subarray(1 + EPHEMERAL_BYTES + NONCE_BYTES))
  } catch (cause) {
    throw new SealError(
      'the box does not open with this key under this context: it was sealed to another key, for another purpose, or altered',
      { cause }
    )
  }
}

/** Derives a secret from a seed for one named purpose (HKDF-SHA256). Used by {@link Identity.deriveKey}. */
export function deriveFromSeed(seed: Uint8Array, context: string, length: number): Uint8Array {
  const info = checkContext(context)
  if (!Number.isSafeInteger(length) || length < 16 || length > 64) {
    throw new InvalidContextError('a derived key is 16 to 64 bytes long')
  }
  return hkdf(sha256, seed, encoder.encode('araliya/derive/v1'), info, length)
}
