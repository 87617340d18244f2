/**
 * The bridge between an Araliya node's in-process event bus and the swarm: chosen bus topics travel as
 * signed envelopes over gossipsub and come back as bus events tagged with their origin (never echoed
 * back out); direct messages go to an address over `/araliya/msg/1.0.0`, optionally end-to-end
 * encrypted, queued and retried while the recipient is unreachable; and crdt-graph sync runs over
 * `/araliya/graph-sync/1.0.0` streams.
 *
 * Three parts, each usable on its own: the `direct` and `graphSync` libp2p services (register them under
 * those names in `createLibp2p({ services })` or dht-node's `createDhtNode({ services })`), and the bus
 * bridge `createChannel`, which takes the node's parts it uses — the identity, a `SwarmGossip`, and
 * optionally those two services — not a whole node.
 *
 * @example
 * ```ts
 * import { createBus } from '@araliya/bus'
 * import { createChannel, direct, graphSync } from '@araliya/channel-p2p'
 * import { createDhtNode } from '@araliya/dht-node'
 * import { generateIdentity } from '@araliya/identity'
 *
 * const identity = await generateIdentity()
 * const node = await createDhtNode({ identity, services: { direct: direct(), graphSync: graphSync() } })
 * const bus = createBus()
 * const channel = createChannel({ identity, bus, services: node.libp2p.services, datastore: node.datastore })
 * await node.start()
 * await channel.start()
 *
 * bus.subscribe('agents/*', (event) => console.log(event.origin, event.payload))
 * bus.publish('agents/hello', { text: 'hi swarm' }) // signed, gossiped to every subscriber
 * ```
 *
 * The package README has a complete example (two agents: direct message, broadcast, graph sync).
 *
 * @packageDocumentation
 */
export {
  type ChannelEvents,
  type ChannelInit,
  type ChannelRoute,
  type ChannelServices,
  type ChannelStats,
  createChannel,
  DEFAULT_ROUTES,
  DIRECT_CHANNEL,
  type DropDetail,
  type P2PChannel,
  type PublishEnvelopeOptions
} from './channel.js'
export {
  DIRECT_PROTOCOL,
  type DirectComponents,
  type DirectEvents,
  type DirectInit,
  type DirectMessages,
  type DirectReceipt,
  type DirectReceiver,
  type DirectStats,
  type DirectVerdict,
  direct,
  type SendOptions
} from './direct.js'
export {
  CBOR_CONTENT,
  DEFAULT_MAX_ENVELOPE_BYTES,
  DEFAULT_TTL_MS,
  decodeEnvelope,
  type Envelope,
  encodeEnvelope,
  MAX_TTL_MS,
  SEALED_CONTENT,
  signEnvelope,
  type UnsignedEnvelope,
  verifyEnvelope
} from './envelope.js'
export * from './errors.js'
export {
  GRAPH_SYNC_PROTOCOL,
  type GraphSyncCarrier,
  type GraphSyncComponents,
  type GraphSyncHandle,
  type GraphSyncInit,
  type GraphSyncOptions,
  type GraphSyncSession,
  graphSync
} from './graph-sync.js'
export type { MisbehavingPeer } from './misbehaviour.js'
export type { RateLimitInit } from './rate-limit.js'
