import { describe, expect, it } from 'vitest'
import { readVectors } from '@araliya/test-support/doc-vectors'
import { InvalidAddressError, isAddress, publicKeyFromAddress, signedBytes } from '../src/index.js'

const DOC = new URL('../../../docs/protocols/addresses.md', import.meta.url)

interface AddressVector {
  name: string
  address: unknown
  valid: true | string
}

describe('the vectors published in docs/protocols/addresses.md', () => {
  const { vectors } = readVectors<AddressVector>(DOC, 'address/v1')

  it('publishes vectors for every rule', () => {
    const reasons = new Set(vectors.map((v) => v.valid))
    for (const reason of [
      true,
      'not-a-string',
      'length',
      'non-ascii',
      'not-base58btc',
      'not-a-peer-id',
      'not-ed25519',
      'not-canonical'
    ]) {
      expect(reasons, String(reason)).toContain(reason)
    }
  })

  it.each(vectors.map((v) => [v.name, v] as const))('%s', (_name, vector) => {
    expect(isAddress(vector.address)).toBe(vector.valid === true)
    let verdict: true | string = true
    try {
      publicKeyFromAddress(vector.address as string)
    } catch (err) {
      if (!InvalidAddressError.isInstance(err)) throw err
      verdict = err.reason
    }
    expect(verdict).toBe(vector.valid)
  })

  it('the signing-bytes layout is the one the page spells out', () => {
    const bytes = signedBytes('araliya/presence/v1', Uint8Array.of(0xaa))
    expect(Buffer.from(bytes).toString('hex')).toBe(
      `${Buffer.from('araliya-sig-v1').toString('hex')}00${(19).toString(16).padStart(2, '0')}${Buffer.from('araliya/presence/v1').toString('hex')}aa`
    )
  })
})
