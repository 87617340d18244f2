import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { webRTC } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import type { Platform } from './types.js'

/** Browsers: WebSockets to Node peers, WebRTC between browsers (signalled through a relay); IndexedDB. */
export const platform: Platform = {
  name: 'browser',
  transports: () => [webSockets(), webRTC(), circuitRelayTransport()],
  defaultListen: () => ['/p2p-circuit', '/webrtc'],
  openDatastore: async (location) => {
    const { LevelDatastore } = await import('datastore-level')
    return new LevelDatastore(location)
  },
  heapUsed: () =>
    (globalThis.performance as { memory?: { usedJSHeapSize?: number } } | undefined)?.memory
      ?.usedJSHeapSize ?? 0
}
