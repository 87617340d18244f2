import { type BusEvent, createBus } from '@araliya/bus'
import { createGraph, type Graph, graphSyncEndpoint } from '@araliya/crdt-graph'
import { memoryAddress, waitFor } from '@araliya/dht-node/testing'
import { generateIdentity, type Identity } from '@araliya/identity'
import {
  type AgentLocator,
  NotStartedError,
  type SwarmGossip,
  type SwarmGossipMessage,
  type SwarmGossipValidator
} from '@araliya/interface'
import type { Connection } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'
import { memory } from '@libp2p/memory'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  ChannelNotStartedError,
  createChannel,
  DeliveryError,
  type DirectMessages,
  direct,
  type GraphSyncCarrier,
  graphSync,
  InvalidGraphSyncOptionsError,
  type P2PChannel
} from '../src/index.js'

/** Where each test node listens, by address: what a presence service would find in the DHT. */
const listening = new Map<string, string>()

/** A `presence` service that dials the address a node listens on (no DHT). */
function staticPresence(): (components: {
  connectionManager: ConnectionManager
}) => AgentLocator<Connection> {
  return ({ connectionManager }) => ({
    async findAgent(address) {
      const addr = listening.get(address)
      if (addr === undefined) throw new Error(`${address} is not listening`)
      return { address, multiaddrs: [addr] }
    },
    async dialAgent(address, options) {
      const addr = listening.get(address)
      if (addr === undefined) throw new Error(`${address} is not listening`)
      return connectionManager.openConnection(multiaddr(`${addr}/p2p/${address}`), options)
    }
  })
}

/** An in-process `SwarmGossip` hub: every member's validators judge what another member publishes. */
class GossipHub {
  readonly members = new Map<
    string,
    { topics: Set<string>; validators: Map<string, Set<SwarmGossipValidator>> }
  >()
  #sequence = 0n

  join(address: string): SwarmGossip {
    const member = { topics: new Set<string>(), validators: new Map<string, Set<SwarmGossipValidator>>() }
    this.members.set(address, member)
    return {
      network: 'hub',
      subscribe: (topic) => void member.topics.add(topic),
      unsubscribe: (topic) => void member.topics.delete(topic),
      publish: async (topic, data) => {
        let recipients = 0
        const message: SwarmGossipMessage = {
          topic,
          fullTopic: `/araliya/hub/${topic}`,
          data,
          from: address,
          sequenceNumber: ++this.#sequence,
          propagationSource: address
        }
        for (const [other, { topics, validators }] of this.members) {
          if (other === address || !topics.has(topic)) continue
          recipients++
          for (const validator of validators.get(topic) ?? []) await validator(message)
        }
        return { recipients }
      },
      addValidator: (topic, validator) => {
        const set = member.validators.get(topic) ?? new Set()
        set.add(validator)
        member.validators.set(topic, set)
        return () => set.delete(validator)
      }
    }
  }
}

interface PlainNode {
  identity: Identity
  libp2p: Libp2p<{ direct: DirectMessages; graphSync: GraphSyncCarrier }>
  channel: P2PChannel
  events: BusEvent[]
  graph: Graph
}

const hub = new GossipHub()
const nodes: PlainNode[] = []

async function plainNode(): Promise<PlainNode> {
  const identity = await generateIdentity()
  const listen = memoryAddress()
  const libp2p = await createLibp2p({
    privateKey: identity.privateKey,
    addresses: { listen: [listen] },
    transports: [memory()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      presence: staticPresence(),
      direct: direct({ initialRetryDelayMs: 50, attemptTimeoutMs: 2000 }),
      graphSync: graphSync()
    }
  })
  listening.set(identity.address, listen)
  const bus = createBus()
  const events: BusEvent[] = []
  bus.subscribe('*', (event) => void events.push(event), { delivery: 'sync', name: 'test-log' })
  const channel = createChannel({
    identity,
    bus,
    gossip: hub.join(identity.address),
    services: libp2p.services
  })
  const graph = createGraph({ identity })
  await graph.start()
  await channel.start()
  return { identity, libp2p, channel, events, graph }
}

beforeAll(async () => {
  nodes.push(await plainNode(), await plainNode())
}, 60_000)

afterAll(async () => {
  for (const node of nodes) {
    await node.channel.stop()
    await node.libp2p.stop()
    await node.graph.stop()
  }
})

