import type { AbortOptions, BusLike, SwarmGossip } from '@araliya/interface'
import type { Identity } from '@araliya/identity'
import type { ComponentLogger } from '@libp2p/interface'
import type { Datastore } from 'interface-datastore'
import type { DirectEvents, DirectMessages } from './direct.js'
import type { Envelope } from './envelope.js'
import type { DropReason } from './errors.js'
import type { GraphSyncCarrier } from './graph-sync.js'
import type { RateLimitInit } from './rate-limit.js'

/** The channel name of direct (stream) messages in envelopes and routes. */
export const DIRECT_CHANNEL = 'direct'

/**
 * Which bus topics travel on which swarm channel. `bus` is a topic or a pattern (`agents/*`, `*`);
 * `swarm` is a gossip topic (`agent-messages`, …) or `direct`. Outbound, local bus events matching `bus`
 * are published on `swarm` (not for `direct`: use {@link P2PChannel.send}). Inbound, an envelope from
 * `swarm` is delivered on the bus only if its topic matches `bus` — a peer can never inject events on
 * topics you did not route.
 */
export interface ChannelRoute {
  readonly bus: string
  readonly swarm: string
  /** Default `'both'`. */
  readonly direction?: 'out' | 'in' | 'both'
}

/**
 * Routes used when none are given. Routes on `agent-announcements` and `node-status` work too: dht-node
 * judges its own presence records and heartbeats there and leaves every other message to the channel.
 */
export const DEFAULT_ROUTES: readonly ChannelRoute[] = Object.freeze([
  { bus: 'agents/*', swarm: 'agent-messages' },
  { bus: 'direct/*', swarm: DIRECT_CHANNEL }
])

/**
 * Araliya's services a channel can use, by their component names: pass a libp2p node's `services` (or
 * the dht-node preset's) as a whole — a service map typed loosely (`[name: string]: unknown`) is
 * accepted too, and checked when the channel is created. Fields given on {@link ChannelInit} directly
 * take precedence.
 */
export type ChannelServices =
  | {
      readonly gossip?: SwarmGossip
      readonly direct?: DirectMessages
      readonly graphSync?: GraphSyncCarrier
    }
  | { readonly [name: string]: unknown }

/** Options of {@link createChannel}: the parts of a node it uses, the bus, and settings. */
export interface ChannelInit {
  /**
   * The identity that signs every envelope and opens those sealed to it: the node's own (its address is
   * the node's peer id, which gossip and streams authenticate).
   */
  identity: Identity
  /** The node's bus. Any typed `Bus<Events>` is accepted as it is. */
  bus: BusLike
  /** The swarm's signed gossip (dht-node's `gossip` service). Default `services.gossip`. */
  gossip?: SwarmGossip
  /** The direct-message service (see `direct()`); without one, `send` throws. Default `services.direct`. */
  direct?: DirectMessages
  /** The graph-sync carrier (see `graphSync()`); without one, `syncGraph` throws. Default `services.graphSync`. */
  graphSync?: GraphSyncCarrier
  /** The node's services, to take `gossip`, `direct` and `graphSync` from. */
  services?: ChannelServices
  /** Where the seen-set persists (replay protection across restarts). Default: memory only. */
  datastore?: Datastore
  /** Where log lines go (`araliya:channel`). Default `@libp2p/logger`'s. */
  logger?: ComponentLogger
  /** Bus <-> swarm routes. Default {@link DEFAULT_ROUTES}. */
  routes?: readonly ChannelRoute[]
  /** Time-to-live of envelopes we send, ms. Default 5 minutes. */
  ttlMs?: number
  /** Largest envelope sent or accepted, bytes (checked before decoding). Default 64 KiB. */
  maxEnvelopeBytes?: number
  /** How far ahead of local time a sender's stamp may be. Default 60 s. */
  maxClockSkewMs?: number
  /** Per-sender rate limit for inbound envelopes (token bucket). */
  rateLimit?: RateLimitInit
  /**
   * Most unexpired envelope ids held for replay protection (about 180 bytes each). When they are all
   * unexpired, new envelopes are ignored with `seen-set-full` until some expire; an unexpired id is never
   * forgotten to make room. Default 100,000 (sizing in `docs/protocols/envelope.md`).
   */
  maxSeenEntries?: number
  /** The clock, ms (inject in tests). */
  now?: () => number
}

/** What was dropped, and why (for dashboards and tests). */
export interface DropDetail {
  readonly chan: string
  readonly reason: DropReason
  readonly action: 'reject' | 'ignore'
  readonly message: string
  /** The transport-level sender (gossip publisher, or stream peer), when known. */
  readonly peer?: string
}

/** Events of a {@link P2PChannel}. The `direct:*` events are the direct service's, while attached. */
export interface ChannelEvents extends DirectEvents {
  /** An envelope passed every inbound check (it may still be unrouted, or addressed to someone else). */
  'envelope:accept': CustomEvent<{ envelope: Envelope; chan: string; delivered: boolean }>
  /** An inbound envelope was dropped. */
  'envelope:drop': CustomEvent<DropDetail>
  /** An outbound envelope could not be published. */
  'publish:error': CustomEvent<{ topic: string; error: Error }>
}

/** Counters of a channel. */
export interface ChannelStats {
  published: number
  publishFailures: number
  accepted: number
  delivered: number
  unrouted: number
  rejected: number
  ignored: number
  directSent: number
  directReceived: number
  outboxSize: number
  seenSize: number
  /** Dropped inbound envelopes by reason (reasons never seen are absent). */
  drops: { [reason in DropReason]?: number }
}

/** Options of {@link P2PChannel.publish}. */
export interface PublishEnvelopeOptions extends AbortOptions {
  /** Address the envelope to one agent (others forward it but do not deliver it). */
  to?: string
  /** Seal the body to `to` (requires `to`). Default false for gossip. */
  encrypt?: boolean
  /** Time-to-live, ms. Default the channel's. */
  ttlMs?: number
}
