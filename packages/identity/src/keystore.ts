import { platform } from '#platform'
import { type AbortOptions, isPlainMap, isSafeUint, throwIfAborted } from '@araliya/interface'
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js'
import {
  KeystoreCorruptError,
  KeystoreError,
  KeystoreExistsError,
  KeystoreForeignFileError,
  KeystoreNotFoundError,
  KeystorePassphraseError,
  KeystoreVersionError
} from './errors.js'
import { generateIdentity, type Identity, identityFromSeed } from './identity.js'
import type { KeyStorage } from './platform/types.js'

/** The keystore format version this release writes and reads. */
export const KEYSTORE_VERSION = 1
/** The default scrypt cost (N = 2^17, r = 8, p = 1: about 128 MiB and a fraction of a second natively). */
export const DEFAULT_SCRYPT_LOG_N = 17
/** The file name {@link loadOrCreateIdentity} uses when none is given. */
export const DEFAULT_KEYSTORE_NAME = 'identity.key'

const MAX_KEYSTORE_BYTES = 16 * 1024
const MAX_SCRYPT_LOG_N = 20
const MIN_SCRYPT_LOG_N = 10
const textEncoder = new TextEncoder()

/** Options for writing a keystore. */
export interface KeystoreWriteOptions extends AbortOptions {
  /** Encrypts the key with scrypt + XChaCha20-Poly1305. Without it the seed is stored in plain form. */
  passphrase?: string
  /** log2 of the scrypt cost N (10-20). Default 17. Lower only for tests. */
  scryptLogN?: number
}

/** Options for reading a keystore. */
export interface KeystoreReadOptions extends AbortOptions {
  /** The passphrase of an encrypted keystore. */
  passphrase?: string
  /** Where the bytes came from, quoted in errors. */
  location?: string
}

/** Where {@link loadOrCreateIdentity} keeps the key: a directory (Node), or any {@link KeyStorage}. */
export interface KeystoreLocation {
  /** A directory for the key file (Node), or an IndexedDB database name (browsers). */
  dir?: string
  /** A custom storage; takes precedence over `dir`. */
  storage?: KeyStorage
  /** The key's name inside the storage. Default `identity.key`. */
  name?: string
}

interface ScryptParams {
  kdf: 'scrypt'
  logN: number
  r: number
  p: number
  salt: string
  cipher: 'xchacha20-poly1305'
  nonce: string
}

interface KeystoreFile {
  araliya: 'keystore'
  version: number
  keyType: 'Ed25519'
  address: string
  encryption: ScryptParams | null
  secret: string
}

/**
 * Serialises an identity as a versioned keystore (UTF-8 JSON). With a passphrase the seed is encrypted
 * with XChaCha20-Poly1305 under a scrypt-derived key; the header is bound in as associated data, so
 * editing any field makes decryption fail.
 */
export async function exportIdentity(
  identity: Identity,
  options: KeystoreWriteOptions = {}
): Promise<Uint8Array> {
  throwIfAborted(options.signal)
  const seed = identity.exportSeed()
  let file: KeystoreFile
  if (options.passphrase === undefined) {
    file = base(identity.address, null, toBase64(seed))
  } else {
    const logN = options.scryptLogN ?? DEFAULT_SCRYPT_LOG_N
    if (!isSafeUint(logN, MIN_SCRYPT_LOG_N, MAX_SCRYPT_LOG_N)) {
      throw new KeystoreError(`scryptLogN must be an integer from ${MIN_SCRYPT_LOG_N} to ${MAX_SCRYPT_LOG_N}`)
    }
    const salt = random(16)
    const nonce = random(24)
    const params: ScryptParams = {
      kdf: 'scrypt',
      logN,
      r: 8,
      p: 1,
      salt: toBase64(salt),
      cipher: 'xchacha20-poly1305',
      nonce: toBase64(nonce)
    }
    const key = await deriveKey(options.passphrase, params)
    const sealed = xchacha20poly1305(key, nonce, associatedData(identity.address, params)).encrypt(seed)
    file = base(identity.address, params, toBase64(sealed))
  }
  return textEncoder.encode(`${JSON.stringify(file, null, 2)}\n`)
}

/**
 * Reads an identity from keystore bytes (as written by {@link exportIdentity}).
 *
 * @throws {KeystoreForeignFileError} the bytes are not an Araliya keystore.
 * @throws {KeystoreVersionError} the keystore was written by an unsupported format version.
 * @throws {KeystoreCorruptError} the keystore is truncated or damaged.
 * @throws {KeystorePassphraseError} the keystore is encrypted and the passphrase is missing or wrong.
 */
