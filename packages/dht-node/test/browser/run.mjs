#!/usr/bin/env node
// Runs the real-browser suite (headless Debian chromium driven by playwright-core). When chromium is
// missing it prints a notice and exits 0, unless ARALIYA_REQUIRE_BROWSER=1, in which case it fails.
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const chromium = process.env.ARALIYA_CHROMIUM ?? '/usr/bin/chromium'
const required = process.env.ARALIYA_REQUIRE_BROWSER === '1'

if (!existsSync(chromium)) {
  const notice =
    `[@araliya/dht-node] NOTICE: the real-browser suite did NOT run: ${chromium} is missing.\n` +
    '  Enable it with: apt-get update && apt-get install -y chromium (or set ARALIYA_CHROMIUM to a chromium binary),\n' +
    '  then run: pnpm --filter @araliya/dht-node test:browser'
  if (required) {
    console.error(notice)
    console.error('ARALIYA_REQUIRE_BROWSER=1 is set, so a missing browser is a failure.')
    process.exit(1)
  }
  console.warn(notice)
  process.exit(0)
}

const result = spawnSync(
  process.execPath,
  [
    join(dirname(createRequire(import.meta.url).resolve('vitest/package.json')), 'vitest.mjs'),
    'run',
    '--config',
    join(here, 'vitest.browser.config.ts')
  ],
  { stdio: 'inherit', cwd: join(here, '..', '..'), env: { ...process.env, ARALIYA_CHROMIUM: chromium } }
)
process.exit(result.status ?? 1)
