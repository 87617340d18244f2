import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateIdentity, identityFromSeed } from '@araliya/identity'
import { afterEach, describe, expect, it } from 'vitest'
import {
  BasicSessionFormatError,
  createMemory,
  type Memory,
  type NoteMemory,
  parseKv,
  parseTranscript
} from '../src/index.js'
import { syncPair } from './helpers.js'

const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'basic_session')
const newer = join(fixtures, 'chat-2026-03-01')
const older = join(fixtures, 'older-store')

const open: Memory[] = []
const dirs: string[] = []
afterEach(async () => {
  for (const memory of open.splice(0)) await memory.stop()
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true })
})
async function start(memory: Memory): Promise<Memory> {
  await memory.start()
  open.push(memory)
  return memory
}
async function scratch(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'araliya-basic-session-'))
  dirs.push(dir)
  return dir
}

describe('parsing', () => {
  it('splits a transcript at "### role — timestamp" headers; a header without the dash is all role', () => {
    const { entries, preamble } = parseTranscript(
      '# title\n\n### user — 2026-03-01T10:00:00Z\n\nhi\n\n### assistant\n\nline 1\n\nline 2\n\n\n### tool — x\n'
    )
    expect(preamble).toBe('# title')
    expect(entries).toEqual([
      { role: 'user', timestamp: '2026-03-01T10:00:00Z', content: 'hi' },
      { role: 'assistant', timestamp: '', content: 'line 1\n\nline 2' },
      { role: 'tool', timestamp: 'x', content: '' }
    ])
    expect(parseTranscript('### a - b\r\n\r\nwindows\r\n').entries).toEqual([
      { role: 'a - b', timestamp: '', content: 'windows' }
    ])
  })

  it('reads both kv.json shapes and refuses others with a typed error', () => {
    expect(parseKv('{"cap":2,"order":["b","a"],"values":{"a":"1","b":"2","c":3}}')).toEqual([
      { key: 'b', value: '2' },
      { key: 'a', value: '1' },
      { key: 'c', value: '3' }
    ])
    expect(parseKv('{"entries":[{"key":"a","value":"1"},{"name":"b","text":"2"}],"cap":4}')).toEqual([
      { key: 'a', value: '1' },
      { key: 'b', value: '2' }
    ])
    for (const bad of ['[1,2]', '{"items":[]}', '{"entries":[{"foo":1}]}', 'not json', '{"entries":[3]}']) {
      let error: unknown
      try {
        parseKv(bad)
      } catch (err) {
        error = err
      }
      expect(BasicSessionFormatError.isInstance(error), bad).toBe(true)
      expect((error as BasicSessionFormatError).code).toBe('ERR_MEMORY_BASIC_SESSION')
      expect((error as BasicSessionFormatError).file).toBe('kv.json')
    }
  })
})

