import { fileURLToPath } from 'node:url'
import { exportedNames } from '@araliya/test-support/exports'
import { expect, it } from 'vitest'

// signEnvelope/encodeEnvelope/decodeEnvelope/verifyEnvelope and the content types stay public: examples/reference-node
// builds (and forges, in its demo) envelopes with them. Internals (InboundPipeline, SeenSet, seal, rate limiter) do not.
it('exports exactly the reviewed public surface', () => {
  const entry = fileURLToPath(new URL('../src/index.ts', import.meta.url))
  expect(exportedNames(entry)).toMatchInlineSnapshot(`
    [
      "CBOR_CONTENT (value)",
      "ChannelErrorCode (type)",
      "ChannelEvents (type)",
      "ChannelInit (type)",
      "ChannelNotStartedError (value)",
      "ChannelRoute (type)",
      "ChannelServices (type)",
      "ChannelStats (type)",
      "DEFAULT_MAX_ENVELOPE_BYTES (value)",
      "DEFAULT_ROUTES (value)",
      "DEFAULT_TTL_MS (value)",
      "DIRECT_CHANNEL (value)",
      "DIRECT_PROTOCOL (value)",
      "DecryptionError (value)",
      "DeliveryError (value)",
      "DirectComponents (type)",
      "DirectEvents (type)",
      "DirectInit (type)",
      "DirectMessages (type)",
      "DirectReceipt (type)",
      "DirectReceiver (type)",
      "DirectStats (type)",
      "DirectVerdict (type)",
      "DropDetail (type)",
      "DropReason (type)",
      "Envelope (type)",
      "EnvelopeRejectedError (value)",
      "GRAPH_SYNC_PROTOCOL (value)",
      "GraphSyncCarrier (type)",
      "GraphSyncComponents (type)",
      "GraphSyncHandle (type)",
      "GraphSyncInit (type)",
      "GraphSyncOptions (type)",
      "GraphSyncSession (type)",
      "InvalidGraphSyncOptionsError (value)",
      "MAX_TTL_MS (value)",
      "MisbehavingPeer (type)",
      "P2PChannel (type)",
      "PayloadError (value)",
      "PublishEnvelopeOptions (type)",
      "RateLimitInit (type)",
      "SEALED_CONTENT (value)",
      "SendOptions (type)",
      "UnsignedEnvelope (type)",
      "createChannel (value)",
      "decodeEnvelope (value)",
      "direct (value)",
      "encodeEnvelope (value)",
      "graphSync (value)",
      "signEnvelope (value)",
      "verifyEnvelope (value)",
    ]
  `)
})
