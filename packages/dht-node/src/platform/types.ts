import type { Libp2pOptions } from 'libp2p'
import type { Datastore } from 'interface-datastore'

/** A libp2p transport factory, as `createLibp2p({ transports })` takes it. */
export type TransportFactory = NonNullable<Libp2pOptions['transports']>[number]

/** A datastore the node opens on start and closes on stop. */
export interface ClosableDatastore extends Datastore {
  open(): Promise<void>
  close(): Promise<void>
}

/** What differs between Node and browsers. Chosen by the `#platform` conditional import. */
export interface Platform {
  readonly name: 'node' | 'browser'
  /** The default transports: TCP + WebSockets + circuit relay in Node; WebSockets + WebRTC + relay in browsers. */
  transports(): TransportFactory[]
  /** Listen addresses used when none are given, per role. */
  defaultListen(role: 'bootstrap' | 'full' | 'light'): string[]
  /**
   * A persistent datastore at a directory (Node, LevelDB) or a database name (browser, IndexedDB). The
   * level modules are loaded on first use, so nodes without persistence never pay for them at start.
   */
  openDatastore(location: string): Promise<ClosableDatastore>
  /** Heap in use in bytes, or 0 when unknown. */
  heapUsed(): number
}
