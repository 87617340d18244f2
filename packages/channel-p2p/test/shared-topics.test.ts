import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ChannelNetwork, createChannelNetwork, type Peer, waitFor } from './helpers.js'

// dht-node gossips its own presence records on agent-announcements and heartbeats on node-status. Routes
// on those topics must coexist with them: records keep being accepted, envelopes reach the bus.
let swarm: ChannelNetwork

beforeAll(async () => {
  swarm = await createChannelNetwork({
    nodes: 3,
    channel: {
      routes: [
        { bus: 'agents/*', swarm: 'agent-messages' },
        { bus: 'announcements/*', swarm: 'agent-announcements' },
        { bus: 'status/*', swarm: 'node-status' }
      ]
    }
  })
  await swarm.net.waitForMesh('node-status', { minPeers: 1 })
  await swarm.net.waitForMesh('agent-announcements', { minPeers: 1 })
}, 90_000)

afterAll(async () => {
  await swarm?.stop()
})

describe('channel routes on topics dht-node also uses', () => {
  it('envelopes and native heartbeats / presence announcements flow side by side, nobody is rejected', async () => {
    const [, a, b, c] = swarm.peers as [Peer, Peer, Peer, Peer]
    const heartbeats: string[] = []
    const announced: string[] = []
    b.node.addEventListener('status:receive', (event) => heartbeats.push(event.detail.status.address))
    b.node.addEventListener('agent:announce', (event) => announced.push(event.detail.record.address))
    const rejects: string[] = []
    for (const peer of swarm.peers) {
      peer.channel.addEventListener('envelope:drop', (event) => {
        if (event.detail.action === 'reject') rejects.push(event.detail.message)
      })
    }

    a.bus.publish('status/load', { cpu: 0.5 })
    a.bus.publish('announcements/skill', { skill: 'summarize' })
    await a.node.publishStatus()
    await a.node.publishPresence()
    await waitFor(
      () =>
        [b, c].every(
          (p) =>
            p.events.some((e) => e.topic === 'status/load' && e.origin.kind === 'remote') &&
            p.events.some((e) => e.topic === 'announcements/skill' && e.origin.kind === 'remote')
        ),
      60_000,
      'the envelopes on both shared topics'
    )
    await waitFor(() => heartbeats.includes(a.node.address), 60_000, "a's native heartbeat at b")
    await waitFor(() => announced.includes(a.node.address), 60_000, "a's native presence announcement at b")
    expect(rejects).toEqual([])
  })
})
