import { generateIdentity, identityFromSeed } from '@araliya/identity'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  createMemory,
  hashingEmbedder,
  type Memory,
  type MemoryItem,
  memoryText,
  RecallLimitError,
  type RecallResult
} from '../src/index.js'
import { syncPair } from './helpers.js'

const open: Memory[] = []
async function start(memory: Memory): Promise<Memory> {
  await memory.start()
  open.push(memory)
  return memory
}
afterEach(async () => {
  for (const memory of open.splice(0)) await memory.stop()
})

const texts = (results: readonly RecallResult[]): string[] => results.map((r) => memoryText(r.item))

/** The fixed corpus: 20 notes, 6 facts, a document of 3 chunks, a session header and 4 turns (35 memories). */
const NOTES = [
  'The user prefers green tea in the morning',
  'The user is allergic to peanuts',
  'Flight to Lisbon departs on March 3rd from Berlin',
  "The user's daughter Maya plays the violin",
  'Project Orion deadline is the end of the quarter',
  'The user runs 5 km every Saturday',
  'Favourite restaurant is a sushi place in Kreuzberg',
  'The user drives an electric car, a Renault Zoe',
  'Meeting with Dr. Silva about the knee injury on Tuesday',
  'The user is learning Portuguese with a tutor',
  'The cat is called Pixel and eats wet food',
  'Password manager is Bitwarden',
  'The user works as a data engineer',
  "Birthday of the user's mother is on 12 June",
  'The user dislikes horror movies but loves documentaries',
  'Home wifi network is called Morningstar',
  'The quarterly report for Orion needs revenue charts',
  'The user has been vegetarian since 2019',
  'The book club reads The Left Hand of Darkness this month',
  'Dentist appointment moved to Friday afternoon'
]

let corpus: Memory
const ids = new Map<string, string>()

async function fillCorpus(memory: Memory): Promise<void> {
  for (const text of NOTES) ids.set(text, (await memory.remember(text, { tags: ['corpus'] })).id)
  await memory.relate('user', 'lives in', 'Berlin', { single: true, validFrom: Date.UTC(2020, 0, 1) })
  await memory.relate('user', 'speaks', 'Portuguese')
  await memory.relate('maya', 'plays', 'violin')
  await memory.relate('user', 'works at', { ref: 'acme' })
  await memory.relate('acme', 'located in', 'Hamburg')
  await memory.relate('hamburg', 'is in', 'Germany')
  await memory.addDocument({
    title: 'Violin practice plan',
    text: [
      'Violin practice: scales for ten minutes, two octaves, slowly and then faster with the metronome.',
      'Then etudes and one piece from the recital programme, the hardest passage first, hands separately.',
      'End with slow bowing exercises on open strings to keep the sound even and the right arm relaxed.'
    ].join('\n\n'),
    chunkChars: 100
  })
  const chat = memory.session('chat-1')
  await chat.append({ role: 'user', content: 'I am thinking about a trip to Lisbon in spring' })
  await chat.append({ role: 'assistant', content: 'Lisbon is lovely in spring; book the flight early' })
  await chat.append({ role: 'user', content: 'Remind me to water the plants tomorrow' })
  await chat.append({ role: 'assistant', content: 'I will remind you about the plants' })
}

beforeAll(async () => {
  corpus = createMemory({ identity: await generateIdentity() })
  await corpus.start()
  await fillCorpus(corpus)
  return () => corpus.stop()
})

