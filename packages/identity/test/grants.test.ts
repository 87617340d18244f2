import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  decodeGrant,
  decodeRevocation,
  EncodingError,
  encodeGrant,
  encodeRevocation,
  type Grant,
  GrantError,
  GrantExpiredError,
  GrantRevokedError,
  GrantScopeError,
  GrantSignatureError,
  generateIdentity,
  grantId,
  type Identity,
  issueGrant,
  revokeGrant,
  scopeCoversPath,
  verifyGrant,
  verifyRevocation
} from '../src/index.js'
import { InvalidInputError } from '@araliya/interface'

let owner: Identity
let phone: Identity
let stranger: Identity
let grant: Grant
const NB = 1_700_000_000_000
const EXP = NB + 86_400_000

beforeAll(async () => {
  owner = await generateIdentity()
  phone = await generateIdentity()
  stranger = await generateIdentity()
  grant = await issueGrant(owner, {
    subject: phone.address,
    scope: { pathPrefix: 'memory', rights: ['write', 'delete'] },
    notBefore: NB,
    expiresAt: EXP
  })
})

describe('grants', () => {
  it('verifies inside its scope and window, with rights normalised', async () => {
    expect(grant.scope.rights).toEqual(['delete', 'write'])
    const verdict = await verifyGrant(grant, {
      at: NB,
      path: 'memory/facts/1',
      right: 'write',
      subject: phone.address
    })
    expect(verdict).toEqual({ valid: true, grantId: grantId(grant) })
  })

  it('enforces the time window for every instant (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: NB - 10_000, max: EXP + 10_000 }), async (at) => {
        const verdict = await verifyGrant(grant, { at })
        expect(verdict.valid).toBe(at >= NB && at < EXP)
        if (!verdict.valid) expect(verdict.error).toBeInstanceOf(GrantExpiredError)
      }),
      { numRuns: 100 }
    )
  })

  it('enforces the path scope on segment boundaries (property)', async () => {
    const segment = fc.stringMatching(/^[a-z]{1,4}$/)
    await fc.assert(
      fc.asyncProperty(fc.array(segment, { minLength: 1, maxLength: 4 }), async (segments) => {
        const path = segments.join('/')
        const covered = path === 'memory' || path.startsWith('memory/')
        expect(scopeCoversPath(grant.scope, path)).toBe(covered)
        const verdict = await verifyGrant(grant, { at: NB + 1, path })
        expect(verdict.valid).toBe(covered)
        if (!verdict.valid) expect(verdict.error).toBeInstanceOf(GrantScopeError)
      }),
      { numRuns: 100 }
    )
    expect(scopeCoversPath({ pathPrefix: 'memory', rights: ['write'] }, 'memoryX')).toBe(false)
    expect(scopeCoversPath({ pathPrefix: 'a/', rights: ['write'] }, 'a')).toBe(false)
    expect(scopeCoversPath({ pathPrefix: 'a/', rights: ['write'] }, 'a/b')).toBe(true)
    expect(scopeCoversPath({ pathPrefix: '', rights: ['write'] }, 'anything')).toBe(true)
  })

  it('rejects a right it does not give and a subject it does not name', async () => {
    const right = await verifyGrant(grant, { at: NB, right: 'grant' })
    expect(right.valid === false && right.reason).toBe('scope')
    const subject = await verifyGrant(grant, { at: NB, subject: stranger.address })
    expect(subject.valid === false && subject.reason).toBe('subject')
  })

  it('rejects any tampered field', async () => {
    const tampered: Grant[] = [
      { ...grant, subject: stranger.address },
      { ...grant, expiresAt: grant.expiresAt + 1 },
      { ...grant, notBefore: grant.notBefore - 1 },
      { ...grant, scope: { ...grant.scope, pathPrefix: '' } },
      { ...grant, scope: { ...grant.scope, rights: ['delete', 'grant', 'write'] } },
      { ...grant, issuer: stranger.address },
      { ...grant, nonce: new Uint8Array(16) },
      { ...grant, signature: grant.signature.map((b, i) => (i === 5 ? b ^ 1 : b)) }
    ]
    for (const bad of tampered) {
      const verdict = await verifyGrant(bad, { at: NB })
      expect(verdict.valid).toBe(false)
      if (!verdict.valid) expect(verdict.error).toBeInstanceOf(GrantSignatureError)
    }
  })

  it('refuses to issue malformed grants', async () => {
    await expect(
      issueGrant(owner, { subject: 'nobody', scope: { pathPrefix: '', rights: ['write'] }, expiresAt: EXP })
    ).rejects.toThrowError(GrantError)
    await expect(
      issueGrant(owner, { subject: phone.address, scope: { pathPrefix: '', rights: [] }, expiresAt: EXP })
    ).rejects.toThrowError(/no rights/)
    await expect(
      issueGrant(owner, {
        subject: phone.address,
        scope: { pathPrefix: '', rights: ['write'] },
        notBefore: EXP,
        expiresAt: NB
      })
    ).rejects.toThrowError(/after notBefore/)
  })

  it('round-trips through canonical CBOR; garbage is a typed error', async () => {
    const again = decodeGrant(encodeGrant(grant))
    expect(grantId(again)).toBe(grantId(grant))
    expect((await verifyGrant(again, { at: NB })).valid).toBe(true)
    await fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        expect(() => decodeGrant(bytes)).toThrowError(InvalidInputError)
      })
    )
    expect(() => decodeGrant(new Uint8Array(5000))).toThrowError(/over the limit/)
  })
})

describe('revocations', () => {
  it('voids the grant from revokedAt on, not before', async () => {
    const revocation = await revokeGrant(owner, grant, { revokedAt: NB + 1000 })
    expect(await verifyRevocation(revocation)).toBe(true)
    expect((await verifyGrant(grant, { at: NB + 999, revocations: [revocation] })).valid).toBe(true)
    const after = await verifyGrant(grant, { at: NB + 1000, revocations: [revocation] })
    expect(after.valid).toBe(false)
    if (!after.valid) expect(after.error).toBeInstanceOf(GrantRevokedError)
    expect(decodeRevocation(encodeRevocation(revocation))).toEqual({
      ...revocation,
      kind: 'grant-revocation'
    })
  })

  it('a revocation by anyone but the issuer is ignored or refused', async () => {
    await expect(revokeGrant(stranger, grant)).rejects.toThrowError(GrantError)
    const forged = await revokeGrant(stranger, grantId(grant), { revokedAt: NB })
    expect((await verifyGrant(grant, { at: NB + 5, revocations: [forged] })).valid).toBe(true)
    const relabelled = { ...forged, issuer: owner.address }
    expect(await verifyRevocation(relabelled)).toBe(false)
    expect((await verifyGrant(grant, { at: NB + 5, revocations: [relabelled] })).valid).toBe(true)
  })

  it('decoding garbage revocations is a typed error', () => {
    expect(() => decodeRevocation(new Uint8Array([0xa0]))).toThrowError(EncodingError)
  })
})
