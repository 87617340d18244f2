/**
 * Test vectors that live in the protocol docs. A doc publishes them in fenced blocks whose info string is
 * `json vectors`, each holding one JSON object with a `kind` (what the vectors are for, e.g.
 * `"presence-record/v1"`) and a `vectors` array. Tests read the blocks back out of the markdown and check
 * that our validators reach exactly the published verdicts, so the docs and the code cannot drift apart;
 * generators rewrite a block in place from deterministic inputs.
 *
 * @example
 * ````md
 * ```json vectors
 * { "kind": "presence-record/v1", "vectors": [{ "name": "valid", "hex": "a7…", "verdict": "valid" }] }
 * ```
 * ````
 */
import { readFileSync, writeFileSync } from 'node:fs'

/** The info string that marks a vector block. */
export const VECTOR_INFO_STRING = 'json vectors'

/** One block of vectors as it appears in a doc. */
export interface VectorBlock<V = Record<string, unknown>> {
  /** What the vectors are for, e.g. `presence-record/v1`. */
  readonly kind: string
  /** Anything the vectors share (a fixed clock, a network name, …). */
  readonly context?: Record<string, unknown>
  readonly vectors: readonly V[]
}

const FENCE = /^```([^\n`]*)\n([\s\S]*?)^```[ \t]*$/gm

/** Every vector block of a markdown text, in order. Throws when a block is not valid JSON of that shape. */
export function parseVectorBlocks(markdown: string): VectorBlock[] {
  const blocks: VectorBlock[] = []
  for (const match of markdown.matchAll(FENCE)) {
    if ((match[1] ?? '').trim() !== VECTOR_INFO_STRING) continue
    const value = JSON.parse(match[2] ?? '') as VectorBlock
    if (typeof value?.kind !== 'string' || !Array.isArray(value.vectors)) {
      throw new Error(`a \`${VECTOR_INFO_STRING}\` block needs a "kind" string and a "vectors" array`)
    }
    blocks.push(value)
  }
  return blocks
}

/** The one vector block of `kind` in the markdown file at `path` (throws when there is none, or two). */
export function readVectors<V = Record<string, unknown>>(path: string | URL, kind: string): VectorBlock<V> {
  const found = parseVectorBlocks(readFileSync(path, 'utf8')).filter((block) => block.kind === kind)
  if (found.length !== 1)
    throw new Error(`expected one "${kind}" vector block in ${String(path)}, found ${found.length}`)
  return found[0] as VectorBlock<V>
}

/**
 * Replaces the vector block of `block.kind` in the markdown file at `path` (for generators). The block
 * must already exist, so a generator never invents where its vectors go.
 */
export function writeVectors(path: string | URL, block: VectorBlock<unknown>): void {
  const markdown = readFileSync(path, 'utf8')
  let replaced = 0
  const next = markdown.replace(FENCE, (whole, info: string, body: string) => {
    if (info.trim() !== VECTOR_INFO_STRING) return whole
    const value = JSON.parse(body) as VectorBlock
    if (value.kind !== block.kind) return whole
    replaced++
    return `\`\`\`${VECTOR_INFO_STRING}\n${formatBlock(block)}\n\`\`\``
  })
  if (replaced !== 1)
    throw new Error(`expected one "${block.kind}" vector block in ${String(path)}, found ${replaced}`)
  writeFileSync(path, next)
}

/**
 * JSON with one vector per line, so diffs of a doc show which vector changed. Non-ASCII characters are
 * written as `\uXXXX` escapes, so a look-alike letter is visible as what it is.
 */
function formatBlock(block: VectorBlock<unknown>): string {
  const json = (value: unknown): string =>
    JSON.stringify(value).replace(
      /[^\x20-\x7e]/g,
      (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`
    )
  const head: string[] = [`  "kind": ${json(block.kind)}`]
  if (block.context !== undefined) head.push(`  "context": ${json(block.context)}`)
  const vectors = block.vectors.map((v) => `    ${json(v)}`).join(',\n')
  return `{\n${head.join(',\n')},\n  "vectors": [\n${vectors}\n  ]\n}`
}

/** Lowercase hex of bytes. */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}

/** Bytes of a hex string (even length, 0-9 a-f A-F). */
export function fromHex(hex: string): Uint8Array {
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(hex)) throw new Error(`not hex: ${hex.slice(0, 40)}`)
  const out = new Uint8Array(hex.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16)
  return out
}

/** The fields of `fields` that are not `undefined` (to build a record with one field left out). */
export function present<T>(fields: Record<string, T | undefined>): { [key: string]: T } {
  const out: { [key: string]: T } = {}
  for (const [key, value] of Object.entries(fields)) if (value !== undefined) out[key] = value
  return out
}

/** Replaces the first occurrence of `from` by `to` in `bytes` (to make a vector that breaks one rule). */
export function patch(bytes: Uint8Array, from: readonly number[], to: readonly number[]): Uint8Array {
  for (let i = 0; i + from.length <= bytes.length; i++) {
    if (from.every((b, j) => bytes[i + j] === b)) {
      return Uint8Array.from([...bytes.subarray(0, i), ...to, ...bytes.subarray(i + from.length)])
    }
  }
  throw new Error('pattern not found')
}
