import type { AbortOptions } from '@araliya/interface'
import {
  type ComponentLogger,
  type Logger,
  type PeerId,
  serviceCapabilities,
  type Startable,
  serviceDependencies
} from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Multiaddr } from '@multiformats/multiaddr'
import { waitForDhtPeer } from './dht-records.js'
import { NodeNotStartedError } from './errors.js'
import type { PresenceService } from './presence-service.js'
import { normalizeSkillName, skillKey } from './skills.js'
import { operationSignal, optionalComponent, serviceController } from './util.js'

/** A provider of a skill found on the DHT. */
export interface SkillProvider {
  readonly address: string
  readonly peerId: PeerId
  readonly multiaddrs: Multiaddr[]
}

/** Settings of the {@link skills} service. */
export interface SkillsInit {
  /** Skills to provide from the start (once the DHT has a peer). */
  skills?: readonly string[]
  /** Timeout of one DHT query, ms. Default 30 s. */
  queryTimeoutMs?: number
}

/** What the skills service uses; `presence` is optional (with it, provided skills join the presence record). */
export interface SkillsComponents {
  dht: KadDHT
  logger: ComponentLogger
  presence?: PresenceService
}

/**
 * Skill discovery through DHT provider records (component name `skills`): provide a skill under its key
 * (see {@link skillKey}; kad-dht re-provides it), stop providing it, and find the agents that provide one.
 */
export class SkillsService implements Startable {
  readonly [Symbol.toStringTag] = '@araliya/skills'
  readonly [serviceCapabilities]: string[] = ['@araliya/skills']
  readonly [serviceDependencies]: string[] = ['@libp2p/kad-dht']
  readonly #components: SkillsComponents
  readonly #init: SkillsInit
  readonly #log: Logger
  readonly #provided = new Set<string>()
  readonly #queryTimeoutMs: number
  #controller = serviceController()
  #started = false

  constructor(components: SkillsComponents, init: SkillsInit = {}) {
    this.#components = components
    this.#init = init
    this.#log = components.logger.forComponent('araliya:dht:skills')
    this.#queryTimeoutMs = init.queryTimeoutMs ?? 30_000
  }

  /** True between `start()` and `stop()`. */
  isStarted(): boolean {
    return this.#started
  }

  /** Safe to call twice. */
  start(): void {
    if (this.#started) return
    this.#controller = serviceController()
    this.#started = true
    for (const skill of this.#init.skills ?? []) this.#presence()?.addSkill(skill)
  }

  /** Provides the initial skills in the background, once the DHT has a peer. */
  afterStart(): void {
    for (const skill of this.#init.skills ?? []) {
      const run = async (): Promise<void> => {
        if (!(await waitForDhtPeer(this.#components.dht, this.#controller.signal))) return
        await this.provide(skill)
      }
      run().catch((err) => this.#log('could not provide skill %s yet - %e', skill, err))
    }
  }

  /** Aborts in-flight queries. Safe to call twice. */
  stop(): void {
    if (!this.#started) return
    this.#started = false
    this.#controller.abort(new NodeNotStartedError('the skills service'))
  }

  /** The skills this node has provided (normalised, sorted). */
  get provided(): string[] {
    return [...this.#provided].sort()
  }

  /**
   * Advertises a skill: adds it to the presence record (when the `presence` service runs) and stores a
   * DHT provider record under the skill's key.
   *
   * @throws {InvalidSkillNameError} when the name is not valid.
   */
  async provide(name: string, options?: AbortOptions): Promise<void> {
    this.#assertStarted()
    const skill = normalizeSkillName(name)
    const signal = operationSignal(this.#controller.signal, options?.signal, this.#queryTimeoutMs)
    this.#presence()?.addSkill(skill)
    const cid = await skillKey(skill)
    let accepted = 0
    const errors: Error[] = []
    for await (const event of this.#components.dht.provide(cid, { signal })) {
      if (event.name === 'PEER_RESPONSE' && event.messageName === 'ADD_PROVIDER') accepted++
      if (event.name === 'QUERY_ERROR') errors.push(event.error)
    }
    this.#provided.add(skill)
    this.#log('provided skill %s (%d responses, %d errors)', skill, accepted, errors.length)
  }

  /** Stops advertising a skill (removed from presence; kad-dht stops re-providing it). */
  async remove(name: string, options?: AbortOptions): Promise<void> {
    this.#assertStarted()
    const skill = normalizeSkillName(name)
    this.#provided.delete(skill)
    this.#presence()?.removeSkill(skill)
    await this.#components.dht.cancelReprovide(await skillKey(skill), options)
  }

  /**
   * Finds agents that provide a skill through DHT provider records.
   *
   * @param options.limit - stop after this many providers (default 20).
   */
  async findProviders(name: string, options?: AbortOptions & { limit?: number }): Promise<SkillProvider[]> {
    this.#assertStarted()
    const limit = options?.limit ?? 20
    const cid = await skillKey(name)
    const controller = new AbortController()
    const signal = AbortSignal.any([
      operationSignal(this.#controller.signal, options?.signal, this.#queryTimeoutMs),
      controller.signal
    ])
    const found = new Map<string, SkillProvider>()
    try {
      for await (const event of this.#components.dht.findProviders(cid, { signal })) {
        if (event.name !== 'PROVIDER') continue
        for (const provider of event.providers) {
          const address = provider.id.toString()
          if (provider.id.type !== 'Ed25519' || found.has(address)) continue
          found.set(address, { address, peerId: provider.id, multiaddrs: provider.multiaddrs })
        }
        if (found.size >= limit) {
          controller.abort()
          break
        }
      }
    } catch (err) {
      if (!controller.signal.aborted) throw err
    }
    return [...found.values()].slice(0, limit)
  }

  #presence(): PresenceService | undefined {
    return optionalComponent<PresenceService>(this.#components, 'presence')
  }

  #assertStarted(): void {
    if (!this.#started) throw new NodeNotStartedError('the skills service')
  }
}

/** The skills service: `services: { …, skills: skills({ skills: ['translate'] }) }`. */
export function skills(init: SkillsInit = {}): (components: SkillsComponents) => SkillsService {
  return (components) => new SkillsService(components, init)
}
