import { signedBytes } from '@araliya/identity'
import { describe, expect, it } from 'vitest'
import { fromHex, readVectors, toHex } from '@araliya/test-support/doc-vectors'
import { ENVELOPE_CONTEXT, InboundPipeline, SeenSet } from './internal.js'
import { senderLimiter } from '../src/rate-limit.js'

const DOC = new URL('../../../docs/protocols/envelope.md', import.meta.url)

interface EnvelopeVector {
  name: string
  chan: string
  from?: string
  hex: string
  action: string
  reason?: string
  maxEnvelopeBytes?: number
}

describe('the envelope vectors published in docs/protocols/envelope.md', () => {
  const { context, vectors } = readVectors<EnvelopeVector>(DOC, 'envelope/v1')
  const { network, now, maxClockSkewMs, maxEnvelopeBytes, signingPrefixHex } = context as Record<
    string,
    string | number
  >

  it('the published signing prefix is the one envelopes are signed with', () => {
    expect(toHex(signedBytes(ENVELOPE_CONTEXT, new Uint8Array(0)))).toBe(signingPrefixHex)
  })

  it('cover every reason steps 1-6 can give', () => {
    const verdicts = new Set(vectors.map((v) => `${v.action} ${v.reason ?? ''}`.trim()))
    for (const verdict of [
      'accept',
      'reject too-large',
      'reject malformed',
      'reject bad-signature',
      'reject sender-mismatch',
      'reject wrong-channel',
      'ignore clock-skew',
      'ignore expired'
    ]) {
      expect(verdicts, verdict).toContain(verdict)
    }
  })

  it.each(vectors.map((v) => [v.name, v] as const))('%s', async (_name, vector) => {
    const clock = () => now as number
    const pipeline = new InboundPipeline({
      network: network as string,
      maxClockSkewMs: maxClockSkewMs as number,
      maxEnvelopeBytes: vector.maxEnvelopeBytes ?? (maxEnvelopeBytes as number),
      seen: new SeenSet({ now: clock }),
      limiter: senderLimiter({ now: clock }),
      now: clock
    })
    const verdict = await pipeline.check(
      fromHex(vector.hex),
      vector.chan,
      vector.from === undefined ? {} : { from: vector.from }
    )
    expect(verdict.action).toBe(vector.action)
    expect(verdict.action === 'accept' ? undefined : verdict.reason).toBe(vector.reason)
  })
})
