import { generateIdentity } from '@araliya/identity'
import type { AgentLocator, SwarmGossip } from '@araliya/interface'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { memory } from '@libp2p/memory'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  AgentNotFoundError,
  araliyaRecordRules,
  ethRecords,
  GossipValidation,
  gossip,
  nodeStatus,
  presence,
  routingGuard,
  skills
} from '../src/index.ts'
import { createDhtNode } from '../src/node.ts'
import { createTestNetwork, memoryAddress, type TestNetwork, waitFor } from '../src/testing.ts'

async function plainNode(network: string, start = true) {
  const identity = await generateIdentity()
  return createLibp2p({
    start,
    privateKey: identity.privateKey,
    addresses: { listen: [memoryAddress()] },
    transports: [memory()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { inboundConnectionThreshold: 10_000 },
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({
        protocol: `/araliya/${network}/kad/1.0.0`,
        clientMode: false,
        peerInfoMapper: passthroughMapper,
        ...araliyaRecordRules()
      }),
      pubsub: gossipsub({ globalSignaturePolicy: 'StrictSign', allowPublishToZeroTopicPeers: true }),
      gossip: gossip({ network }),
      presence: presence(),
      skills: skills(),
      nodeStatus: nodeStatus({ intervalMs: 0 }),
      routingGuard: routingGuard({ network }),
      ethRecords: ethRecords()
    }
  })
}

describe('a plain createLibp2p node with Araliya services (no createDhtNode)', () => {
  let net: TestNetwork
  beforeAll(async () => {
    net = await createTestNetwork({ bootstraps: 1, nodes: 3 })
  }, 60_000)
  afterAll(async () => {
    await net?.stop()
  })

  it('joins a network of preset nodes, finds agents by address and is found by them', async () => {
    const network = net.bootstraps[0]!.network
    const node = await plainNode(network)
    try {
      const published = new Promise((resolve) =>
        node.services.presence.addEventListener('presence:publish', resolve, { once: true })
      )
      await node.start()
      await node.dial(multiaddr(net.bootstraps[0]!.getMultiaddrs()[0]!.toString()))
      await published

      const target = net.full[1]!
      const info = await node.services.presence.findAgent(target.address, {
        signal: AbortSignal.timeout(20_000)
      })
      expect(info.address).toBe(target.address)
      expect(info.multiaddrs.length).toBeGreaterThan(0)
      const connection = await node.services.presence.dialAgent(target.address)
      expect(connection.remotePeer.toString()).toBe(target.address)

      // …and the preset nodes find the plain node through its own presence record.
      const back = await net.full[2]!.findAgent(node.peerId.toString(), {
        signal: AbortSignal.timeout(20_000)
      })
      expect(back.address).toBe(node.peerId.toString())
      await expect(
        node.services.presence.findAgent((await generateIdentity()).address, {
          signal: AbortSignal.timeout(20_000)
        })
      ).rejects.toSatisfy((err) => AgentNotFoundError.isInstance(err))

      // Skills and gossip through the services.
      await node.services.skills.provide('composing')
      const providers = await net.full[0]!.findSkillProviders('composing')
      expect(providers.map((p) => p.address)).toContain(node.peerId.toString())
      const got: string[] = []
      target.gossip.addValidator('agent-messages', () => GossipValidation.Accept)
      target.gossip.addEventListener('gossip:message', (event) => {
        if (event.detail.from === node.peerId.toString())
          got.push(new TextDecoder().decode(event.detail.data))
      })
      await waitFor(
        () => node.services.gossip.getSubscribers('agent-messages').length > 0,
        20_000,
        'a subscriber of agent-messages'
      )
      await waitFor(
        async () => {
          await node.services.gossip.publish(
            'agent-messages',
            new TextEncoder().encode('hi from plain libp2p')
          )
          return got.length > 0
        },
        30_000,
        'gossip from the plain node'
      )
      expect(got[0]).toBe('hi from plain libp2p')
      expect(node.services.nodeStatus.getStatus().address).toBe(node.peerId.toString())
    } finally {
      await node.stop()
    }
  })

  it('services are safe to start and stop twice and refuse use before start', async () => {
    const node = await plainNode(net.bootstraps[0]!.network, false)
    await expect(node.services.presence.findAgent(net.full[0]!.address)).rejects.toThrow(/not started/)
    await node.start()
    await node.services.presence.start()
    await node.stop()
    await node.services.presence.stop()
    expect(node.services.presence.isStarted()).toBe(false)
  })

  it('the gossip and presence services are the interface contracts channel-p2p consumes', async () => {
    const node = await plainNode(net.bootstraps[0]!.network, false)
    const swarmGossip: SwarmGossip = node.services.gossip
    const locator: AgentLocator = node.services.presence
    expect(swarmGossip.network).toBe(net.bootstraps[0]!.network)
    expect(typeof locator.findAgent).toBe('function')
    expect(typeof locator.dialAgent).toBe('function')
  })

  it('the preset merges extra services, which find the preset services by name', async () => {
    let seen: { gossip: SwarmGossip; presence: AgentLocator } | undefined
    const node = await createDhtNode({
      identity: await generateIdentity(),
      network: net.bootstraps[0]!.network,
      transports: [memory()],
      listen: [memoryAddress()],
      statusIntervalMs: 0,
      services: {
        probe: (components: { gossip: SwarmGossip; presence: AgentLocator }) => {
          seen = { gossip: components.gossip, presence: components.presence }
          return { name: 'probe' }
        }
      }
    })
    expect(node.libp2p.services.probe).toEqual({ name: 'probe' })
    expect(seen?.gossip).toBe(node.gossip)
    expect(seen?.presence).toBe(node.libp2p.services.presence)
  })

  it('emits one bootstrap:retry per failed dial with the attempt and the next delay', async () => {
    const unreachable = `${memoryAddress()}/p2p/${(await generateIdentity()).address}`
    const node = await createDhtNode({
      identity: await generateIdentity(),
      network: net.bootstraps[0]!.network,
      transports: [memory()],
      listen: [memoryAddress()],
      statusIntervalMs: 0,
      bootstrap: [unreachable],
      bootstrapRetry: { initialDelayMs: 50, maxDelayMs: 200 }
    })
    const retries: Array<{ multiaddr: string; attempt: number; delayMs: number }> = []
    node.addEventListener('bootstrap:retry', (event) => retries.push(event.detail))
    await node.start()
    try {
      await waitFor(() => retries.length >= 3, 20_000, 'three retries')
      expect(retries.slice(0, 3).map((r) => r.attempt)).toEqual([1, 2, 3])
      for (const retry of retries) {
        expect(retry.multiaddr).toBe(unreachable)
        expect(retry.delayMs).toBeGreaterThan(0)
        expect(retry.delayMs).toBeLessThanOrEqual(250)
      }
    } finally {
      await node.stop()
    }
  })
})
