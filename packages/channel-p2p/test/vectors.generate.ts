/**
 * Regenerates the test vectors published in docs/protocols/envelope.md from fixed keys and a fixed clock:
 * `pnpm exec tsx --conditions=@araliya/source test/vectors.generate.ts` (from packages/channel-p2p).
 * Each verdict is what our inbound pipeline says today, so review the diff: a verdict that changes is a
 * protocol change and needs the doc's text changed too.
 */
import { type CanonicalValue, encodeCanonical, identityFromSeed, signedBytes } from '@araliya/identity'
import { lookAlikeAddresses, secondSpellings } from '@araliya/test-support/addresses'
import { patch, present, toHex, writeVectors } from '@araliya/test-support/doc-vectors'
import { CBOR_CONTENT, ENVELOPE_CONTEXT, InboundPipeline, SEALED_CONTENT, SeenSet } from './internal.js'
import { senderLimiter } from '../src/rate-limit.js'

const DOC = new URL('../../../docs/protocols/envelope.md', import.meta.url)

const NETWORK = 'main'
const NOW = 1_750_000_000_000
const SKEW = 60_000
const alice = await identityFromSeed(new Uint8Array(32).fill(1))
const bob = await identityFromSeed(new Uint8Array(32).fill(2))
/** 2^53-2 as CBOR (a uint64), and 2^53: the first integer the decoder refuses (`encodeCanonical` never writes it). */
const BELOW_SAFE = [0x1b, 0x00, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]
const ABOVE_SAFE = [0x1b, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]

type Fields = Record<string, CanonicalValue | undefined>

const base: Fields = {
  v: 1,
  net: NETWORK,
  chan: 'agent-messages',
  from: alice.address,
  id: new Uint8Array(16).fill(0xa1),
  hlc: NOW * 1024 + 5,
  ttl: 300_000,
  topic: 'agents/hello',
  ct: CBOR_CONTENT,
  body: encodeCanonical({ text: 'hello swarm' })
}

interface EnvelopeInit {
  fields?: Fields
  signer?: typeof alice | null
  sig?: CanonicalValue
  context?: string
  patchBytes?: [readonly number[], readonly number[]]
  tamper?: Fields
}

async function envelope(init: EnvelopeInit = {}): Promise<Uint8Array> {
  const body = present({ ...base, ...init.fields })
  let bodyBytes = encodeCanonical(body)
  if (init.patchBytes !== undefined) bodyBytes = patch(bodyBytes, ...init.patchBytes)
  const signer = init.signer === undefined ? alice : init.signer
  const sig =
    init.sig ?? (signer === null ? undefined : await signer.sign(init.context ?? ENVELOPE_CONTEXT, bodyBytes))
  let bytes = encodeCanonical(present({ ...body, ...init.tamper, sig }))
  if (init.patchBytes !== undefined) bytes = patch(bytes, ...init.patchBytes)
  return bytes
}

const [aliceReordered] = Object.values(secondSpellings(alice.publicKey)) as [string]
const [bobLookAlike] = Object.values(lookAlikeAddresses(bob.address)) as [string]

interface Case {
  name: string
  bytes: Uint8Array
  /** The channel it arrived on. Default `agent-messages`. */
  chan?: string
  /** The transport's sender (gossip publisher or stream peer); `null` for none. Default alice. */
  from?: string | null
  maxEnvelopeBytes?: number
}

