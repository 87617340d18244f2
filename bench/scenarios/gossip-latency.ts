/**
 * gossip-latency: 1 KB messages from a random node of a 20-node network on loopback TCP (noise, yamux) to
 * every other node, through the dht-node gossip layer (`node.gossip.publish` on `agent-messages`: StrictSign,
 * topic validators, rate limit, score parameters) side by side with bare @libp2p/gossipsub publish/receive
 * on a second topic of the very same nodes and connections, alternating one message at a time after a
 * warm-up. Latency is measured per delivery in one process with one clock.
 * Targets: p50 <= 1.1x, p99 <= 1.3x, delivery 100%.
 */
import { generateIdentity } from '@araliya/identity'
import { createDhtNode, type DhtNode } from '@araliya/dht-node'
import { alternate, FULL, now, percentile, report } from '../lib/report.ts'

const NODES = 20
const ROUNDS = FULL ? 400 : 120
const WARMUP = 20
const PAYLOAD_BYTES = 1024
const RAW_TOPIC = 'araliya-bench-raw-gossip'
const TIMEOUT_MS = 5_000
const network = `bench-${Math.random().toString(36).slice(2, 8)}`

const common = {
  network,
  listen: ['/ip4/127.0.0.1/tcp/0'],
  statusIntervalMs: 0,
  presence: { auto: false },
  gossip: { rateLimit: false as const, ipColocationWhitelist: ['127.0.0.1'] },
  connectionManager: { inboundConnectionThreshold: 10_000, maxIncomingPendingConnections: 1000 }
}
const startedAt = now()
const bootstrap = await createDhtNode({ ...common, identity: await generateIdentity(), role: 'bootstrap' })
await bootstrap.start()
const bootstrapAddr = bootstrap
  .getMultiaddrs()
  .find((ma) => ma.toString().includes('/tcp/'))!
  .toString()
const nodes: DhtNode[] = [bootstrap]
for (let i = 1; i < NODES; i++) {
  const node = await createDhtNode({
    ...common,
    identity: await generateIdentity(),
    bootstrap: [bootstrapAddr]
  })
  await node.start()
  await node.waitForBootstrap()
  nodes.push(node)
}
// Let peers find each other through the DHT so the mesh is not a star around the bootstrap node.
await Promise.all(nodes.map((n) => n.dht.refreshRoutingTable().catch(() => {})))
for (const node of nodes) node.libp2p.services.pubsub.subscribe(RAW_TOPIC)

const pending = new Map<
  string,
  { sentAt: number; remaining: number; latencies: number[]; done: () => void }
>()
function arrived(data: Uint8Array): void {
  const id = new TextDecoder().decode(data.subarray(0, 16))
  const entry = pending.get(id)
  if (entry === undefined) return
  entry.latencies.push(now() - entry.sentAt)
  if (--entry.remaining === 0) entry.done()
}
for (const node of nodes) {
  node.gossip.addEventListener('gossip:message', (event) => {
    if (event.detail.topic === 'agent-messages') arrived(event.detail.data)
  })
  node.libp2p.services.pubsub.addEventListener('message', (event) => {
    if (event.detail.topic === RAW_TOPIC) arrived(event.detail.data)
  })
}

const meshReady = (): boolean =>
  nodes.every(
    (n) =>
      n.gossip.getMeshPeers('agent-messages').length >= 2 &&
      (n.libp2p.services.pubsub as unknown as { getMeshPeers(t: string): string[] }).getMeshPeers(RAW_TOPIC)
        .length >= 2
  )
const meshDeadline = Date.now() + 30_000
while (!meshReady() && Date.now() < meshDeadline) await new Promise((r) => setTimeout(r, 100))
const setupMs = now() - startedAt

let counter = 0
let seed = 7
const pickPublisher = (): DhtNode => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff
  return nodes[seed % nodes.length]!
}
const all = { ours: [] as number[], peer: [] as number[] }
const delivered = { ours: 0, peer: 0 }
let measuring = false

async function send(side: 'ours' | 'peer'): Promise<number> {
  const publisher = pickPublisher()
  const id = (counter++).toString(36).padStart(16, '0')
  const payload = new Uint8Array(PAYLOAD_BYTES)
  payload.set(new TextEncoder().encode(id))
  const latencies: number[] = []
  const done = new Promise<void>((resolve) => {
    pending.set(id, { sentAt: now(), remaining: NODES - 1, latencies, done: resolve })
  })
  const entry = pending.get(id)!
  entry.sentAt = now()
  if (side === 'ours') await publisher.gossip.publish('agent-messages', payload)
  else await publisher.libp2p.services.pubsub.publish(RAW_TOPIC, payload)
  await Promise.race([done, new Promise((r) => setTimeout(r, TIMEOUT_MS))])
  pending.delete(id)
  if (measuring) {
    all[side].push(...latencies)
    delivered[side] += latencies.length
  }
  return percentile(latencies, 50)
}

let calls = 0
await alternate(
  ROUNDS,
  WARMUP,
  () => {
    measuring = ++calls > WARMUP
    return send('ours')
  },
  () => {
    measuring = calls > WARMUP
    return send('peer')
  }
)
await Promise.all(nodes.map((n) => n.stop()))

const expected = ROUNDS * (NODES - 1)
const round = (v: number): number => Math.round(v * 1000) / 1000
report(
  'gossip-latency',
  [
    {
      metric: 'delivery latency p50',
      unit: 'ms',
      ours: round(percentile(all.ours, 50)),
      peer: 'bare @libp2p/gossipsub',
      peerValue: round(percentile(all.peer, 50)),
      better: 'lower',
      target: 1.1
    },
    {
      metric: 'delivery latency p99',
      unit: 'ms',
      ours: round(percentile(all.ours, 99)),
      peer: 'bare @libp2p/gossipsub',
      peerValue: round(percentile(all.peer, 99)),
      better: 'lower',
      target: 1.3
    },
    {
      metric: 'delivery rate',
      unit: 'fraction',
      ours: delivered.ours / expected,
      peer: 'required',
      peerValue: 1,
      better: 'higher',
      target: 1
    }
  ],
  {
    nodes: NODES,
    messages: ROUNDS,
    payloadBytes: PAYLOAD_BYTES,
    peerDelivery: delivered.peer / expected,
    transport: 'tcp loopback+noise+yamux',
    setupMs: Math.round(setupMs)
  }
)
