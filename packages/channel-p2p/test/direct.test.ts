import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DeliveryError } from '../src/index.js'
import { type ChannelNetwork, channelServices, createChannelNetwork, nodeParts, waitFor } from './helpers.js'

let swarm: ChannelNetwork

beforeAll(async () => {
  swarm = await createChannelNetwork({
    nodes: 5,
    direct: { initialRetryDelayMs: 100, attemptTimeoutMs: 800 }
  })
}, 90_000)

afterAll(async () => {
  await swarm?.stop()
})

describe('direct messages (/araliya/msg/1.0.0)', () => {
  it('reach the recipient by address, encrypted, acknowledged exactly once', async () => {
    const a = swarm.peers[1]!
    const d = swarm.peers[4]!
    const receipt = await a.channel.send(d.node.address, 'direct/note', { text: 'for your eyes only' })
    expect(receipt).toMatchObject({ to: d.node.address, duplicate: false })
    await waitFor(() => d.events.some((e) => e.topic === 'direct/note'), 60_000, 'the note')
    const got = d.events.filter((e) => e.topic === 'direct/note')
    expect(got).toHaveLength(1)
    expect(got[0]?.payload).toEqual({ text: 'for your eyes only' })
    expect(got[0]?.origin).toEqual({ kind: 'remote', peer: a.node.address })
    expect(a.channel.stats().outboxSize).toBe(0)
  })

  it('an unreachable recipient: queued, retried, and given up when it expires', async () => {
    const a = swarm.peers[1]!
    const { generateIdentity } = await import('@araliya/identity')
    const nobody = await generateIdentity()
    const retries: number[] = []
    a.channel.addEventListener('direct:retry', (event) => retries.push(event.detail.attempt))
    const failure = await a.channel
      .send(nobody.address, 'direct/note', { text: 'hello?' }, { ttlMs: 4000 })
      .catch((err: unknown) => err)
    expect(DeliveryError.isInstance(failure)).toBe(true)
    expect(retries.length).toBeGreaterThanOrEqual(1)
    expect(a.channel.stats().outboxSize).toBe(0)
  })
})

describe('the outbox survives a restart', () => {
  it('a message queued for an offline agent is delivered by the next start, exactly once', async () => {
    const { createBus } = await import('@araliya/bus')
    const { createMemoryNode, waitForOwnPresence } = await import('@araliya/dht-node/testing')
    const { createChannel } = await import('../src/index.js')
    const a = swarm.peers[2]!
    // The recipient exists but is offline: no presence record yet.
    const recipient = await createMemoryNode({
      network: swarm.net.network,
      bootstrap: swarm.net.bootstrapAddrs,
      services: channelServices()
    })
    const pending = a.channel
      // A long ttl: this test is about the outbox surviving a restart, not about racing the expiry on a
      // loaded machine.
      .send(recipient.address, 'direct/queued', { text: 'while you were away' }, { ttlMs: 600_000 })
      .catch((err: unknown) => err)
    await waitFor(() => a.channel.stats().outboxSize === 1, 60_000, 'the message to be queued')
    // The sender goes down with the message undelivered (its promise gives up; the outbox keeps it).
    await a.channel.stop()
    expect((await pending) as Error).toBeInstanceOf(Error)

    const recipientBus = createBus()
    const received: unknown[] = []
    recipientBus.subscribe('direct/*', (event) => void received.push(event.payload), { delivery: 'sync' })
    const recipientChannel = createChannel({ ...nodeParts(recipient), bus: recipientBus })
    await recipient.start()
    await recipientChannel.start()
    try {
      await waitForOwnPresence(recipient, 60_000)
      // The retry delay (100 ms) is the direct service's, set when the network was built.
      const restarted = createChannel({ ...nodeParts(a.node), bus: a.bus })
      // Settles on the first outcome, so a failed delivery fails the test with its reason, not a timeout.
      const delivered = new Promise<void>((resolve, reject) => {
        restarted.addEventListener('direct:delivered', () => resolve(), { once: true })
        restarted.addEventListener('direct:failed', (event) => reject(event.detail.error), { once: true })
      })
      await restarted.start()
      a.channel = restarted
      await delivered
      await waitFor(() => received.length === 1, 60_000, 'the queued message')
      expect(received).toEqual([{ text: 'while you were away' }])
      expect(restarted.stats().outboxSize).toBe(0)
    } finally {
      await recipientChannel.stop()
      recipientBus.close()
      await recipient.stop()
    }
  })
})
