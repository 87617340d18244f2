import type { ComponentLogger } from '@libp2p/interface'
import { BackdatedCommitError, InvalidSignatureError, UnauthorizedWriteError } from '../errors.js'
import type { SyncLimits } from './codec.js'

/** What {@link createSyncPeer} needs. */
export interface SyncPeerInit {
  /** A tag for the remote side (its address, for p2p transports); used as the origin of what it sends. */
  peer: string
  /** Sends bytes to the remote side. The transport may drop, duplicate or reorder them. */
  send: (bytes: Uint8Array) => void | Promise<void>
  /** The spaces (owner addresses) to ask for and to accept. Default: every space. */
  spaces?: Iterable<string>
  /** Which spaces to serve to this peer. Default: every space. */
  share?: (space: string) => boolean
  /**
   * Aim for messages of about this size when sending many commits. Default 256 KiB. Whatever the size,
   * a message never carries more than 1,024 commits.
   */
  targetMessageBytes?: number
  /** Decoder limits for what this peer receives. */
  limits?: Partial<SyncLimits>
  /** Deflate large commit batches (message type 3) where the platform has `CompressionStream`. Default true. */
  compress?: boolean
  /** Reports problems that are not the caller's to handle (a failed send, a refused commit batch). */
  onError?: (error: Error) => void
  /**
   * A monotonic clock in milliseconds, for the backoff of gap hellos and repeated hello replies.
   * Default `performance.now()`. Inject one in tests.
   */
  now?: () => number
  /**
   * Called (while started) for every commit from this peer that the graph refused for a reason no honest
   * relay produces: the transport's hook to penalise the sender (lower its score, disconnect it). Also
   * counted in `stats.misbehaviours`.
   */
  onMisbehaviour?: (report: SyncMisbehaviour) => void
  /** Where the session logs (`araliya:graph:sync`). Default `defaultLogger()` from `@libp2p/logger`. */
  logger?: ComponentLogger
}

/**
 * Why a commit a peer sent counts against it. An honest replica verifies and judges every commit before it
 * stores or relays it, so it never sends one refused for these reasons:
 * - `unauthorized`: an op no grant covers at the commit's position (`UnauthorizedWriteError`);
 * - `backdated`: stamps or position behind what the writer had already claimed or seen (`BackdatedCommitError`);
 * - `invalid-signature`: a signature, grant or revocation that does not verify (`InvalidSignatureError`).
 * Refusals an honest peer can cause (equivocation and forks, clock skew, limits, unknown versions) are not reported.
 */
export type MisbehaviourReason = 'unauthorized' | 'backdated' | 'invalid-signature'

/** One commit a peer sent that no honest relay would have sent (see {@link SyncPeerInit.onMisbehaviour}). */
export interface SyncMisbehaviour {
  /** The remote peer's tag. */
  readonly peer: string
  readonly reason: MisbehaviourReason
  /** Hex id of the refused commit. */
  readonly commit?: string
  /** The graph's refusal. */
  readonly error: Error
}

/** The reason a refusal counts against the peer that sent the commit, if it does. */
export function misbehaviourReason(error: Error): MisbehaviourReason | undefined {
  if (UnauthorizedWriteError.isInstance(error)) return 'unauthorized'
  if (BackdatedCommitError.isInstance(error)) return 'backdated'
  if (InvalidSignatureError.isInstance(error)) return 'invalid-signature'
  return undefined
}

/** Counters of one sync session. */
// A type alias, not an interface, so it is assignable to `SyncSession['stats']` (a string-keyed record).
export type SyncStats = {
  messagesSent: number
  messagesReceived: number
  bytesSent: number
  bytesReceived: number
  /** Commits sent, counting every copy (resends included). */
  commitsSent: number
  commitsReceived: number
  commitsAccepted: number
  /** Commits from this peer refused for a reason no honest relay produces (see {@link MisbehaviourReason}). */
  misbehaviours: number
  /** Messages refused whole: malformed, or over a size or count limit (nothing in them was applied). */
  messagesRefused: number
  /** Commits not looked at because an earlier commit of the same message could not be decoded or verified. */
  commitsDropped: number
  /** Commits sent again that this session had sent before (the peer asked again); part of `commitsSent`. */
  commitsResent: number
  /** Commits a hello asked for again that were not resent: the session's resend allowance was used up. */
  resendsRefused: number
  /** Hellos sent because commits arrived ahead of their chain (gap hellos). */
  gapHellosSent: number
}

/**
 * One side of a sync session with one remote peer: bytes in (`receive`), bytes out (`send`). It exchanges
 * version vectors, sends only the commits the other side lacks, forwards new commits live, and recovers
 * from lost, duplicated and reordered messages (newly held commits trigger a new hello, paced with
 * backoff; `sync()` re-runs the exchange after a reconnect). What it sends again on request is bounded
 * per session, so no run of duplicates or hellos makes it resend without end.
 */
export interface SyncPeer {
  /** The remote peer's tag. */
  readonly peer: string
  readonly stats: Readonly<SyncStats>
  /** Starts forwarding new commits and sends the first hello. Safe to call twice. */
  start(): Promise<void>
  /** Stops forwarding (and cancels a deferred gap hello). Safe to call twice. */
  stop(): void
  /** Sends a fresh hello: call after a reconnect, or now and then to repair dropped messages. */
  sync(): Promise<void>
  /**
   * Handles one message from the remote peer. Messages are processed one at a time, in call order. The
   * commits of a message are applied up to the first that cannot be decoded or verified; the rest of that
   * message is dropped (counted in `stats.commitsDropped`).
   *
   * @throws {SyncProtocolError} (or its `TooManyEntriesError`) or `TooLargeError` for a malformed message,
   * or one over a size or count limit: nothing of it is applied.
   */
  receive(bytes: Uint8Array): Promise<void>
  /**
   * Resolves when this side has nothing left to do: every message received has been processed and every
   * promise returned by `send` has settled (for two peers wired back to back, that covers both sides).
   */
  idle(): Promise<void>
}
