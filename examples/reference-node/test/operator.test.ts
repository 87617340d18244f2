// What an operator sees when something is wrong: one line that says what and what to do, a non-zero exit
// code and no stack; a closed stdout ends the node quietly; heartbeats are on by default.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { NodeStatus } from '@araliya/dht-node'
import { multiaddr } from '@multiformats/multiaddr'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { LOOPBACK_TCP, type SwarmNode, startSwarmNode } from '../src/node.ts'
import { exitOf, killAll, nonEmptyLines, STACK_FRAME, startCli } from './cli-process.ts'

let dir: string
const cleanups: Array<() => Promise<void>> = []
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'araliya-operator-'))
})
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  await killAll()
  await rm(dir, { recursive: true, force: true })
})

/** Runs `araliya <args>` to completion and checks the one-line, no-stack error contract. */
async function failsWithOneLine(
  args: string[],
  expectedCode: number,
  env: Record<string, string | undefined> = {},
  user?: { uid: number; gid: number }
): Promise<string> {
  const cli = startCli(args, env, user)
  const { code } = await exitOf(cli, 60_000)
  const lines = nonEmptyLines(cli.stderr())
  expect(code, cli.stderr()).toBe(expectedCode)
  expect(lines, cli.stderr()).toHaveLength(1)
  expect(cli.stderr()).not.toMatch(STACK_FRAME)
  return lines[0] as string
}

/**
 * A node of the reference node's own make, in this process, that joins the CLI node's swarm. `ready`
 * runs after it started and before it dials, so no event from the CLI node can be missed.
 */
async function peerOf(
  target: string,
  network: string,
  ready: (node: SwarmNode) => void = () => {}
): Promise<SwarmNode> {
  const node = await startSwarmNode({
    name: 'observer',
    role: 'full',
    dir: join(dir, 'observer'),
    network,
    listen: [LOOPBACK_TCP],
    heartbeatMs: 0
  })
  cleanups.push(() => node.stop())
  ready(node)
  await node.node.libp2p.dial(multiaddr(target))
  return node
}

describe('operator errors: one line, non-zero exit, no stack', { timeout: 90_000 }, () => {
  it('an unknown flag is an error, not ignored', async () => {
    const line = await failsWithOneLine(['start', '--data-dir', join(dir, 'a'), '--bogus'], 2)
    expect(line).toContain('--bogus')
    expect(line).toContain('araliya --help')
  })

  it('a flag without its value, or a stray argument, is an error', async () => {
    expect(await failsWithOneLine(['start', '--data-dir', join(dir, 'a'), '--role'], 2)).toContain('--role')
    expect(await failsWithOneLine(['identity', '--data-dir', join(dir, 'a'), 'extra'], 2)).toContain('extra')
  })

  it('a bad --heartbeat-ms value is an error', async () => {
    const line = await failsWithOneLine(['start', '--data-dir', join(dir, 'a'), '--heartbeat-ms', '5s'], 2)
    expect(line).toContain('--heartbeat-ms')
  })

  it.each([
    ['not a multiaddr', 'foo', 2],
    ['a port out of range', '/ip4/127.0.0.1/tcp/99999', 2],
    ['a transport this node has not', '/ip4/127.0.0.1/udp/4001/quic-v1', 1],
    ['an IP address this machine does not have', '/ip4/192.0.2.1/tcp/4001', 1]
  ])('bad --listen (%s)', async (_, listen, code) => {
    const line = await failsWithOneLine(['start', '--data-dir', join(dir, 'a'), '--listen', listen], code)
    expect(line).toContain(listen)
  })

  it('a bad --bootstrap address', async () => {
    const line = await failsWithOneLine(
      ['start', '--data-dir', join(dir, 'a'), '--bootstrap', '/ip4/127.0.0.1/tcp/4001'],
      2
    )
    expect(line).toContain('/p2p/')
  })

  it('a port in use', async () => {
    const server: Server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())))
    const { port } = server.address() as { port: number }
    const line = await failsWithOneLine(
      ['start', '--data-dir', join(dir, 'a'), '--listen', `/ip4/127.0.0.1/tcp/${port}`],
      1
    )
    expect(line).toContain(`${port}`)
    expect(line).toContain('in use')
  })

  it('a data dir that cannot be written (a file is in the way)', async () => {
    const file = join(dir, 'a-file')
    await writeFile(file, 'not a folder')
    const line = await failsWithOneLine(['start', '--data-dir', join(file, 'data')], 1)
    expect(line).toContain(join(file, 'data'))
    expect(line).toContain('--data-dir')
  })

  it('a data dir without write permission', async () => {
    const { chmod, mkdir } = await import('node:fs/promises')
    // Root passes every permission check, so as root the CLI runs as the unprivileged user "nobody".
    const asRoot = process.getuid?.() === 0
    await chmod(dir, 0o755)
    const readOnly = join(dir, 'read-only')
    await mkdir(readOnly, { mode: 0o500 })
    cleanups.push(() => chmod(readOnly, 0o700))
    const line = await failsWithOneLine(
      ['start', '--data-dir', join(readOnly, 'data')],
      1,
      asRoot ? { HOME: tmpdir() } : {},
      asRoot ? { uid: 65534, gid: 65534 } : undefined
    )
    expect(line).toContain('permission denied')
    expect(line).toContain('--data-dir')
  })

  it('with DEBUG set, the stack follows the one line', async () => {
    const cli = startCli(['start', '--data-dir', join(dir, 'a'), '--listen', '/ip4/192.0.2.1/tcp/4001'], {
      DEBUG: 'araliya:cli'
    })
    const { code } = await exitOf(cli)
    expect(code).toBe(1)
    expect(cli.stderr()).toMatch(STACK_FRAME)
  })
})