describe('recall relevance on a fixed corpus', () => {
  it('indexes every readable memory of the corpus', () => {
    // the session header has no title: no text, so no vector
    expect(corpus.recallStats).toMatchObject({
      documents: 35,
      vectors: 34,
      pending: 0,
      embedder: 'hashing-v1'
    })
  })

  it('full text: the expected memories rank first', async () => {
    expect(texts(await corpus.recall('peanuts', { mode: 'text', limit: 3 }))[0]).toBe(
      'The user is allergic to peanuts\ncorpus'
    )
    const orion = texts(await corpus.recall('Orion deadline', { mode: 'text', limit: 3 }))
    expect(orion.slice(0, 2)).toEqual([
      'Project Orion deadline is the end of the quarter\ncorpus',
      'The quarterly report for Orion needs revenue charts\ncorpus'
    ])
    // typo (fuzzy) and prefix (the last term) both match
    expect(texts(await corpus.recall('vegetarain', { mode: 'text', limit: 1 }))).toEqual([
      'The user has been vegetarian since 2019\ncorpus'
    ])
    expect(texts(await corpus.recall('dentis', { mode: 'text', limit: 1 }))).toEqual([
      'Dentist appointment moved to Friday afternoon\ncorpus'
    ])
    const results = await corpus.recall('Lisbon', { mode: 'text' })
    expect(results.every((r) => r.ranks.text !== undefined && r.ranks.vector === undefined)).toBe(true)
    expect(texts(results).sort()).toEqual(
      [
        'Flight to Lisbon departs on March 3rd from Berlin\ncorpus',
        'I am thinking about a trip to Lisbon in spring',
        'Lisbon is lovely in spring; book the flight early'
      ].sort()
    )
  })

  it('vector (hashing embedder): word pieces find plurals and inflections', async () => {
    const violins = texts(await corpus.recall('violins', { mode: 'vector', limit: 4 }))
    expect(violins).toContain("The user's daughter Maya plays the violin\ncorpus")
    expect(violins).toContain('maya plays violin')
    const cars = await corpus.recall('electric cars', { mode: 'vector', limit: 1 })
    expect(texts(cars)).toEqual(['The user drives an electric car, a Renault Zoe\ncorpus'])
    expect(cars[0]?.ranks).toEqual({ vector: 1 })
    expect(cars[0]?.score).toBeGreaterThan(0)
    expect(cars[0]?.score).toBeLessThanOrEqual(1)
  })

  it('hybrid: reciprocal rank fusion of both lists (k = 60)', async () => {
    const results = await corpus.recall('where does the user live', { limit: 5 })
    expect(memoryText(results[0]?.item as MemoryItem)).toBe('user lives in Berlin')
    for (const r of results) {
      const expected =
        (r.ranks.text === undefined ? 0 : 1 / (60 + r.ranks.text)) +
        (r.ranks.vector === undefined ? 0 : 1 / (60 + r.ranks.vector))
      expect(r.score).toBeCloseTo(expected, 12)
    }
    const scores = results.map((r) => r.score)
    expect([...scores].sort((a, b) => b - a)).toEqual(scores)
    const plants = texts(await corpus.recall('water the plants', { limit: 2 }))
    expect(plants[0]).toBe('Remind me to water the plants tomorrow')
  })

  it('filters: kinds, session, scope and tags', async () => {
    const facts = await corpus.recall('violin', { kinds: ['fact'] })
    expect(texts(facts)).toEqual(['maya plays violin'])
    const chunks = await corpus.recall('violin practice scales', { kinds: ['chunk'], limit: 1 })
    expect(texts(chunks)[0]).toMatch(/^Violin practice: scales/)
    const inSession = await corpus.recall('Lisbon spring', { session: 'chat-1' })
    expect(inSession.every((r) => r.item.kind === 'turn' && r.item.session === 'chat-1')).toBe(true)
    expect(texts(inSession.filter((r) => r.ranks.text !== undefined)).sort()).toEqual([
      'I am thinking about a trip to Lisbon in spring',
      'Lisbon is lovely in spring; book the flight early'
    ])
    expect(await corpus.recall('Lisbon', { scope: 'team' })).toEqual([])
    const tagged = await corpus.recall('Lisbon', { filters: { tags: ['corpus'] } })
    expect(texts(tagged)[0]).toBe('Flight to Lisbon departs on March 3rd from Berlin\ncorpus')
    expect(tagged.every((r) => r.item.kind === 'note')).toBe(true)
    expect(await corpus.recall('Lisbon', { filters: { tags: ['corpus', 'other'] } })).toEqual([])
    const where = await corpus.recall('user', {
      mode: 'text',
      limit: 100,
      filters: { where: (item) => item.kind === 'fact' }
    })
    expect(where.length).toBeGreaterThan(0)
    expect(where.every((r) => r.item.kind === 'fact')).toBe(true)
  })

  it('by key: an id, a keyed note, a profile block name', async () => {
    const id = ids.get('The cat is called Pixel and eats wet food') as string
    expect((await corpus.recall(id, { mode: 'key' })).map((r) => r.item.id)).toEqual([id])
    const keyed = await corpus.remember('timezone is Europe/Berlin', { key: 'tz' })
    expect(await corpus.recall('tz', { mode: 'key' })).toEqual([{ item: keyed, score: 1, ranks: {} }])
    const block = await corpus.profile.set('persona', 'a concise assistant')
    expect((await corpus.recall('Persona', { mode: 'key' })).map((r) => r.item)).toEqual([block])
    expect(await corpus.recall('no such key', { mode: 'key' })).toEqual([])
    await corpus.forget(keyed.id)
    await corpus.forget(block.id)
  })

  it('by relation: a walk over facts, depth-bounded and filtered by relation', () => {
    const one = corpus.related('user').map((r) => memoryText(r.item))
    expect(one.sort()).toEqual(['user lives in Berlin', 'user speaks Portuguese', 'user works at acme'])
    const three = corpus.related('user', { depth: 3 }).map((r) => [memoryText(r.item), r.depth])
    expect(three).toContainEqual(['acme located in Hamburg', 2])
    expect(three).toContainEqual(['hamburg is in Germany', 3])
    expect(corpus.related('user', { depth: 2 }).some((r) => r.item.object === 'Germany')).toBe(false)
    const onlyWork = corpus.related('user', { depth: 3, relations: ['works at', 'Located In'] })
    expect(onlyWork.map((r) => memoryText(r.item))).toEqual(['user works at acme', 'acme located in Hamburg'])
    expect(corpus.related('Maya').map((r) => r.item.object)).toEqual(['violin'])
    expect(corpus.related('nobody')).toEqual([])
  })

  it('bounds work: a huge query, limit or depth is refused with a typed error', async () => {
    await expect(corpus.recall('x'.repeat(5000))).rejects.toThrow(RecallLimitError)
    await expect(corpus.recall('tea', { limit: 0 })).rejects.toThrow(RecallLimitError)
    await expect(corpus.recall('tea', { limit: 1001 })).rejects.toThrow(RecallLimitError)
    await expect(corpus.recall('tea', { limit: 2.5 })).rejects.toThrow(RecallLimitError)
    await expect(corpus.recall('tea', { mode: 'fuzzy' as never })).rejects.toThrow(RecallLimitError)
    expect(() => corpus.related('user', { depth: 5 })).toThrow(RecallLimitError)
    expect(() => corpus.related('user', { depth: 0 })).toThrow(RecallLimitError)
    expect(() => corpus.related('x'.repeat(2000))).toThrow(RecallLimitError)
    expect(corpus.related('user', { depth: 4, limit: 2 })).toHaveLength(2)
    expect(await corpus.recall('   ')).toEqual([])
    const err = await corpus.recall('x'.repeat(5000)).catch((e: unknown) => e)
    expect((err as RecallLimitError).code).toBe('ERR_MEMORY_RECALL_LIMIT')
  })
})

