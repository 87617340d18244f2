import { backoffDelay } from '@araliya/interface'
import type { Libp2p, Logger, PeerId } from '@libp2p/interface'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'

/** How bootstrap dials are retried. Delays grow by `factor` per failure up to `maxDelayMs`, with ±25% jitter. */
export interface BootstrapRetryInit {
  /** First retry delay, ms. Default 1000. */
  initialDelayMs?: number
  /** Largest retry delay, ms. Default 60 000. */
  maxDelayMs?: number
  /** Growth per failed attempt. Default 2. */
  factor?: number
  /** Timeout of one dial, ms. Default 10 000. */
  dialTimeoutMs?: number
}

interface Entry {
  readonly addr: Multiaddr
  readonly text: string
  peerId: string | undefined
  attempt: number
  timer: ReturnType<typeof setTimeout> | undefined
  dialing: boolean
}

interface BootstrapHooks {
  onConnect(detail: { multiaddr: string; peerId?: string }): void
  onRetry(detail: {
    multiaddr: string
    peerId?: string
    attempt: number
    delayMs: number
    error: Error
  }): void
}

/**
 * Dials a list of bootstrap nodes and keeps them dialled: a failed dial, or a bootstrap that disconnects
 * later, is retried with capped exponential backoff for as long as the node runs. Works with any transport
 * (unlike @libp2p/bootstrap, which refuses `/memory` addresses).
 */
export class Bootstrapper {
  readonly #libp2p: Libp2p
  readonly #entries: Entry[]
  readonly #initialDelayMs: number
  readonly #maxDelayMs: number
  readonly #factor: number
  readonly #dialTimeoutMs: number
  readonly #hooks: BootstrapHooks
  readonly #log: Logger
  #running = false
  #controller = new AbortController()
  #waiters = new Set<() => void>()
  readonly #onDisconnect = (event: CustomEvent<PeerId>): void => {
    const id = event.detail.toString()
    for (const entry of this.#entries) {
      if (entry.peerId === id && this.#running) {
        this.#log('bootstrap %s disconnected; redialling', entry.text)
        entry.attempt = 0
        this.#schedule(entry, this.#initialDelayMs, new Error('disconnected'))
      }
    }
  }

  constructor(
    libp2p: Libp2p,
    addrs: readonly string[],
    init: BootstrapRetryInit = {},
    hooks: BootstrapHooks,
    log: Logger
  ) {
    this.#log = log
    this.#libp2p = libp2p
    this.#entries = addrs.map((text) => {
      const addr = multiaddr(text)
      const p2p = addr.getComponents().findLast((c) => c.name === 'p2p')
      return { addr, text, peerId: p2p?.value, attempt: 0, timer: undefined, dialing: false }
    })
    this.#initialDelayMs = init.initialDelayMs ?? 1000
    this.#maxDelayMs = init.maxDelayMs ?? 60_000
    this.#factor = init.factor ?? 2
    this.#dialTimeoutMs = init.dialTimeoutMs ?? 10_000
    this.#hooks = hooks
  }

  /** Number of bootstrap nodes currently connected. */
  connectedCount(): number {
    return this.#entries.filter((e) => e.peerId !== undefined && this.#isConnected(e.peerId)).length
  }

  start(): void {
    if (this.#running) return
    this.#running = true
    this.#controller = new AbortController()
    this.#libp2p.addEventListener('peer:disconnect', this.#onDisconnect)
    for (const entry of this.#entries) {
      entry.attempt = 0
      void this.#dial(entry)
    }
  }

  stop(): void {
    this.#running = false
    this.#controller.abort()
    this.#libp2p.removeEventListener('peer:disconnect', this.#onDisconnect)
    for (const entry of this.#entries) clearTimeout(entry.timer)
    for (const wake of this.#waiters) wake()
    this.#waiters.clear()
  }

  /** Resolves once one bootstrap node is connected (at once with an empty list). */
  async waitForConnection(signal: AbortSignal): Promise<void> {
    while (this.#entries.length > 0 && this.connectedCount() === 0) {
      signal.throwIfAborted()
      if (!this.#running) throw new Error('bootstrapper stopped')
      await new Promise<void>((resolve) => {
        const done = (): void => {
          this.#waiters.delete(done)
          clearTimeout(timer)
          signal.removeEventListener('abort', done)
          resolve()
        }
        const timer = setTimeout(done, 250)
        this.#waiters.add(done)
        signal.addEventListener('abort', done, { once: true })
      })
    }
  }

  #isConnected(peerId: string): boolean {
    return this.#libp2p.getConnections().some((c) => c.remotePeer.toString() === peerId)
  }

  async #dial(entry: Entry): Promise<void> {
    if (!this.#running || entry.dialing) return
    if (entry.peerId !== undefined && this.#isConnected(entry.peerId)) return
    entry.dialing = true
    try {
      const signal = AbortSignal.any([this.#controller.signal, AbortSignal.timeout(this.#dialTimeoutMs)])
      const connection = await this.#libp2p.dial(entry.addr, { signal })
      entry.peerId = connection.remotePeer.toString()
      entry.attempt = 0
      this.#log('connected to bootstrap %s', entry.text)
      for (const wake of [...this.#waiters]) wake()
      this.#hooks.onConnect({ multiaddr: entry.text, peerId: entry.peerId })
    } catch (err) {
      if (!this.#running) return
      entry.attempt++
      const delayMs = backoffDelay(entry.attempt, {
        initialDelayMs: this.#initialDelayMs,
        maxDelayMs: this.#maxDelayMs,
        factor: this.#factor,
        jitter: 0.25
      })
      this.#log(
        'bootstrap %s unreachable (attempt %d); retrying in %d ms - %e',
        entry.text,
        entry.attempt,
        delayMs,
        err
      )
      this.#schedule(entry, delayMs, err as Error)
    } finally {
      entry.dialing = false
    }
  }

  #schedule(entry: Entry, delayMs: number, error: Error): void {
    if (!this.#running) return
    clearTimeout(entry.timer)
    this.#hooks.onRetry({
      multiaddr: entry.text,
      ...(entry.peerId !== undefined ? { peerId: entry.peerId } : {}),
      attempt: entry.attempt,
      delayMs,
      error
    })
    entry.timer = setTimeout(() => {
      entry.timer = undefined
      void this.#dial(entry)
    }, delayMs)
  }
}
