// docs/composing-a-node.md runs as written: its preset program in this process, and its "your own
// libp2p node" program — which is src/own-libp2p.ts, word for word — against a swarm of reference nodes
// started as `araliya start` processes.
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { codeBlock } from '@araliya/test-support/markdown'
import { readmeBlocks, runReadmeBlock } from '@araliya/test-support/readme'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { killAll, startCli } from './cli-process.ts'

const PACKAGE_DIR = join(import.meta.dirname, '..')
const DOC = join(PACKAGE_DIR, '..', '..', 'docs', 'composing-a-node.md')
const PROGRAM = 'examples/reference-node/src/own-libp2p.ts'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'araliya-composing-'))
})
afterEach(killAll)
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('docs/composing-a-node.md', () => {
  it('shows src/own-libp2p.ts exactly as it is in the repository', () => {
    expect(codeBlock(DOC, PROGRAM)).toBe(readFileSync(join(PACKAGE_DIR, 'src', 'own-libp2p.ts'), 'utf8'))
  })

  it('the preset example runs as written', async () => {
    const blocks = await readmeBlocks(DOC)
    // the preset program, then own-libp2p.ts (run below as its own process, with its environment)
    expect(blocks).toHaveLength(2)
    const printed: unknown[] = []
    const log = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void printed.push(args))
    try {
      await runReadmeBlock(blocks[0] as string, 'composing-preset', {
        packageName: '@araliya/example-reference-node',
        entry: join(PACKAGE_DIR, 'src', 'node.ts'),
        scratchDir: join(PACKAGE_DIR, 'test', '.scratch')
      })
    } finally {
      log.mockRestore()
    }
    expect(printed).toEqual([[{ title: 'hello' }]])
  })

  it('a plain createLibp2p node with Araliya services joins reference nodes, finds an agent and syncs its graph', async () => {
    const network = `composing-${process.pid}`
    const common = ['--network', network, '--heartbeat-ms', '0', '--json']
    const bootstrap = startCli([
      'start',
      '--role',
      'bootstrap',
      '--listen',
      '/ip4/127.0.0.1/tcp/0',
      '--data-dir',
      join(dir, 'bootstrap'),
      ...common
    ])
    const ready = JSON.parse(
      await bootstrap.line((l) => l.includes('"event":"start"'), 'the bootstrap start line')
    )
    const full = startCli([
      'start',
      '--role',
      'full',
      '--bootstrap',
      ready.multiaddrs[0],
      '--data-dir',
      join(dir, 'full'),
      ...common
    ])
    const agent = JSON.parse(
      await full.line((l) => l.includes('"event":"start"'), 'the full node start line')
    )
    await full.line((l) => l.includes('"event":"presence:publish"'), "the full node's presence on the DHT")

    const child = spawn(
      process.execPath,
      ['--conditions=@araliya/source', '--import', 'tsx', 'src/own-libp2p.ts'],
      {
        cwd: PACKAGE_DIR,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...process.env,
          DEBUG: undefined,
          ARALIYA_BOOTSTRAP: ready.multiaddrs[0],
          ARALIYA_AGENT: agent.address,
          ARALIYA_NETWORK: network
        }
      }
    )
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
    })
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    const deadline = setTimeout(() => child.kill('SIGKILL'), 90_000)
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
    clearTimeout(deadline)
    expect({ code, stderr, stdout }).toEqual({ code: 0, stderr: '', stdout: expect.any(String) })
    const lines = stdout.trim().split('\n')
    expect(lines[0]).toMatch(new RegExp(`^found ${agent.address} at /ip4/127\\.0\\.0\\.1/tcp/\\d+$`))
    const record = JSON.parse((lines[1] as string).replace('synced its public record: ', ''))
    expect(record).toMatchObject({ role: 'full', network })
    expect(lines).toHaveLength(2)
  })
})
