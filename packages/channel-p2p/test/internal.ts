// The public surface plus the internals the unit tests reach into (not exported by the package).
export * from '../src/index.js'
export { ENVELOPE_CONTEXT, envelopeKey, envelopeTime } from '../src/envelope.js'
export { actionFor, InboundPipeline } from '../src/inbound.js'
export { open, seal, sealingKey, sealingPublicKey } from '../src/seal.js'
export { SeenSet } from '../src/seen.js'
