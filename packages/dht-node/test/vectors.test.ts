import { signedBytes } from '@araliya/identity'
import { describe, expect, it } from 'vitest'
import { fromHex, readVectors, toHex } from '@araliya/test-support/doc-vectors'
import { InvalidRecordError } from '../src/errors.ts'
import { PRESENCE_CONTEXT, validatePresenceRecord } from '../src/presence.ts'
import { checkNodeStatus } from '../src/status.ts'

const PRESENCE_DOC = new URL('../../../docs/protocols/presence.md', import.meta.url)
const STATUS_DOC = new URL('../../../docs/protocols/node-status.md', import.meta.url)

interface PresenceVector {
  name: string
  key: string
  hex: string
  verdict: string
  maxRecordBytes?: number
}

interface StatusVector {
  name: string
  signer: string
  hex: string
  action: string
  reason?: string
}

describe('the presence-record vectors published in docs/protocols/presence.md', () => {
  const { context, vectors } = readVectors<PresenceVector>(PRESENCE_DOC, 'presence-record/v1')
  const { now, maxRecordBytes, maxRecordTtlMs, signingPrefixHex } = context as Record<string, number | string>

  it('the published signing prefix is the one records are signed with', () => {
    expect(toHex(signedBytes(PRESENCE_CONTEXT, new Uint8Array(0)))).toBe(signingPrefixHex)
  })

  it('cover every reason a record can be refused for without server state', () => {
    const verdicts = new Set(vectors.map((v) => v.verdict))
    for (const reason of [
      'valid',
      'too-large',
      'malformed',
      'unsigned',
      'key-mismatch',
      'expired',
      'expiry-too-far',
      'bad-signature'
    ]) {
      expect(verdicts, reason).toContain(reason)
    }
  })

  it.each(vectors.map((v) => [v.name, v] as const))('%s', async (_name, vector) => {
    let verdict = 'valid'
    try {
      await validatePresenceRecord(vector.key, fromHex(vector.hex), {
        now: now as number,
        maxRecordBytes: vector.maxRecordBytes ?? (maxRecordBytes as number),
        maxRecordTtlMs: maxRecordTtlMs as number
      })
    } catch (err) {
      if (!InvalidRecordError.isInstance(err)) throw err
      verdict = err.reason
    }
    expect(verdict).toBe(vector.verdict)
  })
})

describe('the node-status vectors published in docs/protocols/node-status.md', () => {
  const { vectors } = readVectors<StatusVector>(STATUS_DOC, 'node-status/v1')

  it('cover every verdict', () => {
    const verdicts = new Set(vectors.map((v) => `${v.action} ${v.reason ?? ''}`.trim()))
    for (const verdict of ['accept', 'reject signer-mismatch', 'foreign malformed']) {
      expect(verdicts, verdict).toContain(verdict)
    }
  })

  it.each(vectors.map((v) => [v.name, v] as const))('%s', (_name, vector) => {
    const verdict = checkNodeStatus(fromHex(vector.hex), vector.signer)
    expect(verdict.action).toBe(vector.action)
    expect(verdict.action === 'accept' ? undefined : verdict.reason).toBe(vector.reason)
  })
})
