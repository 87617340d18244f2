import { type Bus, type BusEvent, createBus } from '@araliya/bus'
import { createSyncPeer, type Graph, SYNC_PROTOCOL_ID, type SyncPeerInit } from '@araliya/crdt-graph'
import type { DhtNode } from '@araliya/dht-node'
import { createTestNetwork, type TestNetwork, waitFor } from '@araliya/dht-node/testing'
import type { AgentLocator, SwarmGossip, SyncEndpoint } from '@araliya/interface'
import type { Connection, PeerId } from '@libp2p/interface'
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

/** The DhtNode of each peer id, for {@link presenceShim}. */
const nodesByPeer = new Map<string, DhtNode>()

/** Makes `node` findable by {@link presenceShim} (call once it exists). */
export function registerNode(node: DhtNode): DhtNode {
  nodesByPeer.set(node.address, node)
  return node
}

/**
 * A `presence` service for this branch's dht-node, whose presence is not a service yet: it forwards to the
 * DhtNode registered for the libp2p node's peer id (the dht-node preset provides the real one).
 */
function presenceShim(): (components: { peerId: PeerId }) => AgentLocator<Connection> {
  return (components) => {
    const node = (): DhtNode => {
      const found = nodesByPeer.get(components.peerId.toString())
      if (found === undefined) throw new Error('registerNode(node) was not called for this node')
      return found
    }
    return {
      findAgent: (address, options) => node().findAgent(address, options),
      dialAgent: (address, options) => node().dialAgent(address, options)
    }
  }
}

/**
 * A `gossip` service for this branch's dht-node, whose gossip is not a service yet: it forwards to the
 * registered DhtNode's gossip layer (the dht-node preset provides the real one).
 */
function gossipShim(): (components: { peerId: PeerId }) => SwarmGossip {
  return (components) => {
    const gossip = (): SwarmGossip => {
      const found = nodesByPeer.get(components.peerId.toString())
      if (found === undefined) throw new Error('registerNode(node) was not called for this node')
      return found.gossip as SwarmGossip
    }
    return {
      get network() {
        return gossip().network
      },
      subscribe: (topic) => gossip().subscribe(topic),
      unsubscribe: (topic) => gossip().unsubscribe(topic),
      publish: (topic, data, options) => gossip().publish(topic, data, options),
      addValidator: (topic, validator) => gossip().addValidator(topic, validator)
    }
  }
}

/**
 * The `gossip` and `presence` services the dht-node preset provides once they are services; on this
 * branch, stand-ins that forward to the DhtNode (register it with {@link registerNode}).
 */
export function presetServices(): Record<string, (components: never) => unknown> {
  return { gossip: gossipShim(), presence: presenceShim() }
}

/** The services channel-p2p needs on a node: `direct`, `graphSync`, and (for this branch) `presence`. */
export function channelServices(directInit: DirectInit = {}): Record<string, (components: never) => unknown> {
  return { direct: direct(directInit), graphSync: graphSync(), presence: presenceShim() }
}

/** The parts of a (this branch's) DhtNode a channel takes. */
export function nodeParts(
  node: DhtNode
): Pick<ChannelInit, 'identity' | 'gossip' | 'services' | 'datastore'> {
  return {
    identity: node.identity,
    gossip: node.gossip,
    services: node.libp2p.services as ChannelServices,
    datastore: node.datastore
  }
}

/**
 * crdt-graph's sync peer as a {@link SyncEndpoint}, until crdt-graph's own `graphSyncEndpoint` is here.
 */
export function syncEndpoint(
  graph: Graph,
  options: Pick<SyncPeerInit, 'spaces' | 'share' | 'limits'> = {}
): SyncEndpoint {
  return {
    protocol: SYNC_PROTOCOL_ID,
    open(init) {
      const peer = createSyncPeer(graph, {
        ...options,
        peer: init.peer,
        send: init.send,
        ...(init.onError === undefined ? {} : { onError: init.onError }),
        ...(init.onMisbehaviour === undefined ? {} : { onMisbehaviour: init.onMisbehaviour })
      })
      return {
        peer: init.peer,
        get stats() {
          return peer.stats as unknown as Readonly<Record<string, number>>
        },
        start: () => peer.start(),
        stop: () => peer.stop(),
        receive: (bytes) => peer.receive(bytes)
      }
    }
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
      registerNode(node)
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