describe('time', () => {
  it('validAt: a superseded fact is recalled only for the time it held', async () => {
    const memory = await start(createMemory({ identity: await generateIdentity() }))
    await memory.relate('user', 'lives in', 'Porto', { single: true, validFrom: Date.UTC(2018, 0, 1) })
    await memory.relate('user', 'lives in', 'Berlin', { single: true, validFrom: Date.UTC(2022, 0, 1) })
    const now = await memory.recall('user lives in', { kinds: ['fact'] })
    expect(now.map((r) => r.item.kind === 'fact' && r.item.object)).toEqual(['Berlin'])
    const then = await memory.recall('user lives in', { kinds: ['fact'], validAt: Date.UTC(2020, 5, 1) })
    expect(then.map((r) => r.item.kind === 'fact' && r.item.object)).toEqual(['Porto'])
    const any = await memory.recall('user lives in', { kinds: ['fact'], validAt: null })
    expect(any.map((r) => r.item.kind === 'fact' && r.item.object).sort()).toEqual(['Berlin', 'Porto'])
    expect(memory.related('user', { validAt: Date.UTC(2019, 0, 1) }).map((r) => r.item.object)).toEqual([
      'Porto'
    ])
  })

  it('knownAt: recall over what the memory held at an earlier instant', async () => {
    let clock = Date.UTC(2024, 0, 1)
    const memory = await start(createMemory({ identity: await generateIdentity(), now: () => clock }))
    const note = await memory.remember('the meeting is in room Azure')
    const before = note.writtenAt
    clock += 60_000
    await new Promise((resolve) => setTimeout(resolve, 5))
    await memory.correct(note.id, { text: 'the meeting is in room Crimson' })
    const gone = await memory.remember('a note written later about Azure skies')
    expect(texts(await memory.recall('Azure', { mode: 'text' }))).toEqual([
      'a note written later about Azure skies'
    ])
    const past = await memory.recall('Azure', { mode: 'text', knownAt: before })
    expect(texts(past)).toEqual(['the meeting is in room Azure'])
    expect(texts(await memory.recall('room', { knownAt: before, mode: 'vector' }))).toEqual([
      'the meeting is in room Azure'
    ])
    expect(await memory.recall('Crimson', { mode: 'text', knownAt: before })).toEqual([])
    expect((await memory.recall(note.id, { mode: 'key', knownAt: before }))[0]?.item.version).toBe(
      note.version
    )
    expect(gone.writtenAt).toBeGreaterThanOrEqual(before)
  })
})

