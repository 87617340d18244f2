/**
 * An Araliya agent's place in the swarm, as libp2p services: `gossip` (signed swarm topics with validators
 * and peer scoring), `presence` (signed presence records on kad-dht; find and dial agents by address),
 * `skills` (provider records), `nodeStatus` (heartbeat), `routingGuard` and `ethRecords`. `createDhtNode`
 * is the preset that runs them all on a libp2p node keyed by the agent's identity; apps with their own
 * libp2p node add the services to it instead.
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
 * node.gossip.addEventListener('gossip:message', (e) => console.log(e.detail.topic, e.detail.from))
 * await node.gossip.publish('agent-messages', new TextEncoder().encode('hello swarm'))
 * await node.stop()
 * ```
 *
 * @packageDocumentation
 */
import './polyfill.js'

export type { BootstrapRetryInit } from './bootstrap.js'
export {
  type EthRecord,
  ethKey,
  type VerifiedEthRecord,
  validateEthRecord
} from './eth-record.js'
export {
  type EthRecordsComponents,
  type EthRecordsInit,
  type EthRecordsService,
  ethRecords
} from './eth-records.js'
export * from './errors.js'
export {
  type GossipComponents,
  type GossipEvents,
  type GossipLayer,
  type GossipMessage,
  type GossipServiceInit,
  GossipValidation,
  type GossipValidationResult,
  type GossipValidator,
  gossip
} from './gossip.js'
export {
  araliyaPeerScoreParams,
  araliyaTopicScoreParams,
  DEFAULT_SCORE_THRESHOLDS,
  type GossipInit,
  type GossipRateLimit
} from './gossip-score.js'
export {
  type AgentInfo,
  type AraliyaServices,
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
export {
  type NodeStatusComponents,
  type NodeStatusEvents,
  type NodeStatusInit,
  type NodeStatusService,
  nodeStatus
} from './node-status.js'
export type { TransportFactory } from './platform/types.js'
export {
  DEFAULT_MAX_RECORD_BYTES,
  DEFAULT_MAX_RECORD_TTL_MS,
  decodePresenceRecord,
  type PresenceRecord,
  type PresenceRecordBody,
  presenceKey,
  type RecordValidationOptions,
  validatePresenceRecord
} from './presence.js'
export type { PresenceCacheInit } from './presence-cache.js'
export {
  type PresenceComponents,
  type PresenceEvents,
  type PresenceService,
  type PresenceServiceInit,
  presence
} from './presence-service.js'
export { araliyaRecordRules, type RecordRules, type RecordRulesInit } from './records.js'
export {
  type RoutingGuard,
  type RoutingGuardComponents,
  type RoutingGuardInit,
  routingGuard
} from './routing-guard.js'
export { MAX_SKILL_NAME_LENGTH, normalizeSkillName, skillKey } from './skills.js'
export { type SkillsComponents, type SkillsInit, type SkillsService, skills } from './skills-service.js'
export {
  checkNodeStatus,
  DHT_MODES,
  decodeNodeStatus,
  encodeNodeStatus,
  MAX_STATUS_BYTES,
  NODE_ROLES,
  type NodeStatus,
  type NodeStatusVerdict
} from './status.js'
export { gossipTopic, SWARM_TOPICS, type SwarmTopic } from './topics.js'
