import {
  type Connection,
  type CreateListenerOptions,
  type DialTransportOptions,
  type Listener,
  type ListenerEvents,
  serviceCapabilities,
  type Transport,
  transportSymbol
} from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { TypedEventEmitter } from 'main-event'
import type { TransportFactory } from './types.js'

/**
 * A transport whose implementation is imported on its first dial or listen. libp2p builds every transport
 * when the node is created, so without this a transport the node may never use (WebSockets on a node that
 * listens on TCP only and has not met a `/ws` address yet) would be loaded — its module, `ws`, and Node's
 * http, https, tls and zlib — on the way to ready. `filter` must be the transport's own listen and dial
 * filter, so libp2p picks this transport for exactly the addresses the real one takes.
 */
export function lazyTransport(
  tag: string,
  filter: (multiaddrs: Multiaddr[]) => Multiaddr[],
  load: () => Promise<TransportFactory>
): TransportFactory {
  return (components: unknown) => new LazyTransport(tag, filter, load, components)
}

class LazyTransport implements Transport {
  readonly [transportSymbol] = true as const
  readonly [serviceCapabilities]: string[] = ['@libp2p/transport']
  readonly #tag: string
  readonly #filter: (multiaddrs: Multiaddr[]) => Multiaddr[]
  readonly #load: () => Promise<TransportFactory>
  readonly #components: unknown
  #transport: Promise<Transport> | undefined

  constructor(
    tag: string,
    filter: (multiaddrs: Multiaddr[]) => Multiaddr[],
    load: () => Promise<TransportFactory>,
    components: unknown
  ) {
    this.#tag = tag
    this.#filter = filter
    this.#load = load
    this.#components = components
  }

  get [Symbol.toStringTag](): string {
    return this.#tag
  }

  listenFilter(multiaddrs: Multiaddr[]): Multiaddr[] {
    return this.#filter(multiaddrs)
  }

  dialFilter(multiaddrs: Multiaddr[]): Multiaddr[] {
    return this.#filter(multiaddrs)
  }

  async dial(ma: Multiaddr, options: DialTransportOptions): Promise<Connection> {
    return (await this.#real()).dial(ma, options)
  }

  createListener(options: CreateListenerOptions): Listener {
    return new LazyListener(async () => (await this.#real()).createListener(options))
  }

  #real(): Promise<Transport> {
    this.#transport ??= this.#load().then((factory) =>
      (factory as (components: unknown) => Transport)(this.#components)
    )
    return this.#transport
  }
}

/** Stands in for the real listener until `listen` has created it, then forwards to it. */
class LazyListener extends TypedEventEmitter<ListenerEvents> implements Listener {
  readonly #create: () => Promise<Listener>
  #listener: Listener | undefined
  #creating: Promise<Listener> | undefined
  #announce: Multiaddr[] | undefined

  constructor(create: () => Promise<Listener>) {
    super()
    this.#create = create
  }

  async listen(multiaddr: Multiaddr): Promise<void> {
    await (await this.#real()).listen(multiaddr)
  }

  getAddrs(): Multiaddr[] {
    return this.#listener?.getAddrs() ?? []
  }

  updateAnnounceAddrs(addrs: Multiaddr[]): void {
    this.#announce = addrs
    this.#listener?.updateAnnounceAddrs(addrs)
  }

  async close(): Promise<void> {
    if (this.#creating === undefined) {
      this.safeDispatchEvent('close')
      return
    }
    await (await this.#creating).close()
  }

  #real(): Promise<Listener> {
    this.#creating ??= this.#create().then((listener) => {
      for (const name of ['listening', 'error', 'close'] as const) {
        listener.addEventListener(name, (event) => {
          this.safeDispatchEvent(name, { detail: (event as CustomEvent).detail })
        })
      }
      if (this.#announce !== undefined) listener.updateAnnounceAddrs(this.#announce)
      this.#listener = listener
      return listener
    })
    return this.#creating
  }
}
