import { generateKeyPairFromSeed, privateKeyFromRaw, publicKeyFromRaw } from '@libp2p/crypto/keys'
import type { Ed25519PeerId, Ed25519PrivateKey, PeerId } from '@libp2p/interface'
import { peerIdFromPublicKey, peerIdFromString } from '@libp2p/peer-id'
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex, concatBytes } from '@noble/hashes/utils.js'
import { type AbortOptions, throwIfAborted } from '@araliya/interface'
import { LRUCache } from 'lru-cache'
import { InvalidAddressError, InvalidKeyError, MAX_ADDRESS_LENGTH } from './errors.js'
import { ed25519Backend, loadedBackend, signedBytes, signedBytesScratch, syncBackend } from './signing.js'
import type { RawSigner } from './platform/types.js'
import { deriveFromSeed, openSealed } from './seal.js'

/** The public half of an identity: everything anyone can know about an agent from its address. */
export interface PublicIdentity {
  /** The libp2p PeerId string of the ed25519 key (`12D3KooW…`): the agent's address. */
  readonly address: string
  /** `bot-pkey` + the first 8 hex characters of sha256(publicKey), as Araliya Bot names its keys. */
  readonly shortId: string
  /** The raw 32-byte ed25519 public key. */
  readonly publicKey: Uint8Array
  /** The libp2p PeerId of the key. */
  readonly peerId: Ed25519PeerId
}

/**
 * An agent's identity: one ed25519 key pair that is its libp2p PeerId, its address on the swarm and its
 * write authority. Create one with {@link generateIdentity}, {@link identityFromSeed} or
 * {@link loadOrCreateIdentity}.
 */
export class Identity implements PublicIdentity {
  readonly address: string
  readonly shortId: string
  readonly publicKey: Uint8Array
  readonly peerId: Ed25519PeerId
  /** The libp2p private key of the same pair: pass it to `createLibp2p({ privateKey })`. */
  readonly privateKey: Ed25519PrivateKey
  readonly #seed: Uint8Array
  readonly #signer: RawSigner

  /** @internal Use {@link identityFromSeed} or {@link generateIdentity}. */
  constructor(seed: Uint8Array, privateKey: Ed25519PrivateKey, signer: RawSigner) {
    this.#seed = Uint8Array.from(seed)
    this.#signer = signer
    this.privateKey = privateKey
    this.peerId = peerIdFromPublicKey(privateKey.publicKey)
    this.publicKey = privateKey.publicKey.raw
    this.address = this.peerId.toString()
    this.shortId = shortIdOf(this.publicKey)
  }

  /**
   * Signs `message` under a domain-separation `context` (e.g. `"araliya/graph-commit/v1"`). A signature
   * made under one context never verifies under another.
   *
   * @throws {InvalidContextError} when the context is empty, too long or not printable ASCII.
   */
  async sign(context: string, message: Uint8Array, options?: AbortOptions): Promise<Uint8Array> {
    throwIfAborted(options?.signal)
    // A reused buffer: every backend's signer reads its message before returning (see RawSigner).
    return this.#signer(signedBytesScratch(context, message))
  }

  /** Verifies a signature made by this identity. Same as `verify(this.address, …)`. */
  verify(context: string, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
    return verify(this.publicKey, context, message, signature)
  }

