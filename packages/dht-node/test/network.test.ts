import { linkEthereumAddress } from '@araliya/identity'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DhtNode } from '../src/node.ts'
import { presenceKey } from '../src/presence.ts'
import { recordDatastoreKey } from '../src/records.ts'
import type { NodeStatus } from '../src/status.ts'
import { createTestNetwork, type TestNetwork, waitFor } from '../src/testing.ts'
import { fastNode, nextEvent, seededRandom, sleep } from './helpers.ts'

const encoder = new TextEncoder()
const decoder = new TextDecoder()

describe('a 21-node memory network (1 bootstrap, 17 full, 3 light)', () => {
  let net: TestNetwork
  const random = seededRandom(42)
  const pick = <T>(list: T[]): T => list[Math.floor(random() * list.length)] as T

  beforeAll(async () => {
    net = await createTestNetwork({ nodes: 17, lightNodes: 3, node: fastNode })
  }, 150_000)

  afterAll(async () => {
    await net?.stop()
  }, 60_000)

  it('resolves addresses to peer ids and multiaddrs from random nodes, with no local state', async () => {
    const pairs = Array.from({ length: 12 }, () => {
      const from = pick(net.all)
      let target = pick(net.all)
      while (target === from) target = pick(net.all)
      return [from, target] as const
    })
    await Promise.all(
      pairs.map(async ([from, target]) => {
        const info = await from.findAgent(target.address)
        expect(info.address).toBe(target.address)
        expect(info.peerId.toString()).toBe(target.libp2p.peerId.toString())
        expect(info.seq).toBeGreaterThanOrEqual(target.presence!.seq)
        expect(info.multiaddrs.map(String).sort()).toEqual([...(target.presence?.multiaddrs ?? [])].sort())
      })
    )
    // A node that never heard of the target before (fresh peer store) still resolves it.
    const fresh = await net.addNode('light', fastNode)
    const target = net.full[7]!
    await fresh.libp2p.hangUp(target.libp2p.peerId)
    await fresh.libp2p.peerStore.delete(target.libp2p.peerId)
    expect(await fresh.libp2p.peerStore.has(target.libp2p.peerId)).toBe(false)
    const info = await fresh.findAgent(target.address)
    expect(info.multiaddrs.length).toBeGreaterThan(0)
    const connection = await fresh.dialAgent(target.address)
    expect(connection.remotePeer.toString()).toBe(target.address)
  })

  it('finds skill providers through provider records', async () => {
    const translators = [net.full[2]!, net.full[9]!, net.full[15]!]
    const summariser = net.light[0]!
    await Promise.all(translators.map((node) => node.provideSkill('Translate')))
    await summariser.provideSkill('summarize')
    const seeker = net.light[1]!
    const found = await seeker.findSkillProviders('translate')
    expect(found.map((p) => p.address).sort()).toEqual(translators.map((n) => n.address).sort())
    const summarisers = await net.full[4]!.findSkillProviders('summarize')
    expect(summarisers.map((p) => p.address)).toEqual([summariser.address])
    expect(await net.full[5]!.findSkillProviders('no-such-skill', { limit: 5 })).toEqual([])
    // The presence record is republished with the new skill.
    await waitFor(() => translators[0]!.presence?.skills.includes('translate') === true, 60_000, 'republish')
    const info = await net.full[1]!.findAgent(translators[0]!.address)
    expect(info.skills).toContain('translate')
  })

  it('delivers every gossip message to every subscriber exactly once', async () => {
    await net.waitForMesh('agent-messages', { minPeers: 2, timeoutMs: 30_000 })
    const received = new Map<DhtNode, Map<string, number>>()
    const listeners: Array<() => void> = []
    for (const node of net.all) {
      const counts = new Map<string, number>()
      received.set(node, counts)
      const fn = (event: CustomEvent<{ topic: string; data: Uint8Array }>): void => {
        if (event.detail.topic !== 'agent-messages') return
        const text = decoder.decode(event.detail.data)
        counts.set(text, (counts.get(text) ?? 0) + 1)
      }
      node.addEventListener('gossip:message', fn)
      listeners.push(() => node.removeEventListener('gossip:message', fn))
    }
    const publishers = [net.full[0]!, net.full[11]!, net.light[2]!]
    const sent: Array<[DhtNode, string]> = []
    for (let round = 0; round < 4; round++) {
      for (const publisher of publishers) {
        const text = `${publisher.address}:${round}`
        await publisher.gossip.publish('agent-messages', encoder.encode(text))
        sent.push([publisher, text])
      }
    }
    const complete = (): boolean =>
      sent.every(([publisher, text]) =>
        net.all.every((node) => node === publisher || (received.get(node)?.get(text) ?? 0) >= 1)
      )
    await waitFor(complete, 60_000, 'every message at every node')
    await sleep(1500)
    for (const [publisher, text] of sent) {
      for (const node of net.all) {
        expect(received.get(node)?.get(text) ?? 0).toBe(node === publisher ? 0 : 1)
      }
    }
    for (const off of listeners) off()
  })

  it('publishes node-status heartbeats that every node receives and validates', async () => {
    const reporter = await net.addNode('full', { ...fastNode, statusIntervalMs: 400 })
    const observer = net.light[0]!
    const statuses: NodeStatus[] = []
    const fn = (event: CustomEvent<{ status: NodeStatus }>): void => {
      if (event.detail.status.address === reporter.address) statuses.push(event.detail.status)
    }
    observer.addEventListener('status:receive', fn)
    await waitFor(() => statuses.length >= 2, 60_000, 'two heartbeats')
    observer.removeEventListener('status:receive', fn)
    const status = statuses.at(-1)!
    expect(status.role).toBe('full')
    expect(status.peers).toBeGreaterThan(0)
    expect(status.dht.mode).toBe('server')
    expect(status.dht.routingTable).toBeGreaterThan(0)
    expect(Object.keys(status.mesh).sort()).toEqual(['agent-announcements', 'agent-messages', 'node-status'])
    expect(status.memory).toBeGreaterThan(0)
    expect(status.uptimeMs).toBeGreaterThan(0)
  })

  it('keeps light nodes out of routing tables; they store nothing for others yet read and write', async () => {
    const kadProtocol = `/araliya/${net.network}/kad/1.0.0`
    for (const light of net.light) {
      expect(light.dht.getMode()).toBe('client')
      expect(light.libp2p.getProtocols()).not.toContain(kadProtocol)
      for (const other of [...net.bootstraps, ...net.full]) {
        // biome-ignore lint/suspicious/noExplicitAny: the routing table is not part of the public KadDHT type
        const table = (other.dht as any).routingTable
        expect(await table.find(light.libp2p.peerId)).toBeUndefined()
      }
      // Nothing stored for others: only its own presence record (kad keeps the author's copy locally).
      const recordKeys: string[] = []
      for await (const key of light.datastore.queryKeys({ prefix: '/dht/record' }))
        recordKeys.push(key.toString())
      expect(recordKeys).toEqual([recordDatastoreKey(presenceKey(light.address)).toString()])
    }
    // Its own writes and reads still work through full nodes.
    const light = net.light[1]!
    const record = await light.publishPresence()
    const seen = await net.full[3]!.findAgent(light.address)
    expect(seen.seq).toBe(record.seq)
    expect((await light.findAgent(net.full[12]!.address)).address).toBe(net.full[12]!.address)
    // Full nodes did store records for others.
    const full = net.full[6]!
    let foreign = 0
    for await (const key of full.datastore.queryKeys({ prefix: '/dht/record' })) {
      if (key.toString() !== recordDatastoreKey(presenceKey(full.address)).toString()) foreign++
    }
    expect(foreign).toBeGreaterThan(0)
  })

  it('resolves a linked Ethereum address to the agent', async () => {
    const agent = net.full[13]!
    const ethKey = new Uint8Array(32).fill(7)
    const link = await linkEthereumAddress(agent.identity, ethKey)
    await agent.publishEthLink(link)
    const found = await net.light[2]!.findAgentByEth(link.eth.toLowerCase())
    expect(found.agent).toBe(agent.address)
    expect(found.eth).toBe(link.eth)
    expect(found.agentInfo?.address).toBe(agent.address)
    // Another agent cannot publish someone else's link.
    await expect(net.full[14]!.publishEthLink(link)).rejects.toThrow(/not/)
  })

  it('republishes presence before it expires and announces it on gossip', async () => {
    const watcher = net.full[10]!
    const before = Date.now()
    const announced = nextEvent(watcher, 'agent:announce', (detail) => detail.record.seq >= before, 60_000)
    const node = await net.addNode('full', {
      ...fastNode,
      presence: { ttlMs: 8000, republishIntervalMs: 1500 }
    })
    await announced
    const first = node.presence!
    await sleep(8500)
    // The first record has expired by now; the node must have replaced it.
    expect(Date.now()).toBeGreaterThan(first.expires)
    const info = await watcher.findAgent(node.address)
    expect(info.seq).toBeGreaterThan(first.seq)
    expect(info.expires).toBeGreaterThan(Date.now())
  })
})