describe('keeping the indexes up to date', () => {
  it('a forgotten memory vanishes from every index and mode; a correction is found by its new text', async () => {
    const memory = await start(createMemory({ identity: await generateIdentity() }))
    const note = await memory.remember('the spare key hides under the blue flowerpot', { key: 'spare-key' })
    const fact = await memory.relate('spare key', 'hidden under', 'flowerpot')
    for (const mode of ['text', 'vector', 'hybrid'] as const) {
      expect((await memory.recall('flowerpot', { mode })).map((r) => r.item.id).sort()).toEqual(
        [note.id, fact.id].sort()
      )
    }
    await memory.correct(note.id, { text: 'the spare key is with the neighbour' })
    expect((await memory.recall('neighbour', { mode: 'text' })).map((r) => r.item.id)).toEqual([note.id])
    expect((await memory.recall('flowerpot', { mode: 'text' })).map((r) => r.item.id)).toEqual([fact.id])
    await memory.forget(note.id)
    await memory.forget(fact.id)
    for (const mode of ['text', 'vector', 'hybrid'] as const) {
      expect(await memory.recall('spare key neighbour flowerpot', { mode })).toEqual([])
    }
    expect(await memory.recall('spare-key', { mode: 'key' })).toEqual([])
    expect(memory.related('spare key')).toEqual([])
    expect(memory.recallStats).toMatchObject({ documents: 0, vectors: 0, pending: 0 })
  })

  it("another device's changes arrive by sync and become recallable; its forgets vanish", async () => {
    const seed = globalThis.crypto.getRandomValues(new Uint8Array(32))
    const laptop = await start(createMemory({ identity: await identityFromSeed(seed), device: 'laptop' }))
    const phone = await start(createMemory({ identity: await identityFromSeed(seed), device: 'phone' }))
    const note = await phone.remember('parking spot is level 3, row K')
    await phone.relate('car', 'parked at', 'level 3')
    expect(await laptop.recall('parking')).toEqual([])
    await syncPair(laptop.graph, phone.graph)
    expect((await laptop.recall('parking', { mode: 'text' })).map((r) => r.item.id)).toEqual([note.id])
    expect((await laptop.recall('parked car', { mode: 'vector', limit: 1 }))[0]?.item.kind).toBe('fact')
    expect(laptop.related('car').map((r) => r.item.object)).toEqual(['level 3'])
    await phone.forget(note.id)
    await syncPair(laptop.graph, phone.graph)
    expect(await laptop.recall('parking row', { mode: 'text' })).toEqual([])
  })

  it('a device without the content key indexes nothing; once it receives the key it indexes what it reads', async () => {
    const owner = await start(createMemory({ identity: await generateIdentity() }))
    const deviceKey = await generateIdentity()
    const phone = await start(createMemory({ identity: deviceKey, owner: owner.owner }))
    const stranger = await start(createMemory({ identity: await generateIdentity(), owner: owner.owner }))
    await owner.remember('the alarm code is 2468')
    await syncPair(owner.graph, phone.graph)
    await syncPair(owner.graph, stranger.graph)
    for (const device of [phone, stranger]) {
      expect(device.recallStats.documents).toBe(0)
      expect(await device.recall('alarm code')).toEqual([])
    }
    await owner.addDevice(deviceKey.address, { expiresAt: Date.now() + 86_400_000 })
    await syncPair(owner.graph, phone.graph)
    await new Promise((resolve) => queueMicrotask(() => resolve(undefined)))
    expect(texts(await phone.recall('alarm code', { mode: 'text' }))).toEqual(['the alarm code is 2468'])
    expect(stranger.recallStats.documents).toBe(0)
  })

  it('recall reads through the bounded hot cache: recalling many memories never grows it past cacheSize', async () => {
    const memory = await start(createMemory({ identity: await generateIdentity(), cacheSize: 5 }))
    for (let i = 0; i < 30; i++) await memory.remember(`reading list entry ${i}: a book about boats`)
    const results = await memory.recall('book boats', { limit: 30 })
    expect(results).toHaveLength(30)
    expect(memory.cached).toBeLessThanOrEqual(5)
    expect(memory.recallStats).toMatchObject({ documents: 30, vectors: 30 })
  })

  it('vectors can be turned off: hybrid recall is then full text only', async () => {
    const memory = await start(
      createMemory({ identity: await generateIdentity(), recall: { embedder: null } })
    )
    await memory.remember('the boat is moored in Cascais')
    const results = await memory.recall('boat')
    expect(results.map((r) => r.ranks)).toEqual([{ text: 1 }])
    expect(await memory.recall('boat', { mode: 'vector' })).toEqual([])
    expect(memory.recallStats).toMatchObject({ vectors: 0, embedder: undefined })
  })

  it('changing the embedder re-indexes instead of mixing vectors of two models', async () => {
    const memory = await start(
      createMemory({
        identity: await generateIdentity(),
        recall: { embedder: hashingEmbedder({ dimensions: 64 }) }
      })
    )
    await memory.remember('oranges are in the fridge')
    const [hit] = await memory.recall('orange', { mode: 'vector' })
    expect(hit?.item.kind).toBe('note')
    expect(memory.recallStats).toMatchObject({ vectors: 1, pending: 0 })
  })
})
