import { generateIdentity } from '@araliya/identity'
import { afterEach, describe, expect, it } from 'vitest'
import {
  createMemory,
  InvalidMemoryError,
  type Memory,
  MemoryNotFoundError,
  ProfileBlockError
} from '../src/index.js'

const open: Memory[] = []
async function fresh(now?: () => number): Promise<Memory> {
  const memory = createMemory({
    identity: await generateIdentity(),
    device: 'laptop',
    ...(now ? { now } : {})
  })
  await memory.start()
  open.push(memory)
  return memory
}
afterEach(async () => {
  for (const memory of open.splice(0)) await memory.stop()
})

describe('notes', () => {
  it('remembers, corrects (superseding, never deleting) and forgets (history keeps what was)', async () => {
    const memory = await fresh()
    const note = await memory.remember('the user prefers tea', { tags: ['drinks'] })
    expect(memory.get(note.id)).toMatchObject({
      kind: 'note',
      text: 'the user prefers tea',
      tags: ['drinks'],
      device: 'laptop'
    })
    const fixed = await memory.correct(note.id, { text: 'the user prefers green tea' })
    expect(fixed.supersedes).toEqual([note.version])
    expect(memory.get(note.id)).toMatchObject({ text: 'the user prefers green tea' })
    await memory.forget(note.id)
    expect(memory.get(note.id)).toBeUndefined()
    const why = memory.why(note.id)
    expect(why.current?.forgotten).toBe(true)
    expect(why.history.map((v) => v.item?.kind === 'note' && v.item.text)).toEqual([
      false,
      'the user prefers green tea',
      'the user prefers tea'
    ])
    expect(why.history.every((v) => v.writer === memory.owner && v.device === 'laptop')).toBe(true)
    await expect(memory.forget(note.id)).rejects.toThrow(MemoryNotFoundError)
    await expect(memory.correct(note.id, { text: 'x' })).rejects.toThrow(MemoryNotFoundError)
  })

  it('a keyed note is one memory: remembering again supersedes it', async () => {
    const memory = await fresh()
    const a = await memory.remember('timezone is UTC', { key: 'tz' })
    const b = await memory.remember('timezone is Europe/Lisbon', { key: 'tz' })
    expect(b.id).toBe(a.id)
    expect(b.supersedes).toEqual([a.version])
    expect(memory.list({ kind: 'note' })).toHaveLength(1)
    expect(memory.conflicts()).toEqual([])
  })

  it('refuses empty text, unknown correction fields and bad scopes with typed errors', async () => {
    const memory = await fresh()
    await expect(memory.remember('  ')).rejects.toThrow(InvalidMemoryError)
    await expect(memory.remember('x', { scope: 'Not A Scope' })).rejects.toThrow(InvalidMemoryError)
    const note = await memory.remember('x')
    await expect(memory.correct(note.id, { writer: 'someone else' })).rejects.toThrow(
      /can be corrected in text, tags/
    )
    await expect(memory.remember('x'.repeat(50_000))).rejects.toThrow(/addDocument/)
  })
})

describe('sessions', () => {
  it('keeps turns in order with their metadata, and a header', async () => {
    let clock = 1_000_000
    const memory = await fresh(() => clock++)
    const chat = memory.session('chat-1')
    await chat.append({ role: 'user', content: 'hi', tokens: { input: 2 } })
    await chat.append({
      role: 'assistant',
      content: 'hello',
      toolCalls: [{ id: 'c1', name: 'clock', arguments: '{}' }]
    })
    await chat.append({ role: 'user', content: 'earlier, imported', time: 10 })
    expect(chat.turns().map((t) => t.content)).toEqual(['earlier, imported', 'hi', 'hello'])
    expect(chat.turns({ limit: 1 }).map((t) => t.content)).toEqual(['hello'])
    expect(chat.turns()[2]?.toolCalls).toEqual([{ id: 'c1', name: 'clock', arguments: '{}' }])
    expect(chat.info()).toMatchObject({ kind: 'session', session: 'chat-1' })
    await chat.setTitle('greetings')
    expect(memory.sessions().map((s) => s.kind === 'session' && s.title)).toEqual(['greetings'])
    expect(memory.session('other').turns()).toEqual([])
  })
})

describe('profile blocks', () => {
  it('are size-limited and schema-checked', async () => {
    const memory = await fresh()
    await memory.profile.set('persona', 'a helpful gardener', { limit: 50 })
    expect(memory.profile.get('persona')).toBe('a helpful gardener')
    await expect(memory.profile.set('persona', 'x'.repeat(51))).rejects.toThrow(ProfileBlockError)
    const schema = {
      '~standard': {
        validate: (value: unknown) =>
          typeof value === 'object' && value !== null && 'name' in value
            ? {}
            : { issues: [{ message: 'needs a name' }] }
      }
    }
    await expect(memory.profile.set('user', '{"age":3}', { schema })).rejects.toThrow(/needs a name/)
    await memory.profile.set('user', '{"name":"Ada"}', { schema })
    expect(memory.profile.list().map((b) => b.name)).toEqual(['persona', 'user'])
  })
})

describe('facts', () => {
  it('a single-valued fact changing closes the old one in valid time; asOf-style queries answer both times', async () => {
    let clock = Date.UTC(2026, 0, 1)
    const memory = await fresh(() => clock)
    await memory.relate('Ada', 'lives in', 'Paris', { single: true, validFrom: Date.UTC(2020, 0, 1) })
    const before = Date.now()
    await new Promise((r) => setTimeout(r, 5))
    clock = Date.UTC(2026, 5, 1)
    await memory.relate('ada', 'Lives In', 'Berlin', { single: true, validFrom: Date.UTC(2023, 0, 1) })
    expect(
      memory
        .facts({ subject: 'ADA', relation: 'lives in', validAt: Date.UTC(2021, 0, 1) })
        .map((f) => f.object)
    ).toEqual(['Paris'])
    expect(
      memory
        .facts({ subject: 'ada', relation: 'lives in', validAt: Date.UTC(2024, 0, 1) })
        .map((f) => f.object)
    ).toEqual(['Berlin'])
    // transaction time: before the second write, this memory believed Paris (and had no closed copy)
    expect(memory.facts({ subject: 'ada', knownAt: before }).map((f) => f.object)).toEqual(['Paris'])
    expect(
      memory
        .facts({ subject: 'ada' })
        .map((f) => f.object)
        .sort()
    ).toEqual(['Berlin', 'Paris'])
  })

  it('multi-valued facts are one memory per object; asserting one again does not duplicate it', async () => {
    const memory = await fresh()
    await memory.relate('ada', 'likes', 'jazz')
    await memory.relate('ada', 'likes', 'chess')
    await memory.relate('Ada', 'likes', 'Jazz')
    expect(memory.facts({ subject: 'ada', relation: 'likes' })).toHaveLength(2)
  })
})

describe('documents', () => {
  it('are stored as chunks that end at boundaries', async () => {
    const memory = await fresh()
    const paragraph = 'Lorem ipsum dolor sit amet. '.repeat(30)
    const doc = await memory.addDocument({
      title: 'notes',
      text: `${paragraph}\n\n${paragraph}`,
      chunkChars: 500
    })
    expect(doc.kind === 'document' && doc.chunks).toBeGreaterThan(2)
    const chunks = memory.list({ kind: 'chunk' })
    expect(chunks).toHaveLength(doc.kind === 'document' ? doc.chunks : -1)
    for (const chunk of chunks) expect(chunk.kind === 'chunk' && chunk.text.length).toBeLessThanOrEqual(500)
  })
})
