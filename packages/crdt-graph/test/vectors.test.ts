import { identityFromSeed, signedBytes } from '@araliya/identity'
import { describe, expect, it } from 'vitest'
import { readVectors, toHex } from '@araliya/test-support/doc-vectors'
import { COMMIT_CONTEXT } from '../src/index.js'
import { type CommitVector, type CommitVectorContext, judgeCommit } from './vectors-verdict.ts'

const DOC = new URL('../../../docs/protocols/graph-sync.md', import.meta.url)

describe('the commit vectors published in docs/protocols/graph-sync.md', () => {
  const { context, vectors } = readVectors<CommitVector>(DOC, 'graph-commit/v1')
  const shared = context as unknown as CommitVectorContext & { signingPrefixHex: string }

  it('the published signing prefix is the one commits are signed with', () => {
    expect(toHex(signedBytes(COMMIT_CONTEXT, new Uint8Array(0)))).toBe(shared.signingPrefixHex)
  })

  it('cover acceptance and every refusal of the format and the acceptance rules', () => {
    const verdicts = new Set(vectors.map((v) => v.verdict))
    for (const verdict of [
      'accept',
      'CommitFormatError',
      'TooLargeError',
      'InvalidSignatureError',
      'BackdatedCommitError',
      'ClockSkewError',
      'UnauthorizedWriteError'
    ]) {
      expect(verdicts, verdict).toContain(verdict)
    }
  })

  it.each(vectors.map((v) => [v.name, v] as const))('%s', async (_name, vector) => {
    const receiver = await identityFromSeed(new Uint8Array(32).fill(3))
    const { verdict, id } = await judgeCommit(vector, shared, receiver)
    expect(verdict).toBe(vector.verdict)
    expect(id).toBe(vector.id)
  })
})
