import { fileURLToPath } from 'node:url'
import { readmeBlocks, readmeTypeErrors, runReadmeBlock } from '@araliya/test-support/readme'
import { afterEach, expect, it, vi } from 'vitest'

const readme = fileURLToPath(new URL('../README.md', import.meta.url))
const init = {
  packageName: '@araliya/interface',
  entry: fileURLToPath(new URL('../src/index.ts', import.meta.url)),
  scratchDir: fileURLToPath(new URL('./.readme/', import.meta.url))
}

/** Runs README block `index` and returns what it printed, one string per console.log call. */
async function run(index: number): Promise<string[]> {
  const blocks = await readmeBlocks(readme)
  const printed: string[] = []
  vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
    printed.push(args.map(String).join(' '))
  })
  await runReadmeBlock(blocks[index] as string, `interface-readme-${index}`, init)
  return printed
}

afterEach(() => {
  vi.restoreAllMocks()
})

it('the README has the examples this test runs, and each compiles', async () => {
  const blocks = await readmeBlocks(readme)
  expect(blocks).toHaveLength(5)
  const tsconfigPath = fileURLToPath(new URL('../tsconfig.json', import.meta.url))
  expect(await readmeTypeErrors(blocks, { ...init, tsconfigPath })).toEqual([])
})

it('the errors example runs as written', async () => {
  const printed = await run(0)
  expect(printed).toEqual([
    'ERR_TOO_LARGE 65536',
    'store is not started; call start() first (and do not use it after stop())',
    'ERR_STORE_NOT_STARTED'
  ])
})

it('the BusLike example runs as written', async () => {
  expect(await run(1)).toEqual(['tasks/created local'])
})

it('the HybridClock example runs as written', async () => {
  expect(await run(2)).toEqual(['true true'])
})

it('the backoffDelay example runs as written', async () => {
  expect(await run(3)).toEqual(['1000 4000 60000'])
})

it('the shape-check example runs as written', async () => {
  expect(await run(4)).toEqual(['undefined', 'name must be text of 1-64 bytes', 'unknown field "admin"'])
})
