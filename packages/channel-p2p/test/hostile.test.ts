import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type DropDetail, encodeEnvelope, signEnvelope, type UnsignedEnvelope } from '../src/index.js'
import { type ChannelNetwork, createChannelNetwork, type Peer, unsignedEnvelope, waitFor } from './helpers.js'

let swarm: ChannelNetwork
let mallory: Peer
let honest: Peer[]
const drops = new Map<string, DropDetail[]>()

beforeAll(async () => {
  swarm = await createChannelNetwork({ nodes: 5, channel: { rateLimit: { burst: 20, ratePerSecond: 5 } } })
  ;[, mallory, ...honest] = swarm.peers as [Peer, Peer, ...Peer[]]
  for (const peer of swarm.peers) {
    const list: DropDetail[] = []
    drops.set(peer.node.address, list)
    peer.channel.addEventListener('envelope:drop', (event) => list.push(event.detail))
  }
  await swarm.net.waitForMesh('agent-messages', { minPeers: 1 })
}, 90_000)

afterAll(async () => {
  await swarm?.stop()
})

function unsigned(from: string, topic = 'agents/x'): UnsignedEnvelope {
  return unsignedEnvelope(swarm.net.network, from, topic)
}

/** Rejections blamed on anyone but mallory (there must be none). */
const rejectsOfHonestPeers = () =>
  [...drops.values()].flat().filter((d) => d.action === 'reject' && d.peer !== mallory.node.address)

describe('hostile peers', () => {
  it('valid gossip wrapping forged envelopes is rejected everywhere, and the sender loses score', async () => {
    const victim = honest[0] as Peer
    for (let i = 0; i < 30; i++) {
      const real = await signEnvelope(victim.node.identity, unsigned(victim.node.address, 'agents/forged'))
      const forged = { ...real, body: new Uint8Array([0x01]) } // signature no longer covers the body
      await mallory.node.gossip.publish('agent-messages', encodeEnvelope(forged)).catch(() => {})
      // Also an envelope signed by mallory but claiming to be from the victim.
      const impostor = await signEnvelope(
        mallory.node.identity,
        unsigned(mallory.node.address, 'agents/forged')
      )
      await mallory.node.gossip
        .publish('agent-messages', encodeEnvelope({ ...impostor, from: victim.node.address }))
        .catch(() => {})
      // And the victim's genuine envelope, republished by mallory as its own gossip message.
      await mallory.node.gossip.publish('agent-messages', encodeEnvelope(real)).catch(() => {})
    }
    // Who receives mallory's messages depends on the gossip mesh at that moment; every peer that got one
    // must have rejected it, and must now score mallory below zero.
    const rejecters = () =>
      honest.filter((p) => (drops.get(p.node.address) ?? []).some((d) => d.action === 'reject'))
    await waitFor(() => rejecters().length > 0, 60_000, 'rejections at the neighbours')
    for (const peer of swarm.peers) expect(peer.events.some((e) => e.topic === 'agents/forged')).toBe(false)
    for (const peer of honest) {
      const fromMallory = (drops.get(peer.node.address) ?? []).filter((d) => d.peer === mallory.node.address)
      expect(fromMallory.every((d) => d.action === 'reject')).toBe(true)
    }
    await waitFor(
      () => rejecters().every((p) => p.node.gossip.getScore(mallory.node.address) < 0),
      60_000,
      "mallory's score to fall below zero wherever its forgeries arrived"
    )
  })

  it('the same envelope published 200 times is delivered once; the copies are ignored, nobody is penalised', async () => {
    const sender = honest[1] as Peer
    const bytes = encodeEnvelope(
      await signEnvelope(sender.node.identity, unsigned(sender.node.address, 'agents/replayed'))
    )
    // Each publish is a new gossip message (new seqno), so gossipsub's own duplicate cache does not catch
    // them: the channel's seen-set must.
    for (let i = 0; i < 200; i++) await sender.node.gossip.publish('agent-messages', bytes).catch(() => {})
    const others = swarm.peers.filter((p) => p !== sender)
    await waitFor(
      () => others.every((p) => p.events.some((e) => e.topic === 'agents/replayed')),
      60_000,
      'the first copy to arrive everywhere'
    )
    await new Promise((resolve) => setTimeout(resolve, 1000))
    for (const peer of others)
      expect(peer.events.filter((e) => e.topic === 'agents/replayed')).toHaveLength(1)
    const duplicates = others
      .flatMap((p) => drops.get(p.node.address) ?? [])
      .filter((d) => d.reason === 'duplicate')
    expect(duplicates.length).toBeGreaterThan(0)
    expect(duplicates.every((d) => d.action === 'ignore')).toBe(true)
    // Nobody forwarding those copies was ever rejected (a Reject is what costs gossip score).
    expect(rejectsOfHonestPeers()).toEqual([])
  })

  it('a sender flooding valid messages is rate limited (ignored), without penalising relays', async () => {
    const flooder = honest[2] as Peer
    for (let i = 0; i < 120; i++) flooder.bus.publish('agents/flood', { i })
    const receiver = honest[3] as Peer
    await waitFor(
      () => (drops.get(receiver.node.address) ?? []).some((d) => d.reason === 'rate-limited'),
      60_000,
      'rate limiting at the receiver'
    )
    await new Promise((resolve) => setTimeout(resolve, 500))
    const delivered = receiver.events.filter((e) => e.topic === 'agents/flood').length
    expect(delivered).toBeGreaterThan(0)
    expect(delivered).toBeLessThan(120)
    expect(rejectsOfHonestPeers()).toEqual([])
  })
})
