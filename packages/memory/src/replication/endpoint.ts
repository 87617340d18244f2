import { type Graph, graphSyncEndpoint, SYNC_PROTOCOL_ID, SYNC_PROTOCOL_VERSION } from '@araliya/crdt-graph'
import type { SyncEndpoint, SyncSession, SyncSessionInit } from '@araliya/interface'
import type { ComponentLogger } from '@libp2p/interface'

/**
 * A graph-sync endpoint whose spaces change while it runs: crdt-graph's sessions ask for, accept and
 * serve a fixed set of spaces, so when the set changes (a replication request accepted, a fetch of an
 * owner's space) every live session is replaced by a fresh one over the same stream. The fresh session
 * sends a hello naming the new set; the peer answers with what it lacks. What is in flight for the old
 * session is handled by the new one (sync messages are idempotent). A space outside the set is neither
 * asked for, nor accepted, nor served: that is what keeps a light node free of foreign data.
 */
export class SpacesEndpoint implements SyncEndpoint {
  readonly protocol: string
  readonly #graph: Graph
  readonly #logger: ComponentLogger | undefined
  readonly #sessions = new Set<SpacesSession>()
  #spaces: ReadonlySet<string> = new Set()
  /** Spaces asked only of some peers for now (while a fetch syncs from one replica at a time). */
  readonly #only = new Map<string, ReadonlySet<string>>()

  constructor(graph: Graph, spaces: Iterable<string>, logger?: ComponentLogger) {
    this.#graph = graph
    this.#logger = logger
    this.#spaces = new Set(spaces)
    this.protocol = SYNC_PROTOCOL_ID
  }

  get graph(): Graph {
    return this.#graph
  }

  get spaces(): ReadonlySet<string> {
    return this.#spaces
  }

  /** The peers with a live session now. */
  peers(): string[] {
    return [...this.#sessions].map((s) => s.peer)
  }

  /** Replaces the set of spaces; live sessions whose set changed restart with it. */
  setSpaces(spaces: Iterable<string>): void {
    this.#spaces = new Set(spaces)
    this.#renew()
  }

  /**
   * Asks `space` only of `peers` (undefined: of every peer again), so that one replica at a time sends
   * a space being fetched instead of every connected one sending all of it at once.
   */
  restrict(space: string, peers: ReadonlySet<string> | undefined): void {
    if (peers === undefined) this.#only.delete(space)
    else this.#only.set(space, peers)
    this.#renew()
  }

  /** The spaces asked of, accepted from and served to one peer. */
  spacesFor(peer: string): ReadonlySet<string> {
    if (this.#only.size === 0) return this.#spaces
    const out = new Set<string>()
    for (const space of this.#spaces) {
      const only = this.#only.get(space)
      if (only === undefined || only.has(peer)) out.add(space)
    }
    return out
  }

  open(init: SyncSessionInit): SyncSession {
    const session = new SpacesSession(this, init, (s) => this.#sessions.delete(s))
    this.#sessions.add(session)
    return session
  }

  /** A crdt-graph endpoint for a fixed set of spaces. */
  endpointFor(spaces: ReadonlySet<string>): SyncEndpoint {
    return graphSyncEndpoint(this.#graph, {
      spaces,
      share: (space) => spaces.has(space),
      ...(this.#logger === undefined ? {} : { logger: this.#logger })
    })
  }

  #renew(): void {
    for (const session of this.#sessions) session.renew()
  }
}

/** The type byte of a graph-sync hello (docs/protocols/graph-sync.md). */
const HELLO_TYPE = 0x01

/**
 * One peer's session: a crdt-graph session, replaced when the spaces for this peer change. The fresh
 * session is first given the peer's last hello, so it knows at once what the peer wants and holds (the
 * peer may hold back an unchanged hello of its own for a while, and without one a session forwards
 * nothing live to it).
 */
class SpacesSession implements SyncSession {
  readonly peer: string
  readonly #endpoint: SpacesEndpoint
  readonly #init: SyncSessionInit
  readonly #closed: (s: SpacesSession) => void
  #spaces: ReadonlySet<string>
  #current: SyncSession
  #started = false
  #lastHello: Uint8Array | undefined

  constructor(endpoint: SpacesEndpoint, init: SyncSessionInit, closed: (s: SpacesSession) => void) {
    this.peer = init.peer
    this.#endpoint = endpoint
    this.#init = init
    this.#closed = closed
    this.#spaces = endpoint.spacesFor(init.peer)
    this.#current = endpoint.endpointFor(this.#spaces).open(init)
  }

  get stats(): Readonly<Record<string, number>> {
    return this.#current.stats
  }

  renew(): void {
    const spaces = this.#endpoint.spacesFor(this.peer)
    if (spaces.size === this.#spaces.size && [...spaces].every((s) => this.#spaces.has(s))) return
    this.#spaces = spaces
    const old = this.#current
    this.#current = this.#endpoint.endpointFor(spaces).open(this.#init)
    old.stop()
    if (!this.#started) return
    const report = (err: unknown): void => this.#init.onError?.(err as Error)
    // Queued first, so it is handled before anything the peer sends from now on.
    if (this.#lastHello !== undefined) this.#current.receive(this.#lastHello).catch(report)
    this.#current.start().catch(report)
  }

  async start(): Promise<void> {
    this.#started = true
    await this.#current.start()
  }

  stop(): void {
    this.#started = false
    this.#current.stop()
    this.#closed(this)
  }

  receive(bytes: Uint8Array): Promise<void> {
    if (bytes.byteLength >= 2 && bytes[0] === SYNC_PROTOCOL_VERSION && bytes[1] === HELLO_TYPE)
      this.#lastHello = bytes
    return this.#current.receive(bytes)
  }
}
