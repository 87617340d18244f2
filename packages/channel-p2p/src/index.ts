/**
 * The bridge between an Araliya node's in-process event bus and the swarm: chosen bus topics travel as
 * signed envelopes over gossipsub and come back as bus events tagged with their origin (never echoed
 * back out); direct messages go to an address over `/araliya/msg/1.0.0`, optionally end-to-end
 * encrypted, queued and retried while the recipient is unreachable; and crdt-graph sync runs over
 * `/araliya/graph-sync/1.0.0` streams.
 *
 * @example
 * ```ts
 * import { createBus } from '@araliya/bus'
 * import { createDhtNode } from '@araliya/dht-node'
 * import { loadOrCreateIdentity } from '@araliya/identity'
 * import { createChannel } from '@araliya/channel-p2p'
 *
 * const identity = await loadOrCreateIdentity({ dir: './.araliya' })
 * const node = await createDhtNode({ identity, role: 'full', bootstrap: ['/ip4/…/tcp/…/p2p/…'] })
 * const bus = createBus()
 * const channel = createChannel({ node, bus })
 * await node.start()
 * await channel.start()
 *
 * bus.subscribe('agents/*', (event) => console.log(event.origin, event.payload))
 * bus.publish('agents/hello', { text: 'hi swarm' })            // signed, gossiped to every subscriber
 * await channel.send(otherAddress, 'direct/note', { text: 'just for you' }) // encrypted, acknowledged
 * ```
 *
 * @packageDocumentation
 */
export * from './channel.js'
export { type DirectInit, DIRECT_PROTOCOL, type DirectReceipt, type SendOptions } from './direct.js'
export * from './envelope.js'
export * from './errors.js'
export type { GraphSyncHandle, GraphSyncOptions, GraphSyncSession } from './graph-sync.js'
export type { MisbehavingPeer } from './misbehaviour.js'
export * from './inbound.js'
export * from './rate-limit.js'
export * from './seal.js'
export * from './seen.js'
