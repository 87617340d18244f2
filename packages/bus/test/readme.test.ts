import { fileURLToPath } from 'node:url'
import { readmeBlocks, readmeTypeErrors, runReadmeBlock } from '@araliya/test-support/readme'
import { afterEach, expect, it, vi } from 'vitest'

const readme = fileURLToPath(new URL('../README.md', import.meta.url))
const init = {
  packageName: '@araliya/bus',
  entry: fileURLToPath(new URL('../src/index.ts', import.meta.url)),
  scratchDir: fileURLToPath(new URL('./.readme/', import.meta.url))
}

/** Runs README block `index` and returns what it printed, one string per console.log/console.error call. */
async function run(index: number): Promise<string[]> {
  const blocks = await readmeBlocks(readme)
  const printed: string[] = []
  const capture = (...args: unknown[]): void => {
    printed.push(args.map(String).join(' '))
  }
  vi.spyOn(console, 'log').mockImplementation(capture)
  vi.spyOn(console, 'error').mockImplementation(capture)
  await runReadmeBlock(blocks[index] as string, `bus-readme-${index}`, init)
  return printed
}

afterEach(() => {
  vi.restoreAllMocks()
})

it('the README has the examples this test runs, and each compiles', async () => {
  const blocks = await readmeBlocks(readme)
  expect(blocks).toHaveLength(2)
  const tsconfigPath = fileURLToPath(new URL('../tsconfig.json', import.meta.url))
  expect(await readmeTypeErrors(blocks, { ...init, tsconfigPath })).toEqual([])
})

it('the example runs as written', async () => {
  expect(await run(0)).toMatchInlineSnapshot(`
    [
      "1 agents/message local",
      "ada hello",
      "echo: hi",
      "2 subsystem:started local",
      "3 subsystem:started local",
      "4 subsystem:stopped local",
      "5 subsystem:stopped local",
    ]
  `)
})

it('the bridge example runs as written and never echoes', async () => {
  expect(await run(1)).toEqual(['made here', '2'])
})
