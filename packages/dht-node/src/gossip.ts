import { logger } from '@libp2p/logger'
import type { GossipSub, Message, PublishResult } from '@libp2p/gossipsub'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { PeerScoreParams, PeerScoreThresholds, TopicScoreParams } from '@libp2p/gossipsub/score'
import type { PeerId } from '@libp2p/interface'
import { TypedEventEmitter } from 'main-event'
import { InvalidTopicError } from './errors.js'
import { keepRetainedScoresOf } from './score-retention.js'

const log = logger('araliya:dht:gossip')

/** The three swarm topics every node subscribes to (short names). */
export const SWARM_TOPICS = ['agent-announcements', 'agent-messages', 'node-status'] as const
/** A short swarm topic name. */
export type SwarmTopic = (typeof SWARM_TOPICS)[number]

/** What a topic validator decides: deliver and forward, drop silently, or drop and penalise the sender. */
export const GossipValidation = {
  /** Valid: deliver locally and forward. */
  Accept: TopicValidatorResult.Accept,
  /** Not for us (duplicate, rate-limited, stale): drop without penalising anyone. */
  Ignore: TopicValidatorResult.Ignore,
  /** Invalid: drop, and the peer that sent it loses gossip score. */
  Reject: TopicValidatorResult.Reject
} as const
/** A validator's verdict; see {@link GossipValidation}. */
export type GossipValidationResult = TopicValidatorResult

/** A gossip message as validators and listeners see it. */
export interface GossipMessage {
  /** Short topic name (for example `agent-messages`). */
  readonly topic: string
  /** Full topic string on the wire (`/araliya/<network>/<topic>`). */
  readonly fullTopic: string
  /** The payload. */
  readonly data: Uint8Array
  /** The address (PeerId string) of the agent that signed the message (StrictSign). */
  readonly from: string
  /** The signer's per-message sequence number. */
  readonly sequenceNumber: bigint
  /** The address of the peer that forwarded the message to us (only set for validators). */
  readonly propagationSource?: string
}

/** Decides whether a received message is delivered and forwarded. May be async. */
export type GossipValidator = (
  message: GossipMessage
) => GossipValidationResult | Promise<GossipValidationResult>

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

const NETWORK_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/
const TOPIC_PATTERN = /^[a-z0-9][a-z0-9._/-]{0,127}$/

/**
 * The wire topic of a short topic name in a network namespace: `/araliya/<network>/<topic>`.
 *
 * @throws {InvalidTopicError} when either part is not valid.
 */