  /** A copy of the 32-byte ed25519 seed (the secret key). Handle with care. */
  exportSeed(): Uint8Array {
    return Uint8Array.from(this.#seed)
  }

  /**
   * Opens a box sealed to this identity with {@link sealTo} under the same context.
   *
   * @throws {SealError} when the box was sealed to another key or context, or was altered
   */
  open(box: Uint8Array, context: string): Uint8Array {
    return openSealed(this.#seed, box, context)
  }

  /**
   * Derives a secret key for one named purpose from this identity's seed (HKDF-SHA256, domain separated
   * by `context`): the same identity and context always give the same bytes, and nothing about the seed
   * can be learnt from them. Use it for keys an app must be able to recreate from the identity alone,
   * such as the key that encrypts an agent's memory.
   *
   * @param context - what the key is for, e.g. `myapp/cache-key/v1` (1 to 128 printable ASCII characters)
   * @param length - bytes, 16 to 64 (default 32)
   */
  deriveKey(context: string, length = 32): Uint8Array {
    return deriveFromSeed(this.#seed, context, length)
  }

  /** The public half, safe to share. */
  toPublic(): PublicIdentity {
    return { address: this.address, shortId: this.shortId, publicKey: this.publicKey, peerId: this.peerId }
  }

  /** Never prints the secret key. */
  toJSON(): { address: string; shortId: string } {
    return { address: this.address, shortId: this.shortId }
  }
}

/** `bot-pkey` + the first 8 hex characters of sha256(publicKey). */
export function shortIdOf(publicKey: Uint8Array): string {
  return `bot-pkey${bytesToHex(sha256(publicKey)).slice(0, 8)}`
}

/**
 * Creates an identity from a 32-byte ed25519 seed (the RFC 8032 secret key). The same seed always
 * gives the same address.
 *
 * @throws {InvalidKeyError} when the seed is not 32 bytes.
 */
export async function identityFromSeed(seed: Uint8Array): Promise<Identity> {
  if (!(seed instanceof Uint8Array) || seed.byteLength !== 32) {
    throw new InvalidKeyError(`an ed25519 seed is 32 bytes; got ${describeLength(seed)}`)
  }
  const backend = await ed25519Backend()
  // Where the platform derives the public key natively (node:crypto), the libp2p key is built from
  // seed ‖ public key (64 bytes: always Ed25519), skipping @libp2p/crypto's derivation through
  // @noble/curves, whose first use builds tables (~50 ms of a node's start). Elsewhere
  // generateKeyPairFromSeed derives it (privateKeyFromRaw(seed) alone would make a secp256k1 key).
  const publicKey = backend.publicKey?.(seed)
  const privateKey =
    publicKey === undefined
      ? await generateKeyPairFromSeed('Ed25519', seed)
      : (privateKeyFromRaw(concatBytes(seed, publicKey)) as Ed25519PrivateKey)
  return new Identity(seed, privateKey, await backend.createSigner(seed))
}

/**
 * Creates an identity from a libp2p Ed25519 private key (for example one loaded with
 * `privateKeyFromProtobuf`), so an existing libp2p node keeps its PeerId as its agent address.
 *
 * @throws {InvalidKeyError} when the key is not an Ed25519 key.
 */
export async function identityFromLibp2pKey(privateKey: Ed25519PrivateKey): Promise<Identity> {
  if (privateKey?.type !== 'Ed25519' || privateKey.raw.byteLength !== 64) {
    throw new InvalidKeyError(
      `expected a libp2p Ed25519 private key; got ${privateKey?.type ?? typeof privateKey}`
    )
  }
  return identityFromSeed(privateKey.raw.subarray(0, 32))
}

/** Creates a new identity from 32 bytes of cryptographically secure randomness. */
export async function generateIdentity(): Promise<Identity> {
  const seed = new Uint8Array(32)
  globalThis.crypto.getRandomValues(seed)
  return identityFromSeed(seed)
}

const publicKeysByAddress = new LRUCache<string, Uint8Array>({ max: 8192 })
const BASE58BTC = /^[1-9A-HJ-NP-Za-km-z]*$/

/**
 * The raw ed25519 public key behind an address. This is the one place an address string is parsed: every
 * Araliya package checks addresses through it (or {@link isAddress}).
 *
 * An address is valid only if it is ASCII base58btc, decodes to the PeerId of an Ed25519 key, and is
 * exactly the address that key encodes to ({@link addressFromPublicKey}). So look-alike characters
 * (Cyrillic, fullwidth, …) and second spellings of one key (re-ordered or padded key encodings, the CID
 * form) are refused: one key has one address, and one address names one key.
 *
 * @throws {InvalidAddressError} naming the rule the string broke (an {@link InvalidKeyError}).
 */
export function publicKeyFromAddress(address: string): Uint8Array {
  const cached = publicKeysByAddress.get(address)
  if (cached !== undefined) return cached
  if (typeof address !== 'string') {
    throw new InvalidAddressError('not-a-string', `an address is a string (12D3KooW…); got ${typeof address}`)
  }
  if (address.length === 0 || address.length > MAX_ADDRESS_LENGTH) {
    throw new InvalidAddressError(
      'length',
      `an address is 52 characters (12D3KooW…); got ${address.length === 0 ? 'an empty string' : `${address.length} characters`}`
    )
  }
  if (!BASE58BTC.test(address)) {
    const index = firstNonBase58(address)
    const code = address.codePointAt(index) ?? 0
    const shown = `U+${code.toString(16).toUpperCase().padStart(4, '0')}`
    throw code > 0x7f
      ? new InvalidAddressError(
          'non-ascii',
          `address ${JSON.stringify(address)} has the non-ASCII character ${shown} at index ${index}; ` +
            'addresses are ASCII base58btc, so look-alike letters are refused: copy the address exactly'
        )
      : new InvalidAddressError(
          'not-base58btc',
          `address ${JSON.stringify(address)} has ${shown} at index ${index}, which is not in the base58btc ` +
            'alphabet (no 0, O, I, l, spaces or punctuation)'
        )
  }
  let peerId: PeerId
  try {
    peerId = peerIdFromString(address)
  } catch (err) {
    throw new InvalidAddressError('not-a-peer-id', `"${address}" is not a libp2p PeerId string`, {
      cause: err
    })
  }
  if (peerId.type !== 'Ed25519') {
    throw new InvalidAddressError(
      'not-ed25519',
      `address ${address} is a ${peerId.type} PeerId; Araliya addresses are Ed25519 keys (12D3KooW…)`
    )
  }
  const raw = peerId.publicKey.raw
  let canonical: string
  try {
    canonical = addressFromPublicKey(raw)
  } catch (err) {
    throw new InvalidAddressError('not-a-peer-id', `"${address}" does not hold a usable Ed25519 key`, {
      cause: err
    })
  }
  if (canonical !== address) {
    throw new InvalidAddressError(
      'not-canonical',
      `"${address}" is another spelling of the key whose address is ${canonical}; use that address`
    )
  }
  publicKeysByAddress.set(address, raw)
  return raw
}

function firstNonBase58(s: string): number {
  for (let i = 0; i < s.length; i++) if (!BASE58BTC.test(s.charAt(i))) return i
  return 0
}

/**
 * The address (PeerId string) of a raw 32-byte ed25519 public key.
 *
 * @throws {InvalidKeyError} when the key is not 32 bytes or not a valid point.
 */
export function addressFromPublicKey(publicKey: Uint8Array): string {
  if (!(publicKey instanceof Uint8Array) || publicKey.byteLength !== 32) {
    throw new InvalidKeyError(`an ed25519 public key is 32 bytes; got ${describeLength(publicKey)}`)
  }
  try {
    return peerIdFromPublicKey(publicKeyFromRaw(publicKey) as never).toString()
  } catch (err) {
    throw new InvalidKeyError('bytes are not a valid ed25519 public key', { cause: err })
  }
}

/**
 * True when `address` is a valid Araliya address: the canonical ASCII base58btc PeerId string of an
 * Ed25519 key (see {@link publicKeyFromAddress} for the exact rule).
 */
export function isAddress(address: unknown): address is string {
  if (typeof address !== 'string') return false
  try {
    publicKeyFromAddress(address)
    return true
  } catch (err) {
    if (InvalidAddressError.isInstance(err)) return false
    throw err
  }
}

/**
 * The public identity behind an address or a raw public key.
 *
 * @throws {InvalidAddressError} when the address is not valid (see {@link publicKeyFromAddress}).
 */
export function publicIdentity(addressOrPublicKey: string | Uint8Array): PublicIdentity {
  const publicKey =
    typeof addressOrPublicKey === 'string' ? publicKeyFromAddress(addressOrPublicKey) : addressOrPublicKey
  const address =
    typeof addressOrPublicKey === 'string' ? addressOrPublicKey : addressFromPublicKey(publicKey)
  return {
    address,
    publicKey,
    shortId: shortIdOf(publicKey),
    peerId: peerIdFromString(address) as Ed25519PeerId
  }
}

/**
 * Verifies a signature by the key behind `signer` (an address or a raw 32-byte public key) over
 * `message` under `context`. Needs no private key. Resolves `false` — never throws — for a wrong,
 * malformed or wrong-length signature, an unparseable address, or bad key bytes.
 *
 * @throws {InvalidContextError} only for a malformed context string (a programming error).
 */
export async function verify(
  signer: string | Uint8Array,
  context: string,
  message: Uint8Array,
  signature: Uint8Array
): Promise<boolean> {
  const bytes = signedBytes(context, message)
  if (!(signature instanceof Uint8Array) || !(message instanceof Uint8Array)) return false
  const publicKey = signerKey(signer)
  if (publicKey === undefined) return false
  const backend = loadedBackend() ?? (await ed25519Backend())
  return backend.verify(publicKey, bytes, signature)
}

/**
 * {@link verify} answered synchronously, with the same domain separation and the same verdicts: `false`
 * (never a throw) for a wrong, malformed or wrong-length signature, an unparseable address or bad key
 * bytes. It uses node:crypto in Node; elsewhere @noble/ed25519, which is correct everywhere but slower
 * than the WebCrypto that {@link verify} uses in browsers, so prefer {@link verify} or
 * {@link verifyBatch} there when you can wait.
 *
 * @example
 * ```ts
 * const ok = verifySync(me.address, 'myapp/greeting/v1', message, signature) // true
 * ```
 *
 * @throws {InvalidContextError} only for a malformed context string (a programming error).
 */
export function verifySync(
  signer: string | Uint8Array,
  context: string,
  message: Uint8Array,
  signature: Uint8Array
): boolean {
  if (!(message instanceof Uint8Array)) {
    signedBytes(context, new Uint8Array(0)) // a malformed context is still reported
    return false
  }
  // Built in a reused buffer: the verify below is done with it before anything else can run.
  const bytes = signedBytesScratch(context, message)
  if (!(signature instanceof Uint8Array)) return false
  const publicKey = signerKey(signer)
  if (publicKey === undefined) return false
  return syncBackend().verify(publicKey, bytes, signature)
}

/** One signature for {@link verifyBatch}: the arguments of {@link verify}. */
export interface SignatureCheck {
  /** The signer's address or raw 32-byte public key. */
  readonly signer: string | Uint8Array
  /** The domain-separation context the signature was made under. */
  readonly context: string
  /** The signed message (without the context: that is added as for {@link verify}). */
  readonly message: Uint8Array
  /** The 64-byte ed25519 signature. */
  readonly signature: Uint8Array
}

/**
 * Verifies many signatures at once: one verdict per check, in order, each exactly what {@link verify}
 * answers for it. Where verification is synchronous (node:crypto) the whole batch is checked in one go,
 * with no promise per signature; in browsers the checks go to WebCrypto together.
 *
 * @throws {InvalidContextError} only for a malformed context string (a programming error).
 */
export async function verifyBatch(checks: readonly SignatureCheck[]): Promise<boolean[]> {
  const backend = loadedBackend() ?? (await ed25519Backend())
  if (backend === syncBackend()) {
    return checks.map((check) => verifySync(check.signer, check.context, check.message, check.signature))
  }
  return Promise.all(
    checks.map((check) => verify(check.signer, check.context, check.message, check.signature))
  )
}

/** The public key behind an address or raw key, or `undefined` when it is not one. */
function signerKey(signer: string | Uint8Array): Uint8Array | undefined {
  if (typeof signer === 'string') {
    try {
      return publicKeyFromAddress(signer)
    } catch (err) {
      if (InvalidAddressError.isInstance(err)) return undefined
      throw err
    }
  }
  return signer instanceof Uint8Array ? signer : undefined
}

function describeLength(value: unknown): string {
  return value instanceof Uint8Array ? `${value.byteLength} bytes` : typeof value
}
