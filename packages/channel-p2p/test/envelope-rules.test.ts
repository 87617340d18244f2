import { encodeCanonical, type Identity, identityFromSeed } from '@araliya/identity'
import { describe, expect, it } from 'vitest'
import { lookAlikeAddresses, secondSpellings } from '@araliya/test-support/addresses'
import { senderLimiter } from '../src/rate-limit.js'
import {
  CBOR_CONTENT,
  decodeEnvelope,
  ENVELOPE_CONTEXT,
  EnvelopeRejectedError,
  InboundPipeline,
  SEALED_CONTENT,
  SeenSet,
  signEnvelope
} from './internal.js'

const NET = 'test-net'
const NOW = 1_800_000_000_000
const alice = await identityFromSeed(new Uint8Array(32).fill(21))
const bob = await identityFromSeed(new Uint8Array(32).fill(22))

/** Signs any field map as-is, the way an implementation written from the docs (or a hostile one) could. */
async function envelopeBytes(
  overrides: Record<string, unknown> = {},
  signer: Identity = alice
): Promise<Uint8Array> {
  const fields: Record<string, unknown> = {
    v: 1,
    net: NET,
    chan: 'agent-messages',
    from: alice.address,
    id: new Uint8Array(16).fill(1),
    hlc: NOW * 1024,
    ttl: 60_000,
    topic: 'agents/hello',
    ct: CBOR_CONTENT,
    body: new Uint8Array([0xa1, 0x61, 0x61, 0x01]),
    ...overrides
  }
  for (const [key, value] of Object.entries(fields)) if (value === undefined) delete fields[key]
  const sig = await signer.sign(ENVELOPE_CONTEXT, encodeCanonical(fields as never))
  return encodeCanonical({ ...fields, sig } as never)
}

async function verdict(bytes: Uint8Array, from?: string): Promise<string> {
  const now = () => NOW
  const pipeline = new InboundPipeline({
    network: NET,
    seen: new SeenSet({ now }),
    limiter: senderLimiter({ now, burst: 1000, ratePerSecond: 1 }),
    now
  })
  const result = await pipeline.check(bytes, 'agent-messages', { from })
  return result.action === 'accept' ? 'accept' : `${result.action} ${result.reason}`
}

function decodeReason(bytes: Uint8Array): string {
  try {
    decodeEnvelope(bytes)
    return 'decoded'
  } catch (err) {
    return EnvelopeRejectedError.isInstance(err) ? err.reason : String(err)
  }
}

describe('envelope rules the docs state', () => {
  it('accepts the documented shape, sealed or not', async () => {
    expect(await verdict(await envelopeBytes(), alice.address)).toBe('accept')
    expect(await verdict(await envelopeBytes({ ct: SEALED_CONTENT, to: bob.address }))).toBe('accept')
  })

  it('a content type other than the two of version 1 is malformed at decoding', async () => {
    for (const ct of ['text/plain', 'application/json', 'application/CBOR', 'application/cbor; x=1']) {
      const bytes = await envelopeBytes({ ct })
      expect(decodeReason(bytes), ct).toBe('malformed')
      expect(await verdict(bytes), ct).toBe('reject malformed')
    }
  })

  it('text limits count UTF-8 bytes', async () => {
    expect(await verdict(await envelopeBytes({ topic: 'a'.repeat(256) }))).toBe('accept')
    expect(await verdict(await envelopeBytes({ topic: 'a'.repeat(257) }))).toBe('reject malformed')
    // 128 two-byte characters: 128 code points, 256 bytes (fits); 129 of them do not
    expect(await verdict(await envelopeBytes({ topic: '\u00e9'.repeat(128) }))).toBe('accept')
    expect(await verdict(await envelopeBytes({ topic: '\u00e9'.repeat(129) }))).toBe('reject malformed')
    // 200 code points of a three-byte character: 600 bytes
    expect(await verdict(await envelopeBytes({ topic: '\u20ac'.repeat(200) }))).toBe('reject malformed')
  })

  it('from and to must be canonical addresses: look-alikes and second spellings are malformed', async () => {
    for (const [name, spelling] of Object.entries(secondSpellings(alice.publicKey))) {
      // signed by the very key the spelling decodes to, and no transport sender to compare with
      expect(await verdict(await envelopeBytes({ from: spelling })), name).toBe('reject malformed')
    }
    for (const [name, lookAlike] of Object.entries(lookAlikeAddresses(bob.address))) {
      expect(await verdict(await envelopeBytes({ to: lookAlike })), name).toBe('reject malformed')
    }
  })

  it('missing fields, v other than 1 and integers above 2^53-1 are malformed', async () => {
    expect(await verdict(await envelopeBytes({ topic: undefined }))).toBe('reject malformed')
    expect(await verdict(await envelopeBytes({ v: 2 }))).toBe('reject malformed')
    expect(await verdict(await envelopeBytes({ hlc: 2 ** 53 }))).toBe('reject malformed')
    // the largest stamp that is still an integer of the format is judged by the clock instead
    expect(await verdict(await envelopeBytes({ hlc: 2 ** 53 - 1 }))).toBe('ignore clock-skew')
  })
})

describe('envelopes we would refuse are never sent', () => {
  it('signEnvelope refuses what every receiver would reject as malformed', async () => {
    const unsigned = {
      net: NET,
      chan: 'agent-messages',
      from: alice.address,
      id: new Uint8Array(16),
      hlc: NOW * 1024,
      ttl: 60_000,
      topic: 'agents/hello',
      ct: CBOR_CONTENT,
      body: new Uint8Array([0xf6])
    }
    await expect(signEnvelope(alice, unsigned)).resolves.toBeDefined()
    for (const bad of [
      { to: Object.values(lookAlikeAddresses(bob.address))[0] as string },
      { to: Object.values(secondSpellings(bob.publicKey))[0] as string },
      { topic: '\u20ac'.repeat(100) },
      { ct: 'text/plain' },
      { ttl: 0 }
    ]) {
      const error = await signEnvelope(alice, { ...unsigned, ...bad }).then(
        () => undefined,
        (err: unknown) => err
      )
      expect(EnvelopeRejectedError.isInstance(error), JSON.stringify(bad)).toBe(true)
      expect((error as EnvelopeRejectedError).reason).toBe('malformed')
    }
  })
})