export function gossipTopic(network: string, topic: string): string {
  if (!NETWORK_PATTERN.test(network)) {
    throw new InvalidTopicError(
      `network name ${JSON.stringify(network)} must be 1-64 characters of a-z 0-9 . _ - (starting with a letter or digit)`
    )
  }
  if (!TOPIC_PATTERN.test(topic)) {
    throw new InvalidTopicError(
      `topic name ${JSON.stringify(topic)} must be 1-128 characters of a-z 0-9 . _ / - (starting with a letter or digit)`
    )
  }
  return `/araliya/${network}/${topic}`
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

interface GossipScoring {
  getScore(peerId: string): number
  getMeshPeers(topic: string): string[]
}

/** Events of the gossip layer. */
export interface GossipEvents {
  /** A validated message arrived on a subscribed topic of this network (each message once). */
  message: CustomEvent<GossipMessage>
}

/**
 * What a builtin validator says of a message that is not in its format: the topic is shared, and the
 * app's validators decide (with none registered, the message is rejected).
 */
export const FOREIGN_MESSAGE = 'foreign'

/**
 * Per-message hooks the node installs for its own topics (announcements, status). A message in the
 * node's own format gets a verdict here and never reaches app validators; anything else is
 * {@link FOREIGN_MESSAGE} and is judged by the app's validators (channel-p2p envelopes, for example).
 */
export type BuiltinValidator = (
  message: GossipMessage
) =>
  | GossipValidationResult
  | typeof FOREIGN_MESSAGE
  | Promise<GossipValidationResult | typeof FOREIGN_MESSAGE>

/**
 * The node's gossip layer: publish raw bytes, subscribe, and register Accept/Reject/Ignore validators on
 * topics of the node's network namespace. Messages are signed by the node key (StrictSign), so `from` is
 * the sender's agent address.
 */
export class GossipLayer extends TypedEventEmitter<GossipEvents> {
  readonly network: string
  readonly #pubsub: GossipSub
  readonly #validators = new Map<string, Set<GossipValidator>>()
  readonly #builtin = new Map<string, BuiltinValidator>()
  readonly #limiter: RateLimiter | undefined
  readonly #maxMessageBytes: number
  readonly #onMessage: (event: CustomEvent<Message>) => void
  readonly #prefix: string

  /** @internal Created by the node. */
  constructor(pubsub: GossipSub, network: string, init: GossipInit = {}) {
    super()
    this.#pubsub = pubsub
    // Penalties must survive a reconnect; @libp2p/gossipsub 17.1 resets them (see score-retention.ts).
    keepRetainedScoresOf(pubsub)
    this.network = network
    this.#prefix = `/araliya/${network}/`
    this.#maxMessageBytes = init.maxMessageBytes ?? 1024 * 1024
    this.#limiter =
      init.rateLimit === false
        ? undefined
        : new RateLimiter(init.rateLimit?.messagesPerSecond ?? 50, init.rateLimit?.burst ?? 200)
    this.#onMessage = (event) => {
      const msg = event.detail
      if (msg.type !== 'signed' || !msg.topic.startsWith(this.#prefix)) return
      this.safeDispatchEvent('message', { detail: toGossipMessage(msg, this.#prefix) })
    }
  }

  /** @internal */
  attach(): void {
    this.#pubsub.addEventListener('message', this.#onMessage)
  }

  /** @internal */
  detach(): void {
    this.#pubsub.removeEventListener('message', this.#onMessage)
    for (const topic of [...this.#installed]) this.#pubsub.topicValidators.delete(topic)
    this.#installed.clear()
  }

  readonly #installed = new Set<string>()

  /** The wire topic (`/araliya/<network>/<topic>`) of a short topic name. */
  topic(name: string): string {
    return gossipTopic(this.network, name)
  }

  /** Subscribes to a topic of this network. Idempotent. */
  subscribe(topic: string): void {
    const full = this.topic(topic)
    this.#install(full)
    this.#pubsub.subscribe(full)
  }

  /** Unsubscribes from a topic of this network. */
  unsubscribe(topic: string): void {
    this.#pubsub.unsubscribe(this.topic(topic))
  }

  /** Short names of the subscribed topics of this network. */
  getTopics(): string[] {
    return this.#pubsub
      .getTopics()
      .filter((t) => t.startsWith(this.#prefix))
      .map((t) => t.slice(this.#prefix.length))
  }

  /**
   * Publishes raw bytes on a topic of this network, signed by the node key. Resolves with the number of
   * peers it was sent to directly (0 when nobody is subscribed yet: the message is then lost).
   */
  async publish(
    topic: string,
    data: Uint8Array,
    options?: { signal?: AbortSignal }
  ): Promise<{ recipients: number }> {
    options?.signal?.throwIfAborted()
    const result: PublishResult = await this.#pubsub.publish(this.topic(topic), data)
    return { recipients: result.recipients.length }
  }

  /**
   * Adds a validator to a topic. Every validator of a topic must Accept for a message to be delivered; the
   * first Reject or Ignore wins. A validator that throws counts as Ignore (our bug, not the sender's).
   * Returns a function that removes it.
   */
  addValidator(topic: string, validator: GossipValidator): () => void {
    const full = this.topic(topic)
    let set = this.#validators.get(full)
    if (set === undefined) {
      set = new Set()
      this.#validators.set(full, set)
    }
    set.add(validator)
    this.#install(full)
    return () => {
      set.delete(validator)
    }
  }

  /** @internal The node's own validator for a topic, run after the rate limit and before app validators. */
  setBuiltinValidator(topic: string, validator: BuiltinValidator): void {
    const full = this.topic(topic)
    this.#builtin.set(full, validator)
    this.#install(full)
  }

  /** Peers (addresses) subscribed to a topic of this network. */
  getSubscribers(topic: string): string[] {
    return this.#pubsub.getSubscribers(this.topic(topic)).map((p: PeerId) => p.toString())
  }

  /** Peers (addresses) in our mesh for a topic. */
  getMeshPeers(topic: string): string[] {
    return (this.#pubsub as unknown as GossipScoring).getMeshPeers(this.topic(topic))
  }

  /** A peer's current gossipsub score as this node sees it. */
  getScore(peer: string): number {
    return (this.#pubsub as unknown as GossipScoring).getScore(peer)
  }

  /** The underlying gossipsub service. */
  get pubsub(): GossipSub {
    return this.#pubsub
  }

  #install(full: string): void {
    if (this.#installed.has(full)) return
    this.#installed.add(full)
    this.#pubsub.topicValidators.set(full, (peer, msg) => this.#validate(peer, msg))
  }

  async #validate(peer: PeerId, msg: Message): Promise<TopicValidatorResult> {
    if (msg.type !== 'signed') return TopicValidatorResult.Reject
    if (msg.data.byteLength > this.#maxMessageBytes) return TopicValidatorResult.Reject
    const from = msg.from.toString()
    if (this.#limiter !== undefined && !this.#limiter.take(`${msg.topic}\n${from}`)) {
      return TopicValidatorResult.Ignore
    }
    const message = { ...toGossipMessage(msg, this.#prefix), propagationSource: peer.toString() }
    try {
      const builtin = this.#builtin.get(msg.topic)
      const validators = this.#validators.get(msg.topic)
      if (builtin !== undefined) {
        const verdict = await builtin(message)
        // The node's own records are judged by the node alone; app validators see the rest.
        if (verdict !== FOREIGN_MESSAGE) return verdict
        if (validators === undefined || validators.size === 0) return TopicValidatorResult.Reject
      }
      for (const validator of validators ?? []) {
        const verdict = await validator(message)
        if (verdict !== TopicValidatorResult.Accept) return verdict
      }
    } catch (err) {
      log.error('a topic validator for %s threw; ignoring the message - %e', msg.topic, err)
      return TopicValidatorResult.Ignore
    }
    return TopicValidatorResult.Accept
  }
}

function toGossipMessage(msg: Message & { type: 'signed' }, prefix: string): GossipMessage {
  return {
    topic: msg.topic.startsWith(prefix) ? msg.topic.slice(prefix.length) : msg.topic,
    fullTopic: msg.topic,
    data: msg.data,
    from: msg.from.toString(),
    sequenceNumber: msg.sequenceNumber
  }
}

/** Token buckets per key, bounded in number (least recently used buckets are dropped first). */
export class RateLimiter {
  readonly #rate: number
  readonly #burst: number
  readonly #maxKeys: number
  readonly #buckets = new Map<string, { tokens: number; at: number }>()
  readonly #now: () => number

  constructor(ratePerSecond: number, burst: number, maxKeys = 10_000, now: () => number = Date.now) {
    this.#rate = ratePerSecond
    this.#burst = burst
    this.#maxKeys = maxKeys
    this.#now = now
  }

  /** Takes one token for `key`; false when the bucket is empty. */
  take(key: string): boolean {
    const now = this.#now()
    let bucket = this.#buckets.get(key)
    if (bucket === undefined) {
      bucket = { tokens: this.#burst, at: now }
      if (this.#buckets.size >= this.#maxKeys) {
        const oldest = this.#buckets.keys().next().value
        if (oldest !== undefined) this.#buckets.delete(oldest)
      }
    } else {
      this.#buckets.delete(key)
      bucket.tokens = Math.min(this.#burst, bucket.tokens + ((now - bucket.at) / 1000) * this.#rate)
      bucket.at = now
    }
    this.#buckets.set(key, bucket)
    if (bucket.tokens < 1) return false
    bucket.tokens -= 1
    return true
  }

  /** Number of tracked keys (bounded by `maxKeys`). */
  get size(): number {
    return this.#buckets.size
  }
}
