// Your own libp2p node with Araliya's services: it joins a swarm of reference nodes, finds an agent by
// its address, and syncs that agent's graph space. Run it next to `araliya start` (see
// docs/composing-a-node.md): ARALIYA_BOOTSTRAP is a multiaddr the reference node printed, ARALIYA_AGENT
// the address of the agent to find.
import { graphSync } from '@araliya/channel-p2p'
import { createGraph, graphSyncEndpoint } from '@araliya/crdt-graph'
import { araliyaRecordRules, gossip, presence } from '@araliya/dht-node'
import { generateIdentity } from '@araliya/identity'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

const bootstrap = process.env.ARALIYA_BOOTSTRAP ?? ''
const wanted = process.env.ARALIYA_AGENT ?? ''
const network = process.env.ARALIYA_NETWORK ?? 'main'

const identity = await generateIdentity()
const node = await createLibp2p({
  privateKey: identity.privateKey,
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: {
    // libp2p's, configured for the Araliya network you join
    identify: identify(),
    ping: ping(),
    dht: kadDHT({
      protocol: `/araliya/${network}/kad/1.0.0`,
      clientMode: false,
      // keeps loopback and LAN addresses (the default mapper drops them); fine on a public network too
      peerInfoMapper: passthroughMapper,
      ...araliyaRecordRules()
    }),
    pubsub: gossipsub({ globalSignaturePolicy: 'StrictSign' }),
    // Araliya's, next to whatever services your app already has
    gossip: gossip({ network }),
    presence: presence(),
    graphSync: graphSync()
  }
})

await node.dial(multiaddr(bootstrap))
const agent = await node.services.presence.findAgent(wanted, { signal: AbortSignal.timeout(30_000) })
console.log(`found ${agent.address} at ${agent.multiaddrs.map(String).join(' ')}`)

// A graph of our own that asks for the agent's space, synced with that agent only.
const graph = createGraph({ identity })
await graph.start()
const record = `${agent.address}/node`
const arrived = new Promise<void>((resolve) => {
  const check = (): void => {
    if (graph.get(record) !== undefined) resolve()
  }
  graph.events.addEventListener('field:changed', check)
  check()
})
const sync = await node.services.graphSync.sync(graphSyncEndpoint(graph, { spaces: [agent.address] }), {
  peers: (peer) => peer === agent.address
})
await node.services.presence.dialAgent(agent.address)
await arrived
console.log(`synced its public record: ${JSON.stringify(graph.get(record))}`)

await sync.stop()
await graph.stop()
await node.stop()
