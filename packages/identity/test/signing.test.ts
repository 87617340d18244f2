import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import * as ed from '@noble/ed25519'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  addressFromPublicKey,
  ed25519Backend,
  generateIdentity,
  identityFromLibp2pKey,
  identityFromSeed,
  InvalidContextError,
  InvalidKeyError,
  publicKeyFromAddress,
  signedBytes,
  verify,
  verifyBatch,
  verifySync
} from '../src/index.js'
import { nobleEd25519 } from '../src/platform/noble.js'

const context = fc.stringMatching(/^[\x21-\x7e]{1,40}$/)
const message = fc.uint8Array({ minLength: 0, maxLength: 512 })
const seed = fc.uint8Array({ minLength: 32, maxLength: 32 })

describe('sign and verify', () => {
  it('round-trips for any seed, context and message', async () => {
    await fc.assert(
      fc.asyncProperty(seed, context, message, async (s, ctx, msg) => {
        const id = await identityFromSeed(s)
        const sig = await id.sign(ctx, msg)
        expect(sig.byteLength).toBe(64)
        expect(await verify(id.address, ctx, msg, sig)).toBe(true)
        expect(await verify(id.publicKey, ctx, msg, sig)).toBe(true)
        expect(await id.verify(ctx, msg, sig)).toBe(true)
      }),
      { numRuns: 60 }
    )
  })

  it('rejects a signature after any single byte of message, signature or key is flipped', async () => {
    const id = await generateIdentity()
    await fc.assert(
      fc.asyncProperty(
        context,
        message.filter((m) => m.byteLength > 0),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        async (ctx, msg, at, xor) => {
          const sig = await id.sign(ctx, msg)
          const badMsg = Uint8Array.from(msg)
          badMsg[at % msg.byteLength] = (badMsg[at % msg.byteLength] as number) ^ xor
          expect(await verify(id.address, ctx, badMsg, sig)).toBe(false)
          const badSig = Uint8Array.from(sig)
          badSig[at % 64] = (badSig[at % 64] as number) ^ xor
          expect(await verify(id.address, ctx, msg, badSig)).toBe(false)
          const badKey = Uint8Array.from(id.publicKey)
          badKey[at % 32] = (badKey[at % 32] as number) ^ xor
          expect(await verify(badKey, ctx, msg, sig)).toBe(false)
        }
      ),
      { numRuns: 100 }
    )
  })

  it('binds every signature to its context: flipping any context character is rejected', async () => {
    const id = await generateIdentity()
    await fc.assert(
      fc.asyncProperty(context, message, fc.nat(), async (ctx, msg, at) => {
        const sig = await id.sign(ctx, msg)
        const i = at % ctx.length
        const code = ctx.charCodeAt(i)
        const other =
          ctx.slice(0, i) + String.fromCharCode(code === 0x7e ? 0x21 : code + 1) + ctx.slice(i + 1)
        expect(await verify(id.address, other, msg, sig)).toBe(false)
        expect(await verify(id.address, `${ctx}x`, msg, sig)).toBe(false)
      }),
      { numRuns: 100 }
    )
  })

  it('never lets (context, message) pairs collide by moving bytes across the boundary', async () => {
    const id = await generateIdentity()
    const enc = new TextEncoder()
    const sig = await id.sign('ab', enc.encode('c'))
    expect(await verify(id.address, 'a', enc.encode('bc'), sig)).toBe(false)
    expect(signedBytes('ab', enc.encode('c'))).not.toEqual(signedBytes('a', enc.encode('bc')))
  })

  it('rejects malformed contexts with a typed error', async () => {
    const id = await generateIdentity()
    for (const bad of ['', 'has space', 'x'.repeat(256), 'tab\t', 'ünïcode']) {
      await expect(id.sign(bad, new Uint8Array())).rejects.toThrowError(InvalidContextError)
    }
  })

  it('returns false, never throws, for missing, short, long or garbage signatures and keys', async () => {
    const id = await generateIdentity()
    const msg = new Uint8Array([1, 2, 3])
    const sig = await id.sign('t/v1', msg)
    const cases: Array<[string | Uint8Array, unknown]> = [
      [id.address, new Uint8Array(0)],
      [id.address, sig.subarray(0, 63)],
      [id.address, new Uint8Array([...sig, 0])],
      [id.address, undefined],
      [id.address, 'not bytes'],
      [new Uint8Array(31), sig],
      [new Uint8Array(33), sig],
      [new Uint8Array(32).fill(0xff), sig],
      ['not-an-address', sig],
      ['', sig],
      ['QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N', sig]
    ]
    for (const [signer, signature] of cases) {
      expect(await verify(signer, 't/v1', msg, signature as Uint8Array)).toBe(false)
    }
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 80 }), fc.uint8Array({ maxLength: 80 }), async (key, s) => {
        expect(await verify(key, 't/v1', msg, s)).toBe(false)
      })
    )
  })
})

