import { MemoryError } from '../errors.js'

/** Memory replication could not do what was asked (no graph served, no `graphSync` service, a bad option). */
export class ReplicationError<C extends string = 'ERR_MEMORY_REPLICATION'> extends MemoryError<C> {
  static override readonly code: string = 'ERR_MEMORY_REPLICATION'
  override name = 'ReplicationError'
}

/** No replica of an owner's memory space could be found or synced in time. */
export class NoReplicaError extends ReplicationError<'ERR_MEMORY_NO_REPLICA'> {
  static override readonly code: string = 'ERR_MEMORY_NO_REPLICA'
  override name = 'NoReplicaError'
  /** The owner whose space was asked for. */
  readonly owner: string
  constructor(owner: string, why: string) {
    super(`no replica of the memory of ${owner} could be reached: ${why}`)
    this.owner = owner
  }
}
