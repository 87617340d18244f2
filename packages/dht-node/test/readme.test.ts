import { readFile, rm, writeFile } from 'node:fs/promises'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'

const README = new URL('../README.md', import.meta.url)
const SOURCE = fileURLToPath(new URL('../src/index.ts', import.meta.url))

/** Every ```ts block of the README, in order. */
async function examples(): Promise<string[]> {
  const text = await readFile(README, 'utf8')
  return [...text.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((match) => match[1] as string)
}

const blocks = await examples()
const written: string[] = []

describe('the README examples run as written', () => {
  afterAll(async () => {
    await Promise.all(written.map((file) => rm(file, { force: true })))
  })

  it('has the examples this test expects', () => {
    expect(blocks.length).toBe(3)
  })

  for (const [index, block] of blocks.entries()) {
    const title = block.split('\n').find((line) => line.startsWith('//')) ?? `example ${index + 1}`
    it(`example ${index + 1}: ${title}`, { timeout: 90_000 }, async () => {
      // Only the package's own name is pointed at its source; everything else resolves as an app's would.
      const code = block.replaceAll("from '@araliya/dht-node'", `from ${JSON.stringify(SOURCE)}`)
      const file = fileURLToPath(new URL(`./.readme-example-${index + 1}.ts`, import.meta.url))
      written.push(file)
      await writeFile(file, code)
      await import(pathToFileURL(file).href)
    })
  }
})
