// The README's "Run one node" example runs as written: three terminals, from the repository root, each
// command taken from the README. Only the folders (under a fresh temporary one) and the fixed port (a
// free one) are swapped, so the test never collides with anything else on the machine.
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'

const PACKAGE_DIR = join(import.meta.dirname, '..')
const REPO_ROOT = join(PACKAGE_DIR, '..', '..')

/** The terminals of the README's "Run one node" block: each one's commands, comments dropped. */
async function terminals(): Promise<string[][]> {
  const readme = await readFile(join(PACKAGE_DIR, 'README.md'), 'utf8')
  const section = readme.slice(readme.indexOf('## Run one node'))
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1]
  if (block === undefined) throw new Error('no sh block under "## Run one node"')
  return block
    .split('\n\n')
    .map((chunk) => chunk.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('#')))
    .filter((lines) => lines.length > 0)
}

interface Terminal {
  child: ChildProcess
  output: () => string
  waitFor: (text: string) => Promise<void>
}

const open: Terminal[] = []
afterEach(async () => {
  for (const terminal of open.splice(0)) {
    const { child } = terminal
    if (child.exitCode !== null || child.signalCode !== null) continue
    const exited = new Promise((resolve) => child.once('exit', resolve))
    // bash, pnpm and node are one process group: stop them all, as Ctrl-C in a terminal does.
    process.kill(-(child.pid as number), 'SIGINT')
    await exited
  }
})

/** Runs `lines` in bash, in its own process group, from the repository root. */
function terminal(lines: string[]): Terminal {
  const child = spawn('bash', ['-c', lines.join('\n')], {
    cwd: REPO_ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DEBUG: undefined }
  })
  let output = ''
  const waiters = new Set<() => void>()
  const onData = (chunk: Buffer): void => {
    output += chunk.toString()
    for (const waiter of [...waiters]) waiter()
  }
  child.stdout?.on('data', onData)
  child.stderr?.on('data', onData)
  const waitFor = (text: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(check)
        reject(new Error(`timed out waiting for "${text}"; output so far:\n${output}`))
      }, 60_000)
      const check = (): void => {
        if (!output.includes(text)) return
        clearTimeout(timer)
        waiters.delete(check)
        resolve()
      }
      waiters.add(check)
      check()
    })
  const t: Terminal = { child, output: () => output, waitFor }
  open.push(t)
  return t
}

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

describe('README: run one node', () => {
  it('a bootstrap, a full and a light node started as the README says find each other', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'araliya-readme-'))
    try {
      const port = await freePort()
      const swap = (lines: string[]): string[] =>
        lines.map((line) => line.replaceAll('/tmp/araliya-', `${dir}/araliya-`).replaceAll('4001', `${port}`))
      const [bootstrap, full, light] = (await terminals()).map(swap)
      expect([bootstrap, full, light].every((t) => t !== undefined)).toBe(true)

      const a = terminal(bootstrap as string[])
      await a.waitFor(`other nodes can use: --bootstrap /ip4/127.0.0.1/tcp/${port}/p2p/`)
      const b = terminal(full as string[])
      await b.waitFor('peer connected')
      await b.waitFor('running as full')
      const c = terminal(light as string[])
      await c.waitFor('running as light')
      await c.waitFor('peer connected')
      expect(a.output()).toContain('running as bootstrap')
      for (const t of [a, b, c]) expect(t.output()).not.toMatch(/^error /m)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }, 120_000)
})
