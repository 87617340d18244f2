import { type Identity, identityFromLibp2pKey } from '@araliya/identity'
import { type AbortOptions, type AgentLocator, backoffDelay } from '@araliya/interface'
import {
  type ComponentLogger,
  type Connection,
  type Libp2pEvents,
  type Logger,
  type PeerId,
  type PeerStore,
  type PrivateKey,
  serviceCapabilities,
  type Startable,
  serviceDependencies,
  type TypedEventTarget
} from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import { peerIdFromString } from '@libp2p/peer-id'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { TypedEventEmitter } from 'main-event'
import { getRecord, putRecord, waitForDhtPeer } from './dht-records.js'
import { AgentNotFoundError, NodeNotStartedError } from './errors.js'
import { FOREIGN_MESSAGE, type GossipLayer, type GossipMessage, GossipValidation } from './gossip.js'
import { PresenceCache, type PresenceCacheInit } from './presence-cache.js'
import {
  createPresenceRecord,
  DEFAULT_MAX_RECORD_BYTES,
  DEFAULT_MAX_RECORD_TTL_MS,
  decodeKey,
  decodePresenceRecord,
  encodePresenceRecord,
  multiaddrProblem,
  PRESENCE_KEY_PREFIX,
  type PresenceRecord,
  presenceKey,
  validatePresenceRecord
} from './presence.js'
import { normalizeSkillName } from './skills.js'
import {
  assertAgentAddress,
  type ConnectionManagerLike,
  operationSignal,
  sameAddrs,
  serviceController
} from './util.js'

/** Presence publishing settings. */
export interface PresenceInit {
  /** How long a published record is valid. Default 1 hour. */
  ttlMs?: number
  /** How often the record is republished. Default half the TTL. */
  republishIntervalMs?: number
  /** Largest record accepted by the validator (checked before decoding). Default 4096 bytes. */
  maxRecordBytes?: number
  /** Longest lifetime a record may claim. Default 48 h. */
  maxRecordTtlMs?: number
  /** Publish presence automatically after start. Default true. */
  auto?: boolean
  /**
   * The cache of verified presence records heard on `agent-announcements` (and found by lookups), which
   * answers `findAgent` before the DHT is asked. Default 10 000 records (LRU), each answering for 5 min
   * after it was heard; `false` or `{ maxEntries: 0 }` turns it off.
   */
  cache?: PresenceCacheInit | false
}

/** Settings of the {@link presence} service. */
export interface PresenceServiceInit extends PresenceInit {
  /** The identity that signs records. Default: made from the node's private key (`components.privateKey`). */
  identity?: Identity
  /** Skills to advertise from the start (the `skills` service adds to them). */
  skills?: readonly string[]
  /** Timeout of one DHT query, ms. Default 30 s. */
  queryTimeoutMs?: number
}

/** What the presence service uses. */
export interface PresenceComponents {
  peerId: PeerId
  privateKey: PrivateKey
  addressManager: { getAddresses(): Multiaddr[] }
  connectionManager: ConnectionManagerLike
  peerStore: Pick<PeerStore, 'merge'>
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
  dht: KadDHT
  gossip: GossipLayer
}

/** What a lookup by address returns: an `AgentLocation` plus the verified record. */
export interface AgentInfo {
  /** The agent address (PeerId string). */
  readonly address: string
  /** The PeerId of the address. */
  readonly peerId: PeerId
  /** Where the agent can be dialled (as its presence record says). */
  readonly multiaddrs: Multiaddr[]
  /** The skills the agent advertises. */
  readonly skills: readonly string[]
  /** The presence record's sequence number. */
  readonly seq: number
  /** When the presence record expires, ms since the epoch. */
  readonly expires: number
  /** The signed record itself. */
  readonly record: PresenceRecord
}

