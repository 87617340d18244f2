import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_SCORE_THRESHOLDS, GossipValidation } from '../src/gossip.ts'
import type { DhtNode } from '../src/node.ts'
import { createTestNetwork, type TestNetwork, waitFor } from '../src/testing.ts'
import { fastNode, sleep } from './helpers.ts'

const encoder = new TextEncoder()
const decoder = new TextDecoder()

describe('gossip floods (1 bootstrap, 7 full nodes, one of them hostile)', () => {
  let net: TestNetwork
  let attacker: DhtNode
  let honest: DhtNode[]

  beforeAll(async () => {
    net = await createTestNetwork({
      nodes: 7,
      node: { ...fastNode, gossip: { rateLimit: { messagesPerSecond: 10, burst: 20 } } }
    })
    attacker = net.full[0]!
    honest = net.all.filter((n) => n !== attacker)
    // The application accepts only messages that start with "ok:" on agent-messages.
    for (const node of honest) {
      node.gossip.addValidator('agent-messages', (message) =>
        decoder.decode(message.data.subarray(0, 3)) === 'ok:'
          ? GossipValidation.Accept
          : GossipValidation.Reject
      )
    }
    await net.waitForMesh('agent-messages', { minPeers: 2, timeoutMs: 30_000 })
  }, 120_000)

  afterAll(async () => {
    await net?.stop()
  }, 60_000)

  function collect(nodes: DhtNode[]): { counts: Map<DhtNode, string[]>; stop: () => void } {
    const counts = new Map<DhtNode, string[]>()
    const offs: Array<() => void> = []
    for (const node of nodes) {
      const seen: string[] = []
      counts.set(node, seen)
      const fn = (event: CustomEvent<{ topic: string; data: Uint8Array }>): void => {
        if (event.detail.topic === 'agent-messages') seen.push(decoder.decode(event.detail.data))
      }
      node.addEventListener('gossip:message', fn)
      offs.push(() => node.removeEventListener('gossip:message', fn))
    }
    return {
      counts,
      stop: () => {
        for (const off of offs) off()
      }
    }
  }

  it('graylists a peer that floods invalid messages while honest traffic still flows', async () => {
    let sent = 0
    // Keep flooding until every peer the attacker is connected to (it may meet new ones) has graylisted it.
    await waitFor(
      async () => {
        for (let i = 0; i < 5; i++)
          await attacker.gossip.publish('agent-messages', encoder.encode(`bad:${sent++}`))
        const neighbours = honest.filter((n) => n.libp2p.getConnections(attacker.libp2p.peerId).length > 0)
        return (
          neighbours.length > 0 &&
          neighbours.every(
            (n) => n.gossip.getScore(attacker.address) < DEFAULT_SCORE_THRESHOLDS.graylistThreshold
          )
        )
      },
      60_000,
      'the attacker to fall below the graylist threshold on every neighbour'
    )
    // gossipsub keeps accepting a peer for up to a second after its last good score check (its
    // accept-from whitelist); let that lapse.
    await sleep(1500)
    const { counts, stop } = collect(honest)
    // Honest traffic still reaches everyone; the graylisted peer's next (valid-looking) message does not.
    await honest[1]!.gossip.publish('agent-messages', encoder.encode('ok:honest'))
    await attacker.gossip.publish('agent-messages', encoder.encode('ok:from-graylisted'))
    await waitFor(
      () => honest.every((n) => n === honest[1] || counts.get(n)!.includes('ok:honest')),
      60_000,
      'honest delivery'
    )
    await sleep(1500)
    stop()
    for (const node of honest) {
      expect(counts.get(node)!.filter((m) => m.startsWith('bad:'))).toEqual([])
      expect(counts.get(node)!).not.toContain('ok:from-graylisted')
    }
    // Honest peers did not lose score for relaying.
    for (const node of honest) {
      for (const other of honest) {
        if (other !== node && node.libp2p.getConnections(other.libp2p.peerId).length > 0) {
          expect(node.gossip.getScore(other.address)).toBeGreaterThanOrEqual(0)
        }
      }
    }
  })

  it('rate-limits an agent that floods valid messages without penalising relays', async () => {
    const flooder = honest[2]!
    const receivers = honest.filter((n) => n !== flooder)
    const { counts, stop } = collect(receivers)
    const started = Date.now()
    for (let i = 0; i < 200; i++)
      await flooder.gossip.publish('agent-messages', encoder.encode(`ok:flood-${i}`))
    await sleep(2000)
    stop()
    const elapsedSeconds = (Date.now() - started) / 1000
    const cap = 20 + Math.ceil(10 * elapsedSeconds) + 1
    for (const node of receivers) {
      const got = counts.get(node)!.filter((m) => m.startsWith('ok:flood-'))
      expect(got.length).toBeGreaterThan(0)
      expect(got.length).toBeLessThanOrEqual(cap)
      expect(new Set(got).size).toBe(got.length)
    }
    for (const node of receivers) {
      for (const other of honest) {
        if (other !== node && node.libp2p.getConnections(other.libp2p.peerId).length > 0) {
          expect(node.gossip.getScore(other.address)).toBeGreaterThanOrEqual(0)
        }
      }
    }
  })

  it('leaves messages that are not its own records on shared topics to app validators', async () => {
    const publisher = honest[3]!
    const receivers = honest.filter((n) => n !== publisher)
    const removers = receivers.map((node) =>
      node.gossip.addValidator('agent-announcements', (message) =>
        decoder.decode(message.data.subarray(0, 5)) === 'chan:'
          ? GossipValidation.Accept
          : GossipValidation.Reject
      )
    )
    const got = new Map<DhtNode, string[]>(receivers.map((n) => [n, []]))
    const fns = receivers.map((node) => {
      const fn = (event: CustomEvent<{ topic: string; data: Uint8Array }>): void => {
        if (event.detail.topic !== 'agent-messages')
          got.get(node)!.push(`${event.detail.topic}|${decoder.decode(event.detail.data)}`)
      }
      node.addEventListener('gossip:message', fn)
      return () => node.removeEventListener('gossip:message', fn)
    })
    await publisher.gossip.publish('agent-announcements', encoder.encode('chan:envelope'))
    // node-status has no app validator: a foreign payload there is rejected.
    await publisher.gossip.publish('node-status', encoder.encode('chan:not-a-status'))
    await waitFor(
      () => receivers.every((n) => got.get(n)!.includes('agent-announcements|chan:envelope')),
      60_000,
      'the foreign envelope on agent-announcements'
    )
    await sleep(1000)
    for (const node of receivers) expect(got.get(node)!.some((m) => m.startsWith('node-status|'))).toBe(false)
    for (const off of [...removers, ...fns]) off()
  })
})
