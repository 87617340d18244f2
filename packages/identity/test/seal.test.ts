import { describe, expect, it } from 'vitest'
import {
  generateIdentity,
  identityFromSeed,
  InvalidContextError,
  SEAL_OVERHEAD,
  SealError,
  sealTo
} from '../src/index.js'

const bytes = (text: string) => new TextEncoder().encode(text)

describe('sealed boxes', () => {
  it('opens for the recipient under the same context, and only there', async () => {
    const phone = await generateIdentity()
    const stranger = await generateIdentity()
    const box = sealTo(phone.address, bytes('content key'), 'araliya/test/v1')
    expect(box.byteLength).toBe(bytes('content key').byteLength + SEAL_OVERHEAD)
    expect(new TextDecoder().decode(phone.open(box, 'araliya/test/v1'))).toBe('content key')
    expect(() => stranger.open(box, 'araliya/test/v1')).toThrow(SealError)
    expect(() => phone.open(box, 'araliya/other/v1')).toThrow(SealError)
  })

  it('accepts the raw public key as well as the address, and every box is fresh', async () => {
    const phone = await generateIdentity()
    const a = sealTo(phone.publicKey, bytes('x'), 'araliya/test/v1')
    const b = sealTo(phone.address, bytes('x'), 'araliya/test/v1')
    expect(a).not.toEqual(b)
    expect(phone.open(a, 'araliya/test/v1')).toEqual(bytes('x'))
    expect(phone.open(b, 'araliya/test/v1')).toEqual(bytes('x'))
  })

  it('refuses every altered, truncated or foreign box with a SealError, never garbage', async () => {
    const phone = await generateIdentity()
    const box = sealTo(phone.address, bytes('secret'), 'araliya/test/v1')
    for (let i = 0; i < box.byteLength; i++) {
      const bad = Uint8Array.from(box)
      bad[i] = (bad[i] as number) ^ 0x01
      expect(() => phone.open(bad, 'araliya/test/v1')).toThrow(SealError)
    }
    expect(() => phone.open(box.subarray(0, SEAL_OVERHEAD - 1), 'araliya/test/v1')).toThrow(SealError)
    expect(() => phone.open(new Uint8Array(100), 'araliya/test/v1')).toThrow(/version/)
  })

  it('rejects empty and non-printable contexts', async () => {
    const phone = await generateIdentity()
    expect(() => sealTo(phone.address, bytes('x'), '')).toThrow(InvalidContextError)
    expect(() => phone.deriveKey('bad\ncontext')).toThrow(InvalidContextError)
  })
})

describe('deriveKey', () => {
  it('is deterministic per identity and context, and differs across both', async () => {
    const seed = new Uint8Array(32).fill(7)
    const a = await identityFromSeed(seed)
    const b = await identityFromSeed(seed)
    const c = await generateIdentity()
    expect(a.deriveKey('araliya/test/v1')).toEqual(b.deriveKey('araliya/test/v1'))
    expect(a.deriveKey('araliya/test/v1')).not.toEqual(a.deriveKey('araliya/test/v2'))
    expect(a.deriveKey('araliya/test/v1')).not.toEqual(c.deriveKey('araliya/test/v1'))
    expect(a.deriveKey('araliya/test/v1', 64).byteLength).toBe(64)
    expect(a.deriveKey('araliya/test/v1')).not.toEqual(seed)
  })
})
