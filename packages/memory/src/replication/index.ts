export { NoReplicaError, ReplicationError } from './errors.js'
export {
  MAX_REPLICAS,
  MAX_REQUEST_BYTES,
  MEMORY_REPLICATION_PROTOCOL,
  REPLICA_KEY_PREFIX,
  REPLICATION_CONTEXT,
  REPLICATION_SERVICE_KEY,
  type ReplicationOrder,
  replicaKey,
  replicationServiceKey
} from './request.js'
export { type RestoreInit, type RestoreProgress, restoreMemory } from './restore.js'
export {
  type GraphSyncCarriage,
  MemoryReplication,
  type MemoryReplicationComponents,
  type MemoryReplicationEvents,
  type MemoryReplicationInit,
  memoryReplication,
  ORDERS_PATH,
  type ReplicaProvider,
  type ReplicatedOwner,
  type ReplicationReceipt,
  type ReplicationRequestOptions,
  type SpaceSyncResult
} from './service.js'
