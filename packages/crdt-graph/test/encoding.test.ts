import { equalBytes } from '@araliya/identity'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { encodeCommitBody, encodeCommitBodyReference, type OpTuple, type WireValue } from '../src/commit.js'
import { testIdentity } from './helpers.js'

describe('canonical encoding of commit bodies', () => {
  it('the fast encoder gives exactly the bytes of the generic canonical encoder', async () => {
    const [a, b] = [await testIdentity(90), await testIdentity(91)]
    const wire: fc.Arbitrary<WireValue> = fc.oneof(
      fc.constant(null),
      fc.boolean(),
      fc.integer(),
      fc.maxSafeInteger(),
      fc.maxSafeNat(),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.constant(-0),
      fc.string({ unit: 'binary' }),
      fc.string(),
      fc.uint8Array({ maxLength: 300 }),
      fc.constant([`${a.address}/linked`] as const)
    )
    const op: fc.Arbitrary<OpTuple> = fc.oneof(
      fc.tuple(fc.string({ minLength: 1, unit: 'binary' }), fc.string({ minLength: 1 }), fc.maxSafeNat()),
      fc.tuple(fc.string({ minLength: 1 }), fc.string({ minLength: 1, unit: 'grapheme' }), fc.nat(), wire)
    )
    fc.assert(
      fc.property(
        fc.record({
          seq: fc.integer({ min: 1, max: 2 ** 40 }),
          clock: fc.maxSafeNat(),
          dep: fc.nat(),
          prev: fc.option(fc.uint8Array({ minLength: 32, maxLength: 32 })),
          ops: fc.array(op, { maxLength: 30 }),
          grants: fc.array(fc.uint8Array({ maxLength: 50 }), { maxLength: 2 }),
          revocations: fc.array(fc.uint8Array({ maxLength: 50 }), { maxLength: 2 }),
          swap: fc.boolean()
        }),
        (init) => {
          const body = {
            ...init,
            space: init.swap ? b.address : a.address,
            author: a.address
          }
          const fast = encodeCommitBody(body)
          const reference = encodeCommitBodyReference(body)
          expect(equalBytes(fast, reference)).toBe(true)
        }
      ),
      { numRuns: 400, seed: 11 }
    )
  })
})