const cases: Case[] = [
  { name: 'valid: gossip', bytes: await envelope() },
  { name: 'valid: no transport sender to compare with', bytes: await envelope(), from: null },
  {
    name: 'valid: direct, to bob',
    chan: 'direct',
    bytes: await envelope({ fields: { chan: 'direct', to: bob.address } })
  },
  {
    name: 'valid: sealed to bob (steps 1-6 only; opening is step 7)',
    bytes: await envelope({
      fields: { to: bob.address, ct: SEALED_CONTENT, body: new Uint8Array(48).fill(7) }
    })
  },
  {
    name: 'valid: a topic of 128 two-byte characters (256 bytes)',
    bytes: await envelope({ fields: { topic: '\u00e9'.repeat(128) } })
  },
  { name: 'valid: ttl of 24 h, the longest', bytes: await envelope({ fields: { ttl: 86_400_000 } }) },
  {
    name: 'too large for a 64-byte limit (size is checked before decoding)',
    bytes: await envelope(),
    maxEnvelopeBytes: 64
  },
  { name: 'not CBOR', bytes: Uint8Array.of(0xff, 0x00) },
  {
    name: 'not canonical: v written as a two-byte integer',
    bytes: await envelope({
      patchBytes: [
        [0x61, 0x76, 0x01],
        [0x61, 0x76, 0x18, 0x01]
      ]
    })
  },
  { name: 'nested deeper than 2', bytes: await envelope({ fields: { topic: [['agents/hello']] } }) },
  { name: 'an unknown field', bytes: await envelope({ fields: { prio: 1 } }) },
  { name: 'v is 2', bytes: await envelope({ fields: { v: 2 } }) },
  { name: 'a field is missing (topic)', bytes: await envelope({ fields: { topic: undefined } }) },
  { name: 'sig is missing', bytes: await envelope({ signer: null }) },
  { name: 'sig is 63 bytes', bytes: await envelope({ sig: new Uint8Array(63) }) },
  {
    name: 'from is a second spelling of the signing key',
    bytes: await envelope({ fields: { from: aliceReordered } }),
    from: null
  },
  {
    name: 'from is an RSA PeerId',
    bytes: await envelope({ fields: { from: 'QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N' } }),
    from: null
  },
  { name: "to is a look-alike of bob's address", bytes: await envelope({ fields: { to: bobLookAlike } }) },
  { name: 'an unknown content type', bytes: await envelope({ fields: { ct: 'text/plain' } }) },
  {
    name: 'a topic of 129 two-byte characters (258 bytes)',
    bytes: await envelope({ fields: { topic: '\u00e9'.repeat(129) } })
  },
  { name: 'an empty topic', bytes: await envelope({ fields: { topic: '' } }) },
  { name: 'net of 129 bytes', bytes: await envelope({ fields: { net: 'n'.repeat(129) } }) },
  { name: 'id of 15 bytes', bytes: await envelope({ fields: { id: new Uint8Array(15) } }) },
  { name: 'ttl of 0', bytes: await envelope({ fields: { ttl: 0 } }) },
  { name: 'ttl over 24 h', bytes: await envelope({ fields: { ttl: 86_400_001 } }) },
  { name: 'hlc is negative', bytes: await envelope({ fields: { hlc: -1 } }) },
  {
    name: 'hlc is 2^53, above 2^53-1',
    bytes: await envelope({ fields: { hlc: 2 ** 53 - 2 }, patchBytes: [BELOW_SAFE, ABOVE_SAFE] })
  },
  { name: 'signed by bob, not by from', bytes: await envelope({ signer: bob }) },
  { name: 'topic changed after signing', bytes: await envelope({ tamper: { topic: 'agents/other' } }) },
  {
    name: 'signed under another context (araliya/presence/v1)',
    bytes: await envelope({ context: 'araliya/presence/v1' })
  },
  {
    name: 'signed by bob and for another network: the signature is checked first',
    bytes: await envelope({ signer: bob, fields: { net: 'other' } })
  },
  { name: 'published by bob, signed by alice', bytes: await envelope(), from: bob.address },
  { name: 'for another network', bytes: await envelope({ fields: { net: 'other' } }) },
  {
    name: 'signed for direct, arrived on agent-messages',
    bytes: await envelope({ fields: { chan: 'direct', to: bob.address } })
  },
  {
    name: 'stamped exactly maxClockSkewMs ahead',
    bytes: await envelope({ fields: { hlc: (NOW + SKEW) * 1024 } })
  },
  {
    name: 'stamped maxClockSkewMs + 1 ms ahead',
    bytes: await envelope({ fields: { hlc: (NOW + SKEW + 1) * 1024 } })
  },
  {
    name: 'hlc is 2^53-1: a stamp far ahead, not malformed',
    bytes: await envelope({ fields: { hlc: 2 ** 53 - 1 } })
  },
  { name: 'stamp + ttl is exactly now', bytes: await envelope({ fields: { hlc: (NOW - 300_000) * 1024 } }) },
  {
    name: 'stamp + ttl is 1 ms after now',
    bytes: await envelope({ fields: { hlc: (NOW - 300_000) * 1024, ttl: 300_001 } })
  }
]

const vectors = []
for (const c of cases) {
  const now = () => NOW
  const pipeline = new InboundPipeline({
    network: NETWORK,
    maxClockSkewMs: SKEW,
    maxEnvelopeBytes: c.maxEnvelopeBytes,
    seen: new SeenSet({ now }),
    limiter: senderLimiter({ now }),
    now
  })
  const chan = c.chan ?? 'agent-messages'
  const from = c.from === undefined ? alice.address : c.from
  const verdict = await pipeline.check(c.bytes, chan, from === null ? {} : { from })
  vectors.push({
    name: c.name,
    chan,
    ...(from === null ? {} : { from }),
    ...(c.maxEnvelopeBytes === undefined ? {} : { maxEnvelopeBytes: c.maxEnvelopeBytes }),
    hex: toHex(c.bytes),
    action: verdict.action,
    ...(verdict.action === 'accept' ? {} : { reason: verdict.reason })
  })
}
writeVectors(DOC, {
  kind: 'envelope/v1',
  context: {
    network: NETWORK,
    now: NOW,
    maxClockSkewMs: SKEW,
    maxEnvelopeBytes: 65_536,
    signingPrefixHex: toHex(signedBytes(ENVELOPE_CONTEXT, new Uint8Array(0))),
    seeds: { alice: '01 x 32', bob: '02 x 32' },
    alice: alice.address,
    bob: bob.address
  },
  vectors
})
console.log(`wrote ${vectors.length} envelope vectors`)
