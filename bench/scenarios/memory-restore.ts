// memory-restore: a new device with only the owner key restores 10k memories from 2 full-node replicas
// (find the replicas in the DHT, sync, verify every commit, decrypt, catalogue) over the libp2p memory
// transport; side by side with a Yjs full-state sync of a document holding the same texts over a libp2p
// stream between the same kind of nodes. Times the restore, not the setup (writing the memories, the
// replicas taking them in, starting the new device's node).
import type { DhtNode } from '@araliya/dht-node'
import { createTestNetwork } from '@araliya/dht-node/testing'
import { identityFromSeed } from '@araliya/identity'
import { createMemory, restoreMemory } from '@araliya/memory'
import { lpStream } from '@libp2p/utils'
import * as Y from 'yjs'
import { addReplicas, replication, replicationServices } from '../lib/replicas.ts'
import { alternate, FULL, median, now, report } from '../lib/report.ts'

const MEMORIES = FULL ? 50_000 : 10_000
const ROUNDS = FULL ? 5 : 3
/** Writes issued together (not awaited one by one). */
const BATCH = Number(process.env.MEMORY_RESTORE_BATCH ?? 100)
const YJS_PROTOCOL = '/bench/yjs-state/1.0.0'
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})

const texts = Array.from(
  { length: MEMORIES },
  (_, i) => `memory ${i}: the user mentioned item ${(i * 7919) % 100_003} while talking about topic ${i % 97}`
)

const net = await createTestNetwork({ bootstraps: 1, nodes: 2, waitForPresence: false })
// Two full nodes replicate.
const { nodes: replicas } = await addReplicas(net, 2)

// The owner's device writes 10k memories, issued 100 at a time as memory-sync does (an agent records a
// turn with what it learnt from it; group commit makes each batch one signed commit), and asks for 2
// replicas. MEMORY_RESTORE_BATCH=1 awaits each write alone (one commit per memory).
const seed = new Uint8Array(32).fill(7)
const ownerKey = await identityFromSeed(seed)
const device = await net.addNode('light', { identity: ownerKey, services: replicationServices('light') })
const memory = createMemory({ identity: ownerKey })
await memory.start()
const writeStart = now()
for (let i = 0; i < texts.length; i += BATCH) {
  await Promise.all(texts.slice(i, i + BATCH).map((text) => memory.remember(text)))
}
const writeMs = now() - writeStart
await replication(device).serve(memory.graph, { spaces: [memory.owner] })
const ownerHeads = memory.graph.versionVector(new Set([memory.owner]))
const held = (node: DhtNode): boolean => {
  const graph = replication(node).graph
  return graph !== undefined && ownerHeads.every((h) => graph.hasCommit(h.space, h.author, h.seq, h.head))
}
const everywhere = Promise.all(
  replicas.map(
    (node) =>
      new Promise<void>((resolve) => {
        const graph = replication(node).graph
        const look = (): void => {
          if (!held(node)) return
          graph?.events.removeEventListener('commit:accepted', look)
          resolve()
        }
        graph?.events.addEventListener('commit:accepted', look)
        look()
      })
  )
)
const receipt = await replication(device).request(ownerKey, { replicas: 2 })
if (receipt.accepted.length !== 2) throw new Error(`only ${receipt.accepted.length} replicas accepted`)
await everywhere
await memory.stop()
await device.stop()

// ours: a new device (its node started before the clock runs) restores with only the key.
let restoredCount = 0
let lastCommits = 0
async function ours(): Promise<number> {
  gc()
  const node = await net.addNode('light', { services: replicationServices('light') })
  const start = now()
  const restored = await restoreMemory({
    identity: await identityFromSeed(seed),
    node: replication(node),
    onProgress: (p) => {
      if (process.env.BENCH_DEBUG) console.error(Math.round(now() - start), JSON.stringify(p))
      if (p.phase === 'done') lastCommits = p.commits
    },
    signal: AbortSignal.timeout(120_000)
  })
  const ms = now() - start
  restoredCount = restored.list().length
  await restored.stop()
  await node.stop()
  return ms
}

// peer: Yjs, one document holding the same texts, sent whole (state as update) over a libp2p stream.
const source = new Y.Doc()
source.transact(() => {
  const map = source.getMap<string>('memories')
  for (const [i, text] of texts.entries()) map.set(`m${i}`, text)
})
const sourceNode = replicas[0] as DhtNode
await sourceNode.libp2p.handle(YJS_PROTOCOL, async (stream) => {
  const lp = lpStream(stream, { maxDataLength: 64 * 1024 * 1024 })
  const vector = (await lp.read()).subarray()
  await lp.write(Y.encodeStateAsUpdate(source, vector))
  await stream.close()
})
let yjsBytes = 0
let yjsCount = 0
async function yjs(): Promise<number> {
  gc()
  const node = await net.addNode('light')
  await node.libp2p.dial(sourceNode.libp2p.peerId)
  const start = now()
  const doc = new Y.Doc()
  const stream = await node.libp2p.dialProtocol(sourceNode.libp2p.peerId, YJS_PROTOCOL)
  const lp = lpStream(stream, { maxDataLength: 64 * 1024 * 1024 })
  await lp.write(Y.encodeStateVector(doc))
  const update = (await lp.read()).subarray()
  Y.applyUpdate(doc, update)
  yjsCount = doc.getMap('memories').size
  const ms = now() - start
  yjsBytes = update.byteLength
  await stream.close()
  doc.destroy()
  await node.stop()
  return ms
}

const timed = await alternate(ROUNDS, 1, ours, yjs)
await net.stop()
if (restoredCount !== MEMORIES || yjsCount !== MEMORIES)
  throw new Error(`restored ${restoredCount} memories, yjs ${yjsCount}; expected ${MEMORIES}`)
report(
  'memory-restore',
  [
    {
      metric: `restore ${MEMORIES} memories from 2 replicas (find, sync, verify, decrypt, catalogue)`,
      unit: 'ms',
      ours: Number(median(timed.ours).toFixed(1)),
      peer: 'yjs full-state sync over a libp2p stream',
      peerValue: Number(median(timed.peer).toFixed(1)),
      better: 'lower',
      target: 3
    }
  ],
  {
    memories: MEMORIES,
    commits: lastCommits,
    rounds: ROUNDS,
    yjsBytes,
    setupWriteMs: Math.round(writeMs),
    transport: 'memory',
    encrypted: true,
    signed: true
  }
)
process.exit(0)
