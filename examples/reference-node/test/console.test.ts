// A hostile peer tries to write on the operator's console through everything `araliya start` prints:
// a bus topic and payload (an envelope on agent-messages) and a node-status heartbeat carrying the same
// text in its role and mesh topic names. The heartbeat's shape is closed (docs/protocols/node-status.md), so
// that one is refused before anything prints it; a valid heartbeat sent after it shows the operator was
// listening. The operator runs as a child process; the hostile peer runs here.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CBOR_CONTENT, encodeEnvelope, signEnvelope } from '@araliya/channel-p2p'
import { HLC_UNITS_PER_MS } from '@araliya/interface'
import { encodeNodeStatus } from '@araliya/dht-node'
import { encodeCanonical } from '@araliya/identity'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { LOOPBACK_TCP, type SwarmNode, startSwarmNode } from '../src/node.ts'
import { type CliProcess, killAll, startCli, waitUntil } from './cli-process.ts'

/** Clears the screen, starts a new line that looks like ours, and reverses the rest of the line. */
const EVIL = '\x1b[2J\nFAKE LOG LINE\u202e'
const RAW = ['\x1b', '\u202e', '\nFAKE LOG LINE']

let dir: string
let hostile: SwarmNode | undefined
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'araliya-console-'))
})
afterEach(async () => {
  await hostile?.stop()
  hostile = undefined
  await killAll()
  await rm(dir, { recursive: true, force: true })
})

/** Joins the operator's swarm as a peer and publishes the hostile envelope and heartbeat. */
async function attack(operator: string, network: string): Promise<SwarmNode> {
  const operatorAddress = operator.split('/p2p/')[1] as string
  hostile = await startSwarmNode({
    name: 'hostile',
    role: 'full',
    dir: join(dir, 'hostile'),
    bootstrap: [operator],
    network,
    listen: [LOOPBACK_TCP],
    heartbeatMs: 0
  })
  const peer = hostile
  await waitUntil('the operator to subscribe to agent-messages and node-status', () =>
    ['agent-messages', 'node-status'].every((topic) =>
      peer.node.gossip.getSubscribers(topic).includes(operatorAddress)
    )
  )
  // A publish reaches nobody until the stream to the operator is open: send again (fresh ids) until it does.
  const publish = async (topic: string, bytes: () => Promise<Uint8Array>): Promise<void> => {
    const until = Date.now() + 60_000
    while ((await peer.node.gossip.publish(topic, await bytes())).recipients === 0) {
      if (Date.now() > until) throw new Error(`the hostile ${topic} message reached nobody`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
  await publish('agent-messages', async () => {
    const id = new Uint8Array(16)
    globalThis.crypto.getRandomValues(id)
    const envelope = await signEnvelope(peer.identity, {
      net: network,
      chan: 'agent-messages',
      from: peer.address,
      id,
      hlc: Date.now() * HLC_UNITS_PER_MS,
      ttl: 60_000,
      topic: `agents/${EVIL}`,
      ct: CBOR_CONTENT,
      body: encodeCanonical({ text: EVIL, name: EVIL })
    })
    return encodeEnvelope(envelope)
  })
  await publish('node-status', async () =>
    encodeNodeStatus({
      ...peer.node.getStatus(),
      role: EVIL as 'full',
      mesh: { [EVIL]: 1 }
    })
  )
  await publish('node-status', async () => encodeNodeStatus(peer.node.getStatus()))
  return peer
}

function expectNoRawEscapes(text: string): void {
  for (const raw of RAW) expect(text, JSON.stringify(raw)).not.toContain(raw)
}

function startOperator(network: string, extra: string[] = []): CliProcess {
  return startCli([
    'start',
    '--role',
    'bootstrap',
    '--listen',
    LOOPBACK_TCP,
    '--network',
    network,
    '--heartbeat-ms',
    '0',
    '--data-dir',
    join(dir, 'operator'),
    ...extra
  ])
}

describe('remote strings on the operator console', () => {
  it('a hostile topic and payload are printed escaped, never raw; a hostile heartbeat is refused', async () => {
    const network = `console-${process.pid}-human`
    const operator = startOperator(network)
    const banner = await operator.line((l) => l.includes('--bootstrap /ip4/'), 'the listen address')
    const ma = banner.split('--bootstrap ')[1] as string
    const peer = await attack(ma, network)

    const bus = await operator.line((l) => l.startsWith('bus agents/'), 'the hostile bus event')
    expect(bus).toContain('FAKE LOG LINE')
    expect(bus).toContain(peer.address)
    const status = await operator.line(
      (l) => l.startsWith('status ') && l.includes(peer.address),
      'the valid heartbeat sent after the hostile one'
    )
    expect(status).not.toContain('FAKE LOG LINE')
    expectNoRawEscapes(operator.stdout())
    expectNoRawEscapes(operator.stderr())
    // Every line that carries the fake text is one of ours, starting with our own words.
    for (const line of operator
      .stdout()
      .split('\n')
      .filter((l) => l.includes('FAKE LOG LINE'))) {
      expect(line).toMatch(/^(bus|status) /)
    }
  }, 120_000)

  it('--json prints JSON only, one event per line, with the hostile strings intact inside it', async () => {
    const network = `console-${process.pid}-json`
    const operator = startOperator(network, ['--json'])
    const first = await operator.line((l) => l.startsWith('{'), 'the start event')
    const started = JSON.parse(first) as { event: string; multiaddrs: string[] }
    expect(started.event).toBe('start')
    const peer = await attack(started.multiaddrs[0] as string, network)

    const bus = JSON.parse(
      await operator.line((l) => l.includes('"event":"bus"'), 'the hostile bus event')
    ) as { topic: string; from: string; payload: { text: string } }
    expect(bus).toMatchObject({ topic: `agents/${EVIL}`, from: peer.address, payload: { text: EVIL } })
    const status = JSON.parse(
      await operator.line(
        (l) => l.includes('"event":"status"'),
        'the valid heartbeat sent after the hostile one'
      )
    ) as { from: string; status: { role: string; mesh: Record<string, number> } }
    expect(status.from).toBe(peer.address)
    expect(status.status.role).toBe('full')
    expect(operator.stdout()).not.toContain('"role":"\\u001b')

    const lines = operator.stdout().split('\n').slice(0, -1)
    for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow()
    expectNoRawEscapes(operator.stdout())
    expectNoRawEscapes(operator.stderr())
  }, 120_000)
})
