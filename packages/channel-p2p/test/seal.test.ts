import { generateIdentity, type Identity } from '@araliya/identity'
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { DecryptionError, open, seal, sealingKey } from './internal.js'

let alice: Identity
let bob: Identity
let relay: Identity
beforeAll(async () => {
  ;[alice, bob, relay] = await Promise.all([generateIdentity(), generateIdentity(), generateIdentity()])
})

describe('end-to-end sealing (X25519 from the ed25519 keys, XChaCha20-Poly1305)', () => {
  it('only the recipient opens it (property over plaintexts)', async () => {
    const bobKey = sealingKey(bob)
    const relayKey = sealingKey(relay)
    await fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (plaintext) => {
        const sealed = seal(plaintext, alice.address, bob.address)
        expect(open(sealed, alice.address, bobKey, 1 << 20)).toEqual(plaintext)
        expect(() => open(sealed, alice.address, relayKey, 1 << 20)).toThrowError(DecryptionError)
      }),
      { numRuns: 50 }
    )
  })

  it('a sealed body pasted under another sender fails to open', () => {
    const sealed = seal(new Uint8Array([1, 2, 3]), alice.address, bob.address)
    expect(() => open(sealed, relay.address, sealingKey(bob), 1 << 20)).toThrowError(DecryptionError)
  })

  it('any flipped byte fails to open; garbage is a typed error', () => {
    const sealed = seal(new Uint8Array(100), alice.address, bob.address)
    const key = sealingKey(bob)
    for (let i = 0; i < sealed.byteLength; i++) {
      const bad = Uint8Array.from(sealed)
      bad[i] = (bad[i] as number) ^ 0x40
      expect(() => open(bad, alice.address, key, 1 << 20)).toThrowError(DecryptionError)
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        expect(() => open(bytes, alice.address, key, 1 << 20)).toThrowError(DecryptionError)
      })
    )
  })

  it('two seals of the same plaintext differ (fresh ephemeral key and nonce)', () => {
    const a = seal(new Uint8Array([7]), alice.address, bob.address)
    const b = seal(new Uint8Array([7]), alice.address, bob.address)
    expect(a).not.toEqual(b)
  })
})
