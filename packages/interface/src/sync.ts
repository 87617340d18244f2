import type { AgentAddress } from './types.js'

/**
 * The narrow seam between a replicated data structure and a network, in the shape Yjs providers and
 * automerge-repo network adapters use: opaque bytes in both directions, tagged with the remote peer they
 * came from or go to. A transport (channel-p2p's graph-sync carrier, a WebSocket, a test harness) moves
 * bytes and never needs to know what they mean; the replica (crdt-graph, through `graphSyncEndpoint`)
 * never needs to know how they travel.
 *
 * @example
 * ```ts
 * import type { SyncEndpoint } from '@araliya/interface'
 *
 * // wire two endpoints back to back in one process
 * function pair(a: SyncEndpoint, b: SyncEndpoint): void {
 *   const toB = b.open({ peer: 'A', send: (bytes) => toA.receive(bytes) })
 *   const toA = a.open({ peer: 'B', send: (bytes) => toB.receive(bytes) })
 *   void toA.start()
 *   void toB.start()
 * }
 * ```
 */
export interface SyncEndpoint {
  /** The protocol the bytes follow, with its version (`/araliya/graph-sync/1.0.0`). Transports negotiate it. */
  readonly protocol: string
  /**
   * Opens a session with one remote peer. Construction does no I/O: `start()` sends the first message.
   * The session is the only place bytes from `init.peer` go.
   */
  open(init: SyncSessionInit): SyncSession
}

/** What a transport gives a {@link SyncEndpoint} when it opens a session. */
export interface SyncSessionInit {
  /** The remote peer's address: the origin of everything it sends. */
  readonly peer: AgentAddress
  /** Sends bytes to the remote peer. The transport may drop, duplicate or reorder them. */
  send(bytes: Uint8Array): void | Promise<void>
  /**
   * Called for every message from this peer that no honest peer sends (a forged or unauthorised
   * record, a backdated write): the transport's hook to end the session and refuse the peer for a while.
   */
  onMisbehaviour?(report: SyncMisbehaviourReport): void
  /** Problems that are not the caller's to handle (a failed send, a refused batch), for logging. */
  onError?(error: Error): void
}

/** A live replication session with one remote peer. */
export interface SyncSession {
  /** The remote peer's address. */
  readonly peer: AgentAddress
  /** Counters of this session (messages, bytes, records sent and accepted, refusals). */
  readonly stats: Readonly<Record<string, number>>
  /** Sends the first message and starts forwarding local changes. Safe to call twice. */
  start(): Promise<void>
  /** Stops forwarding. Safe to call twice. */
  stop(): void
  /**
   * Handles one message from the remote peer, in call order.
   *
   * @throws an `InvalidInputError` (or subclass) for a malformed message or one over a limit; nothing of
   * it was applied, and the transport should end the session.
   */
  receive(bytes: Uint8Array): Promise<void>
}

/** A message from a peer that no honest peer sends, reported through {@link SyncSessionInit.onMisbehaviour}. */
export interface SyncMisbehaviourReport {
  /** The peer that sent it. */
  readonly peer: AgentAddress
  /** Why it counts against the peer, as a short stable word (`unauthorized`, `backdated`, `invalid-signature`). */
  readonly reason: string
  /** The id of the record it concerned, when it could be decoded. */
  readonly commit?: string
  /** The error the replica refused it with. */
  readonly error: Error
}
