// Two graphs synced back to back in one process, counting every byte exchanged both ways.
import { createSyncPeer, type Graph } from '@araliya/crdt-graph'

/** Syncs `a` and `b` until both sides are idle; returns the bytes exchanged (both directions). */
export async function syncBackToBack(a: Graph, b: Graph): Promise<number> {
  let bytes = 0
  const peerA = createSyncPeer(a, {
    peer: 'b',
    send: (message) => {
      bytes += message.byteLength
      return peerB.receive(message)
    }
  })
  const peerB = createSyncPeer(b, {
    peer: 'a',
    send: (message) => {
      bytes += message.byteLength
      return peerA.receive(message)
    }
  })
  await peerA.start()
  await peerB.start()
  await peerA.idle()
  await peerB.idle()
  peerA.stop()
  peerB.stop()
  return bytes
}
