import { createBus } from '@araliya/bus'
import { createGraph } from '@araliya/crdt-graph'
import { generateIdentity } from '@araliya/identity'
import { expect, it } from 'vitest'
import { createChannel, direct, graphSync } from '../src/index.js'
// Stand-ins for '@araliya/dht-node' and '@araliya/crdt-graph' until their services land (see preset.ts).
import { graphSyncEndpoint } from '@araliya/crdt-graph'
import { createDhtNode } from '@araliya/dht-node'

it('the README example runs as written', async () => {
  // --- the README example, verbatim from here ---
  // Two agents on this machine; the first is the second's bootstrap.
  const alice = await generateIdentity()
  const bob = await generateIdentity()
  const services = () => ({ direct: direct(), graphSync: graphSync() })
  const aliceNode = await createDhtNode({
    identity: alice,
    role: 'bootstrap',
    network: 'readme',
    listen: ['/ip4/127.0.0.1/tcp/0'],
    services: services()
  })
  await aliceNode.start()
  const bobNode = await createDhtNode({
    identity: bob,
    network: 'readme',
    listen: ['/ip4/127.0.0.1/tcp/0'],
    bootstrap: aliceNode.getMultiaddrs().map(String),
    services: services()
  })
  await bobNode.start()

  // A channel per node: the identity signs, the node's services carry.
  const aliceBus = createBus()
  const bobBus = createBus()
  const aliceChannel = createChannel({
    identity: alice,
    bus: aliceBus,
    services: aliceNode.libp2p.services,
    datastore: aliceNode.datastore
  })
  const bobChannel = createChannel({
    identity: bob,
    bus: bobBus,
    services: bobNode.libp2p.services,
    datastore: bobNode.datastore
  })
  await aliceChannel.start()
  await bobChannel.start()

  // Direct: end-to-end encrypted, acknowledged, queued and retried while the recipient is offline.
  const notes: unknown[] = []
  bobBus.subscribe('direct/*', (event) => void notes.push(event.payload))
  const receipt = await aliceChannel.send(bob.address, 'direct/note', { text: 'just for you' })

  // Broadcast: a local bus event goes out signed; remote ones come in tagged with their origin.
  const heard = new Promise((resolve) => bobBus.subscribe('agents/*', resolve))
  aliceBus.publish('agents/hello', { text: 'hi swarm' })
  const hello = await heard

  // Graph sync: each graph's sessions run over the graphSync service.
  const aliceGraph = createGraph({ identity: alice })
  const bobGraph = createGraph({ identity: bob })
  await aliceGraph.start()
  await bobGraph.start()
  const arrived = new Promise((resolve) => bobGraph.subscribe({ space: alice.address }, resolve))
  await aliceChannel.syncGraph(graphSyncEndpoint(aliceGraph))
  await bobChannel.syncGraph(graphSyncEndpoint(bobGraph))
  await aliceGraph.put(`${alice.address}/notes/1`, { text: 'synced' })
  await arrived

  // On shutdown (the channel stops its graph syncs)
  await aliceChannel.stop()
  await bobChannel.stop()
  await aliceGraph.stop()
  await bobGraph.stop()
  await bobNode.stop()
  await aliceNode.stop()
  // --- end of the README example ---

  expect(receipt).toMatchObject({ to: bob.address, duplicate: false })
  expect(notes).toEqual([{ text: 'just for you' }])
  expect(hello).toMatchObject({
    topic: 'agents/hello',
    payload: { text: 'hi swarm' },
    origin: { kind: 'remote', peer: alice.address }
  })
  expect(bobGraph.get(`${alice.address}/notes/1`)).toEqual({ text: 'synced' })
}, 60_000)
