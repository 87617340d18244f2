import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  exportIdentity,
  generateIdentity,
  importIdentity,
  KeystoreCorruptError,
  KeystoreError,
  KeystoreExistsError,
  KeystoreForeignFileError,
  KeystoreNotFoundError,
  KeystorePassphraseError,
  KeystorePermissionError,
  KeystoreVersionError,
  keyStorage,
  loadIdentity,
  loadOrCreateIdentity,
  saveIdentity
} from '../src/index.js'

// The format records the cost, so tests may use the cheapest one the reader accepts.
const FAST = { scryptLogN: 10 }
let dir: string

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'araliya-keystore-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

const file = () => join(dir, 'identity.key')

describe('keystore round trip', () => {
  it('plain: export then import gives the same identity', async () => {
    const id = await generateIdentity()
    const again = await importIdentity(await exportIdentity(id))
    expect(again.address).toBe(id.address)
    expect(again.exportSeed()).toEqual(id.exportSeed())
  })

  it('with any passphrase: round trip works, and any other passphrase is rejected', async () => {
    const id = await generateIdentity()
    await fc.assert(
      fc.asyncProperty(
        fc.string({ minLength: 0, maxLength: 40 }),
        fc.string({ maxLength: 40 }),
        async (pass, other) => {
          const bytes = await exportIdentity(id, { passphrase: pass, ...FAST })
          expect(new TextDecoder().decode(bytes)).not.toContain(
            Buffer.from(id.exportSeed()).toString('base64')
          )
          expect((await importIdentity(bytes, { passphrase: pass })).address).toBe(id.address)
          if (other.normalize('NFKC') !== pass.normalize('NFKC')) {
            await expect(importIdentity(bytes, { passphrase: other })).rejects.toThrowError(
              KeystorePassphraseError
            )
          }
        }
      ),
      { numRuns: 12 }
    )
  })

  it('loadOrCreateIdentity returns the same identity on every later run, with mode 0600', async () => {
    const first = await loadOrCreateIdentity({ dir })
    const second = await loadOrCreateIdentity({ dir })
    expect(second.address).toBe(first.address)
    expect((await stat(file())).mode & 0o777).toBe(0o600)
    expect((await loadIdentity({ dir })).address).toBe(first.address)
  })

  it('encrypted: needs the passphrase on every later run', async () => {
    const first = await loadOrCreateIdentity({ dir, passphrase: 'correct horse', ...FAST })
    expect((await loadOrCreateIdentity({ dir, passphrase: 'correct horse' })).address).toBe(first.address)
    await expect(loadOrCreateIdentity({ dir })).rejects.toThrowError(/encrypted; pass its passphrase/)
    await expect(loadOrCreateIdentity({ dir, passphrase: 'wrong' })).rejects.toThrowError(
      KeystorePassphraseError
    )
  })

  it('concurrent creators all end up with the one identity that was stored', async () => {
    const ids = await Promise.all(Array.from({ length: 6 }, () => loadOrCreateIdentity({ dir })))
    expect(new Set(ids.map((i) => i.address)).size).toBe(1)
    expect((await loadIdentity({ dir })).address).toBe(ids[0]?.address)
  })

  it('saveIdentity never overwrites unless asked; loadIdentity reports a missing keystore', async () => {
    await expect(loadIdentity({ dir })).rejects.toThrowError(KeystoreNotFoundError)
    const a = await generateIdentity()
    const b = await generateIdentity()
    await saveIdentity(a, { dir })
    await expect(saveIdentity(b, { dir })).rejects.toThrowError(KeystoreExistsError)
    expect((await loadIdentity({ dir })).address).toBe(a.address)
    await saveIdentity(b, { dir, overwrite: true })
    expect((await loadIdentity({ dir })).address).toBe(b.address)
    expect((await stat(file())).mode & 0o777).toBe(0o600)
  })
})

