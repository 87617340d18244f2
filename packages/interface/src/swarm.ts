import type { AbortOptions } from './types.js'
import type { AgentAddress } from './types.js'

/**
 * What a gossip validator decides: `accept` delivers and forwards, `ignore` drops without penalising
 * anyone (a duplicate, a rate-limited or stale message), `reject` drops and lowers the forwarding peer's
 * score (a forgery). The strings are gossipsub's own `TopicValidatorResult` values.
 */
export type GossipVerdict = 'accept' | 'ignore' | 'reject'

/** A gossip message as validators and listeners see it. */
export interface SwarmGossipMessage {
  /** Short topic name (for example `agent-messages`). */
  readonly topic: string
  /** Full topic string on the wire (`/araliya/<network>/<topic>`). */
  readonly fullTopic: string
  /** The payload. */
  readonly data: Uint8Array
  /** The address of the agent that signed the message (gossipsub StrictSign). */
  readonly from: AgentAddress
  /** The signer's per-message sequence number. */
  readonly sequenceNumber: bigint
  /** The address of the peer that forwarded the message to us (set for validators). */
  readonly propagationSource?: AgentAddress
}

/** Decides whether a received message is delivered and forwarded. May be async. */
export type SwarmGossipValidator = (message: SwarmGossipMessage) => GossipVerdict | Promise<GossipVerdict>

/**
 * The swarm's signed gossip, per network: what channel-p2p (and any other bridge) needs from the node
 * it runs on. dht-node's gossip service provides it under the component name `gossip`.
 */
export interface SwarmGossip {
  /** The network name that scopes every topic (`/araliya/<network>/<topic>`). */
  readonly network: string
  /** Joins a topic of this network. Safe to call twice. */
  subscribe(topic: string): void
  /** Leaves a topic of this network. */
  unsubscribe(topic: string): void
  /**
   * Publishes bytes on a topic of this network, signed by the node key. Resolves with the number of
   * peers it was sent to directly (0 when nobody is subscribed yet: the message is then lost).
   */
  publish(topic: string, data: Uint8Array, options?: AbortOptions): Promise<{ recipients: number }>
  /**
   * Adds a validator to a topic: every validator must accept for a message to be delivered. Returns a
   * function that removes it.
   */
  addValidator(topic: string, validator: SwarmGossipValidator): () => void
}

/** Where an agent can be reached, as its signed presence record says. */
export interface AgentLocation {
  /** The agent's address. */
  readonly address: AgentAddress
  /** Its multiaddrs as its signed record lists them, without a `/p2p/<address>` suffix (multiaddr objects or strings). */
  readonly multiaddrs: ReadonlyArray<{ toString(): string }>
}

/**
 * Finds agents by address and opens connections to them: what direct messages need from the node.
 * dht-node's presence service provides it under the component name `presence`.
 */
export interface AgentLocator<Connection = unknown> {
  /**
   * Looks up an agent's current, verified presence record.
   *
   * @throws when no valid record is found (dht-node: `AgentNotFoundError`).
   */
  findAgent(address: AgentAddress, options?: AbortOptions): Promise<AgentLocation>
  /** Connects to an agent: an open connection if there is one, else through its presence record. */
  dialAgent(address: AgentAddress, options?: AbortOptions): Promise<Connection>
}