describe('a closed stdout', () => {
  it('ends the node quietly with exit code 0 (araliya start | head -1)', async () => {
    const network = `epipe-${process.pid}`
    const cli = startCli([
      'start',
      '--role',
      'bootstrap',
      '--data-dir',
      join(dir, 'a'),
      '--network',
      network,
      '--listen',
      LOOPBACK_TCP
    ])
    const banner = await cli.line((l) => l.includes('--bootstrap /ip4/'), 'the listen address')
    await cli.line((l) => l === 'press Ctrl-C to stop', 'the end of the banner')
    // Like `head -1`: stop reading. The node's next line (a peer connecting) hits a closed pipe.
    cli.child.stdout.destroy()
    // The dial may fail if another line hit the closed pipe first and the node is already gone: then the
    // node must still have exited as below (exitOf fails the test if it has not).
    const dial = await peerOf(banner.split('--bootstrap ')[1] as string, network).then(
      () => 'dialled',
      (err: unknown) => `dial failed: ${String(err)}`
    )
    const { code, signal } = await exitOf(cli)
    expect(cli.stderr()).not.toMatch(STACK_FRAME)
    expect(cli.stderr()).not.toContain('EPIPE')
    expect({ code, signal }, dial).toEqual({ code: 0, signal: null })
  }, 120_000)
})

describe('node-status heartbeats', () => {
  // The first heartbeat is due one interval (30 s by default) after the start.
  it('a node started with default settings publishes heartbeats another node receives', async () => {
    const network = `heartbeat-${process.pid}`
    const cli = startCli([
      'start',
      '--role',
      'bootstrap',
      '--data-dir',
      join(dir, 'a'),
      '--network',
      network,
      '--listen',
      LOOPBACK_TCP
    ])
    const banner = await cli.line((l) => l.includes('--bootstrap /ip4/'), 'the listen address')
    const ma = banner.split('--bootstrap ')[1] as string
    const address = ma.split('/p2p/')[1] as string
    let received: (status: NodeStatus) => void = () => {}
    const heartbeat = new Promise<NodeStatus>((resolve) => {
      received = resolve
    })
    await peerOf(ma, network, (observer) =>
      observer.node.addEventListener('status:receive', (event) => {
        if (event.detail.status.address === address) received(event.detail.status)
      })
    )
    let timer: ReturnType<typeof setTimeout> | undefined
    const status = await Promise.race([
      heartbeat,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('no heartbeat from the CLI node within 90 s')), 90_000)
      })
    ]).finally(() => clearTimeout(timer))
    expect(status).toMatchObject({ v: 1, address, role: 'bootstrap' })
    expect(status.peers).toBeGreaterThanOrEqual(1)
  }, 150_000)

  it('the interval is in the start banner; --heartbeat-ms 0 turns heartbeats off', async () => {
    const on = startCli(['start', '--data-dir', join(dir, 'a'), '--listen', LOOPBACK_TCP])
    expect(await on.line((l) => l.includes('heartbeat'), 'the heartbeat line')).toContain('every 30 s')
    on.kill('SIGTERM')
    expect((await exitOf(on)).code).toBe(0)
    const off = startCli([
      'start',
      '--data-dir',
      join(dir, 'a'),
      '--listen',
      LOOPBACK_TCP,
      '--heartbeat-ms',
      '0'
    ])
    expect(await off.line((l) => l.includes('heartbeat'), 'the heartbeat line')).toContain('off')
    off.kill('SIGTERM')
    expect((await exitOf(off)).code).toBe(0)
  }, 120_000)
})