describe('verifySync and verifyBatch', () => {
  it('answer exactly what verify answers, for valid, tampered, cross-context and foreign signatures', async () => {
    const id = await generateIdentity()
    const other = await generateIdentity()
    await fc.assert(
      fc.asyncProperty(context, message, fc.nat(), async (ctx, msg, at) => {
        const sig = await id.sign(ctx, msg)
        const badSig = Uint8Array.from(sig)
        badSig[at % 64] = (badSig[at % 64] as number) ^ 1
        const checks = [
          { signer: id.address, context: ctx, message: msg, signature: sig },
          { signer: id.publicKey, context: ctx, message: msg, signature: sig },
          { signer: id.address, context: `${ctx}x`, message: msg, signature: sig },
          { signer: other.address, context: ctx, message: msg, signature: sig },
          { signer: id.address, context: ctx, message: msg, signature: badSig },
          { signer: id.address, context: ctx, message: Uint8Array.of(...msg, 0), signature: sig }
        ]
        const expected = [true, true, false, false, false, false]
        for (const [i, c] of checks.entries()) {
          expect(verifySync(c.signer, c.context, c.message, c.signature)).toBe(expected[i])
          expect(await verify(c.signer, c.context, c.message, c.signature)).toBe(expected[i])
        }
        expect(await verifyBatch(checks)).toEqual(expected)
      }),
      { numRuns: 40 }
    )
  })

  it('keep the domain separation: a signature over signedBytes is not a signature over the bare message', async () => {
    const id = await generateIdentity()
    const msg = new Uint8Array([1, 2, 3])
    const sig = await id.sign('a/v1', msg)
    // A signature made under context "a/v1" over (header + message) does not verify for a message that
    // already contains that header under another context.
    expect(verifySync(id.address, 'b/v1', signedBytes('a/v1', msg), sig)).toBe(false)
    expect(verifySync(id.address, 'a/v1', msg, sig)).toBe(true)
  })

  it('return false, never throw, for garbage signatures and keys; throw only for a malformed context', async () => {
    const id = await generateIdentity()
    const msg = new Uint8Array([1, 2, 3])
    const sig = await id.sign('t/v1', msg)
    const cases: Array<[unknown, unknown, unknown]> = [
      [id.address, msg, new Uint8Array(0)],
      [id.address, msg, sig.subarray(0, 63)],
      [id.address, msg, undefined],
      [id.address, 'not bytes', sig],
      [new Uint8Array(31), msg, sig],
      [new Uint8Array(32).fill(0xff), msg, sig],
      ['not-an-address', msg, sig],
      [42, msg, sig]
    ]
    for (const [signer, m, signature] of cases) {
      expect(verifySync(signer as string, 't/v1', m as Uint8Array, signature as Uint8Array)).toBe(false)
    }
    expect(
      await verifyBatch(
        cases.map(([signer, m, signature]) => ({
          signer: signer as string,
          context: 't/v1',
          message: m as Uint8Array,
          signature: signature as Uint8Array
        }))
      )
    ).toEqual(cases.map(() => false))
    for (const bad of ['', 'has space', 'x'.repeat(256)]) {
      expect(() => verifySync(id.address, bad, msg, sig)).toThrowError(InvalidContextError)
      expect(() => verifySync(id.address, bad, 'not bytes' as never, sig)).toThrowError(InvalidContextError)
      await expect(
        verifyBatch([{ signer: id.address, context: bad, message: msg, signature: sig }])
      ).rejects.toThrowError(InvalidContextError)
    }
  })

  it('verify messages longer than any earlier one (the reused buffer grows)', async () => {
    const id = await generateIdentity()
    for (const size of [0, 10, 5000, 100, 70_000]) {
      const msg = new Uint8Array(size).fill(size & 0xff)
      const sig = await id.sign('grow/v1', msg)
      expect(verifySync(id.address, 'grow/v1', msg, sig)).toBe(true)
    }
  })
})

