import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'

// Every TypeScript example in the README runs exactly as written: each block is written to a module
// next to this test (so its imports resolve as an app's would) and imported, in a scratch directory.
// A block that registers tests (the store acceptance example) is a test file of its own instead, and
// must match the README byte for byte.

const here = fileURLToPath(new URL('.', import.meta.url))
const readme = await readFile(join(here, '..', 'README.md'), 'utf8')
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1] as string)

let scratch: string
let modules: string
const cwd = process.cwd()

/** Printed JSON and a README comment compare equal when they differ only in quotes and spaces. */
function normal(text: string): string {
  return text.replace(/[\s'"]/g, '')
}

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'araliya-readme-'))
  modules = join(here, `.readme-${process.pid}`)
  await mkdir(modules, { recursive: true })
  process.chdir(scratch)
})

afterAll(async () => {
  process.chdir(cwd)
  await rm(modules, { recursive: true, force: true })
  await rm(scratch, { recursive: true, force: true })
})

describe('README examples', () => {
  it('has the examples this test expects', () => {
    expect(blocks.length).toBe(4)
  })

  it('the store acceptance example is test/readme-store.test.ts, as written', async () => {
    const example = blocks.find((block) => block.includes('storeAcceptance('))
    const file = await readFile(join(here, 'readme-store.test.ts'), 'utf8')
    expect(file.slice(file.indexOf('\n') + 1)).toBe(example)
  })

  for (const [index, block] of blocks.entries()) {
    if (block.includes('storeAcceptance(')) continue
    it(`example ${index + 1} (${block.split('\n').find((line) => line.startsWith('const')) ?? ''}) runs`, async () => {
      const printed: string[] = []
      const log = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
        printed.push(args.map((arg) => (typeof arg === 'string' ? arg : JSON.stringify(arg))).join(' '))
      })
      try {
        const file = join(modules, `example-${index + 1}.ts`)
        await writeFile(file, block)
        await import(pathToFileURL(file).href)
      } finally {
        log.mockRestore()
      }
      // What each example says it prints, it prints.
      for (const line of block.split('\n')) {
        const said = /console\.log\((.*)\) \/\/ (.*)$/.exec(line)
        if (said === null) continue
        const expected = said[2] as string
        if (expected.includes('…')) continue
        expect(printed.map(normal)).toContain(normal(expected))
      }
    })
  }
})
