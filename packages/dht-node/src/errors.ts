import { AraliyaError, NotStartedError } from '@araliya/interface'

/** The node was used before `start()` or after `stop()`. Start it first. */
export class NodeNotStartedError extends NotStartedError<'ERR_NODE_NOT_STARTED'> {
  static override readonly code: string = 'ERR_NODE_NOT_STARTED'
  override name = 'NodeNotStartedError'
  /** @param component - what is not started, e.g. `the DHT node` or `the presence service`. */
  constructor(component = 'the DHT node', options?: { cause?: unknown }) {
    super(component, options)
  }
}

/** The options given to `createDhtNode` are inconsistent or out of range. */
export class InvalidDhtNodeOptionsError extends AraliyaError<'ERR_INVALID_DHT_NODE_OPTIONS'> {
  static override readonly code: string = 'ERR_INVALID_DHT_NODE_OPTIONS'
  override name = 'InvalidDhtNodeOptionsError'
}

/** Why a DHT record was refused. A closed union so it can cross the network and be matched on. */
export type InvalidRecordReason =
  | 'too-large'
  | 'malformed'
  | 'unsigned'
  | 'bad-signature'
  | 'expired'
  | 'expiry-too-far'
  | 'key-mismatch'
  | 'older-than-stored'
  | 'unknown-namespace'

/** A DHT record (presence or Ethereum link) failed validation. `reason` says which rule it broke. */
export class InvalidRecordError extends AraliyaError<'ERR_INVALID_RECORD'> {
  static override readonly code: string = 'ERR_INVALID_RECORD'
  override name = 'InvalidRecordError'
  /** The rule the record broke. */
  readonly reason: InvalidRecordReason
  constructor(reason: InvalidRecordReason, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.reason = reason
  }
}

/** No valid presence (or Ethereum link) record could be found for the agent on the DHT. */
export class AgentNotFoundError extends AraliyaError<'ERR_AGENT_NOT_FOUND'> {
  static override readonly code: string = 'ERR_AGENT_NOT_FOUND'
  override name = 'AgentNotFoundError'
}

/** A record could not be stored on any DHT server. The node retries presence on its own; apps may retry. */
export class PublishFailedError extends AraliyaError<'ERR_PUBLISH_FAILED'> {
  static override readonly code: string = 'ERR_PUBLISH_FAILED'
  override name = 'PublishFailedError'
}

/** A skill name is empty, too long, or contains characters outside the allowed set. */
export class InvalidSkillNameError extends AraliyaError<'ERR_INVALID_SKILL_NAME'> {
  static override readonly code: string = 'ERR_INVALID_SKILL_NAME'
  override name = 'InvalidSkillNameError'
}

/** A gossip topic name is not valid (empty, too long, or with characters outside the allowed set). */
export class InvalidTopicError extends AraliyaError<'ERR_INVALID_TOPIC'> {
  static override readonly code: string = 'ERR_INVALID_TOPIC'
  override name = 'InvalidTopicError'
}

/**
 * The node's on-disk datastore (`dataDir`) could not be opened: most often another process (another node
 * started on the same folder) holds it, otherwise it is damaged or unreadable.
 */
export class DatastoreOpenError extends AraliyaError<'ERR_DATASTORE_OPEN'> {
  static override readonly code: string = 'ERR_DATASTORE_OPEN'
  override name = 'DatastoreOpenError'
}

/** Every error code this package throws, so `switch (err.code)` over them narrows. */
export type DhtNodeErrorCode =
  | 'ERR_NODE_NOT_STARTED'
  | 'ERR_INVALID_DHT_NODE_OPTIONS'
  | 'ERR_INVALID_RECORD'
  | 'ERR_AGENT_NOT_FOUND'
  | 'ERR_PUBLISH_FAILED'
  | 'ERR_INVALID_SKILL_NAME'
  | 'ERR_INVALID_TOPIC'
  | 'ERR_DATASTORE_OPEN'

/** Any error class of this package. */
export type DhtNodeError =
  | NodeNotStartedError
  | InvalidDhtNodeOptionsError
  | InvalidRecordError
  | AgentNotFoundError
  | PublishFailedError
  | InvalidSkillNameError
  | InvalidTopicError
  | DatastoreOpenError
