import { GrantError } from '@araliya/identity'
import { describe, expect, it } from 'vitest'
import { COMMIT_CONTEXT, encodeCommitBody, makeEnvelope } from '../src/commit.js'
import { CommitFormatError, InvalidGraphInputError, link, parseSoul } from '../src/index.js'
import { decodeCommit } from '../src/commit.js'
import { lookAlikeAddresses, secondSpellings } from '@araliya/test-support/addresses'
import { startGraph, testIdentity } from './helpers.js'

describe('spaces, souls and authors are canonical addresses', () => {
  it('a commit whose space or author is a second spelling of its signer is refused', async () => {
    const [me, writer] = [await testIdentity(90), await testIdentity(91)]
    const graph = await startGraph(me)
    for (const [name, spelling] of Object.entries(secondSpellings(writer.publicKey))) {
      for (const [space, author] of [
        [spelling, spelling], // a second "own space" of the same key
        [writer.address, spelling] // a second author chain of the same key in its own space
      ] as const) {
        const body = encodeCommitBody({
          space,
          author,
          seq: 1,
          prev: null,
          clock: 1,
          dep: 0,
          ops: [['p', 'f', 0, 1]]
        })
        const envelope = makeEnvelope(await writer.sign(COMMIT_CONTEXT, body), body)
        expect(() => decodeCommit(envelope), name).toThrowError(CommitFormatError)
        const result = await graph.ingest([envelope])
        expect(result.accepted, name).toBe(0)
        expect(result.rejected[0]?.error, name).toBeInstanceOf(CommitFormatError)
      }
    }
    expect([...graph.souls()]).toEqual([])
    await graph.stop()
  })

  it('souls and links naming a look-alike or second-spelling owner are refused', async () => {
    const me = await testIdentity(92)
    const graph = await startGraph(me)
    const owners = [
      ...Object.values(lookAlikeAddresses(me.address)),
      ...Object.values(secondSpellings(me.publicKey))
    ]
    for (const owner of owners) {
      expect(() => parseSoul(`${owner}/notes/1`), owner).toThrowError(InvalidGraphInputError)
      await expect(graph.put(`${owner}/notes/1`, { v: 1 }), owner).rejects.toThrowError(
        InvalidGraphInputError
      )
      await expect(
        graph.put(`${me.address}/notes/1`, { next: link(`${owner}/notes/2`) }),
        owner
      ).rejects.toThrowError(InvalidGraphInputError)
      await expect(
        graph.grant(owner, { pathPrefix: '', rights: ['write'] }, { expiresAt: Date.now() + 60_000 }),
        owner
      ).rejects.toThrowError(GrantError)
    }
    expect([...graph.souls()]).toEqual([])
    await graph.stop()
  })
})
