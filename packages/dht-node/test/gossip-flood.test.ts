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
    const neighbours = honest.filter((n) => n.libp2p.getConnections(attacker.libp2p.peerId).length > 0)
    expect(neighbours.length).toBeGreaterThan(0)
    for (let i = 0; i < 30; i++) await attacker.gossip.publish('agent-messages', encoder.encode(`bad:${i}`))
    await waitFor(
      () =>
        neighbours.every(
          (n) => n.gossip.getScore(attacker.address) < DEFAULT_SCORE_THRESHOLDS.graylistThreshold
        ),
      15_000,
      'the attacker to fall below the graylist threshold on every neighbour'
    )
    const { counts, stop } = collect(honest)
    // Honest traffic still reaches everyone; the graylisted peer's next (valid-looking) message does not.
    await honest[1]!.gossip.publish('agent-messages', encoder.encode('ok:honest'))
    await attacker.gossip.publish('agent-messages', encoder.encode('ok:from-graylisted'))
    await waitFor(
      () => honest.every((n) => n === honest[1] || counts.get(n)!.includes('ok:honest')),
      15_000,
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
})