/** Events of the presence service. */
export interface PresenceEvents {
  /** Our presence record was stored on `accepted` DHT servers. */
  'presence:publish': CustomEvent<{ record: PresenceRecord; accepted: number }>
  /** Publishing presence failed; it is retried with backoff. */
  'presence:error': CustomEvent<{ error: Error }>
  /** A valid presence announcement arrived on `agent-announcements`. */
  'agent:announce': CustomEvent<{ record: PresenceRecord }>
}

/**
 * Signed presence on the DHT (component name `presence`): publishes `/araliya/presence/<address>` and
 * keeps it fresh (republish before expiry, at once when addresses or skills change, with capped backoff
 * on failure), announces it on `agent-announcements`, validates others' announcements, and finds and
 * dials agents by address. Implements `AgentLocator` from `@araliya/interface`.
 */
export class PresenceService
  extends TypedEventEmitter<PresenceEvents>
  implements AgentLocator<Connection>, Startable
{
  readonly [Symbol.toStringTag] = '@araliya/presence'
  readonly [serviceCapabilities]: string[] = ['@araliya/presence', '@araliya/agent-locator']
  readonly [serviceDependencies]: string[] = ['@libp2p/kad-dht', '@araliya/gossip']
  readonly #components: PresenceComponents
  readonly #init: PresenceServiceInit
  readonly #log: Logger
  readonly #skills = new Set<string>()
  readonly #ttlMs: number
  readonly #republishMs: number
  readonly #queryTimeoutMs: number
  readonly #limits: { maxRecordBytes: number; maxRecordTtlMs: number }
  readonly #cache: PresenceCache | undefined
  #identity: Identity | undefined
  #started = false
  #controller = serviceController()
  #lastSeq = 0
  #record: PresenceRecord | undefined
  #dirty = true
  #loop: Promise<void> | undefined
  #timer: ReturnType<typeof setTimeout> | undefined
  #wake: (() => void) | undefined
  readonly #onSelfUpdate = (): void => {
    if (!sameAddrs(this.#advertisedAddrs(), this.#record?.multiaddrs ?? [])) this.#wake?.()
  }
  // A new peer may be the first DHT server we reach (a bootstrap, say): look again at once.
  readonly #onPeerConnect = (): void => this.#wake?.()
  readonly #onMessage = (event: CustomEvent<GossipMessage>): void => {
    if (event.detail.topic !== 'agent-announcements') return
    try {
      const record = decodePresenceRecord(event.detail.data, { maxRecordBytes: this.#limits.maxRecordBytes })
      this.safeDispatchEvent('agent:announce', { detail: { record } })
    } catch (err) {
      this.#log('undecodable announcement after validation - %e', err)
    }
  }

  constructor(components: PresenceComponents, init: PresenceServiceInit = {}) {
    super()
    this.#components = components
    this.#init = init
    this.#log = components.logger.forComponent('araliya:dht:presence')
    this.#ttlMs = init.ttlMs ?? 60 * 60 * 1000
    this.#republishMs = init.republishIntervalMs ?? Math.floor(this.#ttlMs / 2)
    this.#queryTimeoutMs = init.queryTimeoutMs ?? 30_000
    this.#limits = {
      maxRecordBytes: init.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES,
      maxRecordTtlMs: init.maxRecordTtlMs ?? DEFAULT_MAX_RECORD_TTL_MS
    }
    for (const skill of init.skills ?? []) this.#skills.add(normalizeSkillName(skill))
    const cache = init.cache === false ? { maxEntries: 0 } : (init.cache ?? {})
    this.#cache = cache.maxEntries === 0 ? undefined : new PresenceCache({ ...cache, ...this.#limits })
  }

  /** True between `start()` and `stop()`. */
  isStarted(): boolean {
    return this.#started
  }

  /** Our latest published presence record, if any. */
  get record(): PresenceRecord | undefined {
    return this.#record
  }

  /** The skills our record advertises (normalised, sorted). */
  get skills(): string[] {
    return [...this.#skills].sort()
  }

  /** Adds a skill to our record; it is republished soon. */
  addSkill(name: string): void {
    const skill = normalizeSkillName(name)
    if (this.#skills.has(skill)) return
    this.#skills.add(skill)
    this.#dirty = true
    this.#wake?.()
  }

  /** Removes a skill from our record; it is republished soon. */
  removeSkill(name: string): void {
    this.#skills.delete(normalizeSkillName(name))
    this.#dirty = true
    this.#wake?.()
  }

  /** Installs the announcement validator and listens for address changes. Safe to call twice. */
  async start(): Promise<void> {
    if (this.#started) return
    this.#identity ??=
      this.#init.identity ?? (await identityFromLibp2pKey(this.#components.privateKey as never))
    this.#controller = serviceController()
    const { gossip, events } = this.#components
    // The topic is shared: anything that does not decode as a presence record (a channel-p2p envelope,
    // say) is FOREIGN_MESSAGE and left to the app's validators.
    gossip.setBuiltinValidator('agent-announcements', async (message) => {
      let record: PresenceRecord
      try {
        record = decodePresenceRecord(message.data, { maxRecordBytes: this.#limits.maxRecordBytes })
      } catch {
        return FOREIGN_MESSAGE
      }
      if (record.address !== message.from) return GossipValidation.Reject
      try {
        // Validated as a DHT server would under the signer's key; a valid one is remembered for lookups.
        await this.#verify(message.from, message.data)
        return GossipValidation.Accept
      } catch (err) {
        this.#log('refused an announcement from %s - %e', message.from, err)
        return GossipValidation.Reject
      }
    })
    gossip.addEventListener('gossip:message', this.#onMessage)
    events.addEventListener('self:peer:update', this.#onSelfUpdate)
    events.addEventListener('peer:connect', this.#onPeerConnect)
    this.#started = true
  }

  /** Starts the publish/republish loop once the node runs (unless `auto: false`). */
  afterStart(): void {
    if (this.#started && this.#init.auto !== false && this.#loop === undefined) this.#loop = this.#run()
  }

  /** Stops the loop and aborts in-flight publishes and lookups. Safe to call twice. */
  async stop(): Promise<void> {
    if (!this.#started) return
    this.#started = false
    this.#controller.abort(new NodeNotStartedError('the presence service'))
    clearTimeout(this.#timer)
    this.#wake?.()
    const { gossip, events } = this.#components
    gossip.removeEventListener('gossip:message', this.#onMessage)
    events.removeEventListener('self:peer:update', this.#onSelfUpdate)
    events.removeEventListener('peer:connect', this.#onPeerConnect)
    await this.#loop?.catch((err) => this.#log('presence loop ended with an error - %e', err))
    this.#loop = undefined
  }

  /**
   * Signs and stores a fresh presence record (next sequence number, new expiry, current addresses and
   * skills) on the DHT, and announces it on `agent-announcements`.
   *
   * @throws {PublishFailedError} when no DHT server accepted it.
   */
  async publish(options?: AbortOptions): Promise<PresenceRecord> {
    const identity = this.#assertStarted()
    const signal = operationSignal(this.#controller.signal, options?.signal, this.#queryTimeoutMs)
    const seq = Math.max(Date.now(), this.#lastSeq + 1)
    this.#lastSeq = seq
    const record = await createPresenceRecord(
      identity,
      { multiaddrs: this.#advertisedAddrs(), skills: this.skills, seq, expires: Date.now() + this.#ttlMs },
      { signal }
    )
    const bytes = encodePresenceRecord(record)
    // Announced while the DHT put runs (not after it): nodes answer lookups from the announcements they
    // heard, so by the time this resolves they have, as a rule, heard this record and not only the last.
    this.#components.gossip
      .publish('agent-announcements', bytes)
      .catch((err) => this.#log('announcement not sent - %e', err))
    const accepted = await putRecord(this.#components.dht, presenceKey(identity.address), bytes, signal)
    this.#record = record
    this.#dirty = false
    this.safeDispatchEvent('presence:publish', { detail: { record, accepted } })
    return record
  }

  /**
   * Resolves an agent address to its PeerId and multiaddrs. A verified record heard on
   * `agent-announcements` within the cache's `maxAgeMs` answers at once; otherwise a DHT query for the
   * signed presence record does (no local state is needed), and the newest valid record seen wins. The
   * addresses are added to the peer store so a dial by PeerId works.
   *
   * @param options.cache - `false` skips the cached answer and asks the DHT (the result still updates the
   *   cache, and a newer record already held still wins). Default true.
   * @throws {InvalidInputError} when `address` is not a valid agent address.
   * @throws {AgentNotFoundError} when no valid, unexpired record is found.
   */
  async findAgent(address: string, options?: AbortOptions & { cache?: boolean }): Promise<AgentInfo> {
    const identity = this.#assertStarted()
    assertAgentAddress(address)
    const signal = operationSignal(this.#controller.signal, options?.signal, this.#queryTimeoutMs)
    let record = options?.cache === false ? undefined : this.#cache?.get(address)
    if (record === undefined) {
      const value = await getRecord(this.#components.dht, presenceKey(address), signal)
      const held = this.#cache?.newest(address)
      if (value === undefined && held === undefined) {
        throw new AgentNotFoundError(`no presence record found for ${address}`)
      }
      const found = value === undefined ? undefined : await this.#verify(address, value)
      // Whichever verified record is newer wins, as the DHT's selector would pick between the two.
      record = found === undefined || (held !== undefined && isNewer(held, found)) ? held : found
      if (record === undefined) throw new AgentNotFoundError(`no presence record found for ${address}`)
    }
    const peerId = peerIdFromString(address)
    const multiaddrs = record.multiaddrs.flatMap((ma) => {
      try {
        return [multiaddr(ma)]
      } catch (err) {
        // Valid by the record rule yet unknown to this multiaddr library (a newer protocol, say).
        this.#log('skipping multiaddr %s of %s - %e', ma, address, err)
        return []
      }
    })
    if (multiaddrs.length > 0 && address !== identity.address) {
      await this.#components.peerStore
        .merge(peerId, { multiaddrs }, { signal })
        .catch((err) => this.#log('could not remember the addresses of %s - %e', address, err))
    }
    return {
      address,
      peerId,
      multiaddrs,
      skills: record.skills,
      seq: record.seq,
      expires: record.expires,
      record
    }
  }

  /**
   * Finds an agent and dials it (an open connection is reused).
   *
   * @throws {InvalidInputError} when `address` is not a valid agent address.
   */
  async dialAgent(address: string, options?: AbortOptions): Promise<Connection> {
    this.#assertStarted()
    assertAgentAddress(address)
    const peerId = peerIdFromString(address)
    const { connectionManager } = this.#components
    const existing = connectionManager.getConnections(peerId)[0]
    if (existing !== undefined) return existing
    const info = await this.findAgent(address, options)
    const dial = (found: AgentInfo): Promise<Connection> =>
      connectionManager.openConnection(found.multiaddrs.length > 0 ? found.multiaddrs : peerId, {
        signal: operationSignal(this.#controller.signal, options?.signal, this.#queryTimeoutMs)
      })
    try {
      return await dial(info)
    } catch (err) {
      // The addresses may be those of a record the agent has since replaced (a missed announcement): ask
      // the DHT, and dial again only when it knows a newer record.
      if (this.#cache === undefined || options?.signal?.aborted === true || !this.#started) throw err
      const latest = await this.findAgent(address, { ...options, cache: false }).catch((lookupErr) => {
        this.#log('no fresher record of %s after a failed dial - %e', address, lookupErr)
        return info
      })
      if (latest.seq <= info.seq) throw err
      this.#log('dial of %s failed on record seq %d; retrying with seq %d', address, info.seq, latest.seq)
      return dial(latest)
    }
  }

  async #run(): Promise<void> {
    const signal = this.#controller.signal
    let failures = 0
    while (!signal.aborted) {
      const record = this.#record
      const due =
        record === undefined ||
        this.#dirty ||
        !sameAddrs(this.#advertisedAddrs(), record.multiaddrs) ||
        Date.now() >= record.expires - (this.#ttlMs - this.#republishMs)
      let waitMs = this.#republishMs
      if (due) {
        if (!(await waitForDhtPeer(this.#components.dht, signal))) return
        try {
          await this.publish()
          failures = 0
        } catch (err) {
          if (signal.aborted) return
          failures++
          waitMs = backoff(failures)
          this.#log('presence publish failed (attempt %d), retry in %d ms - %e', failures, waitMs, err)
          this.safeDispatchEvent('presence:error', { detail: { error: err as Error } })
        }
      } else {
        waitMs = Math.max(0, record.expires - (this.#ttlMs - this.#republishMs) - Date.now())
      }
      // stop() may have run while we were publishing: never start a (half-hour) sleep after it.
      if (signal.aborted) return
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          signal.removeEventListener('abort', wake)
          resolve()
        }
        this.#wake = wake
        this.#timer = setTimeout(wake, waitMs)
        signal.addEventListener('abort', wake, { once: true })
      })
      this.#wake = undefined
      clearTimeout(this.#timer)
    }
  }

  /**
   * @internal For the node preset: a presence record that this node's DHT validator has just accepted
   * (a PUT it stores, or a value a GET returned), so the cache learns of it too. `key` and `value` must be
   * exactly what the validator accepted.
   */
  acceptedByValidator(key: Uint8Array, value: Uint8Array): void {
    if (this.#cache === undefined) return
    // Never throws: the validator that calls this has accepted the record, and must not refuse it here.
    try {
      const record = decodePresenceRecord(value, { maxRecordBytes: this.#limits.maxRecordBytes })
      if (decodeKey(key) === PRESENCE_KEY_PREFIX + record.address) this.#cache.admit(record)
    } catch (err) {
      this.#log.error('could not remember a record the DHT validator accepted - %e', err)
    }
  }

  /**
   * Validates the presence record of `address` exactly as a DHT server does (through the cache, which
   * keeps it when it is newer than what it holds).
   */
  async #verify(address: string, bytes: Uint8Array): Promise<PresenceRecord> {
    if (this.#cache !== undefined) return this.#cache.offer(address, bytes)
    return validatePresenceRecord(presenceKey(address), bytes, this.#limits)
  }

  #advertisedAddrs(): string[] {
    const suffix = `/p2p/${this.#components.peerId.toString()}`
    return this.#components.addressManager
      .getAddresses()
      .map((ma) => ma.toString())
      .map((s) => (s.endsWith(suffix) ? s.slice(0, -suffix.length) : s))
      .filter((s) => {
        // Every server refuses a record with one bad multiaddr, so leave out what the rule refuses.
        const problem = multiaddrProblem(s)
        if (problem !== undefined) this.#log('not advertising %s: %s', s, problem)
        return problem === undefined
      })
      .sort()
  }

  #assertStarted(): Identity {
    if (!this.#started || this.#identity === undefined) throw new NodeNotStartedError('the presence service')
    return this.#identity
  }
}

/**
 * The presence service: `services: { …, presence: presence({ ttlMs }) }` next to `dht` (kad-dht with
 * {@link araliyaRecordRules}) and `gossip`. Other services find it as `components.presence`.
 */
export function presence(
  init: PresenceServiceInit = {}
): (components: PresenceComponents) => PresenceService {
  return (components) => new PresenceService(components, init)
}

/** True when `a` orders above `b` by the DHT selector's rule (higher `seq`, then later `expires`). */
function isNewer(a: PresenceRecord, b: PresenceRecord): boolean {
  return a.seq > b.seq || (a.seq === b.seq && a.expires > b.expires)
}

/** Retry delay after `failures` failed publishes: 1 s doubling to a 60 s cap. */
function backoff(failures: number): number {
  return backoffDelay(failures, { initialDelayMs: 1000, maxDelayMs: 60_000, factor: 2, jitter: 0 })
}
