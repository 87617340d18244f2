/**
 * An Araliya agent's place in the swarm: a libp2p node started from the agent's identity (so its PeerId
 * is the agent address), with signed presence records on kad-dht, skill discovery through provider
 * records, gossip topics with validators and peer scoring, and a status heartbeat.
 *
 * @example
 * ```ts
 * import { generateIdentity } from '@araliya/identity'
 * import { createDhtNode } from '@araliya/dht-node'
 *
 * const identity = await generateIdentity()
 * const node = await createDhtNode({
 *   identity,
 *   role: 'full',
 *   listen: ['/ip4/0.0.0.0/tcp/4001'],
 *   bootstrap: ['/ip4/203.0.113.7/tcp/4001/p2p/12D3KooW…'],
 *   network: 'my-swarm',
 *   dataDir: './.araliya/node'
 * })
 * await node.start()
 * await node.provideSkill('translate')
 *
 * const other = await node.findAgent('12D3KooW…')          // by address, through the DHT
 * const translators = await node.findSkillProviders('translate')
 * node.gossip.addEventListener('message', (e) => console.log(e.detail.topic, e.detail.from))
 * await node.gossip.publish('agent-messages', new TextEncoder().encode('hello swarm'))
 * await node.stop()
 * ```
 *
 * @packageDocumentation
 */
import './polyfill.js'

export { Bootstrapper, type BootstrapRetryInit } from './bootstrap.js'
export {
  createEthRecord,
  type EthRecord,
  ETH_KEY_PREFIX,
  ETH_RECORD_CONTEXT,
  encodeEthRecord,
  ethKey,
  type VerifiedEthRecord,
  validateEthRecord
} from './eth-record.js'
export * from './errors.js'
export {
  araliyaPeerScoreParams,
  araliyaTopicScoreParams,
  DEFAULT_SCORE_THRESHOLDS,
  type GossipEvents,
  type GossipInit,
  GossipLayer,
  type GossipMessage,
  type GossipRateLimit,
  GossipValidation,
  type GossipValidationResult,
  type GossipValidator,
  gossipTopic,
  RateLimiter,
  SWARM_TOPICS,
  type SwarmTopic
} from './gossip.js'
export {
  type AgentInfo,
  type BootstrapEventDetail,
  type BootstrapRetryDetail,
  createDhtNode,
  type DhtInit,
  DhtNode,
  type DhtNodeEvents,
  type DhtNodeInit,
  type DhtNodeRole,
  type DhtNodeServices,
  type PresenceInit,
  relayServiceOf,
  type SkillProvider
} from './node.js'
export type { Platform, TransportFactory } from './platform/types.js'
export {
  comparePresenceBytes,
  createPresenceRecord,
  DEFAULT_MAX_RECORD_BYTES,
  DEFAULT_MAX_RECORD_TTL_MS,
  decodePresenceRecord,
  encodePresenceRecord,
  MAX_MULTIADDR_BYTES,
  MAX_PRESENCE_MULTIADDRS,
  MAX_PRESENCE_SKILLS,
  multiaddrProblem,
  PRESENCE_CONTEXT,
  PRESENCE_KEY_PREFIX,
  type PresenceRecord,
  type PresenceRecordBody,
  presenceKey,
  presenceSigningBytes,
  type RecordValidationOptions,
  validatePresenceRecord
} from './presence.js'
export {
  araliyaRecordRules,
  RECORD_NAMESPACE,
  type RecordRules,
  type RecordRulesInit,
  recordDatastoreKey
} from './records.js'
export { MAX_SKILL_NAME_LENGTH, normalizeSkillName, SKILL_KEY_PREFIX, skillKey } from './skills.js'
export {
  checkNodeStatus,
  DHT_MODES,
  decodeNodeStatus,
  encodeNodeStatus,
  MAX_STATUS_BYTES,
  MAX_STATUS_MESH_TOPICS,
  NODE_ROLES,
  type NodeStatus,
  type NodeStatusVerdict
} from './status.js'
