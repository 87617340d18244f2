import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DeliveryError } from '../src/index.js'
import { type ChannelNetwork, createChannelNetwork, waitFor } from './helpers.js'

let swarm: ChannelNetwork

beforeAll(async () => {
  swarm = await createChannelNetwork({ nodes: 5, channel: { direct: { initialRetryDelayMs: 100 } } })
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
    await waitFor(() => d.events.some((e) => e.topic === 'direct/note'), 10_000, 'the note')
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
      .send(nobody.address, 'direct/note', { text: 'hello?' }, { ttlMs: 1500 })
      .catch((err: unknown) => err)
    expect(DeliveryError.isInstance(failure)).toBe(true)
    expect(retries.length).toBeGreaterThanOrEqual(1)
    expect(a.channel.stats().outboxSize).toBe(0)
  })
})
