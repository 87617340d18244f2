/** Options accepted by every asynchronous Araliya method. */
export interface AbortOptions {
  /** Cancels the operation; it then rejects with an `AbortedError`. */
  signal?: AbortSignal
}

/** Something with an explicit lifecycle. Construction does no I/O; `start` and `stop` do. */
export interface Startable {
  /** Starts the component. Calling it twice is safe. */
  start(): Promise<void>
  /** Stops the component and releases what it holds. Calling it twice is safe. */
  stop(): Promise<void>
}

/**
 * The libp2p PeerId string of an agent's ed25519 key (`12D3KooW…`): its address on the swarm and the
 * name of the subgraph it owns.
 */
export type AgentAddress = string

/** Where an event or a write came from: this process, or a remote peer (by its address). */
export type Origin = { readonly kind: 'local' } | { readonly kind: 'remote'; readonly peer: AgentAddress }

/** The origin of everything produced inside this process. */
export const LOCAL_ORIGIN: Origin = Object.freeze({ kind: 'local' })
