import type { GossipSub } from '@libp2p/gossipsub'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_SCORE_THRESHOLDS, GossipValidation } from '../src/gossip.ts'
import type { DhtNode } from '../src/node.ts'
import { createMemoryNode, randomNetworkName, waitFor } from '../src/testing.ts'
import { fastNode } from './helpers.ts'

const GRAYLIST = DEFAULT_SCORE_THRESHOLDS.graylistThreshold

/** Resolves after `count` gossipsub heartbeats of `pubsub` (rejects after `timeoutMs`). */
function heartbeats(pubsub: GossipSub, count: number, timeoutMs = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = 0
    const timer = setTimeout(() => {
      pubsub.removeEventListener('gossipsub:heartbeat', onBeat)
      reject(new Error(`fewer than ${count} gossipsub heartbeats within ${timeoutMs} ms`))
    }, timeoutMs)
    const onBeat = (): void => {
      if (++seen < count) return
      clearTimeout(timer)
      pubsub.removeEventListener('gossipsub:heartbeat', onBeat)
      resolve()
    }
    pubsub.addEventListener('gossipsub:heartbeat', onBeat)
  })
}

describe('gossip penalties survive a reconnect (memory transport)', () => {
  let victim: DhtNode
  let mallory: DhtNode

  beforeAll(async () => {
    const network = randomNetworkName()
    victim = await createMemoryNode({
      ...fastNode,
      network,
      presence: { auto: false },
      // Decay slowed down so the test does not race the clock: what is tested is that the penalty is kept
      // across the reconnect, not how fast it fades (score.test.ts measures that with the defaults).
      gossip: { topicScoreParams: { invalidMessageDeliveriesDecay: 0.99 } }
    })
    mallory = await createMemoryNode({ ...fastNode, network, presence: { auto: false } })
    await victim.start()
    await mallory.start()
    // The victim's application refuses everything on agent-messages.
    victim.gossip.addValidator('agent-messages', () => GossipValidation.Reject)
  }, 60_000)

  afterAll(async () => {
    await Promise.allSettled([mallory?.stop(), victim?.stop()])
  }, 60_000)

  const malloryIsSubscribed = (): boolean =>
    victim.gossip.getSubscribers('agent-messages').includes(mallory.address)
  const malloryIsGossipPeer = (): boolean =>
    victim.gossip.pubsub.getPeers().some((peer) => peer.toString() === mallory.address)

  it('a peer whose messages were rejected disconnects, reconnects, and is still graylisted', async () => {
    const victimAddr = victim.getMultiaddrs()[0]
    if (victimAddr === undefined) throw new Error('the victim has no listen address')
    await mallory.libp2p.dial(victimAddr)
    await waitFor(malloryIsSubscribed, 60_000, "the victim to see mallory's subscription")

    let sent = 0
    await waitFor(
      async () => {
        await mallory.gossip.publish('agent-messages', new TextEncoder().encode(`bad:${sent++}`))
        return victim.gossip.getScore(mallory.address) < GRAYLIST
      },
      60_000,
      'mallory to fall below the graylist threshold at the victim'
    )

    await mallory.libp2p.hangUp(victim.libp2p.peerId)
    await waitFor(() => !malloryIsGossipPeer(), 60_000, 'the victim to drop mallory from gossipsub')

    await mallory.libp2p.dial(victimAddr)
    // Back in gossipsub's peer table (its subscriptions may never be heard: a graylisted peer's RPCs are
    // dropped whole).
    await waitFor(malloryIsGossipPeer, 60_000, 'mallory to be back in gossipsub at the victim')
    // gossipsub caches a score for one heartbeat interval; two heartbeats later it is computed afresh.
    await heartbeats(victim.gossip.pubsub, 2)

    expect(victim.gossip.getScore(mallory.address)).toBeLessThan(GRAYLIST)
  }, 120_000)
})
