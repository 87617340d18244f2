import type { PeerScore } from '@libp2p/gossipsub/score'
import type { Logger } from '@libp2p/interface'
import { defaultLogger } from '@libp2p/logger'

/** The part of gossipsub's `PeerScore` the guard touches. */
export type RetainingPeerScore = Pick<PeerScore, 'peerStats' | 'addPeer'>

const guarded = new WeakSet<RetainingPeerScore>()

/**
 * Makes gossipsub reuse the score stats it kept for a disconnected peer when that peer connects again,
 * instead of starting it afresh at zero.
 *
 * gossipsub keeps a disconnected peer's stats while its score is not positive (for `retainScore`, an hour
 * by default), undecayed, precisely so that a peer cannot shed its penalties by reconnecting; but
 * `@libp2p/gossipsub` 17.1's `PeerScore.addPeer` then overwrites them, so a graylisted peer is back at 0
 * after a reconnect. go-libp2p-pubsub reuses the retained stats; this does the same. This workspace also
 * patches the dependency itself; this guard is what protects nodes installed from npm, where that patch
 * does not apply. With a fixed gossipsub it changes nothing (see docs/decisions/0006).
 *
 * Idempotent. Stats for a peer gossipsub has never seen, or has forgotten, are created as before.
 */
export function keepRetainedScores(score: RetainingPeerScore | undefined, log?: Logger): void {
  if (score === undefined || !(score.peerStats instanceof Map) || typeof score.addPeer !== 'function') {
    ;(log ?? defaultLogger().forComponent('araliya:dht:gossip')).error(
      'gossipsub peer scoring has an unexpected shape; penalties may not survive reconnects'
    )
    return
  }
  if (guarded.has(score)) return
  const addPeer = score.addPeer.bind(score)
  score.addPeer = (id: string): void => {
    const retained = score.peerStats.get(id)
    if (retained === undefined) {
      addPeer(id)
      return
    }
    retained.connected = true
    retained.expire = 0
  }
  guarded.add(score)
}

/**
 * Installs {@link keepRetainedScores} on a gossipsub service. Its implementation exposes its scoring as
 * `score` (a public member of the class), though the `GossipSub` interface it is typed with does not.
 */
export function keepRetainedScoresOf(pubsub: object, log?: Logger): void {
  keepRetainedScores((pubsub as { score?: RetainingPeerScore }).score, log)
}
