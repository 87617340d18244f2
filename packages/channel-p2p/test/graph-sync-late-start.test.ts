import { createGraph, graphSyncEndpoint } from '@araliya/crdt-graph'
import { memoryAddress, waitFor } from '@araliya/dht-node/testing'
import { generateIdentity, type Identity } from '@araliya/identity'
import { memory } from '@libp2p/memory'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { expect, it } from 'vitest'
import { graphSync } from '../src/index.js'

async function plainNode(identity: Identity) {
  const listen = memoryAddress()
  const libp2p = await createLibp2p({
    privateKey: identity.privateKey,
    addresses: { listen: [listen] },
    transports: [memory()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { graphSync: graphSync() }
  })
  return { identity, libp2p, addr: multiaddr(`${listen}/p2p/${identity.address}`) }
}

// The lower address opens the sync stream. When the higher one starts syncing only after the two are
// connected, the lower one's first attempt meets no handler; it must try again, not wait for a reconnect
// that may never come (an app that connects first and starts sync later, as composing a node does).
it('a peer that starts graph sync after the connection is up is still synced with', async () => {
  const [low, high] = (await Promise.all([generateIdentity(), generateIdentity()])).sort((x, y) =>
    x.address < y.address ? -1 : 1
  ) as [Identity, Identity]
  const early = await plainNode(low)
  const late = await plainNode(high)
  const earlyGraph = createGraph({ identity: low })
  const lateGraph = createGraph({ identity: high })
  await earlyGraph.start()
  await lateGraph.start()
  await earlyGraph.put(`${low.address}/notes/1`, { text: 'from the early one' })
  const earlyHandle = await early.libp2p.services.graphSync.sync(graphSyncEndpoint(earlyGraph), {
    retryDelayMs: 100
  })
  try {
    await late.libp2p.dial(early.addr)
    // The early side has tried (and failed: nobody serves the protocol on the late side yet).
    await new Promise((resolve) => setTimeout(resolve, 300))
    const lateHandle = await late.libp2p.services.graphSync.sync(graphSyncEndpoint(lateGraph))
    try {
      await waitFor(
        () => lateGraph.get(`${low.address}/notes/1`) !== undefined,
        30_000,
        'the late starter to receive the early one’s graph'
      )
      expect(lateGraph.get(`${low.address}/notes/1`)).toEqual({ text: 'from the early one' })
    } finally {
      await lateHandle.stop()
    }
  } finally {
    await earlyHandle.stop()
    await Promise.all([early.libp2p.stop(), late.libp2p.stop()])
    await Promise.all([earlyGraph.stop(), lateGraph.stop()])
  }
})
