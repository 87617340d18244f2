import { type Bus, type BusEvent, createBus } from '@araliya/bus'
import type { DhtNode } from '@araliya/dht-node'
import { createTestNetwork, type TestNetwork, waitFor } from '@araliya/dht-node/testing'
import {
  CBOR_CONTENT,
  type ChannelInit,
  type ChannelServices,
  createChannel,
  type DirectInit,
  direct,
  graphSync,
  type P2PChannel,
  type UnsignedEnvelope
} from '../src/index.js'

/** The services channel-p2p adds to a node: `direct` and `graphSync`. */
export function channelServices(directInit: DirectInit = {}) {
  return { direct: direct(directInit), graphSync: graphSync() }
}

/** The parts of a preset node a channel takes: the key, the node's services, its datastore. */
export function nodeParts(node: DhtNode): Pick<ChannelInit, 'identity' | 'services' | 'datastore'> {
  return {
    identity: node.identity,
    services: node.libp2p.services as ChannelServices,
    datastore: node.datastore
  }
}

/** A node with its bus, channel and a log of what reached its bus from elsewhere. */
export interface Peer {
  node: DhtNode
  bus: Bus
  channel: P2PChannel
  /** Every event on this bus, in order. */
  events: BusEvent[]
}

export interface ChannelNetwork {
  net: TestNetwork
  peers: Peer[]
  stop(): Promise<void>
}

/** An in-process network (memory transport) with channel-p2p's services, a bus and a channel on every node. */
export async function createChannelNetwork(
  options: { nodes: number; channel?: Partial<ChannelInit>; direct?: DirectInit } = { nodes: 5 }
): Promise<ChannelNetwork> {
  const net = await createTestNetwork({
    bootstraps: 1,
    nodes: options.nodes,
    node: { services: channelServices(options.direct) }
  })
  const peers: Peer[] = []
  try {
    for (const node of net.all) {
      const bus = createBus()
      const events: BusEvent[] = []
      bus.subscribe('*', (event) => void events.push(event), { delivery: 'sync', name: 'test-log' })
      const channel = createChannel({ ...nodeParts(node), bus, ...options.channel })
      await channel.start()
      peers.push({ node, bus, channel, events })
    }
  } catch (err) {
    await net.stop()
    throw err
  }
  return {
    net,
    peers,
    async stop() {
      await Promise.allSettled(peers.map((p) => p.channel.stop()))
      for (const p of peers) p.bus.close()
      await net.stop()
    }
  }
}

export { waitFor }

/**
 * An envelope on `agent-messages` from `from` about `topic`, stamped now, with a fresh random id and a CBOR
 * `null` body; `overrides` change any field.
 */
export function unsignedEnvelope(
  net: string,
  from: string,
  topic: string,
  overrides: Partial<UnsignedEnvelope> = {}
): UnsignedEnvelope {
  const id = new Uint8Array(16)
  globalThis.crypto.getRandomValues(id)
  return {
    net,
    chan: 'agent-messages',
    from,
    id,
    hlc: Date.now() * 1024,
    ttl: 60_000,
    topic,
    ct: CBOR_CONTENT,
    body: new Uint8Array([0xf6]),
    ...overrides
  }
}