describe('native and noble interoperate', () => {
  it('node:crypto is the backend under Node', async () => {
    expect((await ed25519Backend()).name).toBe('node:crypto')
  })

  it('signatures by either verify under the other, and both equal the RFC 8032 deterministic one', async () => {
    const native = await ed25519Backend()
    const noble = nobleEd25519()
    await fc.assert(
      fc.asyncProperty(seed, message, async (s, msg) => {
        const publicKey = await ed.getPublicKeyAsync(s)
        const nativeSig = await (await native.createSigner(s))(msg)
        const nobleSig = await (await noble.createSigner(s))(msg)
        expect(nativeSig).toEqual(nobleSig)
        expect(await noble.verify(publicKey, msg, nativeSig)).toBe(true)
        expect(await native.verify(publicKey, msg, nobleSig)).toBe(true)
        const bad = Uint8Array.from(nobleSig)
        bad[0] = (bad[0] as number) ^ 1
        expect(await native.verify(publicKey, msg, bad)).toBe(false)
        expect(await noble.verify(publicKey, msg, bad)).toBe(false)
      }),
      { numRuns: 60 }
    )
  })

  it('an identity signature verifies with plain noble over signedBytes (portable format)', async () => {
    const id = await generateIdentity()
    const msg = new TextEncoder().encode('portable')
    const sig = await id.sign('x/v1', msg)
    expect(ed.verify(sig, signedBytes('x/v1', msg), id.publicKey, { zip215: false })).toBe(true)
  })
})

describe('libp2p PeerId equality', () => {
  it('address is the PeerId of the same key, for any seed', async () => {
    await fc.assert(
      fc.asyncProperty(seed, async (s) => {
        const id = await identityFromSeed(s)
        const libp2pKey = await generateKeyPairFromSeed('Ed25519', s)
        expect(peerIdFromPrivateKey(libp2pKey).toString()).toBe(id.address)
        expect(id.privateKey.type).toBe('Ed25519')
        expect(id.privateKey.raw).toEqual(libp2pKey.raw)
        expect(id.peerId.toString()).toBe(id.address)
        expect(peerIdFromString(id.address).publicKey?.raw).toEqual(id.publicKey)
        expect(await ed.getPublicKeyAsync(s)).toEqual(id.publicKey)
        expect(addressFromPublicKey(id.publicKey)).toBe(id.address)
        expect(publicKeyFromAddress(id.address)).toEqual(id.publicKey)
        expect(id.shortId).toMatch(/^bot-pkey[0-9a-f]{8}$/)
      }),
      { numRuns: 30 }
    )
  })

  it('a libp2p private key and the identity sign identically (one key, two roles)', async () => {
    const id = await generateIdentity()
    const msg = new TextEncoder().encode('same key')
    expect(new Uint8Array(await id.privateKey.sign(signedBytes('k/v1', msg)))).toEqual(
      await id.sign('k/v1', msg)
    )
    const again = await identityFromLibp2pKey(id.privateKey)
    expect(again.address).toBe(id.address)
  })

  it('rejects seeds that are not 32 bytes and addresses that are not ed25519 PeerIds', async () => {
    await expect(identityFromSeed(new Uint8Array(31))).rejects.toThrowError(InvalidKeyError)
    expect(() => publicKeyFromAddress('nope')).toThrowError(InvalidKeyError)
    expect(() => publicKeyFromAddress('QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N')).toThrowError(
      InvalidKeyError
    )
    expect(() => addressFromPublicKey(new Uint8Array(5))).toThrowError(InvalidKeyError)
  })

  it('toJSON never reveals the seed', async () => {
    const id = await generateIdentity()
    expect(JSON.stringify(id)).toBe(JSON.stringify({ address: id.address, shortId: id.shortId }))
  })
})
