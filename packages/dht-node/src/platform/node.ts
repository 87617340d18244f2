import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { tcp } from '@libp2p/tcp'
import { WebSockets, WebSocketsSecure } from '@multiformats/multiaddr-matcher'
import { lazyTransport } from './lazy-transport.js'
import type { Platform } from './types.js'

/**
 * @libp2p/websockets dials with the global `WebSocket`, which Node only has from version 22. On older
 * versions the `ws` implementation (which the transport already uses to listen) stands in for it. Done
 * when the WebSockets transport is loaded, never in browser builds (they use platform/browser.ts).
 */
export async function ensureWebSocket(): Promise<void> {
  if (typeof (globalThis as { WebSocket?: unknown }).WebSocket === 'function') return
  const { WebSocket: NodeWebSocket } = await import('ws')
  Object.defineProperty(globalThis, 'WebSocket', {
    configurable: true,
    writable: true,
    enumerable: false,
    value: NodeWebSocket
  })
}

/**
 * WebSockets, loaded on the first `/ws` or `/wss` listen or dial: a node that listens on TCP only does not
 * pay for `ws` and Node's http/https/tls before it is ready. The filter is the one @libp2p/websockets
 * applies in Node.
 */
const webSockets = lazyTransport(
  '@libp2p/websockets',
  (multiaddrs) => multiaddrs.filter((ma) => WebSockets.exactMatch(ma) || WebSocketsSecure.exactMatch(ma)),
  async () => {
    await ensureWebSocket()
    const { webSockets: factory } = await import('@libp2p/websockets')
    return factory()
  }
)

/** Node: TCP and WebSockets (plus dialling through circuit relays); LevelDB on disk. */
export const platform: Platform = {
  name: 'node',
  transports: () => [tcp(), webSockets, circuitRelayTransport()],
  defaultListen: (role) => (role === 'light' ? [] : ['/ip4/0.0.0.0/tcp/0', '/ip4/0.0.0.0/tcp/0/ws']),
  openDatastore: async (location) => {
    const { LevelDatastore } = await import('datastore-level')
    return new LevelDatastore(location)
  },
  heapUsed: () => process.memoryUsage().heapUsed
}
