import { fileURLToPath } from 'node:url'
import { readmeBlocks, readmeTypeErrors, runReadmeBlock } from '@araliya/test-support/readme'
import { afterEach, expect, it, vi } from 'vitest'

// The README's recall, embedder and context examples, each found by its distinctive text.
const readme = fileURLToPath(new URL('../README.md', import.meta.url))
const init = {
  packageName: '@araliya/memory',
  entry: fileURLToPath(new URL('../src/index.ts', import.meta.url)),
  scratchDir: fileURLToPath(new URL('./.readme/', import.meta.url))
}

async function run(marker: string): Promise<string[]> {
  const blocks = await readmeBlocks(readme)
  const index = blocks.findIndex((block) => block.includes(marker))
  expect(index).toBeGreaterThanOrEqual(0)
  const printed: string[] = []
  const capture = (...args: unknown[]): void => {
    printed.push(args.map((arg) => (typeof arg === 'string' ? arg : JSON.stringify(arg))).join(' '))
  }
  vi.spyOn(console, 'log').mockImplementation(capture)
  vi.spyOn(console, 'error').mockImplementation(capture)
  await runReadmeBlock(blocks[index] as string, `memory-readme-recall-${index}`, init)
  return printed
}

afterEach(() => {
  vi.restoreAllMocks()
})

// Every block type-checks in readme.test.ts.
it('the recall example runs as written', async () => {
  expect(await run("memory.recall('peanut allergy')")).toEqual([
    'Ana is allergic to peanuts {"text":1,"vector":1}',
    'Ana prefers trains to planes',
    '["1 ana works at acme","2 acme located in Hamburg"]'
  ])
})

it('the embedders example runs as written', async () => {
  expect(await run('openAIEmbedder({')).toEqual([
    'openai:nomic-embed-text 768 openai:nomic-embed-text',
    'letters-v1'
  ])
})

it('the context example runs as written', async () => {
  expect(await run('memory.context(')).toEqual([
    'true true',
    [
      '# Profile',
      'persona: a concise travel assistant',
      '',
      '# Conversation',
      'user: Plan a weekend in Lisbon by train',
      '',
      '# Recalled',
      '- [note] Ana prefers trains to planes'
    ].join('\n')
  ])
})
