import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import type { Platform } from './types.js'

/** Node: TCP and WebSockets (plus dialling through circuit relays); LevelDB on disk. */
export const platform: Platform = {
  name: 'node',
  transports: () => [tcp(), webSockets(), circuitRelayTransport()],
  defaultListen: (role) => (role === 'light' ? [] : ['/ip4/0.0.0.0/tcp/0', '/ip4/0.0.0.0/tcp/0/ws']),
  openDatastore: async (location) => {
    const { LevelDatastore } = await import('datastore-level')
    return new LevelDatastore(location)
  },
  heapUsed: () => process.memoryUsage().heapUsed
}
