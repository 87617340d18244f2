/**
 * Runs the code examples of a package's README as written, so the docs cannot drift from the code: every
 * fenced `ts` block is a module of its own (imports of the package itself resolve to its `src/`), run with
 * top-level await inside the test, and every block is type-checked with the package's own tsconfig (so an
 * example that only runs because types are stripped, such as a cast that does not compile, fails). A
 * block that only shows a shape, not a runnable program, is fenced `ts skip`; the test lists how many
 * blocks it expects, so a new example is never silently left out.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import ts from 'typescript'
import { codeBlocks } from './markdown.ts'

/** Blocks written so far: each gets a fresh file name. */
let written = 0

/** The `ts` blocks of a markdown file, in order (blocks fenced `ts skip` left out). */
export async function readmeBlocks(markdownPath: string): Promise<string[]> {
  const blocks: string[] = []
  for (const block of codeBlocks(markdownPath)) {
    const info = block.info.split(/\s+/)
    if ((info[0] === 'ts' || info[0] === 'typescript') && !info.includes('skip')) blocks.push(block.code)
  }
  return blocks
}

/** Where a README block runs: the package it documents and the entry its own name maps to. */
export interface ReadmeRunInit {
  /** The package name as the README imports it, e.g. `@araliya/bus`. */
  readonly packageName: string
  /** Absolute path of that package's source entry, e.g. `…/packages/bus/src/index.ts`. */
  readonly entry: string
  /** A directory inside the package where the block is written for the test runner to load. */
  readonly scratchDir: string
}

/**
 * Runs one README block as a module. Resolves when the block's top-level code (including its awaits) has
 * finished, rejects with whatever it threw.
 */
export async function runReadmeBlock(code: string, name: string, init: ReadmeRunInit): Promise<void> {
  const file = await writeBlock(code, name, init)
  try {
    await import(/* @vite-ignore */ pathToFileURL(file).href)
  } finally {
    await rm(file, { force: true })
  }
}

/**
 * Type-checks README blocks with the compiler options of `tsconfigPath` (the package's tsconfig) and
 * returns the errors, one formatted line each (an empty array when every block compiles).
 */
export async function readmeTypeErrors(
  blocks: readonly string[],
  init: ReadmeRunInit & { readonly tsconfigPath: string }
): Promise<string[]> {
  const files = await Promise.all(blocks.map((code, index) => writeBlock(code, `typecheck-${index}`, init)))
  try {
    const config = ts.readConfigFile(init.tsconfigPath, ts.sys.readFile)
    const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, dirname(init.tsconfigPath))
    const options = { ...parsed.options, noEmit: true }
    // Resolve type libraries from the package, whatever the test's working directory is.
    const host = ts.createCompilerHost(options)
    host.getCurrentDirectory = () => dirname(init.tsconfigPath)
    const program = ts.createProgram(files, options, host)
    return ts
      .getPreEmitDiagnostics(program)
      .filter((diagnostic) => diagnostic.file === undefined || files.includes(diagnostic.file.fileName))
      .map((diagnostic) => {
        const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')
        if (diagnostic.file === undefined || diagnostic.start === undefined) return message
        const { line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start)
        const block = files.indexOf(diagnostic.file.fileName)
        return `block ${block}, line ${line + 1}: ${message}`
      })
  } finally {
    await Promise.all(files.map((file) => rm(file, { force: true })))
  }
}

/** Writes a block as a module in the scratch directory, with the package's own name mapped to its source. */
async function writeBlock(code: string, name: string, init: ReadmeRunInit): Promise<string> {
  const escaped = init.packageName.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
  const source = code.replace(new RegExp(`(['"])${escaped}\\1`, 'g'), JSON.stringify(init.entry))
  // A fresh file name each time: a module loader runs a module once per URL.
  const file = join(init.scratchDir, `${name}-${process.pid}-${++written}.ts`)
  await mkdir(dirname(file), { recursive: true })
  await writeFile(file, `${source}\nexport {}\n`)
  return file
}
