import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { encodeCanonical, generateIdentity, identityFromSeed } from '@araliya/identity'
import { afterEach, describe, expect, it } from 'vitest'
import {
  createMemory,
  EXPORT_CONTEXT,
  type Memory,
  MemoryExportError,
  readExportManifest
} from '../src/index.js'
import { syncPair } from './helpers.js'

const open: Memory[] = []
afterEach(async () => {
  for (const memory of open.splice(0)) await memory.stop()
})
async function start(memory: Memory): Promise<Memory> {
  await memory.start()
  open.push(memory)
  return memory
}

async function sample(memory: Memory): Promise<void> {
  await memory.remember('the spare key is under the blue pot', { key: 'spare-key', tags: ['home'] })
  await memory.session('chat').append({ role: 'user', content: 'I moved to Lisbon last spring' })
  await memory.session('chat').append({ role: 'assistant', content: 'Noted: Lisbon.' })
  await memory.relate('user', 'lives in', 'Lisbon', { single: true })
  await memory.profile.set('persona', 'a concise travel assistant')
  const gone = await memory.remember('a thing to forget')
  await memory.forget(gone.id)
}

function contents(memory: Memory): unknown[] {
  return memory
    .list()
    .map((item) => ({ ...item }))
    .sort((a, b) => (a.id < b.id ? -1 : 1))
}

/** Rewrites one field of a file's manifest and signs it again with `signer`. */
async function resign(
  bytes: Uint8Array,
  signer: Awaited<ReturnType<typeof generateIdentity>>,
  change: (manifest: Record<string, unknown>) => void
): Promise<Uint8Array> {
  const { decodeCanonical } = await import('@araliya/identity')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const length = view.getUint32(5)
  const manifest = decodeCanonical(bytes.subarray(9, 9 + length)) as Record<string, unknown>
  change(manifest)
  const encoded = encodeCanonical(manifest as never)
  const head = new Uint8Array(9)
  head.set(bytes.subarray(0, 5))
  new DataView(head.buffer).setUint32(5, encoded.byteLength)
  const signed = new Uint8Array([...head, ...encoded])
  const signature = await signer.sign(EXPORT_CONTEXT, signed)
  return new Uint8Array([...signed, ...signature, ...bytes.subarray(9 + length + 64)])
}

