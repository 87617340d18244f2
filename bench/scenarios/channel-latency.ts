/**
 * channel-latency: a bus publish on node A until the event is on the bus of each of 20 other nodes,
 * side by side with a bare @libp2p/gossipsub publish/receive of the same size on the same nodes and
 * connections (a second topic), alternating one message at a time after a warm-up.
 *
 * Ours = bus.publish -> channel-p2p (encode, sign) -> gossipsub -> validator (verify, seen-set, rate) ->
 * bus delivery. Peer = pubsub.publish -> gossipsub -> 'message' event. Latency is measured in one
 * process with one clock, per delivery. Targets: p50 <= 1.2x, p99 <= 1.3x, delivery 100%.
 */
import { createBus } from '@araliya/bus'
import { createChannel, type P2PChannel } from '@araliya/channel-p2p'
import { createTestNetwork } from '@araliya/dht-node/testing'
import { FULL, now, percentile, report } from '../lib/report.ts'

const NODES = 21
const MESSAGES = FULL ? 400 : 100
const WARMUP = 20
const PAYLOAD_BYTES = 1024
const RAW_TOPIC = 'araliya-bench-raw'
const TIMEOUT_MS = 5_000

const net = await createTestNetwork({ bootstraps: 1, nodes: NODES, node: { statusIntervalMs: 0 } })
const [source, ...receivers] = net.full as [(typeof net.full)[0], ...typeof net.full]
const channels: P2PChannel[] = []
const pending = new Map<
  string,
  { sentAt: number; remaining: number; latencies: number[]; done: () => void }
>()

function arrived(key: string): void {
  const entry = pending.get(key)
  if (entry === undefined) return
  entry.latencies.push(now() - entry.sentAt)
  if (--entry.remaining === 0) entry.done()
}

const sourceBus = createBus()
for (const node of net.full) {
  const bus = node === source ? sourceBus : createBus()
  // Generous rate limit: the benchmark measures latency, not the flood guard.
  const channel = createChannel({
    identity: node.identity,
    gossip: node.gossip,
    datastore: node.datastore,
    bus,
    rateLimit: { burst: 100_000, ratePerSecond: 100_000 }
  })
  await channel.start()
  channels.push(channel)
  if (node !== source) {
    bus.subscribe('agents/bench', (event) => arrived((event.payload as { key: string }).key), {
      delivery: 'sync'
    })
    const pubsub = node.libp2p.services.pubsub
    pubsub.subscribe(RAW_TOPIC)
    pubsub.addEventListener('message', (event) => {
      if (event.detail.topic !== RAW_TOPIC) return
      arrived(new TextDecoder().decode(event.detail.data.subarray(0, 16)))
    })
  }
}
source.libp2p.services.pubsub.subscribe(RAW_TOPIC)
await net.waitForMesh('agent-messages', { minPeers: 2, nodes: net.full, timeoutMs: 60_000 })
const rawMeshReady = async () => {
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    // getMeshPeers exists on the implementation but not on the exported GossipSub interface.
    const meshOf = (n: (typeof net.full)[0]) =>
      (n.libp2p.services.pubsub as unknown as { getMeshPeers(topic: string): string[] }).getMeshPeers(
        RAW_TOPIC
      )
    const ready = net.full.every((n) => meshOf(n).length >= 2)
    if (ready) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error('the raw topic mesh did not form')
}
await rawMeshReady()

let counter = 0
async function once(side: 'ours' | 'peer'): Promise<{ latencies: number[]; delivered: number }> {
  const key = `${side === 'ours' ? 'o' : 'p'}${String(counter++).padStart(15, '0')}`
  const filler = 'x'.repeat(PAYLOAD_BYTES - key.length)
  const latencies: number[] = []
  const delivered = new Promise<void>((resolve) => {
    pending.set(key, { sentAt: now(), remaining: receivers.length, latencies, done: resolve })
  })
  const entry = pending.get(key)
  if (entry !== undefined) entry.sentAt = now()
  if (side === 'ours') sourceBus.publish('agents/bench', { key, filler })
  else await source.libp2p.services.pubsub.publish(RAW_TOPIC, new TextEncoder().encode(key + filler))
  await Promise.race([delivered, new Promise((resolve) => setTimeout(resolve, TIMEOUT_MS))])
  pending.delete(key)
  if (process.env.DEBUG_BENCH) console.error(side, latencies.length, Math.max(...latencies))
  return { latencies, delivered: latencies.length }
}

for (let i = 0; i < WARMUP; i++) {
  await once('ours')
  await once('peer')
}
const ours: number[] = []
const peer: number[] = []
let oursDelivered = 0
let peerDelivered = 0
for (let i = 0; i < MESSAGES; i++) {
  const order: Array<'ours' | 'peer'> = i % 2 === 0 ? ['ours', 'peer'] : ['peer', 'ours']
  for (const side of order) {
    const result = await once(side)
    if (side === 'ours') {
      ours.push(...result.latencies)
      oursDelivered += result.delivered
    } else {
      peer.push(...result.latencies)
      peerDelivered += result.delivered
    }
  }
}

for (const channel of channels) await channel.stop()
await net.stop()

const expected = MESSAGES * receivers.length
const round = (n: number) => Math.round(n * 1000) / 1000
const peerName = 'bare @libp2p/gossipsub publish/receive'
report(
  'channel-latency',
  [
    {
      metric: 'p50 latency',
      unit: 'ms',
      ours: round(percentile(ours, 50)),
      peer: peerName,
      peerValue: round(percentile(peer, 50)),
      better: 'lower',
      target: 1.2
    },
    {
      metric: 'p99 latency',
      unit: 'ms',
      ours: round(percentile(ours, 99)),
      peer: peerName,
      peerValue: round(percentile(peer, 99)),
      better: 'lower',
      target: 1.3
    },
    {
      metric: 'delivery',
      unit: 'fraction',
      ours: oursDelivered / expected,
      peer: peerName,
      peerValue: peerDelivered / expected,
      better: 'higher',
      target: 1
    }
  ],
  {
    nodes: NODES + 1,
    receivers: receivers.length,
    messages: MESSAGES,
    payloadBytes: PAYLOAD_BYTES,
    transport: 'memory'
  }
)
process.exit(0)
