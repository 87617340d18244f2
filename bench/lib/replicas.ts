// An in-process swarm (libp2p memory transport) with full nodes serving memory replication, for the
// memory scenarios that need replicas (memory-restore, memory-cold).
import { graphSync } from '@araliya/channel-p2p'
import { createGraph, type Graph } from '@araliya/crdt-graph'
import type { DhtNode } from '@araliya/dht-node'
import type { TestNetwork } from '@araliya/dht-node/testing'
import { generateIdentity } from '@araliya/identity'
import { type MemoryReplication, memoryReplication } from '@araliya/memory'

/** The services a node needs to take part in memory replication, in its role. */
export const replicationServices = (role: 'full' | 'light') => ({
  graphSync: graphSync(),
  memoryReplication: memoryReplication({ role })
})

/** A node's replication service. */
export const replication = (node: DhtNode): MemoryReplication =>
  (node.libp2p.services as unknown as { memoryReplication: MemoryReplication }).memoryReplication

/** Adds `count` full nodes that serve replication from their own graph, each announced in the DHT. */
export async function addReplicas(
  net: TestNetwork,
  count: number
): Promise<{ nodes: DhtNode[]; graphs: Graph[] }> {
  const nodes: DhtNode[] = []
  const graphs: Graph[] = []
  for (let i = 0; i < count; i++) {
    const identity = await generateIdentity()
    const node = await net.addNode('full', { identity, services: replicationServices('full') })
    const graph = createGraph({ identity })
    await graph.start()
    const provided = new Promise((resolve) =>
      replication(node).addEventListener('replica:provided', resolve, { once: true })
    )
    await replication(node).serve(graph)
    await provided
    nodes.push(node)
    graphs.push(graph)
  }
  return { nodes, graphs }
}