describe('bad keystores give typed errors and are never replaced', () => {
  async function expectUntouched(error: new (...args: never[]) => Error, options = {}): Promise<void> {
    const before = await readFile(file())
    const failure = await loadOrCreateIdentity({ dir, ...options }).catch((err: unknown) => err)
    expect(failure).toBeInstanceOf(error)
    expect(KeystoreError.isInstance(failure)).toBe(true)
    expect((failure as KeystoreError).location).toBe(file())
    expect(await readFile(file())).toEqual(before)
  }

  it('truncated', async () => {
    const id = await generateIdentity()
    const bytes = await exportIdentity(id)
    await writeFile(file(), bytes.subarray(0, bytes.byteLength - 20), { mode: 0o600 })
    await expectUntouched(KeystoreCorruptError)
  })

  it('foreign: random bytes, other JSON, an empty file', async () => {
    for (const content of [
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 3, 0xff]),
      Buffer.from('{"hello":"world"}'),
      Buffer.from(''),
      Buffer.alloc(20_000, 'a')
    ]) {
      await writeFile(file(), content, { mode: 0o600 })
      await expectUntouched(KeystoreForeignFileError)
    }
  })

  it('unsupported version', async () => {
    const json = JSON.parse(new TextDecoder().decode(await exportIdentity(await generateIdentity())))
    await writeFile(file(), JSON.stringify({ ...json, version: 2 }), { mode: 0o600 })
    await expectUntouched(KeystoreVersionError)
  })

  it('wrong or missing passphrase', async () => {
    await writeFile(file(), await exportIdentity(await generateIdentity(), { passphrase: 'p', ...FAST }), {
      mode: 0o600
    })
    await expectUntouched(KeystorePassphraseError, { passphrase: 'q' })
    await expectUntouched(KeystorePassphraseError)
  })

  it('a header edited under an encrypted key fails authentication', async () => {
    const other = await generateIdentity()
    const json = JSON.parse(
      new TextDecoder().decode(await exportIdentity(await generateIdentity(), { passphrase: 'p', ...FAST }))
    )
    await writeFile(file(), JSON.stringify({ ...json, address: other.address }), { mode: 0o600 })
    await expectUntouched(KeystorePassphraseError, { passphrase: 'p' })
  })

  it('a plain key that does not match its address', async () => {
    const json = JSON.parse(new TextDecoder().decode(await exportIdentity(await generateIdentity())))
    const other = await generateIdentity()
    await writeFile(file(), JSON.stringify({ ...json, address: other.address }), { mode: 0o600 })
    await expectUntouched(KeystoreCorruptError)
  })

  it('absurd scrypt cost is refused before any work', async () => {
    const json = JSON.parse(
      new TextDecoder().decode(await exportIdentity(await generateIdentity(), { passphrase: 'p', ...FAST }))
    )
    json.encryption.logN = 40
    await writeFile(file(), JSON.stringify(json), { mode: 0o600 })
    await expectUntouched(KeystoreCorruptError, { passphrase: 'p' })
  })

  it('a key file readable by others', async () => {
    await loadOrCreateIdentity({ dir })
    await chmod(file(), 0o644)
    await expectUntouched(KeystorePermissionError)
    const failure = await loadIdentity({ dir }).catch((err: unknown) => err)
    expect(String((failure as Error).message)).toContain('chmod 600')
  })

  it('any bytes at all: a KeystoreError, never another exception', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (bytes) => {
        const failure = await importIdentity(bytes).catch((err: unknown) => err)
        expect(KeystoreError.isInstance(failure)).toBe(true)
      }),
      { numRuns: 200 }
    )
    const valid = new TextDecoder().decode(await exportIdentity(await generateIdentity()))
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: valid.length - 1 }), fc.string({ maxLength: 3 }), async (at, junk) => {
        const mangled = valid.slice(0, at) + junk + valid.slice(at + 1)
        const result = await importIdentity(new TextEncoder().encode(mangled)).catch((err: unknown) => err)
        // Either it still decodes to a consistent identity, or it fails with a KeystoreError.
        if (result instanceof Error) expect(KeystoreError.isInstance(result)).toBe(true)
      }),
      { numRuns: 200 }
    )
  })
})

describe('storage', () => {
  it('the file storage writes atomically and only creates once', async () => {
    const storage = keyStorage(dir)
    expect(await storage.create('k', new Uint8Array([1]))).toBe(true)
    expect(await storage.create('k', new Uint8Array([2]))).toBe(false)
    expect(await storage.read('k')).toEqual(new Uint8Array([1]))
    await storage.replace('k', new Uint8Array([3]))
    expect(await storage.read('k')).toEqual(new Uint8Array([3]))
    expect(await storage.read('missing')).toBeUndefined()
  })
})
