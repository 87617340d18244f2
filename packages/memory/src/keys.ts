import {
  type CanonicalValue,
  decodeCanonical,
  encodeCanonical,
  type Identity,
  sealTo
} from '@araliya/identity'
import { hkdf } from '@noble/hashes/hkdf.js'
import { hmac } from '@noble/hashes/hmac.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex } from '@noble/hashes/utils.js'
import { aead } from './aead.js'
import { InvalidMemoryError, MemoryDecryptError, MemoryKeyError } from './errors.js'

/** The context under which a memory's content keys are derived from the owner key. */
export const CONTENT_KEY_CONTEXT = 'araliya/memory/content-key/v1'
/** The context of the sealed boxes that carry a content key to a device or a reader. */
export const KEY_BOX_CONTEXT = 'araliya/memory/key-box/v1'
/** The scope every memory is in unless written with another: the owner and its devices read it. */
export const PRIVATE_SCOPE = 'private'
/** The scope stored unencrypted, readable by anyone who holds a replica. */
export const PUBLIC_SCOPE = 'public'

const SCOPE_NAME = /^[a-z0-9-]{1,32}$/
const FORMAT_PUBLIC = 0
const FORMAT_SEALED = 1
const TAG_BYTES = 8
const NONCE_BYTES = 24
const encoder = new TextEncoder()

/** Throws unless `scope` is `private`, `public` or a scope name (`[a-z0-9-]`, 1 to 32 characters). */
export function checkScope(scope: string): string {
  if (typeof scope !== 'string' || !SCOPE_NAME.test(scope)) {
    throw new InvalidMemoryError(
      `a scope is "private", "public" or a name of 1 to 32 characters a-z, 0-9 and "-"; got ${JSON.stringify(scope)}`
    )
  }
  return scope
}

/** One scope's content key and what is derived from it. */
export interface ScopeKey {
  readonly scope: string
  readonly key: Uint8Array
  /** Public 8-byte tag naming the key inside ciphertexts (hex), so a reader picks the right key. */
  readonly tag: string
  readonly tagBytes: Uint8Array
  /** Key of the HMAC that turns an app's key (a session id, a fact's subject and relation) into a memory id. */
  readonly idKey: Uint8Array
}

/** Builds a scope key from its 32 secret bytes. */
export function scopeKey(scope: string, key: Uint8Array): ScopeKey {
  const tagBytes = sha256(concat(encoder.encode('araliya/memory/key-tag/v1|'), key)).subarray(0, TAG_BYTES)
  return {
    scope,
    key,
    tag: bytesToHex(tagBytes),
    tagBytes,
    idKey: hkdf(sha256, key, undefined, encoder.encode('araliya/memory/ids/v1'), 32)
  }
}

/** The scope key an owner derives from its own key (the same on every device holding that key). */
export function ownerScopeKey(owner: Identity, scope: string): ScopeKey {
  const context = scope === PRIVATE_SCOPE ? CONTENT_KEY_CONTEXT : `${CONTENT_KEY_CONTEXT}/${scope}`
  return scopeKey(scope, owner.deriveKey(context))
}

/** The keys one reader holds, by scope and by tag. */
export class KeyRing {
  readonly #byTag = new Map<string, ScopeKey>()
  readonly #byScope = new Map<string, ScopeKey>()

  /** Adds a key; returns false when it was already held. */
  add(key: ScopeKey): boolean {
    if (this.#byTag.has(key.tag)) return false
    this.#byTag.set(key.tag, key)
    this.#byScope.set(key.scope, key)
    return true
  }

  scope(scope: string): ScopeKey | undefined {
    return this.#byScope.get(scope)
  }

  has(scope: string): boolean {
    return this.#byScope.has(scope)
  }

  get size(): number {
    return this.#byTag.size
  }

  /** The key for writing into `scope`, or a {@link MemoryKeyError} that says how to get it. */
  require(scope: string, me: string): ScopeKey {
    const key = this.#byScope.get(scope)
    if (key !== undefined) return key
    throw new MemoryKeyError(
      scope === PRIVATE_SCOPE
        ? `this device (${me}) holds no content key for this memory yet: on a device with the owner key run memory.addDevice('${me}'), then let the two sync`
        : `this key (${me}) holds no key for the scope "${scope}": the owner shares it with memory.shareScope('${scope}', '${me}')`
    )
  }

  /**
   * Encrypts a record for `soul` (the soul is authenticated: a ciphertext moved to another soul fails).
   * The nonce is the version's 8 random bytes followed by 16 more: random like any XChaCha20 nonce, and
   * it carries the version id, so the record does not repeat it.
   */
  seal(key: ScopeKey, soul: string, plaintext: Uint8Array, version: Uint8Array): Uint8Array {
    const nonce = new Uint8Array(NONCE_BYTES)
    nonce.set(version.subarray(0, VERSION_BYTES), 0)
    nonce.set(randomBytes(NONCE_BYTES - VERSION_BYTES), VERSION_BYTES)
    const sealed = aead.encrypt(key.key, nonce, encoder.encode(soul), plaintext)
    const out = new Uint8Array(1 + TAG_BYTES + NONCE_BYTES + sealed.byteLength)
    out[0] = FORMAT_SEALED
    out.set(key.tagBytes, 1)
    out.set(nonce, 1 + TAG_BYTES)
    out.set(sealed, 1 + TAG_BYTES + NONCE_BYTES)
    return out
  }

  /**
   * Opens a stored value: the scope it was written in, the plaintext, and (for a sealed value) the
   * version id's bytes its nonce carries.
   *
   * @throws {MemoryKeyError} when it was sealed under a key this ring does not hold
   * @throws {MemoryDecryptError} when the bytes are damaged or not a memory value
   */
  open(soul: string, value: Uint8Array): { scope: string; plaintext: Uint8Array; version?: Uint8Array } {
    if (value.byteLength < 2)
      throw new MemoryDecryptError(`${soul}: a stored memory value is never this short`)
    if (value[0] === FORMAT_PUBLIC) return { scope: PUBLIC_SCOPE, plaintext: value.subarray(1) }
    if (value[0] !== FORMAT_SEALED || value.byteLength < 1 + TAG_BYTES + NONCE_BYTES + 16) {
      throw new MemoryDecryptError(
        `${soul}: unknown stored memory format ${value[0]}; upgrade @araliya/memory`
      )
    }
    const tag = bytesToHex(value.subarray(1, 1 + TAG_BYTES))
    const key = this.#byTag.get(tag)
    if (key === undefined) throw new MemoryKeyError(`${soul}: sealed under a key this reader does not hold`)
    try {
      const nonce = value.subarray(1 + TAG_BYTES, 1 + TAG_BYTES + NONCE_BYTES)
      const plaintext = aead.decrypt(
        key.key,
        nonce,
        encoder.encode(soul),
        value.subarray(1 + TAG_BYTES + NONCE_BYTES)
      )
      return { scope: key.scope, plaintext, version: nonce.slice(0, VERSION_BYTES) }
    } catch (cause) {
      throw new MemoryDecryptError(
        `${soul}: the stored value does not decrypt (damaged, or moved from another soul)`,
        {
          cause
        }
      )
    }
  }
}

/** Stores a public record unencrypted. */
export function publicValue(plaintext: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + plaintext.byteLength)
  out[0] = FORMAT_PUBLIC
  out.set(plaintext, 1)
  return out
}

