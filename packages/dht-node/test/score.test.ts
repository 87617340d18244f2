import { createPeerScoreParams, PeerScore } from '@libp2p/gossipsub/score'
import { RejectReason } from '@libp2p/gossipsub/types'
import { defaultLogger } from '@libp2p/logger'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { araliyaPeerScoreParams, DEFAULT_SCORE_THRESHOLDS, gossipTopic, SWARM_TOPICS } from '../src/gossip.ts'
import { keepRetainedScores } from '../src/score-retention.ts'

/**
 * These tests run gossipsub's own scoring code (`PeerScore`, as installed) with Araliya's parameters and
 * step its decay by hand (`refreshScores()` is what gossipsub runs once per `decayInterval`, 1 s), so the
 * numbers below are measured, not derived. The dht-node README and docs/protocols/presence.md quote them.
 */

const NET = 'score-test'
const TOPIC = gossipTopic(NET, 'agent-messages')
const { graylistThreshold, publishThreshold, gossipThreshold } = DEFAULT_SCORE_THRESHOLDS
const PEER = '12D3KooWPeer'

type Stats = PeerScore['peerStats'] extends Map<string, infer S> ? S : never

function scoring(): PeerScore {
  return new PeerScore(createPeerScoreParams(araliyaPeerScoreParams(NET)), null, defaultLogger(), {
    scoreCacheValidityMs: 0
  })
}

let messages = 0
function reject(score: PeerScore, peer: string, count: number, topic = TOPIC): void {
  for (let i = 0; i < count; i++) score.rejectMessage(peer, `msg-${messages++}`, topic, RejectReason.Reject)
}

/** How many decay intervals (seconds) until `predicate(score)` holds. */
function intervalsUntil(score: PeerScore, peer: string, predicate: (value: number) => boolean): number {
  let intervals = 0
  while (!predicate(score.score(peer))) {
    score.refreshScores()
    intervals++
    if (intervals > 10_000) throw new Error('the score never got there')
  }
  return intervals
}

/** gossipsub 17.1.1's own `addPeer`, which starts every peer afresh (what an unpatched install runs). */
function upstreamAddPeer(this: PeerScore, id: string): void {
  const fresh: Stats = { connected: true, expire: 0, topics: {}, knownIPs: new Set(), behaviourPenalty: 0 }
  this.peerStats.set(id, fresh)
}

afterEach(() => {
  vi.useRealTimers()
})

