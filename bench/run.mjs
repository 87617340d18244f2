#!/usr/bin/env node
// `pnpm bench [name ...] [--full]`: runs each scenario in bench/scenarios/<name>.ts in its own process
// (so one scenario's heap and JIT state never colour another's) and exits non-zero if one crashes.
// A scenario that misses its target still exits 0: the JSON line says pass:false, CI does not gate on speed.
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const args = process.argv.slice(2)
const flags = args.filter((a) => a.startsWith('--'))
const all = readdirSync(join(here, 'scenarios'))
  .filter((f) => f.endsWith('.ts'))
  .map((f) => f.slice(0, -3))
  .sort()
const names = args.filter((a) => !a.startsWith('--'))
const selected = names.length > 0 ? names : all
let failed = false
for (const name of selected) {
  if (!all.includes(name)) {
    console.error(`unknown benchmark "${name}"; choose one of: ${all.join(', ')}`)
    process.exit(2)
  }
  const result = spawnSync(
    process.execPath,
    [
      '--conditions=@araliya/source',
      '--expose-gc',
      '--import',
      'tsx',
      join(here, 'scenarios', `${name}.ts`),
      ...flags
    ],
    { stdio: 'inherit', cwd: here }
  )
  if (result.status !== 0) {
    console.error(`benchmark ${name} exited with ${result.status ?? result.signal}`)
    failed = true
  }
}
process.exit(failed ? 1 : 0)
