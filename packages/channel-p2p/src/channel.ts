import { compilePattern } from '@araliya/bus'
import { type CanonicalValue, decodeCanonical, encodeCanonical, type Identity } from '@araliya/identity'
import {
  type BusEventLike,
  type BusLike,
  type GossipVerdict,
  HybridClock,
  type Origin,
  type SwarmGossip,
  type SwarmGossipMessage,
  type SyncEndpoint,
  throwIfAborted
} from '@araliya/interface'
import type { Logger } from '@libp2p/interface'
import { defaultLogger } from '@libp2p/logger'
import { TypedEventEmitter } from 'main-event'
import type { DirectMessages, DirectReceipt, DirectVerdict, SendOptions } from './direct.js'
import {
  CBOR_CONTENT,
  DEFAULT_MAX_ENVELOPE_BYTES,
  DEFAULT_TTL_MS,
  type Envelope,
  encodeEnvelope,
  MAX_TTL_MS,
  SEALED_CONTENT,
  signEnvelope
} from './envelope.js'
import {
  ChannelNotStartedError,
  DeliveryError,
  type DropReason,
  EnvelopeRejectedError,
  InvalidGraphSyncOptionsError,
  PayloadError
} from './errors.js'
import type { GraphSyncCarrier, GraphSyncHandle, GraphSyncOptions } from './graph-sync.js'
import { InboundPipeline } from './inbound.js'
import { senderLimiter } from './rate-limit.js'
import { open, type SealingKey, seal, sealingKey } from './seal.js'
import { SeenSet } from './seen.js'
import {
  type ChannelEvents,
  type ChannelInit,
  type ChannelRoute,
  type ChannelServices,
  type ChannelStats,
  DEFAULT_ROUTES,
  DIRECT_CHANNEL,
  type PublishEnvelopeOptions
} from './channel-types.js'

export * from './channel-types.js'

/**
 * The swarm topics a node joins for itself (presence, messages, heartbeats: docs/protocols): the
 * channel subscribes to them too when routed, but never leaves them on stop.
 */
const NODE_TOPICS: ReadonlySet<string> = new Set(['agent-announcements', 'agent-messages', 'node-status'])
const DIRECT_EVENTS = ['direct:delivered', 'direct:retry', 'direct:failed'] as const

/** `BusLike.subscribe` with the options `@araliya/bus` understands (other buses ignore them). */
type SubscribeWithOptions = (
  pattern: string,
  handler: (event: BusEventLike) => unknown,
  options: {
    from: 'local'
    name: string
    queue: { capacity: number; policy: 'reject' }
  }
) => { unsubscribe(): void }

/** The counters a channel keeps itself (the rest of {@link ChannelStats} is read from its parts). */
type ChannelCounters = Omit<
  ChannelStats,
  'outboxSize' | 'seenSize' | 'directSent' | 'directReceived' | 'drops'
>

/**
 * The bridge between a node's bus and the swarm. Create with {@link createChannel}; `start()` wires it up.
 */
