import { mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateIdentity, type Identity } from '@araliya/identity'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createMemory, hashingEmbedder, type Memory, type MemoryInit, memoryText } from '../src/index.js'

const dirs: string[] = []
const open: Memory[] = []
let scratch: string
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'araliya-recall-'))
})
afterEach(async () => {
  for (const memory of open.splice(0)) await memory.stop()
})
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true })
})

async function newDir(): Promise<string> {
  const dir = join(scratch, `m${dirs.length}`)
  dirs.push(dir)
  return dir
}

async function start(init: MemoryInit): Promise<Memory> {
  const memory = createMemory(init)
  await memory.start()
  open.push(memory)
  return memory
}

async function stop(memory: Memory): Promise<void> {
  await memory.stop()
  open.splice(open.indexOf(memory), 1)
}

const snapshotOf = (dir: string): string => join(dir, 'index', 'recall.snapshot')

/** A memory in `dir` with a few notes and a fact, stopped (so its snapshot is written). */
async function seeded(identity: Identity, dir: string): Promise<void> {
  const memory = await start({ identity, dir })
  await memory.remember('the harbour ferry leaves at seven fifteen')
  await memory.remember('the lighthouse keeper is called Ines')
  await memory.relate('ines', 'keeps', 'the lighthouse')
  await stop(memory)
}

async function expectRightAnswers(memory: Memory): Promise<void> {
  const ferry = await memory.recall('ferry', { mode: 'text' })
  expect(ferry.map((r) => memoryText(r.item))).toEqual(['the harbour ferry leaves at seven fifteen'])
  const keeper = await memory.recall('lighthouse keepers', { mode: 'vector', limit: 2 })
  expect(keeper.map((r) => memoryText(r.item)).sort()).toEqual([
    'ines keeps the lighthouse',
    'the lighthouse keeper is called Ines'
  ])
  expect(memory.related('Ines').map((r) => r.item.object)).toEqual(['the lighthouse'])
  expect(memory.recallStats).toMatchObject({ documents: 3, vectors: 3, pending: 0 })
}

describe('the recall index snapshot', () => {
  it('is written on stop, encrypted, atomically, and opens without re-indexing', async () => {
    const identity = await generateIdentity()
    const dir = await newDir()
    await seeded(identity, dir)
    const bytes = await readFile(snapshotOf(dir))
    expect(Buffer.from(bytes).toString('latin1')).not.toMatch(/harbour|lighthouse|Ines|ferry/)
    expect((await readdir(join(dir, 'index'))).filter((f) => f.endsWith('.tmp'))).toEqual([])
    const memory = await start({ identity, dir })
    expect(memory.recallStats.opened).toEqual({ from: 'snapshot', refreshed: 0 })
    await expectRightAnswers(memory)
  })

  it('a stale snapshot (changes made while it was not kept) is caught up: new memories in, forgotten ones out', async () => {
    const identity = await generateIdentity()
    const dir = await newDir()
    await seeded(identity, dir)
    const offline = await start({ identity, dir, recall: { snapshot: false } })
    const extra = await offline.remember('the harbour ferry is cancelled on Sundays')
    const [ines] = await offline.recall('Ines', { mode: 'text', kinds: ['note'] })
    await offline.forget(ines?.item.id as string)
    await stop(offline)

    const memory = await start({ identity, dir })
    expect(memory.recallStats.opened).toEqual({ from: 'snapshot', refreshed: 2 })
    const ferry = await memory.recall('ferry', { mode: 'text' })
    expect(ferry.map((r) => r.item.id)).toContain(extra.id)
    expect(await memory.recall('keeper called', { mode: 'text', kinds: ['note'] })).toEqual([])
    expect(memory.recallStats).toMatchObject({ documents: 3 })
  })

  for (const [damage, how] of [
    ['truncated', (path: string) => truncate(path, 100)],
    ['emptied', (path: string) => writeFile(path, new Uint8Array(0))],
    [
      'with a flipped byte',
      async (path: string) => {
        const bytes = await readFile(path)
        const at = Math.floor(bytes.length / 2)
        bytes[at] = (bytes[at] as number) ^ 0x01
        await writeFile(path, bytes)
      }
    ],
    [
      'replaced by junk',
      (path: string) => writeFile(path, 'ARIX\u0001 not a snapshot at all, just text that is long enough')
    ]
  ] as const) {
    it(`a snapshot ${damage} is detected and rebuilt from the graph, never trusted`, async () => {
      const identity = await generateIdentity()
      const dir = await newDir()
      await seeded(identity, dir)
      await how(snapshotOf(dir))
      const memory = await start({ identity, dir })
      expect(memory.recallStats.opened.from).toBe('graph')
      expect(memory.recallStats.opened.reason).toBeTypeOf('string')
      await expectRightAnswers(memory)
      // and a good snapshot is written again
      await stop(memory)
      const again = await start({ identity, dir })
      expect(again.recallStats.opened).toEqual({ from: 'snapshot', refreshed: 0 })
    })
  }

  it("another memory's snapshot is detected (it does not open with this memory's key) and rebuilt", async () => {
    const identity = await generateIdentity()
    const dir = await newDir()
    await seeded(identity, dir)
    const otherDir = await newDir()
    const other = await start({ identity: await generateIdentity(), dir: otherDir })
    await other.remember('the harbour ferry leaves at noon')
    await other.remember('secret of the other memory')
    await stop(other)
    await writeFile(snapshotOf(dir), await readFile(snapshotOf(otherDir)))
    const memory = await start({ identity, dir })
    expect(memory.recallStats.opened.from).toBe('graph')
    await expectRightAnswers(memory)
    expect(await memory.recall('secret other', { mode: 'text' })).toEqual([])
  })

  it('a snapshot made with another embedder keeps the text index and re-embeds the vectors', async () => {
    const identity = await generateIdentity()
    const dir = await newDir()
    await seeded(identity, dir)
    const memory = await start({ identity, dir, recall: { embedder: hashingEmbedder({ dimensions: 64 }) } })
    expect(memory.recallStats.opened.from).toBe('snapshot')
    await expectRightAnswers(memory)
    await stop(memory)
    const back = await start({ identity, dir })
    await expectRightAnswers(back)
  })

  it('a device without the content key writes no snapshot (it indexes nothing)', async () => {
    const owner = await start({ identity: await generateIdentity() })
    await owner.remember('nothing to see here')
    const dir = await newDir()
    const stranger = await start({ identity: await generateIdentity(), owner: owner.owner, dir })
    expect(stranger.recallStats.documents).toBe(0)
    await stop(stranger)
    await expect(readFile(snapshotOf(dir))).rejects.toThrow(/ENOENT/)
  })
})
