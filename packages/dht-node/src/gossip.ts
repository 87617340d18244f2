import { type GossipVerdict, RateLimiter, type SwarmGossip } from '@araliya/interface'
import type { GossipSub, Message, PublishResult } from '@libp2p/gossipsub'
import type { ComponentLogger, Logger, PeerId } from '@libp2p/interface'
import { serviceCapabilities, serviceDependencies, type Startable } from '@libp2p/interface'
import { TypedEventEmitter } from 'main-event'
import type { GossipInit } from './gossip-score.js'
import { keepRetainedScoresOf } from './score-retention.js'
import { gossipTopic, SWARM_TOPICS } from './topics.js'

export {
  araliyaPeerScoreParams,
  araliyaTopicScoreParams,
  DEFAULT_SCORE_THRESHOLDS,
  type GossipInit,
  type GossipRateLimit
} from './gossip-score.js'
export { gossipTopic, SWARM_TOPICS, type SwarmTopic } from './topics.js'

/**
 * What a validator decides: deliver and forward, drop silently, or drop and penalise the sender. The
 * values are gossipsub's own `TopicValidatorResult` strings (and {@link GossipVerdict}'s).
 */
export const GossipValidation = {
  /** Valid: deliver locally and forward. */
  Accept: 'accept',
  /** Not for us (duplicate, rate-limited, stale): drop without penalising anyone. */
  Ignore: 'ignore',
  /** Invalid: drop, and the peer that sent it loses gossip score. */
  Reject: 'reject'
} as const satisfies Record<string, GossipVerdict>
/** A validator's verdict; see {@link GossipValidation}. */
export type GossipValidationResult = GossipVerdict

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

interface GossipScoring {
  getScore(peerId: string): number
  getMeshPeers(topic: string): string[]
}

/** Events of the gossip service. */
export interface GossipEvents {
  /** A validated message arrived on a subscribed topic of this network (each message once). */
  'gossip:message': CustomEvent<GossipMessage>
}

/**
 * What a builtin validator says of a message that is not in its format: the topic is shared, and the
 * app's validators decide (with none registered, the message is rejected).
 */
export const FOREIGN_MESSAGE = 'foreign'

/**
 * Per-message hooks Araliya's own services install for their topics (announcements, status). A message
 * in the service's own format gets a verdict here and never reaches app validators; anything else is
 * {@link FOREIGN_MESSAGE} and is judged by the app's validators (channel-p2p envelopes, for example).
 */
export type BuiltinValidator = (
  message: GossipMessage
) =>
  | GossipValidationResult
  | typeof FOREIGN_MESSAGE
  | Promise<GossipValidationResult | typeof FOREIGN_MESSAGE>

/** Settings of the {@link gossip} service. */
export interface GossipServiceInit extends Pick<GossipInit, 'maxMessageBytes' | 'rateLimit'> {
  /** The network namespace: topics are `/araliya/<network>/<topic>`. Default `main`. */
  network?: string
  /** Join the three swarm topics on start. Default true. */
  subscribeSwarmTopics?: boolean
}

/** What the gossip service uses: gossipsub under the name `pubsub`, and the logger. */
export interface GossipComponents {
  pubsub: GossipSub
  logger: ComponentLogger
}

/**
 * The swarm's signed gossip as a libp2p service (component name `gossip`), on top of gossipsub
 * (`pubsub`): publish raw bytes, subscribe, and register accept/ignore/reject validators on topics of one
 * network namespace. Messages are signed by the node key (StrictSign), so `from` is the sender's agent
 * address. Implements `SwarmGossip` from `@araliya/interface`.
 */
