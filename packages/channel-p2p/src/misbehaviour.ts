import { type BackoffPolicy, backoffDelay } from '@araliya/interface'
import { LRUCache } from 'lru-cache'
import { InvalidGraphSyncOptionsError } from './errors.js'

/** First cool-off of a peer that sent graph sync something no honest peer sends: 10 minutes. */
export const DEFAULT_MISBEHAVIOUR_COOLDOWN_MS = 10 * 60_000
/** Longest cool-off (unless the first one is set longer): 24 hours. */
export const MAX_MISBEHAVIOUR_COOLDOWN_MS = 24 * 60 * 60_000
/** Most peers whose offences are remembered; the least recently offending is forgotten first. */
export const DEFAULT_MAX_MISBEHAVING_PEERS = 10_000

/** A peer graph sync refuses for a while because of what it sent (see `GraphSyncHandle.misbehaving`). */
export interface MisbehavingPeer {
  /** The peer's address (its libp2p peer id). */
  readonly peer: string
  /** Why its last offence counted against it (crdt-graph: `unauthorized`, `backdated`, `invalid-signature`). */
  readonly reason: string
  /** When its cool-off ends, ms since the epoch: until then its graph sync streams are refused. */
  readonly until: number
  /** Offences remembered for it (one per session it lost); each doubles the next cool-off. */
  readonly offences: number
}

/** Settings of a {@link MisbehaviourRecord}. */
export interface MisbehaviourRecordInit {
  /** Cool-off after a first offence, ms; doubles per repeat up to 24 h. Default 10 minutes. */
  cooldownMs?: number
  /** Most peers remembered. Default 10,000. */
  maxPeers?: number
  /** Wall clock, ms since the epoch. Default `Date.now`. */
  now?: () => number
}

/**
 * @internal Which peers misbehaved in graph sync, how often, and until when they are refused. Keyed by
 * peer id, so a reconnect (a new connection) changes nothing. Bounded: past `maxPeers`, the peer whose
 * last offence is oldest is forgotten (lru-cache; looking a peer up does not refresh it).
 */
export class MisbehaviourRecord {
  readonly #policy: BackoffPolicy
  readonly #now: () => number
  readonly #peers: LRUCache<string, MisbehavingPeer>

  /** @throws {InvalidGraphSyncOptionsError} when `cooldownMs` or `maxPeers` is out of range. */
  constructor(init: MisbehaviourRecordInit = {}) {
    const cooldownMs = init.cooldownMs ?? DEFAULT_MISBEHAVIOUR_COOLDOWN_MS
    if (!Number.isFinite(cooldownMs) || cooldownMs < 0) {
      throw new InvalidGraphSyncOptionsError(
        `misbehaviourCooldownMs must be a finite number of ms >= 0 (0 ends the session but refuses nothing later); got ${String(cooldownMs)}`
      )
    }
    const maxPeers = init.maxPeers ?? DEFAULT_MAX_MISBEHAVING_PEERS
    if (!Number.isSafeInteger(maxPeers) || maxPeers < 1) {
      throw new InvalidGraphSyncOptionsError(
        `the record of misbehaving peers holds at least 1 peer; got ${String(maxPeers)}`
      )
    }
    this.#policy = Object.freeze({
      initialDelayMs: cooldownMs,
      maxDelayMs: Math.max(cooldownMs, MAX_MISBEHAVIOUR_COOLDOWN_MS),
      factor: 2,
      // Peers are refused one by one, so there is no herd to spread; a fixed length is easier to reason about.
      jitter: 0
    })
    this.#now = init.now ?? Date.now
    this.#peers = new LRUCache({ max: maxPeers })
  }

  /** Counts an offence of `peer` and starts its cool-off (doubled per earlier offence remembered). */
  offend(peer: string, reason: string): MisbehavingPeer {
    const offences = (this.#peers.peek(peer)?.offences ?? 0) + 1
    const entry: MisbehavingPeer = {
      peer,
      reason,
      until: this.#now() + backoffDelay(offences, this.#policy),
      offences
    }
    this.#peers.set(peer, entry)
    return entry
  }

  /** The peer's record while its cool-off runs; `undefined` when it may sync. */
  refused(peer: string): MisbehavingPeer | undefined {
    const entry = this.#peers.peek(peer)
    return entry !== undefined && this.#now() < entry.until ? entry : undefined
  }

  /** Peers in their cool-off now, the most recent offender first. */
  list(): MisbehavingPeer[] {
    const now = this.#now()
    return [...this.#peers.values()].filter((entry) => now < entry.until)
  }

  /** Peers remembered (in a cool-off or not); at most `maxPeers`. */
  get size(): number {
    return this.#peers.size
  }
}
