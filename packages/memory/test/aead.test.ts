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

it('reads keys, nonces and values that are views into a larger buffer (a Buffer from a file)', () => {
  const key = globalThis.crypto.getRandomValues(new Uint8Array(32))
  const nonce = globalThis.crypto.getRandomValues(new Uint8Array(24))
  const aad = new TextEncoder().encode('owner/memory/x')
  const sealed = nobleAead.encrypt(key, nonce, aad, new TextEncoder().encode('from a file'))
  const pool = Buffer.concat([Buffer.alloc(7, 9), Buffer.from(key), Buffer.from(nonce), Buffer.from(sealed)])
  const at = (from: number, length: number) => pool.subarray(from, from + length)
  const opened = aead.decrypt(at(7, 32), at(39, 24), aad, at(63, sealed.byteLength))
  expect(new TextDecoder().decode(opened)).toBe('from a file')
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
