// The `araliya` bin is compiled JavaScript that plain `node` runs: no tsx, no TypeScript, nothing that
// exists only in this workspace. And `pnpm araliya <command>` works from the repository root.
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { isBuiltin } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { build } from 'tsup'
import { describe, expect, it } from 'vitest'
import config from '../tsup.config.ts'
import pkg from '../package.json' with { type: 'json' }

const run = promisify(execFile)
const PACKAGE_DIR = join(import.meta.dirname, '..')
const REPO_ROOT = join(PACKAGE_DIR, '..', '..')

describe('the araliya bin', { timeout: 60_000 }, () => {
  it('is one ES module for plain node: a shebang, and imports of node builtins and its dependencies only', async () => {
    const out = await mkdtemp(join(tmpdir(), 'araliya-bin-'))
    try {
      await build({ ...config, outDir: out, silent: true, sourcemap: false })
      expect(pkg.bin.araliya).toBe('./dist/cli.js')
      const code = await readFile(join(out, 'cli.js'), 'utf8')
      expect(code.split('\n')[0]).toBe('#!/usr/bin/env node')
      const specifiers = [
        ...code.matchAll(/\bfrom\s*["']([^"']+)["']/g),
        ...code.matchAll(/\bimport\s*\(\s*["']([^"']+)["']\s*\)/g),
        ...code.matchAll(/^import\s*["']([^"']+)["']/gm)
      ].map((m) => m[1] as string)
      expect(specifiers.length).toBeGreaterThan(0)
      const dependencies = Object.keys(pkg.dependencies)
      for (const specifier of specifiers) {
        const isDependency = dependencies.some((d) => specifier === d || specifier.startsWith(`${d}/`))
        expect(isBuiltin(specifier) || isDependency, specifier).toBe(true)
        expect(specifier, specifier).not.toMatch(/\.tsx?$|^tsx|^\.|^\//)
      }
      // Not a TypeScript file in disguise, and not tied to the source condition.
      expect(code).not.toContain('@araliya/source')
    } finally {
      await rm(out, { recursive: true, force: true })
    }
  })

  it('runs from the repository root as pnpm araliya <command>', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'araliya-root-'))
    try {
      const help = await run('pnpm', ['--silent', 'araliya', 'start', '--help'], { cwd: REPO_ROOT })
      expect(help.stdout).toMatch(/^usage: araliya start/)
      const identity = await run('pnpm', ['--silent', 'araliya', 'identity', '--data-dir', dir], {
        cwd: REPO_ROOT
      })
      expect(identity.stdout).toMatch(/^12D3KooW\w+ \S+\n$/)
      const wrong = await run('pnpm', ['--silent', 'araliya', 'start', '--role', 'admin'], {
        cwd: REPO_ROOT
      }).catch((err: { code: number; stderr: string }) => err)
      expect(wrong).toMatchObject({ code: 2 })
      expect((wrong as { stderr: string }).stderr).toContain('--role must be bootstrap, full or light')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
