/**
 * Reads the fenced code blocks of a Markdown document, so a test can check that what the docs show is
 * exactly the code it runs.
 */
import { readFileSync } from 'node:fs'

/** One fenced block: its info string (`ts title="x.ts"`) and its text. */
export interface CodeBlock {
  readonly info: string
  readonly code: string
}

/** Every fenced code block (```) of the Markdown file at `path`, in order. */
export function codeBlocks(path: string): CodeBlock[] {
  const blocks: CodeBlock[] = []
  const pattern = /^```([^\n`]*)\n([\s\S]*?)^```[ \t]*$/gm
  const text = readFileSync(path, 'utf8')
  for (let match = pattern.exec(text); match !== null; match = pattern.exec(text)) {
    blocks.push({ info: (match[1] ?? '').trim(), code: match[2] ?? '' })
  }
  return blocks
}

/** The one block whose info string names `title` (```ts title="compose.ts"```); throws if there is not exactly one. */
export function codeBlock(path: string, title: string): string {
  const found = codeBlocks(path).filter((block) => block.info.includes(`title="${title}"`))
  if (found.length !== 1) throw new Error(`${path} has ${found.length} blocks titled ${title}, expected 1`)
  return (found[0] as CodeBlock).code
}