/** A memory id derived from an app's key: the same on every device holding the scope key, opaque to others. */
export function keyedId(key: ScopeKey, kind: string, appKey: string): string {
  return base64url(hmac(sha256, key.idKey, encoder.encode(`${kind}\u0000${appKey}`)).subarray(0, ID_BYTES))
}

/** Random bytes are drawn from the platform's CSPRNG this many at a time (one call per write was a tenth of its cost). */
const POOL_BYTES = 4096
let pool = new Uint8Array(0)
let poolAt = 0

/** `length` fresh random bytes (at most {@link POOL_BYTES}), from a pool refilled by `crypto.getRandomValues`. */
export function randomBytes(length: number): Uint8Array {
  if (poolAt + length > pool.byteLength) {
    pool = globalThis.crypto.getRandomValues(new Uint8Array(POOL_BYTES))
    poolAt = 0
  }
  const out = pool.slice(poolAt, poolAt + length)
  pool.fill(0, poolAt, poolAt + length) // a byte handed out is not kept
  poolAt += length
  return out
}

/** Bytes of a memory id (random or keyed): 96 bits, 16 characters. */
export const ID_BYTES = 12
/** Bytes of a version id: 64 bits, 11 characters (unique among the versions of one memory). */
export const VERSION_BYTES = 8

/** A fresh random memory id (12 random bytes, 16 characters). */
export function randomId(): string {
  return base64url(randomBytes(ID_BYTES))
}

/** A fresh version id (8 random bytes, 11 characters). */
export function randomVersion(): string {
  return base64url(randomBytes(VERSION_BYTES))
}

/** The bytes of a base64url string without padding, or undefined when it is not one. */
export function fromBase64url(text: string): Uint8Array | undefined {
  if (typeof text !== 'string' || !/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return undefined
  const binary = atob(text.replaceAll('-', '+').replaceAll('_', '/'))
  const out = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i)
  return out
}

export function base64url(bytes: Uint8Array): string {
  let binary = ''
  for (const byte of bytes) binary += String.fromCharCode(byte)
  return btoa(binary).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '')
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength)
  out.set(a, 0)
  out.set(b, a.byteLength)
  return out
}

/** A content key sealed to `recipient`, bound to the owner and the scope. */
export function sealKeyBox(owner: string, key: ScopeKey, recipient: string): Uint8Array {
  return sealTo(recipient, encodeCanonical({ owner, scope: key.scope, key: key.key }), KEY_BOX_CONTEXT)
}

/**
 * Opens a key box addressed to `me`; undefined when it is not for this owner (a box copied from another
 * owner's space) or is malformed.
 */
export function openKeyBox(me: Identity, owner: string, box: Uint8Array): ScopeKey | undefined {
  let value: CanonicalValue
  try {
    value = decodeCanonical(me.open(box, KEY_BOX_CONTEXT), { maxBytes: 1024, maxDepth: 2 })
  } catch {
    return undefined
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array)
    return undefined
  const record = value as { readonly [key: string]: CanonicalValue }
  const scope = record.scope
  const key = record.key
  if (record.owner !== owner || typeof scope !== 'string' || !SCOPE_NAME.test(scope)) return undefined
  if (!(key instanceof Uint8Array) || key.byteLength !== 32) return undefined
  return scopeKey(scope, Uint8Array.from(key))
}