describe('export and import', () => {
  it('round trip to a fresh device with the same key: identical memories, history and conflicts', async () => {
    const seed = globalThis.crypto.getRandomValues(new Uint8Array(32))
    const laptop = await start(createMemory({ identity: await identityFromSeed(seed), device: 'laptop' }))
    await sample(laptop)
    const file = await laptop.export()
    const manifest = await readExportManifest(file)
    expect(manifest).toMatchObject({ v: 1, owner: laptop.owner, signer: laptop.owner })
    expect(manifest.commits).toBeGreaterThan(0)

    const fresh = await start(createMemory({ identity: await identityFromSeed(seed), device: 'new' }))
    const report = await fresh.import(file)
    expect(report.commits).toBe(manifest.commits)
    expect(report.accepted).toBe(manifest.commits)
    expect(report.memories).toBeGreaterThanOrEqual(6)
    expect(contents(fresh)).toEqual(contents(laptop))
    const fact = laptop.facts({ subject: 'user' })[0]
    expect(fresh.why(fact?.id as string).history).toEqual(laptop.why(fact?.id as string).history)
    expect(fresh.profile.get('persona')).toBe('a concise travel assistant')
    expect(
      fresh
        .session('chat')
        .turns()
        .map((t) => t.content)
    ).toEqual(['I moved to Lisbon last spring', 'Noted: Lisbon.'])

    // importing again adds nothing
    const again = await fresh.import(file)
    expect(again.accepted).toBe(0)
    expect(again.duplicates).toBe(manifest.commits)
    expect(contents(fresh)).toEqual(contents(laptop))
  })

  it('round trip to a device key the owner added, and back: the device signs its own export', async () => {
    const owner = await start(createMemory({ identity: await generateIdentity(), device: 'desktop' }))
    const deviceKey = await generateIdentity()
    await sample(owner)
    await owner.addDevice(deviceKey.address, { expiresAt: Date.now() + 86_400_000 })
    const phone = await start(createMemory({ identity: deviceKey, owner: owner.owner, device: 'phone' }))
    await phone.import(await owner.export())
    expect(phone.readable).toBe(true)
    expect(contents(phone)).toEqual(contents(owner))

    const mine = await phone.remember('written on the phone')
    const fromPhone = await phone.export()
    expect((await readExportManifest(fromPhone)).signer).toBe(deviceKey.address)
    const restored = await start(createMemory({ identity: await generateIdentity(), owner: owner.owner }))
    await restored.import(fromPhone) // a stranger can hold it, and reads nothing
    expect(restored.list()).toEqual([])
    await owner.import(fromPhone)
    expect(owner.get(mine.id)).toMatchObject({ text: 'written on the phone', writer: deviceKey.address })
  })

  it('writes a file with exportTo', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'araliya-export-'))
    try {
      const seed = new Uint8Array(32).fill(3)
      const memory = await start(createMemory({ identity: await identityFromSeed(seed) }))
      await sample(memory)
      await memory.exportTo(join(dir, 'memory.arme'))
      const fresh = await start(createMemory({ identity: await identityFromSeed(seed) }))
      await fresh.import(await readFile(join(dir, 'memory.arme')))
      expect(contents(fresh)).toEqual(contents(memory))
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('hostile export files: a typed error, nothing changed', () => {
  async function setup() {
    const seed = globalThis.crypto.getRandomValues(new Uint8Array(32))
    const source = await start(createMemory({ identity: await identityFromSeed(seed) }))
    await sample(source)
    const file = await source.export()
    const target = await start(createMemory({ identity: await identityFromSeed(seed) }))
    await target.remember('already here')
    const before = contents(target)
    const expectRefused = async (bytes: Uint8Array, reason: string) => {
      const error = await target.import(bytes).catch((err: unknown) => err)
      expect(MemoryExportError.isInstance(error), String(error)).toBe(true)
      expect((error as MemoryExportError).code).toBe('ERR_MEMORY_EXPORT')
      expect((error as MemoryExportError).reason).toBe(reason)
      expect(contents(target)).toEqual(before)
    }
    return { source, file, target, expectRefused }
  }

  it('truncated anywhere', async () => {
    const { file, expectRefused } = await setup()
    await expectRefused(file.subarray(0, 3), 'format')
    await expectRefused(file.subarray(0, 20), 'truncated')
    await expectRefused(file.subarray(0, file.byteLength - 1), 'truncated')
    await expectRefused(file.subarray(0, Math.floor(file.byteLength / 2)), 'truncated')
  })

  it('a flipped byte in the manifest, the signature or a commit', async () => {
    const { file, expectRefused } = await setup()
    const length = new DataView(file.buffer, file.byteOffset).getUint32(5)
    const flip = (at: number) => {
      const copy = file.slice()
      copy[at] = (copy[at] as number) ^ 0x01
      return copy
    }
    await expectRefused(flip(4), 'version')
    const inManifest = flip(9 + length - 3) // inside the signed digest
    const error = await readExportManifest(inManifest).catch((err: unknown) => err)
    expect((error as MemoryExportError).reason).toBe('signature')
    await expectRefused(inManifest, 'signature')
    await expectRefused(flip(9 + length + 10), 'signature')
    await expectRefused(flip(file.byteLength - 5), 'digest')
    await expectRefused(new Uint8Array([...file, 0]), 'format')
  })

  it("another owner's export, and a stranger's manifest over the owner's commits", async () => {
    const { file, target, expectRefused } = await setup()
    const other = await start(createMemory({ identity: await generateIdentity() }))
    await sample(other)
    await expectRefused(await other.export(), 'owner')
    const stranger = await generateIdentity()
    await expectRefused(
      await resign(file, stranger, (m) => {
        m.signer = stranger.address
      }),
      'signer'
    )
    // a stranger who signs a manifest naming the owner as signer does not verify
    await expectRefused(await resign(file, stranger, () => {}), 'signature')
    expect(target.list().map((m) => m.kind)).toEqual(['note'])
  })

  it('a huge declared count or size is refused before anything is read', async () => {
    const { file, target } = await setup()
    const before = contents(target)
    const error = await target
      .import(file, { limits: { maxCommits: 2 } })
      .catch((err: unknown) => err as MemoryExportError)
    expect((error as MemoryExportError).reason).toBe('too-large')
    const big = await target.import(file, { limits: { maxBytes: 100 } }).catch((err: unknown) => err)
    expect((big as MemoryExportError).reason).toBe('too-large')
    expect(contents(target)).toEqual(before)
  })

  it('commits of a foreign space inside an owner-signed file', async () => {
    const seed = globalThis.crypto.getRandomValues(new Uint8Array(32))
    const ownerKey = await identityFromSeed(seed)
    const owner = await start(createMemory({ identity: ownerKey }))
    await sample(owner)
    const other = await start(createMemory({ identity: await generateIdentity() }))
    await other.remember('from elsewhere')
    const foreign = await other.export()
    // splice the other space's commits into the owner's file, then sign a fresh manifest with the owner key
    const own = await owner.export()
    const ownLength = new DataView(own.buffer, own.byteOffset).getUint32(5)
    const foreignLength = new DataView(foreign.buffer, foreign.byteOffset).getUint32(5)
    const section = new Uint8Array([
      ...own.subarray(9 + ownLength + 64),
      ...foreign.subarray(9 + foreignLength + 64)
    ])
    const { sha256 } = await import('@noble/hashes/sha2.js')
    const { readExportManifest: read } = await import('../src/index.js')
    const ownManifest = await read(own)
    const foreignManifest = await read(foreign)
    const hostile = await resign(
      new Uint8Array([...own.subarray(0, 9 + ownLength + 64), ...section]),
      ownerKey,
      (m) => {
        m.commits = ownManifest.commits + foreignManifest.commits
        m.bytes = section.byteLength
        m.digest = sha256(section)
      }
    )
    const target = await start(createMemory({ identity: await identityFromSeed(seed) }))
    const error = await target.import(hostile).catch((err: unknown) => err)
    expect((error as MemoryExportError).reason).toBe('commits')
    expect(target.list()).toEqual([])
    expect([...target.graph.souls()]).toEqual([])
  })

  it('an export synced by replicas stays importable: the same commits as a sync brings', async () => {
    const seed = globalThis.crypto.getRandomValues(new Uint8Array(32))
    const a = await start(createMemory({ identity: await identityFromSeed(seed) }))
    const b = await start(createMemory({ identity: await identityFromSeed(seed) }))
    await sample(a)
    await syncPair(a.graph, b.graph)
    const report = await b.import(await a.export())
    expect(report.accepted).toBe(0)
  })
})
