import { fileURLToPath } from 'node:url'
import { readmeBlocks, readmeTypeErrors, runReadmeBlock } from '@araliya/test-support/readme'
import { describe, expect, it, vi } from 'vitest'

const readme = fileURLToPath(new URL('../README.md', import.meta.url))
const init = {
  packageName: '@araliya/memory',
  entry: fileURLToPath(new URL('../src/index.ts', import.meta.url)),
  scratchDir: fileURLToPath(new URL('./.readme/', import.meta.url)),
  tsconfigPath: fileURLToPath(new URL('../tsconfig.json', import.meta.url))
}
const blocks = await readmeBlocks(readme)

/** Runs a block, returning what it printed (a printed value and a README comment compare without quotes and spaces). */
async function run(block: string, name: string): Promise<string[]> {
  const printed: string[] = []
  const log = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
    printed.push(args.map((arg) => (typeof arg === 'string' ? arg : JSON.stringify(arg))).join(' '))
  })
  try {
    await runReadmeBlock(block, name, init)
  } finally {
    log.mockRestore()
  }
  return printed.map((line) => line.replace(/[\s'"]/g, ''))
}

/** The block with this distinctive text (the README's blocks are found by content, not by position). */
function block(text: string): string {
  const found = blocks.find((code) => code.includes(text))
  if (found === undefined) throw new Error(`no README block contains ${text}`)
  return found
}

describe('README examples', () => {
  it('every example type-checks', async () => {
    expect(await readmeTypeErrors(blocks, init)).toEqual([])
  }, 120_000)

  it('the first example runs as written', async () => {
    expect(await run(block("memory.session('chat-1')"), 'example')).toEqual([
      '[Lisbon]',
      'aconcisetravelassistant'
    ])
  })

  it('export and import runs as written', async () => {
    expect(await run(block('laptop.export()'), 'export')).toEqual(['1[note]'])
  })

  it('replication and restore runs as written: two replicas synced, the memory restored with only the key', async () => {
    expect(await run(block('restoreMemory({'), 'replication')).toEqual([
      '2[true,true]',
      'replicasfound:2',
      '[allergictopenicillin,thesparekeyisunderthebluepot]'
    ])
  }, 120_000)

  it('the basic_session import runs as written', async () => {
    expect(await run(block('importBasicSession(store)'), 'basic-session')).toEqual([
      '214',
      '[user,assistant]',
      '0'
    ])
  })
})
