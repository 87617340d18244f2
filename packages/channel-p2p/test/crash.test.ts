import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createBus } from '@araliya/bus'
import { createDhtNode, type DhtNode } from '@araliya/dht-node'
import { randomNetworkName, waitFor } from '@araliya/dht-node/testing'
import { generateIdentity } from '@araliya/identity'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createChannel } from '../src/index.js'
import { channelServices, nodeParts } from './helpers.js'

const CHILD = join(import.meta.dirname, 'fixtures', 'outbox-child.ts')
let dir: string
const children: ChildProcess[] = []
const nodes: DhtNode[] = []

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'araliya-outbox-crash-'))
})
afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL')
  for (const node of nodes.splice(0)) await node.stop().catch(() => {})
  await rm(dir, { recursive: true, force: true })
})

function runChild(args: string[], until: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--conditions=@araliya/source', '--import', 'tsx', CHILD, ...args], {
    stdio: ['ignore', 'pipe', 'inherit']
  })
  children.push(child)
  return new Promise((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`child did not print ${until} within 60 s`)), 60_000)
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      if (out.includes(until)) {
        clearTimeout(timer)
        resolve(child)
      }
    })
    child.on('exit', (code) => {
      if (!out.includes(until)) {
        clearTimeout(timer)
        reject(new Error(`child exited (${code}) before printing ${until}`))
      }
    })
  })
}

const tcpNode = async (
  network: string,
  bootstrap: string[],
  identity = undefined as Awaited<ReturnType<typeof generateIdentity>> | undefined
) => {
  const node = await createDhtNode({
    identity: identity ?? (await generateIdentity()),
    role: bootstrap.length === 0 ? 'bootstrap' : 'full',
    network,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    bootstrap,
    statusIntervalMs: 0,
    bootstrapRetry: { initialDelayMs: 100, maxDelayMs: 1000 },
    gossip: { ipColocationWhitelist: ['127.0.0.1'] },
    services: channelServices()
  })
  nodes.push(node)
  await node.start()
  return node
}

describe('crash (SIGKILL) with a direct message in the outbox', () => {
  it('the message queued before the kill is delivered after the restart, exactly once', async () => {
    const network = randomNetworkName()
    const bootstrap = await tcpNode(network, [])
    const bootstrapAddr = bootstrap.getMultiaddrs()[0]?.toString() as string
    const recipientIdentity = await generateIdentity()

    // The sender queues a message for the (still offline) recipient, and is killed mid-retry.
    const sender = await runChild([dir, bootstrapAddr, network, recipientIdentity.address, 'send'], 'QUEUED')
    sender.kill('SIGKILL')
    await new Promise((resolve) => sender.once('exit', resolve))

    // The recipient comes online.
    const recipient = await tcpNode(network, [bootstrapAddr], recipientIdentity)
    const bus = createBus()
    const received: unknown[] = []
    bus.subscribe('direct/*', (event) => void received.push(event.payload), { delivery: 'sync' })
    const channel = createChannel({ ...nodeParts(recipient), bus })
    await channel.start()
    await waitFor(() => recipient.presence !== undefined, 60_000, 'the recipient to publish its presence')
    try {
      // The sender restarts from its folder and delivers what its outbox held.
      const resumed = await runChild(
        [dir, bootstrapAddr, network, recipientIdentity.address, 'resume'],
        'DELIVERED'
      )
      await new Promise((resolve) => resumed.once('exit', resolve))
      await waitFor(() => received.length >= 1, 60_000, 'the message at the recipient')
      await new Promise((resolve) => setTimeout(resolve, 300))
      expect(received).toEqual([{ text: 'sent before the crash' }])
    } finally {
      await channel.stop()
      bus.close()
    }
  })
})
