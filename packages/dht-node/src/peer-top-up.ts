import type { Libp2p, Logger, PeerId } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import { routingTableSize } from './dht-records.js'
import { operationSignal, serviceController } from './util.js'

/** How long after joining (or losing a peer) before topping up connections through a DHT query. */
export const DISCOVERY_DELAY_MS = 10_000

/**
 * Dials peers found by a DHT query for our own key until `targetPeers` are connected, so the gossip mesh
 * never degenerates into a star around the bootstrap node. kad-dht's own self-query connects us to our
 * neighbourhood; this tops up later only if that falls short.
 */
export class PeerTopUp {
  readonly #libp2p: Libp2p<{ dht: KadDHT }>
  readonly #targetPeers: number
  readonly #log: Logger
  #controller = serviceController()
  #running = false
  #timer: ReturnType<typeof setTimeout> | undefined
  readonly #onDisconnect = (): void => this.schedule(DISCOVERY_DELAY_MS)

  constructor(libp2p: Libp2p<{ dht: KadDHT }>, targetPeers: number, log: Logger) {
    this.#libp2p = libp2p
    this.#targetPeers = targetPeers
    this.#log = log
  }

  start(): void {
    if (this.#running) return
    this.#running = true
    this.#controller = serviceController()
    this.#libp2p.addEventListener('peer:disconnect', this.#onDisconnect)
    this.schedule(DISCOVERY_DELAY_MS)
  }

  stop(): void {
    this.#running = false
    this.#controller.abort()
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#libp2p.removeEventListener('peer:disconnect', this.#onDisconnect)
  }

  /** Tops up after `delayMs` unless a top-up is already scheduled or running. */
  schedule(delayMs: number): void {
    if (!this.#running || this.#timer !== undefined) return
    this.#timer = setTimeout(() => {
      this.#discover()
        .catch((err) => this.#log('peer discovery failed - %e', err))
        .finally(() => {
          this.#timer = undefined
          if (this.#running && this.#libp2p.getPeers().length < this.#targetPeers)
            this.schedule(3 * DISCOVERY_DELAY_MS)
        })
    }, delayMs)
  }

  async #discover(): Promise<void> {
    const libp2p = this.#libp2p
    if (libp2p.getPeers().length >= this.#targetPeers) return
    const dht = libp2p.services.dht
    if (routingTableSize(dht) === 0) return
    const signal = operationSignal(this.#controller.signal, undefined, 10_000)
    const candidates: PeerId[] = []
    for await (const event of dht.getClosestPeers(libp2p.peerId.toMultihash().bytes, { signal })) {
      if (event.name === 'FINAL_PEER' && !event.peer.id.equals(libp2p.peerId)) candidates.push(event.peer.id)
    }
    for (const peerId of candidates) {
      if (libp2p.getPeers().length >= this.#targetPeers || signal.aborted) break
      if (libp2p.getConnections(peerId).length > 0) continue
      await libp2p.dial(peerId, { signal }).catch((err) => this.#log('dial %p failed - %e', peerId, err))
    }
  }
}
