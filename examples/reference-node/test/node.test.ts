// The node composes its parts through the bus's Supervisor: dependency order on start, reverse order on
// stop, a start failure that frees everything and reports the part's own error, and a part that fails
// while running restarted with backoff, its dependents with it.
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { LOOPBACK_TCP, type SwarmNode, startSwarmNode } from '../src/node.ts'
import { waitUntil } from './cli-process.ts'

let dir: string
const running: SwarmNode[] = []
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'araliya-node-'))
})
afterEach(async () => {
  for (const node of running.splice(0)) await node.stop()
  await rm(dir, { recursive: true, force: true })
})

async function start(name: string, extra: Partial<Parameters<typeof startSwarmNode>[0]> = {}) {
  const node = await startSwarmNode({
    name,
    role: 'full',
    dir: join(dir, name),
    network: `node-${process.pid}`,
    heartbeatMs: 0,
    ...extra
  })
  running.push(node)
  return node
}

describe('a node composed through the supervisor', { timeout: 60_000 }, () => {
  it('starts its parts in dependency order and stops them in reverse', async () => {
    const node = await start('a', { graph: true })
    expect(node.status().map((s) => [s.name, s.state])).toEqual([
      ['identity', 'running'],
      ['graph', 'running'],
      ['dht', 'running'],
      ['heartbeat', 'running'],
      ['channel', 'running']
    ])
    expect(node.node.isStarted()).toBe(true)
    expect(node.graph).toBeDefined()
    const stopped: string[] = []
    node.bus.subscribe('subsystem:stopped', (event) => void stopped.push(event.payload.name), {
      delivery: 'sync'
    })
    await node.stop()
    await node.stop() // safe twice
    expect(stopped).toEqual(['channel', 'heartbeat', 'dht', 'graph', 'identity'])
    expect(node.status().every((s) => s.state === 'stopped')).toBe(true)
  })

  it('a part that cannot start stops what had started and throws its own error', async () => {
    const server: Server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as { port: number }
    try {
      const err = await start('b', { graph: true, listen: [`/ip4/127.0.0.1/tcp/${port}`] }).catch(
        (e: unknown) => e
      )
      // libp2p's own error, not the supervisor's wrapper: the CLI turns it into ERR_ADDRESS_IN_USE.
      expect((err as Error).name).toBe('UnsupportedListenAddressesError')
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
    // The graph had started before the DHT node failed; it was closed again, so its lock is free.
    const again = await start('b', { graph: true, listen: [LOOPBACK_TCP] })
    expect(again.status().every((s) => s.state === 'running')).toBe(true)
  })

  it('a DHT node that stops while running is restarted with backoff, and the channel follows it', async () => {
    const node = await start('c')
    const events: Array<{ topic: string; name: string; restartInMs?: number }> = []
    node.bus.subscribe(
      'subsystem:*',
      (event) => void events.push({ topic: event.topic, ...(event.payload as { name: string }) }),
      { delivery: 'sync' }
    )
    const first = node.node
    const firstChannel = node.channel
    await first.stop()
    await waitUntil('the dht part to run a new node, and the channel on it', () => {
      // Only a running part hands out what it runs.
      if (!node.status().every((s) => s.state === 'running')) return false
      return node.node !== first && node.channel !== firstChannel
    })
    expect(node.node.isStarted()).toBe(true)
    expect(events).toContainEqual(
      expect.objectContaining({ topic: 'subsystem:failed', name: 'dht', restartInMs: 250 })
    )
    for (const name of ['dht', 'channel', 'heartbeat']) {
      expect(events).toContainEqual(expect.objectContaining({ topic: 'subsystem:started', name }))
    }
    expect(node.status().find((s) => s.name === 'dht')?.restarts).toBe(1)
  })

  it('reports its health: a full node without peers is degraded, a bootstrap node is healthy', async () => {
    const full = await start('d')
    expect((await full.health()).status).toBe('degraded')
    const bootstrap = await start('e', { role: 'bootstrap' })
    expect((await bootstrap.health()).status).toBe('healthy')
  })
})
