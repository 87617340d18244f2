// The command line, command by command: `--help` everywhere, and every wrong command line (an unknown
// flag, a bad role, a bad multiaddr, a missing value) is one clear line and exit code 2. Also: a node
// whose bootstrap is unreachable says so, one line per retry with the next delay.
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { exitOf, killAll, nonEmptyLines, STACK_FRAME, startCli } from './cli-process.ts'

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'araliya-cli-'))
})
afterEach(async () => {
  await killAll()
  await rm(dir, { recursive: true, force: true })
})

/** Runs `araliya <args>` to completion: its exit code, stdout and non-empty stderr lines. */
async function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string[] }> {
  const cli = startCli(args)
  const { code } = await exitOf(cli)
  return { code, stdout: cli.stdout(), stderr: nonEmptyLines(cli.stderr()) }
}

describe('araliya --help', { timeout: 90_000 }, () => {
  it.each([
    [[], 'usage: araliya <command>'],
    [['--help'], 'usage: araliya <command>'],
    [['-h'], 'usage: araliya <command>'],
    [['help'], 'usage: araliya <command>'],
    [['help', 'start'], 'usage: araliya start'],
    [['demo', '--help'], 'usage: araliya demo'],
    [['start', '--help'], 'usage: araliya start'],
    [['start', '-h'], 'usage: araliya start'],
    [['identity', '--help'], 'usage: araliya identity']
  ])('araliya %j prints its usage and exits 0', async (args, usage) => {
    const { code, stdout, stderr } = await run(args)
    expect(code).toBe(0)
    expect(stderr).toEqual([])
    expect(stdout.startsWith(usage), stdout).toBe(true)
    expect(stdout).toContain('exit codes')
  })

  it('the help of start lists every option of start', async () => {
    const { stdout } = await run(['start', '--help'])
    for (const option of [
      '--role',
      '--bootstrap',
      '--listen',
      '--network',
      '--skill',
      '--heartbeat-ms',
      '--json',
      '--data-dir'
    ]) {
      expect(stdout).toContain(option)
    }
  })
})

describe('a wrong command line is one line and exit code 2', { timeout: 90_000 }, () => {
  it.each([
    ['an unknown command', ['launch'], 'unknown command launch'],
    ['an unknown flag on demo', ['demo', '--fast'], 'unknown option --fast'],
    ['an unknown flag on identity', ['identity', '--json'], 'unknown option --json'],
    ['an unknown flag on start', ['start', '--port', '4001'], 'unknown option --port'],
    ['a bad role', ['start', '--role', 'admin'], '--role must be bootstrap, full or light; got admin'],
    ['an empty role', ['start', '--role='], '--role must be bootstrap, full or light'],
    ['a missing value at the end', ['start', '--bootstrap'], '--bootstrap needs a value'],
    ['a missing --data-dir value', ['identity', '--data-dir'], '--data-dir needs a value'],
    ['a flag that takes no value given one', ['start', '--json=yes'], '--json takes no value'],
    ['a bootstrap that is not a multiaddr', ['start', '--bootstrap', 'localhost:4001'], 'not a multiaddr'],
    ['a listen address that names a peer', ['start', '--listen', '/ip4/127.0.0.1/tcp/0/p2p/x'], '--listen'],
    ['a bad skill name', ['start', '--skill', ''], '--skill'],
    ['a stray argument on demo', ['demo', 'now'], 'unexpected argument now']
  ])('%s', async (_, args, expected) => {
    const { code, stdout, stderr } = await run([...args, '--data-dir', join(dir, 'data')])
    expect(code, stderr.join('\n')).toBe(2)
    expect(stderr, stderr.join('\n')).toHaveLength(1)
    expect(stderr[0]).toMatch(/^error ERR_USAGE: /)
    expect(stderr[0]).toContain(expected)
    expect(stderr.join('\n')).not.toMatch(STACK_FRAME)
    expect(stdout).toBe('')
  })
})

describe('an unreachable bootstrap node', () => {
  it('is reported on every retry, with the delay until the next one', async () => {
    // A real node address (this node's own key) on a port where nothing listens.
    const identity = await run(['identity', '--data-dir', join(dir, 'peer')])
    const address = identity.stdout.split(' ')[0] as string
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as { port: number }
    await new Promise<void>((resolve) => server.close(() => resolve()))
    const bootstrap = `/ip4/127.0.0.1/tcp/${port}/p2p/${address}`

    const cli = startCli(['start', '--data-dir', join(dir, 'node'), '--bootstrap', bootstrap, '--json'])
    const retries = []
    for (const attempt of [1, 2, 3]) {
      const line = await cli.line(
        (l) => l.includes('"event":"bootstrap:retry"') && l.includes(`"attempt":${attempt},`),
        `bootstrap retry ${attempt}`
      )
      retries.push(JSON.parse(line) as { multiaddr: string; attempt: number; delayMs: number; error: string })
    }
    for (const retry of retries) {
      expect(retry.multiaddr).toBe(bootstrap)
      expect(retry.delayMs).toBeGreaterThan(0)
      expect(retry.error.length).toBeGreaterThan(0)
    }
    cli.kill('SIGTERM')
    expect((await exitOf(cli)).code).toBe(0)

    // The same, for a person: one line per attempt, saying when the next one is.
    const human = startCli(['start', '--data-dir', join(dir, 'node'), '--bootstrap', bootstrap])
    for (const attempt of [1, 2]) {
      const line = await human.line((l) => l.includes(`(attempt ${attempt})`), `human retry ${attempt}`)
      expect(line).toMatch(
        new RegExp(`^bootstrap .+/p2p/${address} not reached \\(attempt ${attempt}\\): .+; retrying in \\d`)
      )
    }
    human.kill('SIGTERM')
    expect((await exitOf(human)).code).toBe(0)
  }, 120_000)
})
