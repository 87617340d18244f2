import { AraliyaError, InvalidInputError, NotStartedError } from '@araliya/interface'

/** Why an inbound envelope was dropped. Closed set: it crosses the network in acknowledgements. */
export type DropReason =
  | 'too-large'
  | 'malformed'
  | 'bad-signature'
  | 'wrong-channel'
  | 'sender-mismatch'
  | 'expired'
  | 'clock-skew'
  | 'duplicate'
  | 'rate-limited'
  | 'seen-set-full'
  | 'not-for-us'
  | 'undecryptable'

/** The `code` of every error channel-p2p throws, so `switch (err.code)` narrows. */
export type ChannelErrorCode =
  | 'ERR_ENVELOPE_REJECTED'
  | 'ERR_PAYLOAD'
  | 'ERR_DECRYPTION'
  | 'ERR_DELIVERY'
  | 'ERR_CHANNEL_NOT_STARTED'
  | 'ERR_INVALID_GRAPH_SYNC_OPTIONS'

/** An envelope failed the inbound pipeline. `reason` says which check. */
export class EnvelopeRejectedError extends InvalidInputError<'ERR_ENVELOPE_REJECTED'> {
  static override readonly code: string = 'ERR_ENVELOPE_REJECTED'
  override name = 'EnvelopeRejectedError'
  readonly reason: DropReason
  constructor(reason: DropReason, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.reason = reason
  }
}

/** A payload could not be carried (not canonical-CBOR encodable, or too large once encoded). */
export class PayloadError extends InvalidInputError<'ERR_PAYLOAD'> {
  static override readonly code: string = 'ERR_PAYLOAD'
  override name = 'PayloadError'
}

/** An end-to-end encrypted body could not be opened (not for this key, or altered). */
export class DecryptionError extends AraliyaError<'ERR_DECRYPTION'> {
  static override readonly code: string = 'ERR_DECRYPTION'
  override name = 'DecryptionError'
}

/** A direct message could not be delivered and will not be retried. */
export class DeliveryError extends AraliyaError<'ERR_DELIVERY'> {
  static override readonly code: string = 'ERR_DELIVERY'
  override name = 'DeliveryError'
}

/**
 * The channel was used before `start()` or after `stop()`. It is interface's {@link NotStartedError}
 * (so `NotStartedError.isInstance(err)` holds) with the channel's own code.
 */
export class ChannelNotStartedError extends NotStartedError<'ERR_CHANNEL_NOT_STARTED'> {
  static override readonly code: string = 'ERR_CHANNEL_NOT_STARTED'
  override name = 'ChannelNotStartedError'
  constructor(component = 'the channel', options?: { cause?: unknown }) {
    super(component, options)
  }
}

/** The options given to graph sync (`graphSync.sync`, `channel.syncGraph`) are out of range. */
export class InvalidGraphSyncOptionsError extends AraliyaError<'ERR_INVALID_GRAPH_SYNC_OPTIONS'> {
  static override readonly code: string = 'ERR_INVALID_GRAPH_SYNC_OPTIONS'
  override name = 'InvalidGraphSyncOptionsError'
}
