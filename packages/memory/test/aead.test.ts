import fc from 'fast-check'
import { expect, it } from 'vitest'
import { aead, nobleAead } from '../src/aead.js'

it('the native XChaCha20-Poly1305 gives the same bytes as the JavaScript one, both ways', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.uint8Array({ minLength: 24, maxLength: 24 }),
      fc.uint8Array({ maxLength: 64 }),
      fc.uint8Array({ maxLength: 2000 }),
      (key, nonce, aad, plaintext) => {
        const sealed = aead.encrypt(key, nonce, aad, plaintext)
        expect(sealed).toEqual(nobleAead.encrypt(key, nonce, aad, plaintext))
        expect(aead.decrypt(key, nonce, aad, sealed)).toEqual(plaintext)
        expect(nobleAead.decrypt(key, nonce, aad, sealed)).toEqual(plaintext)
      }
    ),
    { numRuns: 200, seed: 24 }
  )
})

it('refuses a changed byte, a wrong associated text and a short value', () => {
  const key = new Uint8Array(32).fill(1)
  const nonce = new Uint8Array(24).fill(2)
  const aad = new TextEncoder().encode('owner/memory/x')
  const sealed = aead.encrypt(key, nonce, aad, new TextEncoder().encode('secret'))
  const flipped = sealed.slice()
  flipped[0] = (flipped[0] as number) ^ 1
  expect(() => aead.decrypt(key, nonce, aad, flipped)).toThrow()
  expect(() => aead.decrypt(key, nonce, new TextEncoder().encode('owner/memory/y'), sealed)).toThrow()
  expect(() => aead.decrypt(key, nonce, aad, sealed.subarray(0, 10))).toThrow()
})
