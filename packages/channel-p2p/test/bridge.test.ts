import type { BusEvent } from '@araliya/bus'
import { open, sealingKey } from './internal.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ChannelNetwork, createChannelNetwork, waitFor } from './helpers.js'
import type { Envelope } from './internal.js'
import { DecryptionError } from './internal.js'

let swarm: ChannelNetwork

beforeAll(async () => {
  swarm = await createChannelNetwork({ nodes: 8 })
  await swarm.net.waitForMesh('agent-messages', { minPeers: 1 })
}, 90_000)

afterAll(async () => {
  await swarm?.stop()
})

const remote = (events: BusEvent[], topic: string) =>
  events.filter((e) => e.topic === topic && e.origin.kind === 'remote')

describe('bus <-> swarm bridge', () => {
  it('a bus event on node A arrives exactly once on every other bus, tagged with its origin, never echoed', async () => {
    const [a, ...others] = swarm.peers as [(typeof swarm.peers)[0], ...typeof swarm.peers]
    a.bus.publish('agents/hello', { text: 'hi swarm', n: 1 })
    await waitFor(
      () => others.every((p) => remote(p.events, 'agents/hello').length >= 1),
      60_000,
      'delivery to all'
    )
    // Give duplicates (and any echo) time to show up before counting.
    await new Promise((resolve) => setTimeout(resolve, 1500))
    for (const peer of others) {
      const got = remote(peer.events, 'agents/hello')
      expect(got).toHaveLength(1)
      expect(got[0]?.payload).toEqual({ text: 'hi swarm', n: 1 })
      expect(got[0]?.origin).toEqual({ kind: 'remote', peer: a.node.address })
    }
    // A saw only its own local event: nothing came back.
    expect(a.events.filter((e) => e.topic === 'agents/hello')).toHaveLength(1)
    expect(remote(a.events, 'agents/hello')).toHaveLength(0)
    // Nobody re-published what it received (each remote event was delivered but not forwarded as new).
    const published = swarm.peers.reduce((n, p) => n + p.channel.stats().published, 0)
    expect(published).toBe(1)
  })

  it('topics that are not routed never reach the bus', async () => {
    const [a, b] = swarm.peers as [(typeof swarm.peers)[0], (typeof swarm.peers)[0]]
    await a.channel.publish('agent-messages', 'llm/complete', { prompt: 'injected' })
    await a.channel.publish('agent-messages', 'agents/after', { ok: true })
    await waitFor(() => remote(b.events, 'agents/after').length === 1, 60_000, 'the routed message')
    expect(b.events.some((e) => e.topic === 'llm/complete')).toBe(false)
    expect(b.channel.stats().unrouted).toBeGreaterThanOrEqual(1)
  })

  it('an addressed, encrypted message reaches only its recipient; relays cannot read it', async () => {
    const [a, b, c] = swarm.peers as [
      (typeof swarm.peers)[0],
      (typeof swarm.peers)[0],
      (typeof swarm.peers)[0]
    ]
    const seenByRelay: Envelope[] = []
    b.channel.addEventListener('envelope:accept', (event) => {
      if (event.detail.envelope.topic === 'agents/secret') seenByRelay.push(event.detail.envelope)
    })
    await a.channel.publish(
      'agent-messages',
      'agents/secret',
      { pin: '4321' },
      { to: c.node.address, encrypt: true }
    )
    await waitFor(() => remote(c.events, 'agents/secret').length === 1, 60_000, 'the recipient')
    expect(remote(c.events, 'agents/secret')[0]?.payload).toEqual({ pin: '4321' })
    await waitFor(() => seenByRelay.length === 1, 60_000, 'the relay to see the envelope')
    const envelope = seenByRelay[0] as Envelope
    expect(b.events.some((e) => e.topic === 'agents/secret')).toBe(false)
    expect(new TextDecoder().decode(envelope.body)).not.toContain('4321')
    expect(() => open(envelope.body, a.node.address, sealingKey(b.node.identity), 1 << 16)).toThrowError(
      DecryptionError
    )
  })
})
