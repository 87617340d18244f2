/**
 * dht-lookup: presence lookups (`findAgent`) of agents that announced recently, from random nodes of a
 * 30-node network, side by side with a bare kad-dht `get` of the same key from the same node, alternating
 * one lookup at a time after a warm-up. Both run on the same nodes and connections (memory transport,
 * noise, yamux).
 *
 * "Announced recently": once the network is up and every node has a mesh on `agent-announcements`, every
 * node republishes its presence the way it does on its own (`publishPresence()`: a signed record put on
 * the DHT and announced on `agent-announcements`). Nothing is seeded into any cache: a node knows what it
 * heard on gossip (each record verified as a DHT server verifies it), and a lookup whose record it did not
 * hear goes to the DHT. `announcementsHeard` says what fraction of (node, agent) pairs heard the
 * announcement before the lookups began. Targets: p50 <= 0.5x the bare get, success 100% (both sides).
 */
import { presenceKey } from '@araliya/dht-node'
import { createTestNetwork } from '@araliya/dht-node/testing'
import { alternate, FULL, now, percentile, report } from '../lib/report.ts'

const NODES = FULL ? 60 : 30
const ROUNDS = FULL ? 300 : 80
const WARMUP = 10

let seed = 0x2f6b
function random(): number {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff
  return seed / 0x7fffffff
}

const startedAt = now()
const net = await createTestNetwork({ bootstraps: 1, nodes: NODES - 1, node: { statusIntervalMs: 0 } })
const nodes = net.all
await net.waitForMesh('agent-announcements', { timeoutMs: 60_000 })

// Every node republishes its presence as it does on its own, and every node listens to the announcements.
const heard = new Map(nodes.map((node) => [node, new Set<string>()]))
const republishedAfter = Date.now()
for (const node of nodes) {
  node.addEventListener('agent:announce', (event) => {
    if (event.detail.record.seq >= republishedAfter) heard.get(node)!.add(event.detail.record.address)
  })
}
for (let i = 0; i < nodes.length; i += 5) {
  await Promise.all(nodes.slice(i, i + 5).map((node) => node.publishPresence()))
}
const everyoneHeard = (): boolean => [...heard.values()].every((set) => set.size >= nodes.length - 1)
const deadline = Date.now() + 30_000
while (!everyoneHeard() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
const heardPairs = [...heard.values()].reduce((sum, set) => sum + set.size, 0)
const setupMs = now() - startedAt
const pairs = Array.from({ length: ROUNDS + WARMUP }, () => {
  const from = nodes[Math.floor(random() * nodes.length)]!
  let to = nodes[Math.floor(random() * nodes.length)]!
  while (to === from) to = nodes[Math.floor(random() * nodes.length)]!
  return { from, to }
})

const failures: string[] = []
let oursIndex = 0
let peerIndex = 0
let oursOk = 0
let peerOk = 0
const samples = await alternate(
  ROUNDS,
  WARMUP,
  async () => {
    const { from, to } = pairs[oursIndex++]!
    const t = now()
    try {
      const info = await from.findAgent(to.address, { signal: AbortSignal.timeout(30_000) })
      if (info.address === to.address && oursIndex > WARMUP) oursOk++
    } catch (err) {
      failures.push(
        `ours ${from.role}->${to.role}: ${(err as Error).name}: ${(err as Error).message}`.slice(0, 200)
      )
    }
    return now() - t
  },
  async () => {
    const { from, to } = pairs[peerIndex++]!
    const t = now()
    let found = false
    try {
      for await (const event of from.dht.get(presenceKey(to.address), {
        signal: AbortSignal.timeout(30_000)
      })) {
        if (event.name === 'VALUE') found = true
      }
    } catch (err) {
      failures.push(
        `peer ${from.role}->${to.role}: ${(err as Error).name}: ${(err as Error).message}`.slice(0, 200)
      )
    }
    if (!found) failures.push(`peer ${from.role}->${to.role}: no value`)
    if (found && peerIndex > WARMUP) peerOk++
    return now() - t
  }
)
await net.stop()
for (const failure of failures) console.error(failure)

const oursP50 = percentile(samples.ours, 50)
const peerP50 = percentile(samples.peer, 50)
report(
  'dht-lookup',
  [
    {
      metric: 'lookup p50',
      unit: 'ms',
      ours: round(oursP50),
      peer: 'bare kad-dht get',
      peerValue: round(peerP50),
      better: 'lower',
      target: 0.5
    },
    {
      metric: 'success rate',
      unit: 'fraction',
      ours: oursOk / ROUNDS,
      peer: 'required',
      peerValue: 1,
      better: 'higher',
      target: 1
    }
  ],
  {
    nodes: NODES,
    lookups: ROUNDS,
    oursP99: round(percentile(samples.ours, 99)),
    peerP99: round(percentile(samples.peer, 99)),
    peerSuccess: peerOk / ROUNDS,
    announcementsHeard: Math.round((heardPairs / (nodes.length * (nodes.length - 1))) * 1000) / 1000,
    transport: 'memory+noise+yamux',
    setupMs: Math.round(setupMs)
  }
)

function round(value: number): number {
  return Math.round(value * 100) / 100
}
