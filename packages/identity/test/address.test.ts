import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  addressFromPublicKey,
  identityFromSeed,
  InvalidAddressError,
  GrantError,
  InvalidKeyError,
  issueGrant,
  verifyGrant,
  isAddress,
  publicIdentity,
  publicKeyFromAddress,
  verify
} from '../src/index.js'
import { lookAlikeAddresses, peerIdString, replaceAt, secondSpellings } from '@araliya/test-support/addresses'

const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'

function reasonOf(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (err) {
    return InvalidAddressError.isInstance(err) ? err.reason : `not an InvalidAddressError: ${String(err)}`
  }
  return undefined
}

const me = await identityFromSeed(new Uint8Array(32).fill(7))
const key = Array.from(me.publicKey)

describe('addresses are canonical: one key, one spelling', () => {
  it('the canonical address of a key is accepted and gives the key back', () => {
    expect(me.address).toBe('12D3KooWRawPbxPtP1eZaJpumGnyWX2DcUyd3RQnydr3eAto4Az7')
    expect(isAddress(me.address)).toBe(true)
    expect(publicKeyFromAddress(me.address)).toEqual(me.publicKey)
    expect(publicKeyFromAddress(me.address)).toEqual(me.publicKey)
  })

  it('refuses look-alike characters (Cyrillic, fullwidth, Greek) in place of base58 ones', async () => {
    const lookAlikes = [
      ...Object.values(lookAlikeAddresses(me.address)),
      replaceAt(me.address, 20, '\u043e'), // Cyrillic o
      replaceAt(me.address, 30, '\u0391') // Greek Alpha
    ]
    for (const s of lookAlikes) {
      expect(isAddress(s), s).toBe(false)
      expect(
        reasonOf(() => publicKeyFromAddress(s)),
        s
      ).toBe('non-ascii')
      expect(() => publicKeyFromAddress(s)).toThrowError(InvalidKeyError)
      expect(await verify(s, 'x/v1', new Uint8Array(1), new Uint8Array(64))).toBe(false)
    }
  })

  it('two different non-ASCII spellings never decode to one key', () => {
    const at = me.address.length - 3
    const cyrillic = replaceAt(me.address, at, '\u043e')
    const fullwidth = replaceAt(me.address, at, '\uff2b')
    expect(cyrillic).not.toBe(fullwidth)
    expect(isAddress(cyrillic)).toBe(false)
    expect(isAddress(fullwidth)).toBe(false)
  })

  it('refuses a second ASCII spelling of the same key (reordered, repeated or extra protobuf fields)', () => {
    expect(peerIdString([0x08, 0x01, 0x12, 0x20, ...key])).toBe(me.address)
    for (const [name, s] of Object.entries(secondSpellings(me.publicKey))) {
      expect(s, name).not.toBe(me.address)
      expect(isAddress(s), name).toBe(false)
      expect(
        reasonOf(() => publicKeyFromAddress(s)),
        name
      ).toBe('not-canonical')
    }
  })

  it('refuses the CIDv1 (base32 "bafz…") spelling of a PeerId', async () => {
    const cid = me.peerId.toCID().toString()
    expect(cid.startsWith('bafz')).toBe(true)
    expect(isAddress(cid)).toBe(false)
    // base32 may or may not use letters outside base58btc; either way it is not the address.
    expect(['not-base58btc', 'not-canonical']).toContain(reasonOf(() => publicKeyFromAddress(cid)))
    // A key whose CID happens to be all base58btc letters (base32 only adds "l") is still refused.
    for (let i = 0; ; i++) {
      const other = await identityFromSeed(new Uint8Array(32).fill(i))
      const otherCid = other.peerId.toCID().toString()
      if (otherCid.includes('l')) continue
      expect(reasonOf(() => publicKeyFromAddress(otherCid))).toBe('not-canonical')
      break
    }
  })

  it('names what is wrong with other strings', () => {
    expect(reasonOf(() => publicKeyFromAddress(42 as unknown as string))).toBe('not-a-string')
    expect(reasonOf(() => publicKeyFromAddress(''))).toBe('length')
    expect(reasonOf(() => publicKeyFromAddress(me.address.repeat(3)))).toBe('length')
    expect(reasonOf(() => publicKeyFromAddress(`${me.address} `))).toBe('not-base58btc')
    expect(reasonOf(() => publicKeyFromAddress(replaceAt(me.address, 10, '0')))).toBe('not-base58btc')
    expect(reasonOf(() => publicKeyFromAddress(`1${me.address}`))).toBe('not-a-peer-id')
    expect(reasonOf(() => publicKeyFromAddress('QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N'))).toBe(
      'not-ed25519'
    )
    expect(() => publicIdentity(replaceAt(me.address, 51, '\u0437'))).toThrowError(InvalidAddressError)
  })

  it('every accepted string is the canonical address of its key (property)', async () => {
    const candidates = fc.oneof(
      // a real address with one character replaced by anything, including look-alikes
      fc
        .tuple(
          fc.nat({ max: me.address.length - 1 }),
          fc.oneof(fc.constantFrom(...BASE58), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }))
        )
        .map(([i, ch]) => replaceAt(me.address, i, ch)),
      // an identity multihash around arbitrary protobuf-ish bytes that embed the key
      fc
        .tuple(fc.uint8Array({ maxLength: 4 }), fc.uint8Array({ maxLength: 4 }))
        .map(([before, after]) => peerIdString([...before, 0x08, 0x01, 0x12, 0x20, ...key, ...after])),
      fc.string({ unit: 'binary', maxLength: 60 })
    )
    fc.assert(
      fc.property(candidates, (s) => {
        if (!isAddress(s)) return
        expect(addressFromPublicKey(publicKeyFromAddress(s))).toBe(s)
        expect(s).toMatch(/^[1-9A-HJ-NP-Za-km-z]+$/)
      }),
      { numRuns: 2000 }
    )
  })
})

describe('grants refuse non-canonical addresses', () => {
  it('a grant to, or from, a look-alike or second spelling is refused', async () => {
    const owner = await identityFromSeed(new Uint8Array(32).fill(1))
    const bad = [
      ...Object.values(lookAlikeAddresses(me.address)),
      ...Object.values(secondSpellings(me.publicKey))
    ]
    for (const subject of bad) {
      await expect(
        issueGrant(owner, { subject, scope: { pathPrefix: '', rights: ['write'] }, expiresAt: 2e12 }),
        subject
      ).rejects.toThrowError(GrantError)
      // a grant the issuer did sign for such a subject (bypassing issueGrant) is malformed everywhere
      const good = await issueGrant(owner, {
        subject: me.address,
        scope: { pathPrefix: '', rights: ['write'] },
        expiresAt: 2e12
      })
      const verdict = await verifyGrant({ ...good, subject }, { at: 1e12 })
      expect(verdict.valid ? 'valid' : verdict.reason, subject).toBe('malformed')
    }
    for (const issuer of Object.values(secondSpellings(owner.publicKey))) {
      const good = await issueGrant(owner, {
        subject: me.address,
        scope: { pathPrefix: '', rights: ['write'] },
        expiresAt: 2e12
      })
      const verdict = await verifyGrant({ ...good, issuer }, { at: 1e12 })
      expect(verdict.valid ? 'valid' : verdict.reason, issuer).toBe('malformed')
    }
  })
})
