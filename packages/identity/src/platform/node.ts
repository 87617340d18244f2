import { createPrivateKey, createPublicKey, type KeyObject, scrypt, sign, verify } from 'node:crypto'
import { constants } from 'node:fs'
import { chmod, link, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { KeystorePermissionError } from '../errors.js'
import { LRUCache } from 'lru-cache'
import type { KeyStorage, Platform, SyncEd25519Backend } from './types.js'

// DER prefixes that wrap a raw ed25519 seed (PKCS#8) or public key (SPKI).
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')
const KEY_CACHE_LIMIT = 4096

/** ed25519 through node:crypto (OpenSSL), with public KeyObjects cached by key bytes. */
export function nodeEd25519(): SyncEd25519Backend {
  // `false` marks bytes that are not a public key (an LRU cache holds no null).
  const publicKeys = new LRUCache<string, KeyObject | false>({ max: KEY_CACHE_LIMIT })
  const publicKeyObject = (publicKey: Uint8Array): KeyObject | false => {
    const id = Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString('latin1')
    let key = publicKeys.get(id)
    if (key === undefined) {
      try {
        key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' })
      } catch {
        key = false
      }
      publicKeys.set(id, key)
    }
    return key
  }
  return {
    name: 'node:crypto',
    publicKey(seed) {
      const key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' })
      const spki = createPublicKey(key).export({ format: 'der', type: 'spki' })
      return Uint8Array.from(spki.subarray(spki.byteLength - 32))
    },
    async createSigner(seed) {
      const key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' })
      return (message) => {
        const out = sign(null, message, key)
        return new Uint8Array(out.buffer, out.byteOffset, out.byteLength)
      }
    },
    verify(publicKey, message, signature) {
      if (publicKey.byteLength !== 32 || signature.byteLength !== 64) return false
      const key = publicKeyObject(publicKey)
      if (key === false) return false
      try {
        return verify(null, message, key, signature)
      } catch {
        return false
      }
    }
  }
}

/**
 * Key files in a directory. Files are written atomically (temporary file, fsync, rename or link, fsync of
 * the directory) with mode 0600; reading refuses a file that others can read.
 */
export class FileKeyStorage implements KeyStorage {
  readonly dir: string
  constructor(dir: string) {
    this.dir = dir
  }

  describe(name: string): string {
    return join(this.dir, name)
  }

  async read(name: string): Promise<Uint8Array | undefined> {
    const path = this.describe(name)
    let info: Awaited<ReturnType<typeof stat>>
    try {
      info = await stat(path)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw err
    }
    if (process.platform !== 'win32' && (info.mode & 0o077) !== 0) {
      throw new KeystorePermissionError(
        `key file ${path} can be read by other users (mode ${(info.mode & 0o777).toString(8)}); ` +
          `run "chmod 600 ${path}" if you trust its contents, or replace it`,
        { location: path }
      )
    }
    return new Uint8Array(await readFile(path))
  }

  async create(name: string, data: Uint8Array): Promise<boolean> {
    const path = this.describe(name)
    const tmp = await this.#writeTemp(path, data)
    try {
      // link() fails with EEXIST instead of replacing: two processes creating at once both end up with
      // the one identity that won.
      await link(tmp, path)
      await syncDir(dirname(path))
      return true
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
      throw err
    } finally {
      await removeTempFile(tmp)
    }
  }

  async replace(name: string, data: Uint8Array): Promise<void> {
    const path = this.describe(name)
    const tmp = await this.#writeTemp(path, data)
    try {
      await rename(tmp, path)
    } catch (err) {
      await removeTempFile(tmp)
      throw err
    }
    await syncDir(dirname(path))
  }

  async #writeTemp(path: string, data: Uint8Array): Promise<string> {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 })
    const tmp = `${path}.${process.pid}.${Date.now()}.${Math.random().toString(36).slice(2)}.tmp`
    const handle = await open(tmp, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600)
    try {
      await handle.writeFile(data)
      await handle.sync()
    } finally {
      await handle.close()
    }
    // The umask may have narrowed the mode further, never widened it; make it exact.
    await chmod(tmp, 0o600)
    return tmp
  }
}

/**
 * Deletes a temp file written by `#writeTemp`, ignoring any error on purpose: the temp file is garbage
 * either way (after a link() it is only a second name of the key file; after a failed link() or rename() it
 * is an orphan), and this runs on cleanup paths where the caller must get the real outcome or the original
 * error, not a failure to delete a leftover.
 */
async function removeTempFile(tmp: string): Promise<void> {
  try {
    await unlink(tmp)
  } catch {
    // Ignored: see above. At worst a stray `.tmp` file stays next to the key file.
  }
}

async function syncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return
  const handle = await open(dir, constants.O_RDONLY)
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

let backend: SyncEd25519Backend | undefined

/** The Node platform: node:crypto ed25519 (one backend, so one key cache) and key files on disk. */
export const platform: Platform = {
  async ed25519() {
    return this.ed25519Sync()
  },
  ed25519Sync() {
    backend ??= nodeEd25519()
    return backend
  },
  scrypt(password, salt, N, r, p) {
    return new Promise((resolve, reject) => {
      scrypt(password, salt, 32, { N, r, p, maxmem: 2 ** 30 }, (err, key) =>
        err === null ? resolve(new Uint8Array(key)) : reject(err)
      )
    })
  },
  defaultKeyStorage(location) {
    return new FileKeyStorage(location)
  }
}
