// memory-cold: a memory missing on a device that keeps no copy of the owner's space, fetched from the
// swarm (`memory.fetch(id)`: find the replicas through DHT provider records, ask one for its heads, graph
// sync of what is missing, verify, decrypt), side by side with a bare kad-dht `get` (the owner node's
// presence record) plus one stream round trip (libp2p ping) to a replica, from the same node over the same
// network (libp2p memory transport). The owner writes a new memory before each of our rounds (untimed)
// and waits until both replicas hold it. Target: p50 <= 1.5x.
import { type DhtNode, presenceKey } from '@araliya/dht-node'
import { createTestNetwork } from '@araliya/dht-node/testing'
import { identityFromSeed } from '@araliya/identity'
import { createMemory } from '@araliya/memory'
import { addReplicas, replication, replicationServices } from '../lib/replicas.ts'
import { alternate, FULL, now, percentile, report } from '../lib/report.ts'

const ROUNDS = FULL ? 100 : 30
const WARMUP = 3
const PRELOAD = 1000

const net = await createTestNetwork({ bootstraps: 1, nodes: 4 })
const { nodes: replicas, graphs: replicaGraphs } = await addReplicas(net, 2)

const seed = new Uint8Array(32).fill(9)
const ownerKey = await identityFromSeed(seed)
const owner = await net.addNode('light', { identity: ownerKey, services: replicationServices('light') })
const memory = createMemory({ identity: ownerKey })
await memory.start()
for (let i = 0; i < PRELOAD; i++) await memory.remember(`earlier memory ${i}`)
await replication(owner).serve(memory.graph, { spaces: [memory.owner] })

function replicasHold(): Promise<void> {
  const heads = memory.graph.versionVector(new Set([memory.owner]))
  return Promise.all(
    replicaGraphs.map(
      (graph) =>
        new Promise<void>((resolve) => {
          const look = (): void => {
            if (!heads.every((h) => graph.hasCommit(h.space, h.author, h.seq, h.head))) return
            graph.events.removeEventListener('commit:accepted', look)
            resolve()
          }
          graph.events.addEventListener('commit:accepted', look)
          look()
        })
    )
  ).then(() => undefined)
}
const accepted = await replication(owner).request(ownerKey, { replicas: 2 })
if (accepted.accepted.length !== 2) throw new Error('the replicas did not accept')
await replicasHold()

// The cold device: the owner's key, a graph that keeps no space by itself, the swarm as its remote.
const coldNode = await net.addNode('light', { services: replicationServices('light') })
const cold = createMemory({ identity: await identityFromSeed(seed), remote: replication(coldNode) })
await cold.start()
await replication(coldNode).serve(cold.graph)
await replication(coldNode).fetchSpace(memory.owner, { signal: AbortSignal.timeout(60_000) })

let misses = 0
let found = 0
let peerOk = 0
let counter = 0
const samples = await alternate(
  ROUNDS,
  WARMUP,
  async () => {
    const note = await memory.remember(`a new memory ${counter++}`)
    await replicasHold()
    if (cold.get(note.id) === undefined) misses++
    const t = now()
    const item = await cold.fetch(note.id, { signal: AbortSignal.timeout(30_000) })
    const ms = now() - t
    if (item !== undefined) found++
    return ms
  },
  async () => {
    const t = now()
    let got = false
    for await (const event of coldNode.dht.get(presenceKey(owner.address), {
      signal: AbortSignal.timeout(30_000)
    })) {
      if (event.name === 'VALUE') {
        got = true
        break
      }
    }
    const ping = (
      coldNode.libp2p.services as unknown as {
        ping: { ping(peer: unknown, options: { signal: AbortSignal }): Promise<number> }
      }
    ).ping
    await ping.ping((replicas[0] as DhtNode).libp2p.peerId, { signal: AbortSignal.timeout(30_000) })
    const ms = now() - t
    if (got) peerOk++
    return ms
  }
)
await cold.stop()
await memory.stop()
await net.stop()
report(
  'memory-cold',
  [
    {
      metric: 'cold fetch of a missing memory from a replica, p50',
      unit: 'ms',
      ours: Number(percentile(samples.ours, 50).toFixed(2)),
      peer: 'bare kad-dht get + one stream round trip',
      peerValue: Number(percentile(samples.peer, 50).toFixed(2)),
      better: 'lower',
      target: 1.5
    },
    {
      metric: 'misses fetched',
      unit: 'fetches',
      ours: found,
      peer: 'rounds',
      peerValue: ROUNDS + WARMUP,
      better: 'higher',
      target: 1
    }
  ],
  {
    p90: Number(percentile(samples.ours, 90).toFixed(2)),
    peerP90: Number(percentile(samples.peer, 90).toFixed(2)),
    misses,
    peerOk,
    preloaded: PRELOAD,
    rounds: ROUNDS,
    transport: 'memory'
  }
)
process.exit(0)