describe('Araliya services on a plain createLibp2p node', () => {
  it('a channel over any SwarmGossip carries bus events, signed and tagged with their origin', async () => {
    const [a, b] = nodes as [PlainNode, PlainNode]
    await a.channel.publish('agent-messages', 'agents/hello', { text: 'hi' })
    await waitFor(() => b.events.some((e) => e.topic === 'agents/hello'), 20_000, 'the event on B')
    expect(b.events.find((e) => e.topic === 'agents/hello')).toMatchObject({
      payload: { text: 'hi' },
      origin: { kind: 'remote', peer: a.identity.address }
    })
  })

  it('direct: a message reaches the recipient through the presence service, acknowledged once', async () => {
    const [a, b] = nodes as [PlainNode, PlainNode]
    const delivered: string[] = []
    a.channel.addEventListener('direct:delivered', (event) => delivered.push(event.detail.id))
    const receipt = await a.channel.send(b.identity.address, 'direct/note', { text: 'for B' })
    expect(receipt).toMatchObject({ to: b.identity.address, duplicate: false, attempts: 1 })
    expect(delivered).toEqual([receipt.id])
    await waitFor(() => b.events.some((e) => e.topic === 'direct/note'), 20_000, 'the note on B')
    expect(b.events.filter((e) => e.topic === 'direct/note').map((e) => e.payload)).toEqual([
      { text: 'for B' }
    ])
    expect(b.libp2p.services.direct.stats().directReceived).toBeGreaterThanOrEqual(1)
  })

  it('graphSync: two graphs converge over the service, through a SyncEndpoint', async () => {
    const [a, b] = nodes as [PlainNode, PlainNode]
    const handleA = await a.libp2p.services.graphSync.sync(graphSyncEndpoint(a.graph), { retryDelayMs: 100 })
    const handleB = await b.channel.syncGraph(graphSyncEndpoint(b.graph), { retryDelayMs: 100 })
    try {
      await a.graph.put(`${a.identity.address}/notes/1`, { text: 'from A' })
      await b.graph.put(`${b.identity.address}/notes/1`, { text: 'from B' })
      await a.libp2p.dial(multiaddr(`${listening.get(b.identity.address)}/p2p/${b.identity.address}`))
      await waitFor(
        () =>
          a.graph.get(`${b.identity.address}/notes/1`) !== undefined &&
          b.graph.get(`${a.identity.address}/notes/1`) !== undefined,
        20_000,
        'both graphs to converge'
      )
      expect(b.graph.get(`${a.identity.address}/notes/1`)).toEqual({ text: 'from A' })
      expect([...handleA.sessions(), ...handleB.sessions()].map((s) => s.peer).sort()).toEqual(
        [a.identity.address, b.identity.address].sort()
      )
    } finally {
      await handleA.stop()
      await handleB.stop()
    }
  })

  it('services start and stop twice without harm', async () => {
    const service = nodes[0]?.libp2p.services.direct as DirectMessages
    await service.start()
    expect(service.isStarted()).toBe(true)
    const carrier = nodes[0]?.libp2p.services.graphSync as GraphSyncCarrier
    carrier.start()
    expect(carrier.isStarted()).toBe(true)
  })
})

describe('a channel without the optional parts', () => {
  it('needs gossip; send needs direct; syncGraph needs graphSync; neither works before start', async () => {
    const identity = await generateIdentity()
    const bus = createBus()
    expect(() => createChannel({ identity, bus })).toThrowError(TypeError)
    expect(() => createChannel({ identity, bus, services: { gossip: { publish: 'no' } } })).toThrowError(
      /gossip service has no publish/
    )
    const channel = createChannel({ identity, bus, gossip: hub.join(identity.address) })
    const early = await channel.send(identity.address, 'direct/x', {}).catch((err: unknown) => err)
    expect(ChannelNotStartedError.isInstance(early)).toBe(true)
    expect(NotStartedError.isInstance(early)).toBe(true)
    expect((early as ChannelNotStartedError).code).toBe('ERR_CHANNEL_NOT_STARTED')
    await channel.start()
    try {
      await expect(channel.send(identity.address, 'direct/x', {})).rejects.toSatisfy((err: unknown) =>
        DeliveryError.isInstance(err)
      )
      await expect(channel.syncGraph(graphSyncEndpoint(nodes[0]?.graph as Graph))).rejects.toSatisfy(
        (err: unknown) => InvalidGraphSyncOptionsError.isInstance(err)
      )
    } finally {
      await channel.stop()
      bus.close()
    }
  })
})
