import { generateIdentity } from '@araliya/identity'
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import { createMemory, estimateTokens, type Memory, RecallLimitError } from '../src/index.js'

const open: Memory[] = []
async function fresh(): Promise<Memory> {
  const memory = createMemory({ identity: await generateIdentity() })
  await memory.start()
  open.push(memory)
  return memory
}
afterEach(async () => {
  for (const memory of open.splice(0)) await memory.stop()
})

describe('estimateTokens', () => {
  it('is ceil(utf8 bytes / 3)', () => {
    expect(estimateTokens('')).toBe(0)
    expect(estimateTokens('abc')).toBe(1)
    expect(estimateTokens('abcd')).toBe(2)
    expect(estimateTokens('é')).toBe(1) // 2 bytes
    expect(estimateTokens('日本語')).toBe(3) // 9 bytes
    expect(estimateTokens('🙂')).toBe(2) // 4 bytes
  })
})

describe('context', () => {
  it('puts profile blocks first, then the recent turns, then recalled memories, within the budget', async () => {
    let clock = Date.UTC(2025, 0, 1)
    const memory = createMemory({ identity: await generateIdentity(), now: () => clock++ })
    await memory.start()
    open.push(memory)
    await memory.profile.set('persona', 'a concise travel assistant')
    await memory.profile.set('user', 'Ana, vegetarian, lives in Berlin')
    await memory.remember('Ana is afraid of flying and prefers trains')
    await memory.relate('ana', 'visited', 'Lisbon', { validFrom: Date.UTC(2023, 4, 1) })
    const chat = memory.session('chat-1')
    for (const [role, content] of [
      ['user', 'hello'],
      ['assistant', 'hi Ana, where to?'],
      ['user', 'plan a trip to Lisbon for me'],
      ['assistant', 'by train or by plane?']
    ] as const) {
      await chat.append({ role, content })
    }
    const ctx = await memory.context('trip to Lisbon by train', {
      maxTokens: 200,
      session: 'chat-1',
      recentTurns: 3
    })
    expect(ctx.text).toBe(
      [
        '# Profile',
        'persona: a concise travel assistant',
        'user: Ana, vegetarian, lives in Berlin',
        '',
        '# Conversation',
        'assistant: hi Ana, where to?',
        'user: plan a trip to Lisbon for me',
        'assistant: by train or by plane?',
        '',
        '# Recalled',
        '- [fact] ana visited Lisbon (valid from 2023-05-01T00:00:00.000Z)',
        '- [note] Ana is afraid of flying and prefers trains'
      ].join('\n')
    )
    expect(ctx.tokens).toBe(estimateTokens(ctx.text))
    expect(ctx.tokens).toBeLessThanOrEqual(200)
    expect(ctx.profile.map((p) => p.name)).toEqual(['persona', 'user'])
    expect(ctx.turns.map((t) => t.content)).toEqual([
      'hi Ana, where to?',
      'plan a trip to Lisbon for me',
      'by train or by plane?'
    ])
    // the turns in context are not recalled again
    expect(ctx.recalled.map((r) => r.item.kind)).toEqual(['fact', 'note'])
    expect(ctx).toMatchObject({ profileTruncated: false, truncated: [], dropped: [] })

    // a tighter budget keeps the profile, the newest turns that fit, and cuts or drops recalled memories
    const tight = await memory.context('trip to Lisbon by train', { maxTokens: 60, session: 'chat-1' })
    expect(tight.tokens).toBeLessThanOrEqual(60)
    expect(tight.tokens).toBe(estimateTokens(tight.text))
    expect(tight.profile).toHaveLength(2)
    expect(tight.turns.at(-1)?.content).toBe('by train or by plane?')
    expect(tight.turns.length).toBeLessThan(4)
    expect(tight.dropped.length).toBeGreaterThan(0)
  })

  it('profile blocks alone over the budget are cut deterministically, and the result says so', async () => {
    const memory = await fresh()
    await memory.profile.set('a-notes', 'x'.repeat(300))
    await memory.profile.set('b-more', 'y'.repeat(300))
    await memory.remember('something recallable about x')
    const one = await memory.context('x', { maxTokens: 50 })
    const two = await memory.context('x', { maxTokens: 50 })
    expect(one).toEqual(two)
    expect(one.profileTruncated).toBe(true)
    expect(one.text.startsWith('# Profile\na-notes: xxx')).toBe(true)
    expect(one.text.endsWith('…')).toBe(true)
    expect(one.tokens).toBeLessThanOrEqual(50)
    expect(one.tokens).toBe(estimateTokens(one.text))
    expect(one.truncated).toEqual([one.profile[0]?.id])
    expect(one.dropped).toHaveLength(1)
    expect(one.recalled).toEqual([])
    const tiny = await memory.context('x', { maxTokens: 1 })
    expect(tiny).toMatchObject({ text: '', tokens: 0, profileTruncated: true, profile: [] })
  })

  it('refuses a budget out of range, and clamps a huge query', async () => {
    const memory = await fresh()
    await memory.remember('hello world')
    await expect(memory.context('x', { maxTokens: 0 })).rejects.toThrow(RecallLimitError)
    await expect(memory.context('x', { maxTokens: 1.5 })).rejects.toThrow(RecallLimitError)
    await expect(memory.context('x', { maxTokens: 3_000_000 })).rejects.toThrow(RecallLimitError)
    await expect(memory.context('x', { maxTokens: 10, recentTurns: -1 })).rejects.toThrow(RecallLimitError)
    const huge = await memory.context(`hello ${'y'.repeat(10_000)}`, { maxTokens: 100 })
    expect(huge.recalled.map((r) => r.item.kind)).toEqual(['note'])
  })

  it('property: for random memories, queries and budgets, tokens <= maxTokens and tokens = estimate(text)', async () => {
    const text = fc
      .string({ unit: 'binary', minLength: 1, maxLength: 300 })
      .filter((s) => s.trim().length > 0)
    const word = fc.constantFrom('tea', 'train', 'Lisbon', 'ferry', 'violin', '日本', 'café', '🙂', 'data')
    const sentence = fc.array(fc.oneof(word, text), { minLength: 1, maxLength: 6 }).map((w) => w.join(' '))
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          notes: fc.array(sentence, { maxLength: 6 }),
          facts: fc.array(fc.tuple(word, word, sentence), { maxLength: 3 }),
          profile: fc.array(fc.tuple(fc.constantFrom('persona', 'user', 'style'), sentence), {
            maxLength: 3
          }),
          turns: fc.array(
            fc.tuple(fc.constantFrom('user', 'assistant') as fc.Arbitrary<'user' | 'assistant'>, sentence),
            {
              maxLength: 6
            }
          ),
          query: fc.oneof(sentence, fc.constant('')),
          maxTokens: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 41, max: 1500 })),
          recentTurns: fc.integer({ min: 0, max: 8 })
        }),
        async (c) => {
          const memory = createMemory({ identity: await generateIdentity() })
          await memory.start()
          try {
            for (const note of c.notes) await memory.remember(note)
            for (const [s, r, o] of c.facts) await memory.relate(s, r, o)
            for (const [name, value] of c.profile) await memory.profile.set(name, value)
            for (const [role, content] of c.turns) await memory.session('s').append({ role, content })
            const ctx = await memory.context(c.query, {
              maxTokens: c.maxTokens,
              session: 's',
              recentTurns: c.recentTurns
            })
            expect(ctx.tokens).toBeLessThanOrEqual(c.maxTokens)
            expect(ctx.tokens).toBe(estimateTokens(ctx.text))
            expect(ctx.turns.length).toBeLessThanOrEqual(c.recentTurns)
          } finally {
            await memory.stop()
          }
        }
      ),
      { numRuns: 60 }
    )
  }, 120_000)
})
