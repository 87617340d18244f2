import { createSyncPeer, type Graph } from '@araliya/crdt-graph'

/** Syncs two graphs back to back until both are idle (a real app carries these bytes over libp2p). */
export async function syncPair(a: Graph, b: Graph): Promise<void> {
  const left = createSyncPeer(a, { peer: 'b', send: (bytes) => right.receive(bytes) })
  const right = createSyncPeer(b, { peer: 'a', send: (bytes) => left.receive(bytes) })
  await left.start()
  await right.start()
  await left.idle()
  await right.idle()
  left.stop()
  right.stop()
}
