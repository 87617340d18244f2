#!/usr/bin/env node
// `pnpm bench [name ...] [--full]`: runs each scenario in bench/scenarios/<name>.ts in its own process
// (so one scenario's heap and JIT state never colour another's), saves its final JSON line to
// bench/results/<name>.json, and regenerates docs/benchmarks.md. Exits non-zero if a scenario crashes or
// prints no JSON line; a scenario that misses its target still exits 0 (its JSON says pass:false).
import { spawn } from 'node:child_process'
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { renderBenchmarks } from './render.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const args = process.argv.slice(2)
const flags = args.filter((a) => a.startsWith('--'))
const all = readdirSync(join(here, 'scenarios'))
  .filter((f) => f.endsWith('.ts'))
  .map((f) => f.slice(0, -3))
  .sort()
const names = args.filter((a) => !a.startsWith('--'))
const selected = names.length > 0 ? names : all
for (const name of selected) {
  if (!all.includes(name)) {
    console.error(`unknown benchmark "${name}"; choose one of: ${all.join(', ')}`)
    process.exit(2)
  }
}

function runScenario(name) {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [
        '--conditions=@araliya/source',
        '--expose-gc',
        '--import',
        'tsx',
        join(here, 'scenarios', `${name}.ts`),
        ...flags
      ],
      { stdio: ['ignore', 'pipe', 'inherit'], cwd: here }
    )
    let out = ''
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk)
      out += chunk
    })
    child.on('close', (code, signal) => resolve({ code, signal, out }))
  })
}

let failed = false
mkdirSync(join(here, 'results'), { recursive: true })
for (const name of selected) {
  const { code, signal, out } = await runScenario(name)
  const last = out.trim().split('\n').at(-1) ?? ''
  let json
  try {
    json = JSON.parse(last)
  } catch {
    json = undefined
  }
  if (code !== 0 || json === undefined || json.bench !== name) {
    console.error(`benchmark ${name} failed (exit ${code ?? signal}); its last line must be its JSON result`)
    failed = true
    continue
  }
  writeFileSync(
    join(here, 'results', `${name}.json`),
    `${JSON.stringify({ ...json, ranAt: new Date().toISOString() })}\n`
  )
}
renderBenchmarks()
process.exit(failed ? 1 : 0)