export async function importIdentity(
  bytes: Uint8Array,
  options: KeystoreReadOptions = {}
): Promise<Identity> {
  throwIfAborted(options.signal)
  const location = options.location
  const where = location === undefined ? 'the keystore' : `keystore ${location}`
  const file = parseKeystore(bytes, where, location)
  let seed: Uint8Array
  if (file.encryption === null) {
    seed = fromBase64Field(file.secret, where, location)
  } else {
    const params = file.encryption
    if (options.passphrase === undefined) {
      throw new KeystorePassphraseError(`${where} is encrypted; pass its passphrase`, { location })
    }
    const key = await deriveKey(options.passphrase, params)
    const nonce = fromBase64Field(params.nonce, where, location)
    const sealed = fromBase64Field(file.secret, where, location)
    if (nonce.byteLength !== 24 || sealed.byteLength !== 48) {
      throw new KeystoreCorruptError(`${where} is damaged: wrong nonce or ciphertext length`, { location })
    }
    try {
      seed = xchacha20poly1305(key, nonce, associatedData(file.address, params)).decrypt(sealed)
    } catch (err) {
      throw new KeystorePassphraseError(
        `cannot decrypt ${where}: the passphrase is wrong, or the file was altered`,
        { cause: err, location }
      )
    }
  }
  if (seed.byteLength !== 32) {
    throw new KeystoreCorruptError(`${where} is damaged: the key is ${seed.byteLength} bytes, not 32`, {
      location
    })
  }
  const identity = await identityFromSeed(seed)
  if (identity.address !== file.address) {
    throw new KeystoreCorruptError(
      `${where} is damaged: its key belongs to ${identity.address}, but the file says ${file.address}`,
      { location }
    )
  }
  return identity
}

/**
 * Loads the identity kept at `location`, or creates, stores and returns a new one if none is there.
 * Every later run returns the same identity. An unreadable keystore is an error — it is never replaced
 * silently with a new identity. Two processes racing to create both end up with the one that was stored.
 */
export async function loadOrCreateIdentity(
  options: KeystoreLocation & KeystoreWriteOptions & KeystoreReadOptions
): Promise<Identity> {
  const { storage, name } = resolveLocation(options)
  const existing = await storage.read(name, options)
  if (existing !== undefined) {
    return importIdentity(existing, { ...options, location: storage.describe(name) })
  }
  const identity = await generateIdentity()
  const created = await storage.create(name, await exportIdentity(identity, options), options)
  if (created) return identity
  // Another process stored one first: use theirs.
  const winner = await storage.read(name, options)
  if (winner === undefined) {
    throw new KeystoreError(
      `keystore ${storage.describe(name)} vanished while it was being created; try again`
    )
  }
  return importIdentity(winner, { ...options, location: storage.describe(name) })
}

/**
 * Loads the identity kept at `location`.
 *
 * @throws {KeystoreNotFoundError} when nothing is stored there.
 */
export async function loadIdentity(options: KeystoreLocation & KeystoreReadOptions): Promise<Identity> {
  const { storage, name } = resolveLocation(options)
  const bytes = await storage.read(name, options)
  if (bytes === undefined) {
    throw new KeystoreNotFoundError(
      `no keystore at ${storage.describe(name)}; create one with loadOrCreateIdentity()`,
      { location: storage.describe(name) }
    )
  }
  return importIdentity(bytes, { ...options, location: storage.describe(name) })
}

/**
 * Stores an identity at `location`. Refuses to overwrite an existing keystore unless `overwrite` is set
 * (the replacement is atomic either way).
 *
 * @throws {KeystoreExistsError} when a keystore exists and `overwrite` is not set.
 */
export async function saveIdentity(
  identity: Identity,
  options: KeystoreLocation & KeystoreWriteOptions & { overwrite?: boolean }
): Promise<void> {
  const { storage, name } = resolveLocation(options)
  const bytes = await exportIdentity(identity, options)
  if (options.overwrite === true) return storage.replace(name, bytes, options)
  if (!(await storage.create(name, bytes, options))) {
    throw new KeystoreExistsError(
      `a keystore already exists at ${storage.describe(name)}; pass overwrite: true to replace it`,
      { location: storage.describe(name) }
    )
  }
}

/** The platform's key storage for a directory (Node) or database name (browsers). */
export function keyStorage(location: string): KeyStorage {
  return platform.defaultKeyStorage(location)
}

