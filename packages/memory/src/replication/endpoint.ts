import { type Graph, graphSyncEndpoint } from '@araliya/crdt-graph'
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
  #inner: SyncEndpoint

  constructor(graph: Graph, spaces: Iterable<string>, logger?: ComponentLogger) {
    this.#graph = graph
    this.#logger = logger
    this.#spaces = new Set(spaces)
    this.#inner = this.#make()
    this.protocol = this.#inner.protocol
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

  /** Replaces the set of spaces; live sessions restart with it when it changed. */
  setSpaces(spaces: Iterable<string>): void {
    const next = new Set(spaces)
    if (next.size === this.#spaces.size && [...next].every((s) => this.#spaces.has(s))) return
    this.#spaces = next
    this.#inner = this.#make()
    for (const session of this.#sessions) session.renew(this.#inner)
  }

  open(init: SyncSessionInit): SyncSession {
    const session = new SpacesSession(this.#inner, init, (s) => this.#sessions.delete(s))
    this.#sessions.add(session)
    return session
  }

  #make(): SyncEndpoint {
    const spaces = this.#spaces
    return graphSyncEndpoint(this.#graph, {
      spaces,
      share: (space) => spaces.has(space),
      ...(this.#logger === undefined ? {} : { logger: this.#logger })
    })
  }
}

/** One peer's session: a crdt-graph session, replaced when the endpoint's spaces change. */
class SpacesSession implements SyncSession {
  readonly peer: string
  readonly #init: SyncSessionInit
  readonly #closed: (s: SpacesSession) => void
  #current: SyncSession
  #started = false

  constructor(endpoint: SyncEndpoint, init: SyncSessionInit, closed: (s: SpacesSession) => void) {
    this.peer = init.peer
    this.#init = init
    this.#closed = closed
    this.#current = endpoint.open(init)
  }

  get stats(): Readonly<Record<string, number>> {
    return this.#current.stats
  }

  renew(endpoint: SyncEndpoint): void {
    const old = this.#current
    this.#current = endpoint.open(this.#init)
    old.stop()
    if (this.#started) {
      this.#current.start().catch((err: unknown) => this.#init.onError?.(err as Error))
    }
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
    return this.#current.receive(bytes)
  }
}
