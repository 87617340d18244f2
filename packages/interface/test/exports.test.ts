import { fileURLToPath } from 'node:url'
import { exportedNames } from '@araliya/test-support/exports'
import { expect, it } from 'vitest'

it('exports exactly the reviewed public surface', () => {
  const entry = fileURLToPath(new URL('../src/index.ts', import.meta.url))
  expect(exportedNames(entry)).toMatchInlineSnapshot(`
    [
      "AbortOptions (type)",
      "AbortedError (value)",
      "AgentAddress (type)",
      "AgentLocation (type)",
      "AgentLocator (type)",
      "AraliyaError (value)",
      "BackoffPolicy (type)",
      "BusEventLike (type)",
      "BusLike (type)",
      "GossipVerdict (type)",
      "HLC_UNITS_PER_MS (value)",
      "HybridClock (value)",
      "InvalidInputError (value)",
      "LOCAL_ORIGIN (value)",
      "NotStartedError (value)",
      "Origin (type)",
      "RateLimiter (value)",
      "RateLimiterInit (type)",
      "Startable (type)",
      "SwarmGossip (type)",
      "SwarmGossipMessage (type)",
      "SwarmGossipValidator (type)",
      "SyncEndpoint (type)",
      "SyncMisbehaviourReport (type)",
      "SyncSession (type)",
      "SyncSessionInit (type)",
      "TooLargeError (value)",
      "backoffDelay (value)",
      "hlcMs (value)",
      "isByteString (value)",
      "isPlainMap (value)",
      "isSafeUint (value)",
      "isText (value)",
      "throwIfAborted (value)",
      "unknownKey (value)",
    ]
  `)
})