export class GossipLayer extends TypedEventEmitter<GossipEvents> implements SwarmGossip, Startable {
  readonly [Symbol.toStringTag] = '@araliya/gossip'
  readonly [serviceCapabilities]: string[] = ['@araliya/gossip']
  readonly [serviceDependencies]: string[] = ['@libp2p/pubsub']
  /** The network namespace of every topic. */
  readonly network: string
  readonly #components: GossipComponents
  readonly #log: Logger
  readonly #validators = new Map<string, Set<GossipValidator>>()
  readonly #builtin = new Map<string, BuiltinValidator>()
  readonly #installed = new Set<string>()
  readonly #rateLimit: { ratePerSecond: number; burst: number } | undefined
  // Made on the first message: its LRU allocates arrays for 10 000 keys up front, off the ready path.
  #limiter: RateLimiter | undefined
  readonly #maxMessageBytes: number
  readonly #subscribeSwarmTopics: boolean
  readonly #prefix: string
  #started = false
  readonly #onMessage = (event: CustomEvent<Message>): void => {
    const msg = event.detail
    if (msg.type !== 'signed' || !msg.topic.startsWith(this.#prefix)) return
    this.safeDispatchEvent('gossip:message', { detail: toGossipMessage(msg, this.#prefix) })
  }

  constructor(components: GossipComponents, init: GossipServiceInit = {}) {
    super()
    this.#components = components
    this.#log = components.logger.forComponent('araliya:dht:gossip')
    this.network = init.network ?? 'main'
    // Checked here so a bad network name fails at construction, not at the first publish.
    gossipTopic(this.network, 'agent-messages')
    this.#prefix = `/araliya/${this.network}/`
    this.#maxMessageBytes = init.maxMessageBytes ?? 1024 * 1024
    this.#subscribeSwarmTopics = init.subscribeSwarmTopics ?? true
    this.#rateLimit =
      init.rateLimit === false
        ? undefined
        : {
            ratePerSecond: init.rateLimit?.messagesPerSecond ?? 50,
            burst: init.rateLimit?.burst ?? 200
          }
  }

  /** True between `start()` and `stop()`. */
  isStarted(): boolean {
    return this.#started
  }

  /** Listens to gossipsub and installs the topic validators. Safe to call twice. */
  start(): void {
    if (this.#started) return
    this.#started = true
    // Penalties must survive a reconnect; @libp2p/gossipsub 17.1 resets them (see score-retention.ts).
    keepRetainedScoresOf(this.pubsub, this.#log)
    this.pubsub.addEventListener('message', this.#onMessage)
    for (const full of [...this.#builtin.keys(), ...this.#validators.keys()]) this.#install(full)
  }

  /** Joins the swarm topics once gossipsub runs. */
  afterStart(): void {
    if (!this.#subscribeSwarmTopics) return
    for (const topic of SWARM_TOPICS) this.subscribe(topic)
  }

  /** Stops listening and removes the topic validators. Safe to call twice. */
  stop(): void {
    if (!this.#started) return
    this.#started = false
    this.pubsub.removeEventListener('message', this.#onMessage)
    for (const topic of this.#installed) this.pubsub.topicValidators.delete(topic)
    this.#installed.clear()
  }

  /** The wire topic (`/araliya/<network>/<topic>`) of a short topic name. */
  topic(name: string): string {
    return gossipTopic(this.network, name)
  }

  /** Subscribes to a topic of this network. Idempotent. */
  subscribe(topic: string): void {
    const full = this.topic(topic)
    this.#install(full)
    this.pubsub.subscribe(full)
  }

  /** Unsubscribes from a topic of this network. */
  unsubscribe(topic: string): void {
    this.pubsub.unsubscribe(this.topic(topic))
  }

  /** Short names of the subscribed topics of this network. */
  getTopics(): string[] {
    return this.pubsub
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
    const result: PublishResult = await this.pubsub.publish(this.topic(topic), data)
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
    if (this.#started) this.#install(full)
    return () => {
      set.delete(validator)
    }
  }

  /**
   * @internal For Araliya's own services: the validator of the service's records on a topic, run after
   * the rate limit and before app validators.
   */
  setBuiltinValidator(topic: string, validator: BuiltinValidator): void {
    const full = this.topic(topic)
    this.#builtin.set(full, validator)
    if (this.#started) this.#install(full)
  }

  /** Peers (addresses) subscribed to a topic of this network. */
  getSubscribers(topic: string): string[] {
    return this.pubsub.getSubscribers(this.topic(topic)).map((p: PeerId) => p.toString())
  }

  /** Peers (addresses) in our mesh for a topic. */
  getMeshPeers(topic: string): string[] {
    return (this.pubsub as unknown as GossipScoring).getMeshPeers(this.topic(topic))
  }

  /** A peer's current gossipsub score as this node sees it. */
  getScore(peer: string): number {
    return (this.pubsub as unknown as GossipScoring).getScore(peer)
  }

  /** The underlying gossipsub service. */
  get pubsub(): GossipSub {
    return this.#components.pubsub
  }

  #install(full: string): void {
    if (this.#installed.has(full)) return
    this.#installed.add(full)
    // Our verdicts are gossipsub's TopicValidatorResult strings.
    this.pubsub.topicValidators.set(full, (peer, msg) => this.#validate(peer, msg) as never)
  }

  async #validate(peer: PeerId, msg: Message): Promise<GossipVerdict> {
    if (msg.type !== 'signed') return GossipValidation.Reject
    if (msg.data.byteLength > this.#maxMessageBytes) return GossipValidation.Reject
    const from = msg.from.toString()
    if (this.#rateLimit !== undefined) {
      this.#limiter ??= new RateLimiter(this.#rateLimit)
      if (!this.#limiter.take(`${msg.topic}\n${from}`)) return GossipValidation.Ignore
    }
    const message = { ...toGossipMessage(msg, this.#prefix), propagationSource: peer.toString() }
    try {
      const builtin = this.#builtin.get(msg.topic)
      const validators = this.#validators.get(msg.topic)
      if (builtin !== undefined) {
        const verdict = await builtin(message)
        // A service's own records are judged by that service alone; app validators see the rest.
        if (verdict !== FOREIGN_MESSAGE) return verdict
        if (validators === undefined || validators.size === 0) return GossipValidation.Reject
      }
      for (const validator of validators ?? []) {
        const verdict = await validator(message)
        if (verdict !== GossipValidation.Accept) return verdict
      }
    } catch (err) {
      this.#log.error('a topic validator for %s threw; ignoring the message - %e', msg.topic, err)
      return GossipValidation.Ignore
    }
    return GossipValidation.Accept
  }
}

/**
 * The swarm gossip service: `services: { pubsub: gossipsub({ globalSignaturePolicy: 'StrictSign' }),
 * gossip: gossip({ network }) }`. Other services find it as `components.gossip`.
 */
export function gossip(init: GossipServiceInit = {}): (components: GossipComponents) => GossipLayer {
  return (components) => new GossipLayer(components, init)
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