export class P2PChannel extends TypedEventEmitter<ChannelEvents> {
  /** The address that signs this channel's envelopes (its identity's). */
  readonly address: string
  readonly bus: BusLike
  readonly routes: readonly ChannelRoute[]
  readonly #identity: Identity
  readonly #gossip: SwarmGossip
  readonly #direct: DirectMessages | undefined
  readonly #graphSync: GraphSyncCarrier | undefined
  readonly #log: Logger
  readonly #now: () => number
  readonly #clock: HybridClock
  readonly #ttlMs: number
  readonly #maxEnvelopeBytes: number
  readonly #seen: SeenSet
  readonly #pipeline: InboundPipeline
  readonly #inbound = new Map<string, Array<(topic: string) => boolean>>()
  readonly #cleanups: Array<() => void> = []
  readonly #syncs = new Set<GraphSyncHandle>()
  readonly #redispatch = (event: Event): void => {
    this.dispatchEvent(new CustomEvent(event.type, { detail: (event as CustomEvent).detail }))
  }
  #sealingKey: SealingKey | undefined
  #started = false
  readonly #drops: { [reason in DropReason]?: number } = {}
  readonly #stats: ChannelCounters = {
    published: 0,
    publishFailures: 0,
    accepted: 0,
    delivered: 0,
    unrouted: 0,
    rejected: 0,
    ignored: 0
  }

  /** @internal Use {@link createChannel}. */
  constructor(init: ChannelInit) {
    super()
    const services = init.services ?? {}
    const gossip = init.gossip ?? service<SwarmGossip>(services, 'gossip', ['publish', 'addValidator'])
    if (gossip === undefined) {
      throw new TypeError(
        'createChannel needs the swarm gossip: pass gossip, or services with a gossip service'
      )
    }
    this.#identity = init.identity
    this.address = init.identity.address
    this.#gossip = gossip
    this.#direct = init.direct ?? service<DirectMessages>(services, 'direct', ['attach', 'send'])
    this.#graphSync = init.graphSync ?? service<GraphSyncCarrier>(services, 'graphSync', ['sync'])
    this.#log = (init.logger ?? defaultLogger()).forComponent('araliya:channel')
    this.bus = init.bus
    this.routes = init.routes ?? DEFAULT_ROUTES
    this.#now = init.now ?? Date.now
    this.#clock = new HybridClock(this.#now)
    this.#ttlMs = Math.min(init.ttlMs ?? DEFAULT_TTL_MS, MAX_TTL_MS)
    this.#maxEnvelopeBytes = init.maxEnvelopeBytes ?? DEFAULT_MAX_ENVELOPE_BYTES
    this.#seen = new SeenSet({
      datastore: init.datastore,
      maxEntries: init.maxSeenEntries,
      now: this.#now,
      logger: init.logger
    })
    this.#pipeline = new InboundPipeline({
      network: gossip.network,
      maxEnvelopeBytes: this.#maxEnvelopeBytes,
      maxClockSkewMs: init.maxClockSkewMs,
      seen: this.#seen,
      limiter: senderLimiter({ now: this.#now, ...init.rateLimit }),
      now: this.#now
    })
    for (const route of this.routes) {
      if (route.direction === 'out') continue
      const matchers = this.#inbound.get(route.swarm) ?? []
      matchers.push(compilePattern(route.bus))
      this.#inbound.set(route.swarm, matchers)
    }
  }

  /** True between `start()` and `stop()`. */
  isStarted(): boolean {
    return this.#started
  }

  /**
   * Loads the seen-set, installs the gossip validators, subscribes to the routed bus topics, and attaches
   * to the direct service (which resumes undelivered direct messages from its outbox). Safe to call twice.
   */
  async start(): Promise<void> {
    if (this.#started) return
    this.#sealingKey = sealingKey(this.#identity)
    await this.#seen.load()
    try {
      for (const swarm of this.#inbound.keys()) {
        if (swarm === DIRECT_CHANNEL) continue
        this.#gossip.subscribe(swarm)
        // The node subscribes to its own swarm topics; other topics are ours to leave again.
        if (!NODE_TOPICS.has(swarm)) this.#cleanups.push(() => this.#gossip.unsubscribe(swarm))
        this.#cleanups.push(this.#gossip.addValidator(swarm, (message) => this.#validate(swarm, message)))
      }
      for (const route of this.routes) {
        if (route.direction === 'in' || route.swarm === DIRECT_CHANNEL) continue
        // Only events made here go out: what came from the swarm is never echoed back to it. @araliya/bus
        // filters by origin and bounds the queue itself; the handler checks the origin for any other bus.
        const subscribe = this.bus.subscribe.bind(this.bus) as SubscribeWithOptions
        const subscription = subscribe(
          route.bus,
          (event) => (event.origin.kind === 'local' ? this.#forward(route.swarm, event) : undefined),
          {
            from: 'local',
            name: `channel-p2p -> ${route.swarm}`,
            queue: { capacity: 4096, policy: 'reject' }
          }
        )
        this.#cleanups.push(() => subscription.unsubscribe())
      }
      const direct = this.#direct
      if (direct !== undefined) {
        for (const type of DIRECT_EVENTS) direct.addEventListener(type, this.#redispatch)
        this.#cleanups.push(() => {
          for (const type of DIRECT_EVENTS) direct.removeEventListener(type, this.#redispatch)
        })
        await direct.attach((bytes, peer) => this.#check(bytes, DIRECT_CHANNEL, peer))
      }
    } catch (err) {
      for (const cleanup of this.#cleanups.splice(0)) cleanup()
      throw err
    }
    this.#started = true
    this.#log('channel of %s started with %d routes', this.address, this.routes.length)
  }

  /**
   * Stops everything `start()` set up and the graph syncs it runs, flushing the seen-set. Undelivered
   * direct messages stay queued in the direct service's outbox for the next start.
   */
  async stop(): Promise<void> {
    if (!this.#started) return
    this.#started = false
    for (const handle of [...this.#syncs]) await handle.stop()
    this.#syncs.clear()
    await this.#direct?.detach()
    for (const cleanup of this.#cleanups.splice(0)) cleanup()
    await this.#seen.close()
  }

  /**
   * Signs and publishes `payload` as bus topic `topic` on swarm channel `swarm` (a gossip topic). Bus
   * subscriptions of outbound routes call this for every local event.
   *
   * @throws {PayloadError} when the payload cannot be encoded or is too large.
   */
  async publish(
    swarm: string,
    topic: string,
    payload: unknown,
    options: PublishEnvelopeOptions = {}
  ): Promise<Envelope> {
    this.#assertStarted()
    throwIfAborted(options.signal)
    return this.#publish(swarm, topic, payload, options)
  }

  async #publish(
    swarm: string,
    topic: string,
    payload: unknown,
    options: PublishEnvelopeOptions
  ): Promise<Envelope> {
    const envelope = await this.#seal(swarm, topic, payload, options)
    const bytes = encodeEnvelope(envelope)
    if (bytes.byteLength > this.#maxEnvelopeBytes) {
      throw new PayloadError(
        `the envelope is ${bytes.byteLength} bytes, over the ${this.#maxEnvelopeBytes}-byte limit; send less`
      )
    }
    await this.#gossip.publish(swarm, bytes, options)
    this.#stats.published++
    return envelope
  }

  /**
   * Sends `payload` as bus topic `topic` straight to the agent at `to` over `/araliya/msg/1.0.0`: the
   * direct service finds the agent, delivers, and resolves when the recipient acknowledges. While the
   * recipient is unreachable the message waits in a persistent outbox and is retried with backoff until
   * its TTL runs out. Bodies are end-to-end encrypted unless `encrypt: false`.
   *
   * @throws {DeliveryError} when the channel has no direct service, the recipient refused the message, or
   * it expired undelivered.
   */
  async send(to: string, topic: string, payload: unknown, options: SendOptions = {}): Promise<DirectReceipt> {
    this.#assertStarted()
    if (this.#direct === undefined) {
      throw new DeliveryError(
        'this channel has no direct-message service: add direct() to the node services and pass it to createChannel'
      )
    }
    const envelope = await this.#seal(DIRECT_CHANNEL, topic, payload, {
      to,
      encrypt: options.encrypt ?? true,
      ttlMs: options.ttlMs
    })
    return this.#direct.send(envelope, options)
  }

  /**
   * Carries graph sync over the graph-sync service (`/araliya/graph-sync/1.0.0` streams) with connected
   * peers: `endpoint` is the replica's side, crdt-graph's `graphSyncEndpoint(graph, { spaces, share,
   * limits })`. A new session (and a fresh version-vector exchange) starts on every reconnect, so an
   * interrupted sync resumes where it stopped. Resolves once the protocol is served; the channel's
   * `stop()` stops it. One endpoint at a time.
   *
   * A peer that sends a commit no honest peer sends (one no authority covers, a backdated one, or one
   * with a bad signature) loses its session and is refused for a cool-off (see
   * {@link GraphSyncOptions.misbehaviourCooldownMs} and {@link GraphSyncHandle.misbehaving}).
   *
   * @throws {InvalidGraphSyncOptionsError} for an out-of-range `misbehaviourCooldownMs`, or when the
   * channel has no graph-sync service.
   */
  async syncGraph(endpoint: SyncEndpoint, options: GraphSyncOptions = {}): Promise<GraphSyncHandle> {
    this.#assertStarted()
    if (this.#graphSync === undefined) {
      throw new InvalidGraphSyncOptionsError(
        'this channel has no graph-sync service: add graphSync() to the node services and pass it to createChannel'
      )
    }
    const handle = await this.#graphSync.sync(endpoint, options)
    this.#syncs.add(handle)
    return {
      sessions: () => handle.sessions(),
      whenSessionOpen: (peer, opts) => handle.whenSessionOpen(peer, opts),
      misbehaving: () => handle.misbehaving(),
      stop: async () => {
        this.#syncs.delete(handle)
        await handle.stop()
      }
    }
  }

  /** A snapshot of the counters. */
  stats(): ChannelStats {
    return {
      ...this.#stats,
      ...(this.#direct?.stats() ?? { directSent: 0, directReceived: 0, outboxSize: 0 }),
      seenSize: this.#seen.size,
      drops: { ...this.#drops }
    }
  }

  async #seal(
    chan: string,
    topic: string,
    payload: unknown,
    options: PublishEnvelopeOptions
  ): Promise<Envelope> {
    let body: Uint8Array
    try {
      body = encodeCanonical(payload as CanonicalValue)
    } catch (err) {
      throw new PayloadError(
        `the payload of ${topic} cannot be carried: use JSON-like values and Uint8Arrays (${(err as Error).message})`,
        { cause: err }
      )
    }
    const encrypt = options.encrypt === true
    if (encrypt && options.to === undefined) throw new PayloadError('encrypt needs a recipient (to)')
    const id = new Uint8Array(16)
    globalThis.crypto.getRandomValues(id)
    const ttl = Math.min(options.ttlMs ?? this.#ttlMs, MAX_TTL_MS)
    return signEnvelope(this.#identity, {
      net: this.#gossip.network,
      chan,
      from: this.address,
      id,
      hlc: this.#clock.tick(),
      ttl,
      ...(options.to === undefined ? {} : { to: options.to }),
      topic,
      ct: encrypt ? SEALED_CONTENT : CBOR_CONTENT,
      body: encrypt ? seal(body, this.address, options.to as string) : body
    })
  }

  #forward(swarm: string, event: BusEventLike): Promise<void> {
    return this.#publish(swarm, event.topic, event.payload, {}).then(
      () => undefined,
      (err: Error) => {
        this.#stats.publishFailures++
        this.#log('could not publish %s on %s - %e', event.topic, swarm, err)
        this.safeDispatchEvent('publish:error', { detail: { topic: event.topic, error: err } })
      }
    )
  }

  async #validate(swarm: string, message: SwarmGossipMessage): Promise<GossipVerdict> {
    const { action } = await this.#check(message.data, swarm, message.from, message.propagationSource)
    return action
  }

  /** Runs the inbound pipeline and, on accept, delivers to the bus. Returns the action taken. */
  async #check(bytes: Uint8Array, chan: string, from?: string, peer?: string): Promise<DirectVerdict> {
    const verdict = await this.#pipeline.check(bytes, chan, {
      from,
      open: (envelope) => this.#open(envelope, chan)
    })
    if (verdict.action !== 'accept') {
      this.#stats[verdict.action === 'reject' ? 'rejected' : 'ignored']++
      this.#drops[verdict.reason] = (this.#drops[verdict.reason] ?? 0) + 1
      this.#log('%s envelope on %s from %s: %s', verdict.action, chan, peer ?? from ?? '?', verdict.message)
      this.safeDispatchEvent('envelope:drop', {
        detail: {
          chan,
          reason: verdict.reason,
          action: verdict.action,
          message: verdict.message,
          peer: peer ?? from
        }
      })
      return { action: verdict.action, reason: verdict.reason }
    }
    const { envelope, payload } = verdict
    this.#clock.observe(envelope.hlc)
    this.#stats.accepted++
    const forUs = envelope.to === undefined || envelope.to === this.address
    let routed = forUs && (this.#inbound.get(chan) ?? []).some((matches) => matches(envelope.topic))
    if (routed && payload.value === undefined) {
      // `#open` only leaves the payload out of envelopes for someone else; should that ever change,
      // nothing without a payload goes on the bus.
      this.#log.error('not delivering %s from %s: it has no payload', envelope.topic, envelope.from)
      routed = false
    }
    if (routed) {
      const origin: Origin = { kind: 'remote', peer: envelope.from }
      try {
        this.bus.publish(envelope.topic, payload.value, { origin })
        this.#stats.delivered++
      } catch (err) {
        this.#log.error('could not deliver %s on the bus - %e', envelope.topic, err)
      }
    } else if (forUs) {
      this.#stats.unrouted++
    }
    this.safeDispatchEvent('envelope:accept', { detail: { envelope, chan, delivered: routed } })
    return { action: 'accept' }
  }

  /**
   * Decodes (and, when sealed to us, decrypts) a verified envelope's body. The value is absent only for
   * an envelope sealed to someone else, which is forwarded but never delivered here.
   */
  #open(envelope: Envelope, chan: string): { value: CanonicalValue | undefined } {
    if (chan === DIRECT_CHANNEL && envelope.to !== this.address) {
      throw new EnvelopeRejectedError(
        'not-for-us',
        `direct envelope is for ${envelope.to ?? 'nobody'}, not us`
      )
    }
    let body = envelope.body
    if (envelope.ct === SEALED_CONTENT) {
      if (envelope.to === undefined) {
        // Sealed to nobody: no node can open it, so it is neither delivered nor forwarded.
        throw new EnvelopeRejectedError(
          'undecryptable',
          `envelope ${envelope.topic} from ${envelope.from} is sealed but names no recipient`
        )
      }
      if (envelope.to !== this.address) return { value: undefined } // someone else's secret: forward only
      try {
        body = open(body, envelope.from, this.#sealingKey as SealingKey, this.#maxEnvelopeBytes)
      } catch (err) {
        throw new EnvelopeRejectedError('undecryptable', (err as Error).message, { cause: err })
      }
    } else if (envelope.ct !== CBOR_CONTENT) {
      throw new EnvelopeRejectedError('malformed', `unknown content type ${envelope.ct}`)
    }
    try {
      return { value: decodeCanonical(body, { maxBytes: this.#maxEnvelopeBytes }) }
    } catch (err) {
      throw new EnvelopeRejectedError(
        'malformed',
        `envelope body is not canonical CBOR: ${(err as Error).message}`
      )
    }
  }

  #assertStarted(): void {
    if (!this.#started) throw new ChannelNotStartedError('the channel')
  }
}

/** The service `name` of a service map, if it has one; a TypeError if it lacks a method the channel calls. */
function service<T>(services: ChannelServices, name: string, methods: readonly string[]): T | undefined {
  const found = (services as Record<string, unknown>)[name]
  if (found === undefined) return undefined
  for (const method of methods) {
    if (typeof (found as Record<string, unknown> | null)?.[method] !== 'function') {
      throw new TypeError(`the ${name} service has no ${method}(): is it Araliya's ${name} service?`)
    }
  }
  return found as T
}

/**
 * Creates a channel between `init.bus` and the swarm, over the node parts given (`gossip`, and optionally
 * the `direct` and `graphSync` services, or `services` holding them). Nothing happens until `start()`.
 *
 * @throws {TypeError} when no gossip is given, or a service under an Araliya name is something else.
 */
export function createChannel(init: ChannelInit): P2PChannel {
  return new P2PChannel(init)
}
