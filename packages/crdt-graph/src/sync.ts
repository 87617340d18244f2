// The graph-sync protocol: the wire codec, compression, and the session that runs it with one peer.
export * from './sync/codec.js'
export * from './sync/compress.js'
export * from './sync/endpoint.js'
export * from './sync/session.js'
