import { type EthLink, type Identity, identityFromLibp2pKey } from '@araliya/identity'
import type { AbortOptions } from '@araliya/interface'
import {
  type ComponentLogger,
  type Logger,
  type PeerId,
  type PrivateKey,
  serviceCapabilities,
  type Startable,
  serviceDependencies
} from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import { getRecord, putRecord } from './dht-records.js'
import { AgentNotFoundError, InvalidRecordError, NodeNotStartedError } from './errors.js'
import {
  createEthRecord,
  encodeEthRecord,
  ethKey,
  type VerifiedEthRecord,
  validateEthRecord
} from './eth-record.js'
import { DEFAULT_MAX_RECORD_BYTES, DEFAULT_MAX_RECORD_TTL_MS } from './presence.js'
import type { AgentInfo, PresenceService } from './presence-service.js'
import { operationSignal, optionalComponent, serviceController } from './util.js'

/** Settings of the {@link ethRecords} service. */
export interface EthRecordsInit {
  /** The identity that signs records. Default: made from `components.privateKey`. */
  identity?: Identity
  /** Timeout of one DHT query, ms. Default 30 s. */
  queryTimeoutMs?: number
  /** Largest record accepted, bytes. Default 4096. */
  maxRecordBytes?: number
  /** Longest lifetime a record may claim, ms. Default 48 h. */
  maxRecordTtlMs?: number
}

/** What the ETH-record service uses; `presence` is optional (it resolves a found agent's presence). */
export interface EthRecordsComponents {
  peerId: PeerId
  privateKey: PrivateKey
  logger: ComponentLogger
  dht: KadDHT
  presence?: PresenceService
}

/**
 * Ethereum lookup records (component name `ethRecords`): publishes `/araliya/eth/<0x…>` -> this agent,
 * proven by a two-way link, and finds the agent linked to an Ethereum address.
 */
export class EthRecordsService implements Startable {
  readonly [Symbol.toStringTag] = '@araliya/eth-records'
  readonly [serviceCapabilities]: string[] = ['@araliya/eth-records']
  readonly [serviceDependencies]: string[] = ['@libp2p/kad-dht']
  readonly #components: EthRecordsComponents
  readonly #init: EthRecordsInit
  readonly #log: Logger
  readonly #limits: { maxRecordBytes: number; maxRecordTtlMs: number }
  #identity: Identity | undefined
  #controller = serviceController()
  #started = false
  #lastSeq = 0

  constructor(components: EthRecordsComponents, init: EthRecordsInit = {}) {
    this.#components = components
    this.#init = init
    this.#log = components.logger.forComponent('araliya:dht:eth')
    this.#limits = {
      maxRecordBytes: init.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES,
      maxRecordTtlMs: init.maxRecordTtlMs ?? DEFAULT_MAX_RECORD_TTL_MS
    }
  }

  /** True between `start()` and `stop()`. */
  isStarted(): boolean {
    return this.#started
  }

  /** Safe to call twice. */
  async start(): Promise<void> {
    if (this.#started) return
    this.#identity ??=
      this.#init.identity ?? (await identityFromLibp2pKey(this.#components.privateKey as never))
    this.#controller = serviceController()
    this.#started = true
  }

  /** Aborts in-flight queries. Safe to call twice. */
  stop(): void {
    if (!this.#started) return
    this.#started = false
    this.#controller.abort(new NodeNotStartedError('the eth-records service'))
  }

  /**
   * Publishes a lookup record `/araliya/eth/<0x…>` -> this agent, proven by an Ethereum link made with the
   * identity package (`linkEthereumAddress` or `completeEthLink`). Republish it before `ttlMs` (default 24 h).
   *
   * @throws {InvalidRecordError} when the link does not verify or is for another agent.
   * @throws {PublishFailedError} when no DHT server accepted it.
   */
  async publishEthLink(
    link: EthLink,
    options?: AbortOptions & { ttlMs?: number }
  ): Promise<VerifiedEthRecord> {
    const identity = this.#assertStarted()
    if (link.agent !== identity.address) {
      throw new InvalidRecordError(
        'key-mismatch',
        `the link is for agent ${link.agent}, not ${identity.address}`
      )
    }
    const signal = operationSignal(this.#controller.signal, options?.signal, this.#queryTimeoutMs())
    const seq = Math.max(Date.now(), this.#lastSeq + 1)
    this.#lastSeq = seq
    const record = await createEthRecord(
      identity,
      link,
      { seq, expires: Date.now() + (options?.ttlMs ?? 24 * 60 * 60 * 1000) },
      { signal }
    )
    const bytes = encodeEthRecord(record)
    const key = ethKey(link.eth)
    const verified = await validateEthRecord(key, bytes, this.#limits)
    const accepted = await putRecord(this.#components.dht, key, bytes, signal)
    this.#log('published the link of %s (%d servers)', verified.eth, accepted)
    return verified
  }

  /**
   * Looks up the agent linked to an Ethereum address (`/araliya/eth/<0x…>`), checking the two-way link
   * proof, then (unless `resolve: false`, or without a `presence` service) its presence.
   *
   * @throws {AgentNotFoundError} when no valid link record (or presence) is found.
   */
  async findAgentByEth(
    eth: string,
    options?: AbortOptions & { resolve?: boolean }
  ): Promise<VerifiedEthRecord & { agentInfo?: AgentInfo }> {
    this.#assertStarted()
    const key = ethKey(eth)
    const signal = operationSignal(this.#controller.signal, options?.signal, this.#queryTimeoutMs())
    const value = await getRecord(this.#components.dht, key, signal)
    if (value === undefined) throw new AgentNotFoundError(`no agent is linked to ${eth}`)
    const verified = await validateEthRecord(key, value, this.#limits)
    const presence = optionalComponent<PresenceService>(this.#components, 'presence')
    if (options?.resolve === false || presence === undefined) return verified
    return { ...verified, agentInfo: await presence.findAgent(verified.agent, { signal }) }
  }

  #queryTimeoutMs(): number {
    return this.#init.queryTimeoutMs ?? 30_000
  }

  #assertStarted(): Identity {
    if (!this.#started || this.#identity === undefined)
      throw new NodeNotStartedError('the eth-records service')
    return this.#identity
  }
}

/** The Ethereum lookup-record service: `services: { …, ethRecords: ethRecords() }`. */
export function ethRecords(
  init: EthRecordsInit = {}
): (components: EthRecordsComponents) => EthRecordsService {
  return (components) => new EthRecordsService(components, init)
}
