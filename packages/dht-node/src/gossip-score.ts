import type { PeerScoreParams, PeerScoreThresholds, TopicScoreParams } from '@libp2p/gossipsub/score'
import { gossipTopic, SWARM_TOPICS } from './topics.js'

/** Per-sender rate limit applied to every topic before validators run; excess messages are ignored. */
export interface GossipRateLimit {
  /** Sustained messages per second per signer per topic. Default 50. */
  messagesPerSecond: number
  /** Burst allowance. Default 200. */
  burst: number
}

/** Gossip settings of a node. */
export interface GossipInit {
  /** Mesh degree target (gossipsub D). Default 6; raise on well-connected hubs. */
  D?: number
  /** Mesh lower bound. Default 4. */
  Dlo?: number
  /** Mesh upper bound. Default 12. */
  Dhi?: number
  /** Gossipsub heartbeat, ms. Default 1000. */
  heartbeatIntervalMs?: number
  /** Largest payload accepted, bytes. Default 1 MiB. */
  maxMessageBytes?: number
  /** Per-signer rate limit, or `false` to disable. */
  rateLimit?: Partial<GossipRateLimit> | false
  /** Extra short topic names that get the same score parameters as the swarm topics. */
  extraTopics?: string[]
  /** Overrides merged into the per-topic score parameters. */
  topicScoreParams?: Partial<TopicScoreParams>
  /** Overrides merged into the peer score parameters. */
  scoreParams?: Partial<Omit<PeerScoreParams, 'topics'>>
  /** Overrides merged into the score thresholds. */
  scoreThresholds?: Partial<PeerScoreThresholds>
  /**
   * IPs exempt from the same-IP (colocation) penalty. Use `['127.0.0.1']` only for loopback tests:
   * in production many peers behind one IP is a Sybil signal.
   */
  ipColocationWhitelist?: string[]
}

/** Default score thresholds (gossipsub's): gossip -10, publish -50, graylist -80. */
export const DEFAULT_SCORE_THRESHOLDS: PeerScoreThresholds = {
  gossipThreshold: -10,
  publishThreshold: -50,
  graylistThreshold: -80,
  acceptPXThreshold: 10,
  opportunisticGraftThreshold: 20
}

/**
 * Score parameters for one Araliya topic. Each rejected message adds one to the peer's invalid-message
 * count on the topic, which costs `-20 × count²`; the count decays by 0.9 per second while the peer is
 * connected. Measured with gossipsub's own scoring (test/score.test.ts), for a fresh peer: one reject
 * gives -20 (below the gossip threshold, -10), two give -80 (below the publish threshold, -50, but not
 * graylisted: only a score *below* -80 is), three give -180 (graylisted: its messages are dropped unread).
 * Good deliveries in all three swarm topics offset at most 39 points, so two rejects never graylist a
 * peer and three always do. Decay is quick: three rejects keep a peer graylisted for 4 s of connection,
 * below the publish and gossip thresholds for 7 and 14 s, and negative for 33 s; n rejects keep it
 * graylisted for about log(n / 2) / log(1 / 0.9) seconds (16 s for 10, 38 s for 100). While disconnected
 * the penalty is kept, undecayed, for an hour (gossipsub's `retainScore`), reconnecting included (see
 * `keepRetainedScores`). Mesh-delivery penalties are off: these topics are quiet most of the time and
 * honest peers must not lose score for silence.
 */
export function araliyaTopicScoreParams(overrides: Partial<TopicScoreParams> = {}): TopicScoreParams {
  return {
    topicWeight: 1,
    timeInMeshWeight: 0.01,
    timeInMeshQuantum: 1000,
    timeInMeshCap: 300,
    firstMessageDeliveriesWeight: 0.5,
    firstMessageDeliveriesDecay: 0.9,
    firstMessageDeliveriesCap: 20,
    meshMessageDeliveriesWeight: 0,
    meshMessageDeliveriesDecay: 0.5,
    meshMessageDeliveriesCap: 100,
    meshMessageDeliveriesThreshold: 1,
    meshMessageDeliveriesWindow: 10,
    meshMessageDeliveriesActivation: 5000,
    meshFailurePenaltyWeight: 0,
    meshFailurePenaltyDecay: 0.5,
    invalidMessageDeliveriesWeight: -20,
    invalidMessageDeliveriesDecay: 0.9,
    ...overrides
  }
}

/** Builds gossipsub's `scoreParams` for the swarm topics (plus `extraTopics`) of a network. */
export function araliyaPeerScoreParams(network: string, init: GossipInit = {}): Partial<PeerScoreParams> {
  const topics: Record<string, TopicScoreParams> = {}
  for (const topic of [...SWARM_TOPICS, ...(init.extraTopics ?? [])]) {
    topics[gossipTopic(network, topic)] = araliyaTopicScoreParams(init.topicScoreParams)
  }
  return {
    topicScoreCap: 10,
    IPColocationFactorWhitelist: new Set(init.ipColocationWhitelist ?? []),
    ...init.scoreParams,
    topics
  }
}
