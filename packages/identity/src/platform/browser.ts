import { scryptAsync } from '@noble/hashes/scrypt.js'
import { LRUCache } from 'lru-cache'
import { nobleEd25519 } from './noble.js'
import type { Ed25519Backend, KeyStorage, Platform, SyncEd25519Backend } from './types.js'

const PKCS8_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20
])

function pkcs8(seed: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(PKCS8_PREFIX.byteLength + 32)
  out.set(PKCS8_PREFIX)
  out.set(seed, PKCS8_PREFIX.byteLength)
  return out
}

const KEY_CACHE_LIMIT = 1024

/**
 * ed25519 through WebCrypto. Returns `undefined` where the browser has no Ed25519 in `crypto.subtle`,
 * so callers can fall back to noble.
 */
export async function webCryptoEd25519(): Promise<Ed25519Backend | undefined> {
  const subtle = globalThis.crypto?.subtle
  if (subtle === undefined) return undefined
  try {
    // A probe: a browser without Ed25519 rejects the import.
    await subtle.importKey('pkcs8', pkcs8(new Uint8Array(32)), { name: 'Ed25519' }, false, ['sign'])
  } catch {
    return undefined
  }
  const publicKeys = new LRUCache<string, Promise<CryptoKey | null>>({ max: KEY_CACHE_LIMIT })
  const publicKeyObject = (publicKey: Uint8Array): Promise<CryptoKey | null> => {
    const id = String.fromCharCode(...publicKey)
    let key = publicKeys.get(id)
    if (key === undefined) {
      key = subtle
        .importKey('raw', Uint8Array.from(publicKey), { name: 'Ed25519' }, false, ['verify'])
        .catch(() => null)
      publicKeys.set(id, key)
    }
    return key
  }
  return {
    name: 'webcrypto',
    async createSigner(seed) {
      const key = await subtle.importKey('pkcs8', pkcs8(seed), { name: 'Ed25519' }, false, ['sign'])
      return async (message) =>
        new Uint8Array(await subtle.sign({ name: 'Ed25519' }, key, Uint8Array.from(message)))
    },
    async verify(publicKey, message, signature) {
      if (publicKey.byteLength !== 32 || signature.byteLength !== 64) return false
      const key = await publicKeyObject(publicKey)
      if (key === null) return false
      try {
        return await subtle.verify(
          { name: 'Ed25519' },
          key,
          Uint8Array.from(signature),
          Uint8Array.from(message)
        )
      } catch {
        return false
      }
    }
  }
}

const STORE = 'keys'

/** Key storage in an IndexedDB database (one object store, values are the keystore bytes). */
export class IndexedDbKeyStorage implements KeyStorage {
  readonly database: string
  #db: Promise<IDBDatabase> | undefined

  constructor(database: string) {
    this.database = database
  }

  describe(name: string): string {
    return `indexeddb:${this.database}/${name}`
  }

  async read(name: string): Promise<Uint8Array | undefined> {
    const db = await this.#open()
    const value = await request<unknown>(db.transaction(STORE, 'readonly').objectStore(STORE).get(name))
    if (value === undefined) return undefined
    return value instanceof Uint8Array ? value : new Uint8Array(value as ArrayBuffer)
  }

  async create(name: string, data: Uint8Array): Promise<boolean> {
    const db = await this.#open()
    const tx = db.transaction(STORE, 'readwrite', { durability: 'strict' })
    try {
      // add() fails with ConstraintError when the key exists: never replace an identity silently.
      await request(tx.objectStore(STORE).add(Uint8Array.from(data), name))
    } catch (err) {
      if ((err as DOMException).name === 'ConstraintError') return false
      throw err
    }
    await done(tx)
    return true
  }

  async replace(name: string, data: Uint8Array): Promise<void> {
    const db = await this.#open()
    const tx = db.transaction(STORE, 'readwrite', { durability: 'strict' })
    tx.objectStore(STORE).put(Uint8Array.from(data), name)
    await done(tx)
  }

  #open(): Promise<IDBDatabase> {
    this.#db ??= new Promise((resolve, reject) => {
      const req = indexedDB.open(this.database, 1)
      req.onupgradeneeded = () => req.result.createObjectStore(STORE)
      req.onsuccess = () => resolve(req.result)
      req.onerror = () => reject(req.error)
    })
    return this.#db
  }
}

function request<T>(req: IDBRequest): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result as T)
    req.onerror = (event) => {
      event.preventDefault()
      reject(req.error)
    }
  })
}

function done(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve()
    tx.onerror = () => reject(tx.error)
    tx.onabort = () => reject(tx.error)
  })
}

let backend: Promise<Ed25519Backend> | undefined
let syncBackend: SyncEd25519Backend | undefined

/** The browser platform: WebCrypto ed25519 where present (noble otherwise), IndexedDB key storage. */
export const platform: Platform = {
  ed25519() {
    backend ??= webCryptoEd25519().then((web) => web ?? this.ed25519Sync())
    return backend
  },
  ed25519Sync() {
    syncBackend ??= nobleEd25519()
    return syncBackend
  },
  scrypt(password, salt, N, r, p) {
    return scryptAsync(password, salt, { N, r, p, dkLen: 32, maxmem: 2 ** 30 })
  },
  defaultKeyStorage(location) {
    return new IndexedDbKeyStorage(location)
  }
}