describe('gossip score with Araliya parameters (measured with gossipsub’s PeerScore)', () => {
  it('each rejected message costs -20 × count²: one drops a peer below the gossip threshold, two below the publish threshold, three below the graylist threshold', () => {
    const score = scoring()
    score.addPeer(PEER)
    const after: number[] = []
    for (let i = 0; i < 4; i++) {
      reject(score, PEER, 1)
      after.push(score.score(PEER))
    }
    expect(after).toEqual([-20, -80, -180, -320])
    expect(after[0]).toBeLessThan(gossipThreshold)
    expect(after[1]).toBeLessThan(publishThreshold)
    // -80 is the threshold itself: gossipsub drops a peer's messages only when its score is *below* it.
    expect(after[1]).not.toBeLessThan(graylistThreshold)
    expect(after[2]).toBeLessThan(graylistThreshold)
  })

  it('a good record in every swarm topic offsets at most 39 points: two rejects never graylist a peer, three always do', () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const score = scoring()
    score.addPeer(PEER)
    const topics = SWARM_TOPICS.map((name) => gossipTopic(NET, name))
    for (const topic of topics) score.graft(PEER, topic)
    vi.setSystemTime(Date.now() + 301_000)
    score.refreshScores() // time in mesh: 301 s, over the 300 s cap
    for (const topic of topics)
      for (let i = 0; i < 25; i++) score.deliverMessage(PEER, `good-${messages++}`, topic)
    const best = score.score(PEER)
    // The topic scores add up to 3 × (time in mesh 300 × 0.01 + first deliveries 20 × 0.5) = 39, and the
    // topic-score cap (10) applies to the total: a peer's best score is 10.
    expect(best).toBe(10)
    reject(score, PEER, 2)
    expect(score.score(PEER)).toBeCloseTo(39 - 80, 9)
    reject(score, PEER, 1)
    expect(score.score(PEER)).toBeCloseTo(39 - 180, 9)
    expect(score.score(PEER)).toBeLessThan(graylistThreshold)
  })

  it('decay: three rejects keep a peer graylisted for 4 s; it is back above the publish and gossip thresholds after 7 and 14 s, and at 0 after 33 s', () => {
    const score = scoring()
    score.addPeer(PEER)
    reject(score, PEER, 3)
    const fresh = () => {
      const s = scoring()
      s.addPeer(PEER)
      reject(s, PEER, 3)
      return s
    }
    expect(intervalsUntil(score, PEER, (v) => v >= graylistThreshold)).toBe(4)
    expect(intervalsUntil(fresh(), PEER, (v) => v >= publishThreshold)).toBe(7)
    expect(intervalsUntil(fresh(), PEER, (v) => v >= gossipThreshold)).toBe(14)
    expect(intervalsUntil(fresh(), PEER, (v) => v === 0)).toBe(33)
  })

  it('decay: n rejected messages keep a peer graylisted for about log(n / 2) / log(1 / 0.9) seconds', () => {
    const graylistedFor = (rejects: number): number => {
      const score = scoring()
      score.addPeer(PEER)
      reject(score, PEER, rejects)
      return intervalsUntil(score, PEER, (v) => v >= graylistThreshold)
    }
    expect([3, 10, 30, 100, 128].map(graylistedFor)).toEqual([4, 16, 26, 38, 40])
  })

  it('a disconnected peer keeps its penalty, undecayed, for retainScore (1 h); after that it starts afresh', () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const score = scoring()
    score.addPeer(PEER)
    reject(score, PEER, 3)
    score.removePeer(PEER)
    for (let i = 0; i < 100; i++) score.refreshScores()
    expect(score.score(PEER)).toBe(-180)
    vi.setSystemTime(Date.now() + 3_600_000 + 1)
    score.refreshScores()
    expect(score.peerStats.has(PEER)).toBe(false)
    score.addPeer(PEER)
    expect(score.score(PEER)).toBe(0)
  })
})

describe('penalties survive a reconnect', () => {
  it('the installed gossipsub (patched) reuses the stats it retained for a disconnected peer', () => {
    const score = scoring()
    score.addPeer(PEER)
    reject(score, PEER, 3)
    score.removePeer(PEER)
    score.addPeer(PEER)
    expect(score.score(PEER)).toBe(-180)
    expect(score.peerStats.get(PEER)?.connected).toBe(true)
    // Connected again, it decays again.
    score.refreshScores()
    expect(score.score(PEER)).toBeGreaterThan(-180)
  })

  it("dht-node's guard keeps them on an unpatched gossipsub 17.1.1 too (as installed from npm)", () => {
    const score = scoring()
    score.addPeer = upstreamAddPeer // the dependency as published, without this workspace's patch
    keepRetainedScores(score)
    keepRetainedScores(score) // idempotent
    score.addPeer(PEER)
    reject(score, PEER, 3)
    score.removePeer(PEER)
    score.addPeer(PEER)
    expect(score.score(PEER)).toBe(-180)
    expect(score.score(PEER)).toBeLessThan(graylistThreshold)
    // A peer gossipsub has never seen (or has forgotten) still starts at zero.
    score.addPeer('12D3KooWOther')
    expect(score.score('12D3KooWOther')).toBe(0)
  })

  it('the unpatched gossipsub 17.1.1 alone resets the penalty (the bug the guard and the patch close)', () => {
    const score = scoring()
    score.addPeer = upstreamAddPeer
    score.addPeer(PEER)
    reject(score, PEER, 3)
    score.removePeer(PEER)
    score.addPeer(PEER)
    expect(score.score(PEER)).toBe(0)
  })
})