function resolveLocation(options: KeystoreLocation): { storage: KeyStorage; name: string } {
  const name = options.name ?? DEFAULT_KEYSTORE_NAME
  if (options.storage !== undefined) return { storage: options.storage, name }
  if (options.dir === undefined)
    throw new KeystoreError('pass either dir or storage to say where the key lives')
  return { storage: platform.defaultKeyStorage(options.dir), name }
}

function parseKeystore(bytes: Uint8Array, where: string, location: string | undefined): KeystoreFile {
  if (bytes.byteLength > MAX_KEYSTORE_BYTES) {
    throw new KeystoreForeignFileError(
      `${where} is ${bytes.byteLength} bytes, far larger than a keystore; check the path`,
      { location }
    )
  }
  let text: string
  let json: unknown
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch (err) {
    throw new KeystoreForeignFileError(`${where} is not a text keystore file; check the path`, {
      cause: err,
      location
    })
  }
  try {
    json = JSON.parse(text)
  } catch (err) {
    if (text.includes('"araliya"')) {
      throw new KeystoreCorruptError(
        `${where} is truncated or damaged; restore it from a backup (it was NOT replaced)`,
        { cause: err, location }
      )
    }
    throw new KeystoreForeignFileError(`${where} is not an Araliya keystore; check the path`, {
      cause: err,
      location
    })
  }
  if (!isPlainMap(json) || json.araliya !== 'keystore') {
    throw new KeystoreForeignFileError(`${where} is not an Araliya keystore; check the path`, { location })
  }
  const file = json as Partial<KeystoreFile>
  if (file.version !== KEYSTORE_VERSION) {
    throw new KeystoreVersionError(
      `${where} has format version ${String(file.version)}; this release reads version ${KEYSTORE_VERSION}. ` +
        'Upgrade @araliya/identity to read it',
      { location }
    )
  }
  const damaged = (what: string) =>
    new KeystoreCorruptError(`${where} is damaged (${what}); restore it from a backup`, { location })
  if (file.keyType !== 'Ed25519') throw damaged(`unknown key type ${String(file.keyType)}`)
  if (typeof file.address !== 'string') throw damaged('no address')
  if (typeof file.secret !== 'string') throw damaged('no key')
  const enc = file.encryption
  if (enc !== null) {
    if (!isPlainMap(enc)) throw damaged('bad encryption header')
    if (enc.kdf !== 'scrypt' || enc.cipher !== 'xchacha20-poly1305') throw damaged('unknown cipher or kdf')
    if (!isSafeUint(enc.logN, MIN_SCRYPT_LOG_N, MAX_SCRYPT_LOG_N)) {
      throw damaged(`scrypt cost 2^${String(enc.logN)} is out of range`)
    }
    if (enc.r !== 8 || enc.p !== 1) throw damaged('unsupported scrypt parameters')
    if (typeof enc.salt !== 'string' || typeof enc.nonce !== 'string') throw damaged('no salt or nonce')
  }
  return file as KeystoreFile
}

function base(address: string, encryption: ScryptParams | null, secret: string): KeystoreFile {
  return { araliya: 'keystore', version: KEYSTORE_VERSION, keyType: 'Ed25519', address, encryption, secret }
}

function associatedData(address: string, params: ScryptParams): Uint8Array {
  return textEncoder.encode(
    `araliya-keystore/v${KEYSTORE_VERSION}|Ed25519|${address}|${params.kdf}|${params.logN}|${params.r}|${params.p}|${params.salt}`
  )
}

async function deriveKey(passphrase: string, params: ScryptParams): Promise<Uint8Array> {
  if (typeof passphrase !== 'string') throw new KeystorePassphraseError('the passphrase must be a string')
  const salt = fromBase64(params.salt)
  return platform.scrypt(
    textEncoder.encode(passphrase.normalize('NFKC')),
    salt,
    2 ** params.logN,
    params.r,
    params.p
  )
}

function random(length: number): Uint8Array {
  const out = new Uint8Array(length)
  globalThis.crypto.getRandomValues(out)
  return out
}

function toBase64(bytes: Uint8Array): string {
  let binary = ''
  for (const byte of bytes) binary += String.fromCharCode(byte)
  return btoa(binary)
}

function fromBase64(text: string): Uint8Array {
  const binary = atob(text)
  const out = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i)
  return out
}

function fromBase64Field(text: string, where: string, location: string | undefined): Uint8Array {
  try {
    return fromBase64(text)
  } catch (err) {
    throw new KeystoreCorruptError(`${where} is damaged (bad base64)`, { cause: err, location })
  }
}
