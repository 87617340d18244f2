import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type DropDetail,
  encodeEnvelope,
  SEALED_CONTENT,
  seal,
  signEnvelope,
  type UnsignedEnvelope
} from './internal.js'
import { type ChannelNetwork, createChannelNetwork, type Peer, unsignedEnvelope, waitFor } from './helpers.js'

/** Small enough to fill in a test; every node of this network uses it. */
const MAX_SEEN = 4

let swarm: ChannelNetwork
const drops = new Map<Peer, DropDetail[]>()

beforeAll(async () => {
  swarm = await createChannelNetwork({ nodes: 3, channel: { maxSeenEntries: MAX_SEEN } })
  for (const peer of swarm.peers) {
    const list: DropDetail[] = []
    drops.set(peer, list)
    peer.channel.addEventListener('envelope:drop', (event) => list.push(event.detail))
  }
  await swarm.net.waitForMesh('agent-messages', { minPeers: 1, timeoutMs: 60_000 })
}, 120_000)

afterAll(async () => {
  await swarm?.stop()
})

function unsigned(from: string, topic: string, overrides: Partial<UnsignedEnvelope> = {}): UnsignedEnvelope {
  return unsignedEnvelope(swarm.net.network, from, topic, overrides)
}

const dropsOf = (peer: Peer, reason: string) => (drops.get(peer) ?? []).filter((d) => d.reason === reason)

describe('envelopes dropped on the wire', () => {
  it('a sealed envelope with no recipient is dropped as undecryptable and nothing undefined reaches a bus', async () => {
    const [sender, ...others] = swarm.peers.slice(1) as [Peer, ...Peer[]]
    const receivers = [swarm.peers[0] as Peer, ...others]
    // Validly signed by its publisher, sealed (to the sender itself), but with no `to`: nobody can open it.
    const envelope = await signEnvelope(
      sender.node.identity,
      unsigned(sender.node.address, 'agents/sealed-for-nobody', {
        ct: SEALED_CONTENT,
        body: seal(new Uint8Array([0xf6]), sender.node.address, sender.node.address)
      })
    )
    await sender.node.gossip.publish('agent-messages', encodeEnvelope(envelope))
    const arrived = () =>
      receivers.some(
        (p) =>
          dropsOf(p, 'undecryptable').length > 0 ||
          p.events.some((e) => e.topic === 'agents/sealed-for-nobody')
      )
    await waitFor(arrived, 60_000, 'the sealed envelope to reach a neighbour')
    for (const peer of receivers) {
      expect(peer.events.filter((e) => e.topic === 'agents/sealed-for-nobody')).toEqual([])
      for (const drop of dropsOf(peer, 'undecryptable')) expect(drop.action).toBe('ignore')
    }
    const counted = receivers.reduce((n, p) => n + (p.channel.stats().drops.undecryptable ?? 0), 0)
    expect(counted).toBeGreaterThan(0)
    for (const peer of swarm.peers) expect(peer.events.every((e) => e.payload !== undefined)).toBe(true)
  }, 60_000)

  it('a full seen-set ignores new envelopes (counted as seen-set-full) instead of forgetting ids', async () => {
    const sender = swarm.peers[1] as Peer
    const receivers = swarm.peers.filter((p) => p !== sender)
    for (let i = 0; i < MAX_SEEN + 3; i++) sender.bus.publish('agents/fill', { i })
    await waitFor(
      () =>
        receivers.every((p) => p.events.filter((e) => e.topic === 'agents/fill').length === MAX_SEEN) &&
        receivers.some((p) => (p.channel.stats().drops['seen-set-full'] ?? 0) > 0),
      60_000,
      `every receiver to take ${MAX_SEEN} envelopes and a neighbour of the sender to refuse the rest`
    )
    for (const peer of receivers) {
      expect(peer.channel.stats().seenSize).toBe(MAX_SEEN)
      for (const drop of dropsOf(peer, 'seen-set-full')) expect(drop.action).toBe('ignore')
      expect(dropsOf(peer, 'seen-set-full').length).toBe(peer.channel.stats().drops['seen-set-full'] ?? 0)
    }
  }, 60_000)
})
