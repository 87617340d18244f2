import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { readmeBlocks, readmeTypeErrors, runReadmeBlock } from '@araliya/test-support/readme'
import { afterEach, beforeEach, expect, it, vi } from 'vitest'

const readme = fileURLToPath(new URL('../README.md', import.meta.url))
const init = {
  packageName: '@araliya/identity',
  entry: fileURLToPath(new URL('../src/index.ts', import.meta.url)),
  scratchDir: fileURLToPath(new URL('./.readme/', import.meta.url))
}

let home: string
const startDir = process.cwd()

beforeEach(async () => {
  // The examples write their keystores under the working directory, as an app would.
  home = await mkdtemp(join(tmpdir(), 'araliya-identity-readme-'))
  process.chdir(home)
})

afterEach(async () => {
  vi.restoreAllMocks()
  process.chdir(startDir)
  await rm(home, { recursive: true, force: true })
})

/** Runs README block `index` and returns what it printed, one string per console.log call. */
async function run(index: number): Promise<string[]> {
  const blocks = await readmeBlocks(readme)
  const printed: string[] = []
  vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
    printed.push(args.map(String).join(' '))
  })
  await runReadmeBlock(blocks[index] as string, `identity-readme-${index}`, init)
  return printed
}

it('the README has the examples this test runs, and each compiles', async () => {
  const blocks = await readmeBlocks(readme)
  expect(blocks).toHaveLength(4)
  const tsconfigPath = fileURLToPath(new URL('../tsconfig.json', import.meta.url))
  expect(await readmeTypeErrors(blocks, { ...init, tsconfigPath })).toEqual([])
})

it('the example runs as written, and loads the same identity on the next run', async () => {
  const first = await run(0)
  expect(first).toHaveLength(5)
  const [address, shortId, ...rest] = first
  expect(address).toMatch(/^12D3KooW[1-9A-HJ-NP-Za-km-z]{44}$/)
  expect(shortId).toMatch(/^bot-pkey[0-9a-f]{8}$/)
  expect(rest).toEqual(['true', 'false', 'true'])
  vi.restoreAllMocks()
  const second = await run(0)
  expect(second.slice(0, 2)).toEqual([address, shortId])
})

it('the error-handling example runs as written', async () => {
  expect(await run(1)).toEqual([
    'ERR_INVALID_ADDRESS not-base58btc',
    'no identity yet: create one with loadOrCreateIdentity'
  ])
})

it('the verifySync / verifyBatch example runs as written', async () => {
  expect(await run(2)).toEqual(['true', 'false', 'true,false'])
})

it('the sealed-box example runs as written', async () => {
  expect(await run(3)).toEqual(['32'])
})
