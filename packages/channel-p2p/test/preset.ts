// The README example imports `createDhtNode` from '@araliya/dht-node' and `graphSyncEndpoint` from
// '@araliya/crdt-graph'. In this tree the preset does not yet run `gossip` and `presence` as libp2p
// services, and crdt-graph has no `graphSyncEndpoint`: these stand-ins give both their final shape, so
// test/readme.test.ts runs the example's code as written. Import the real ones once they exist.
import { createDhtNode as createPreset, type DhtNode, type DhtNodeInit } from '@araliya/dht-node'
import { presetServices, registerNode, syncEndpoint } from './helpers.js'

export async function createDhtNode(init: DhtNodeInit): Promise<DhtNode> {
  const node = await createPreset({ ...init, services: { ...presetServices(), ...init.services } })
  return registerNode(node)
}

export const graphSyncEndpoint = syncEndpoint
