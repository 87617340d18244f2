import { execFile, spawn } from 'node:child_process'
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const run = promisify(execFile)
let dir: string
let first: DemoRun | undefined
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'araliya-demo-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

interface DemoRun {
  stdout: string
  result: Record<string, unknown> & { ms: Record<string, number>; addresses: Record<string, string> }
}

/** Runs `araliya demo` as a child process, exactly as `pnpm demo` does, and parses its last line. */
async function demo(): Promise<DemoRun> {
  const { stdout } = await run(
    process.execPath,
    ['--conditions=@araliya/source', '--import', 'tsx', 'src/cli.ts', 'demo', '--data-dir', dir],
    { cwd: join(import.meta.dirname, '..'), timeout: 60_000 }
  )
  const last = stdout.trim().split('\n').at(-1) as string
  return { stdout, result: JSON.parse(last) as DemoRun['result'] }
}

describe('pnpm demo (smoke)', () => {
  it('runs a 4-node swarm on loopback and reports every step in one final JSON line', async () => {
    first = await demo()
    const { stdout, result } = first
    expect(result).toMatchObject({
      demo: 'ok',
      nodes: 4,
      identities: { created: 4, loaded: 0 },
      lookups: 2,
      delivered: 3,
      duplicates: 0,
      directAcked: 1,
      forged: 2,
      rejected: 6,
      convergedSouls: 4
    })
    expect(result.skillProviders).toBeGreaterThanOrEqual(2)
    expect(Object.keys(result.addresses).sort()).toEqual(['bootstrap', 'full-1', 'full-2', 'light'])
    for (const step of ['start', 'presence', 'skills', 'broadcast', 'direct', 'forgery', 'graphSync']) {
      expect(result.ms[step], step).toBeTypeOf('number')
    }
    expect(result.ms.total).toBeLessThan(60_000)
    // Progress a person can follow, and nothing listening beyond loopback.
    expect(stdout).toContain('[8/8] graph')
    expect(stdout).not.toMatch(/\/ip4\/(?!127\.0\.0\.1\/)/)
  }, 60_000)

  it('a second run loads the same identities, so the nodes keep their addresses', async () => {
    first ??= await demo()
    const { stdout, result } = await demo()
    expect(result).toMatchObject({ demo: 'ok', identities: { created: 0, loaded: 4 }, rejected: 6 })
    expect(result.addresses).toEqual(first.result.addresses)
    expect(stdout).toMatch(/full-1 +loaded/)
  }, 60_000)

  it('Ctrl-C in the middle stops every node and exits 130', async () => {
    const child = spawn(
      process.execPath,
      ['--conditions=@araliya/source', '--import', 'tsx', 'src/cli.ts', 'demo', '--data-dir', dir],
      { cwd: join(import.meta.dirname, '..'), stdio: ['ignore', 'pipe', 'pipe'] }
    )
    let stdout = ''
    let stderr = ''
    let interrupted = false
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
      // Interrupt once the nodes are up and the demo is looking agents up.
      if (!interrupted && stdout.includes('[3/8]')) {
        interrupted = true
        child.kill('SIGINT')
      }
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), 50_000)
    const code = await exited
    clearTimeout(timer)
    expect(code).toBe(130)
    expect(stdout).toContain('stopped 4/4 nodes')
    expect(stderr).toContain('interrupted; every node was stopped')
  }, 60_000)

  it('refuses a key file others can read: exit code 1, a message that says what to do, no stack', async () => {
    await chmod(join(dir, 'demo', 'full-1', 'identity', 'identity.key'), 0o644)
    const failure = (await demo().catch((err: unknown) => err)) as { code: number; stderr: string }
    expect(failure.code).toBe(1)
    expect(failure.stderr).toContain('chmod 600')
    expect(failure.stderr).not.toMatch(/^\s+at /m)
  }, 60_000)
})

describe('pnpm demo with a closed stdout', () => {
  it('stops every node and exits 0, quietly, when stdout closes (pnpm demo | head -1)', async () => {
    const child = spawn(
      process.execPath,
      [
        '--conditions=@araliya/source',
        '--import',
        'tsx',
        'src/cli.ts',
        'demo',
        '--data-dir',
        join(dir, 'pipe')
      ],
      { cwd: join(import.meta.dirname, '..'), stdio: ['ignore', 'pipe', 'pipe'] }
    )
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    const exited = new Promise<[number | null, string | null]>((resolve) =>
      child.on('exit', (code, signal) => resolve([code, signal]))
    )
    // Like `head -1`: read the first line, then close the pipe; the demo's next line hits a closed pipe.
    child.stdout.once('data', () => child.stdout.destroy())
    const timer = setTimeout(() => child.kill('SIGKILL'), 50_000)
    const [code, signal] = await exited
    clearTimeout(timer)
    expect(stderr).not.toMatch(/^\s+at /m)
    expect(stderr).not.toContain('EPIPE')
    expect([code, signal]).toEqual([0, null])
  }, 60_000)
})