describe('importing a basic_session store', () => {
  it('the sample store: turns of one session (named after the directory), pairs as keyed notes', async () => {
    const memory = await start(createMemory({ identity: await generateIdentity() }))
    const report = await memory.importBasicSession(newer)
    expect(report).toEqual({
      session: 'chat-2026-03-01',
      turns: 6,
      pairs: 5,
      written: 11, // 6 turns, the session header, 4 notes (the empty value is skipped)
      unchanged: 0,
      skipped: 2 // the empty value, the preamble
    })
    const turns = memory.session('chat-2026-03-01').turns()
    expect(turns.map((t) => t.role)).toEqual(['system', 'user', 'assistant', 'tool', 'user', 'assistant'])
    expect(turns[0]?.content).toBe('You are a helpful travel assistant.')
    expect(turns[2]?.content).toContain("- through the railway's site.")
    expect(turns[2]?.content.split('\n')).toHaveLength(6)
    expect(turns[1]?.time).toBe(Date.parse('2026-03-01T10:00:00Z'))
    // equal and missing timestamps keep the transcript's order
    expect(turns[4]?.time).toBe(Date.parse('2026-03-01T10:00:06Z') + 1)
    expect(turns[5]?.time).toBe(Date.parse('2026-03-01T10:00:06Z') + 2)
    expect(turns[5]?.meta).toEqual({ importedFrom: 'basic_session' })
    expect(turns[1]?.meta).toEqual({ importedFrom: 'basic_session', timestamp: '2026-03-01T10:00:00Z' })
    expect(memory.sessions().map((s) => s.session)).toEqual(['chat-2026-03-01'])

    const notes = memory.list({ kind: 'note' }) as NoteMemory[]
    expect(Object.fromEntries(notes.map((n) => [n.key, n.text]))).toEqual({
      user_name: 'Nimal',
      home_city: 'Kandy',
      preferred_units: 'metric',
      last_topic: '{"topic":"train tickets","turn":4}'
    })
    // the same id as the app's own keyed note: remember() with that key updates it
    const updated = await memory.remember('Galle', { key: 'home_city' })
    expect(notes.find((n) => n.key === 'home_city')?.id).toBe(updated.id)
  })

  it('is idempotent: a second import writes nothing; a store that grew adds only what is new', async () => {
    const memory = await start(createMemory({ identity: await generateIdentity() }))
    const dir = join(await scratch(), 'chat')
    await cp(newer, dir, { recursive: true })
    await memory.importBasicSession(dir)
    const before = memory.list().map((m) => `${m.id}:${m.version}`)
    const again = await memory.importBasicSession(dir)
    expect(again.written).toBe(0)
    expect(again.unchanged).toBe(10)
    expect(memory.list().map((m) => `${m.id}:${m.version}`)).toEqual(before)

    await writeFile(
      join(dir, 'transcript.md'),
      `${await import('node:fs/promises').then((fs) => fs.readFile(join(newer, 'transcript.md'), 'utf8'))}\n### user — 2026-03-01T10:01:00Z\n\nthanks!\n`
    )
    const grown = await memory.importBasicSession(dir)
    expect(grown.written).toBe(1)
    expect(memory.session('chat').turns().at(-1)?.content).toBe('thanks!')
  })

  it('two devices sharing a key import the same store: same ids, nothing duplicated after sync', async () => {
    const seed = globalThis.crypto.getRandomValues(new Uint8Array(32))
    const a = await start(createMemory({ identity: await identityFromSeed(seed) }))
    const b = await start(createMemory({ identity: await identityFromSeed(seed) }))
    await a.importBasicSession(newer)
    await b.importBasicSession(newer)
    await syncPair(a.graph, b.graph)
    expect(
      a
        .list()
        .map((m) => m.id)
        .sort()
    ).toEqual(
      b
        .list()
        .map((m) => m.id)
        .sort()
    )
    expect(a.session('chat-2026-03-01').turns()).toHaveLength(6)
  })

  it('the older kv shape, a session id option, mapped roles, and pairs as profile blocks', async () => {
    const memory = await start(createMemory({ identity: await generateIdentity() }))
    const refused = await memory.importBasicSession(older).catch((err: unknown) => err)
    expect(BasicSessionFormatError.isInstance(refused)).toBe(true)
    expect((refused as Error).message).toMatch(/role "Bot"/)
    expect(memory.list()).toEqual([]) // nothing written

    const report = await memory.importBasicSession(older, {
      session: 'imported',
      roles: { bot: 'assistant' },
      kv: 'profile'
    })
    expect(report).toMatchObject({ session: 'imported', turns: 2, pairs: 3, written: 6 })
    expect(
      memory
        .session('imported')
        .turns()
        .map((t) => `${t.role}: ${t.content}`)
    ).toEqual(['user: hello', 'assistant: hi there'])
    expect(memory.profile.get('pet')).toBe('a cat called Suddi')
    expect(memory.profile.get('score')).toBe('42')
    expect(memory.list({ kind: 'note' })).toEqual([])
  })

  it('bounded: a file over the size limit, too many entries, a missing store', async () => {
    const memory = await start(createMemory({ identity: await generateIdentity() }))
    const tooBig = await memory
      .importBasicSession(newer, { limits: { maxFileBytes: 100 } })
      .catch((err: unknown) => err)
    expect(BasicSessionFormatError.isInstance(tooBig)).toBe(true)
    const tooMany = await memory
      .importBasicSession(newer, { limits: { maxEntries: 3 } })
      .catch((err: unknown) => err)
    expect(BasicSessionFormatError.isInstance(tooMany)).toBe(true)
    const empty = await memory.importBasicSession(await scratch()).catch((err: unknown) => err)
    expect(BasicSessionFormatError.isInstance(empty)).toBe(true)
    expect((empty as Error).message).toMatch(/not a basic_session store/)
    const dir = await scratch()
    await writeFile(join(dir, 'kv.json'), '{"rows":[]}')
    const unknown = await memory.importBasicSession(dir).catch((err: unknown) => err)
    expect((unknown as Error).message).toMatch(/unknown shape/)
    expect(memory.list()).toEqual([])
  })
})
