import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import { WebSocket as NodeWebSocket } from 'ws'
import type { Platform } from './types.js'

/**
 * @libp2p/websockets dials with the global `WebSocket`, which Node only has from version 22. On older
 * versions the `ws` implementation (which the transport already uses to listen) stands in for it. Done
 * when the node's transports are made, never in browser builds (they use platform/browser.ts).
 */
export function ensureWebSocket(): void {
  if (typeof (globalThis as { WebSocket?: unknown }).WebSocket === 'function') return
  Object.defineProperty(globalThis, 'WebSocket', {
    configurable: true,
    writable: true,
    enumerable: false,
    value: NodeWebSocket
  })
}

/** Node: TCP and WebSockets (plus dialling through circuit relays); LevelDB on disk. */
export const platform: Platform = {
  name: 'node',
  transports: () => {
    ensureWebSocket()
    return [tcp(), webSockets(), circuitRelayTransport()]
  },
  defaultListen: (role) => (role === 'light' ? [] : ['/ip4/0.0.0.0/tcp/0', '/ip4/0.0.0.0/tcp/0/ws']),
  openDatastore: async (location) => {
    const { LevelDatastore } = await import('datastore-level')
    return new LevelDatastore(location)
  },
  heapUsed: () => process.memoryUsage().heapUsed
}
