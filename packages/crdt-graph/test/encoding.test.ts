import { type CanonicalValue, decodeCanonical, encodeCanonical, equalBytes } from '@araliya/identity'
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js'
import { readCbor } from '../src/cbor-read.js'
import { sha256 } from '../src/hash.js'
import { InvalidInputError } from '@araliya/interface'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  DEFAULT_COMMIT_LIMITS,
  decodeCommit,
  decodeCommitUsing,
  encodeCommitBody,
  encodeCommitBodyReference,
  encodeCommitFrame,
  makeEnvelope,
  type OpTuple,
  type WireValue
} from '../src/commit.js'
import { CommitFormatError, createGraph, memoryStore } from '../src/index.js'
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
          seen: fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { maxLength: 3 }),
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
          // The local write path encodes from decoded ops (stamp = clock + delta) to the same bytes
          // (real stamps are safe integers; the generated clock and deltas need not add up to one).
          if (!body.ops.every((op) => Number.isSafeInteger(body.clock + op[2]))) return
          const fromOps = encodeCommitFrame({
            ...body,
            ops: body.ops.map(([path, field, delta, value]) => ({
              path,
              field,
              hlc: body.clock + delta,
              value: undefined,
              wire: value
            }))
          })
          expect(equalBytes(fromOps.body, reference)).toBe(true)
        }
      ),
      { numRuns: 400, seed: 11 }
    )
  })
})

describe('the commit body reader', () => {
  it('accepts and rejects exactly what the generic canonical decoder does, with the same result', async () => {
    const me = await testIdentity(92)
    const other = await testIdentity(93)
    const graph = createGraph({ identity: me, store: memoryStore() })
    await graph.start()
    await graph.transact((tx) => {
      tx.put(`${me.address}/a`, {
        s: 'héllo ☃',
        n: -12,
        f: 1.5,
        big: 2 ** 40,
        t: true,
        z: null,
        b: new Uint8Array([1, 2])
      })
      tx.link(`${me.address}/a`, 'l', `${other.address}/x`)
      tx.remove(`${me.address}/a`, 'gone')
    })
    await graph.grant(
      other.address,
      { pathPrefix: 'p/', rights: ['write'] },
      { expiresAt: Date.now() + 60_000 }
    )
    const samples = await graph.readChain(me.address, me.address, 1, 2)
    // and a grantee's commit, which names the owner commit it has seen (key h)
    const device = createGraph({ identity: other, store: memoryStore() })
    await device.start()
    await device.ingest(samples)
    await device.put(`${me.address}/p/1`, { v: 1 })
    samples.push(...(await device.readChain(me.address, other.address, 1, 1)))
    expect(decodeCommit(samples.at(-1) as Uint8Array).seen).toHaveLength(1)
    await device.stop()
    await graph.stop()
    const reference = (body: Uint8Array) => decodeCanonical(body, { maxBytes: 1024 * 1024, maxDepth: 4 })
    const verdict = (envelope: Uint8Array, parse?: (body: Uint8Array) => CanonicalValue) => {
      try {
        const commit =
          parse === undefined
            ? decodeCommit(envelope)
            : decodeCommitUsing(envelope, DEFAULT_COMMIT_LIMITS, parse)
        return JSON.stringify({ ...commit, ops: commit.ops }, (_, v) =>
          v instanceof Uint8Array ? [...v] : v
        )
      } catch (err) {
        expect(InvalidInputError.isInstance(err)).toBe(true)
        return 'rejected'
      }
    }
    for (const sample of samples) expect(verdict(sample)).not.toBe('rejected')
    fc.assert(
      fc.property(
        fc.constantFrom(...samples),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 }),
        fc.option(fc.nat()),
        (sample, edits, cut) => {
          const bytes = Uint8Array.from(sample)
          for (const [at, value] of edits) bytes[64 + (at % (bytes.byteLength - 64))] = value
          const input = cut === null ? bytes : bytes.subarray(0, 65 + (cut % (bytes.byteLength - 65)))
          expect(verdict(input)).toBe(verdict(input, reference))
        }
      ),
      { numRuns: 3000, seed: 12 }
    )
  })
})

describe('op tuples read straight into ops', () => {
  it('decode deletes, links, bytes and every value kind as the generic reader does; odd tuples are refused', async () => {
    const me = await testIdentity(93)
    const ops: OpTuple[] = [
      ['p', 'gone', 0],
      ['p', 'link', 1, [`${me.address}/q`]],
      ['p', 'bytes', 2, new Uint8Array([1, 2, 3])],
      ['p/deep', 'n', 3, -5.5],
      ['p', 't', 4, 'text'],
      ['p', 'b', 5, true],
      ['p', 'z', 6, null]
    ]
    const body = { space: me.address, author: me.address, seq: 1, prev: null, clock: 1_000_000, dep: 0, ops }
    const envelope = makeEnvelope(new Uint8Array(64), encodeCommitBody(body))
    const reference = (bytes: Uint8Array) => decodeCanonical(bytes, { maxBytes: 1024 * 1024, maxDepth: 4 })
    const fused = decodeCommit(envelope)
    const generic = decodeCommitUsing(envelope, DEFAULT_COMMIT_LIMITS, reference)
    expect(fused.ops.map((op) => ({ ...op }))).toEqual(generic.ops.map((op) => ({ ...op })))
    expect(fused.ops[1]?.value).toEqual({ '#': `${me.address}/q` })
    // An op of two or five items, or one whose length is not in its head byte, is refused either way.
    for (const odd of [[['p', 'f']], [['p', 'f', 1, 2, 3]]] as unknown as OpTuple[][]) {
      const bad = makeEnvelope(new Uint8Array(64), encodeCommitBodyReference({ ...body, ops: odd }))
      expect(() => decodeCommit(bad)).toThrow(CommitFormatError)
      expect(() => decodeCommitUsing(bad, DEFAULT_COMMIT_LIMITS, reference)).toThrow(CommitFormatError)
    }
  })
})

describe('sha256', () => {
  it('gives the digest @noble/hashes gives, for any input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => {
        expect(sha256(bytes)).toEqual(nobleSha256(bytes))
      }),
      { numRuns: 300, seed: 11 }
    )
  })
})

describe('short texts read through the text cache', () => {
  it('always read back as the very text written, also when many share cache slots', () => {
    // 20k random short texts over a small alphabet: thousands of them meet in the 4096 slots.
    const text = fc.string({ unit: fc.constantFrom('a', 'b', 'c', '/', '1', 'é', '\u0000'), maxLength: 30 })
    fc.assert(
      fc.property(fc.array(text, { minLength: 1, maxLength: 200 }), (texts) => {
        const bytes = encodeCanonical(texts)
        expect(readCbor(bytes, 4)).toEqual(texts)
        expect(readCbor(bytes, 4)).toEqual(decodeCanonical(bytes))
      }),
      { numRuns: 100, seed: 8 }
    )
  })
})

describe('the owner commits a commit has seen (key h)', () => {
  it('is required exactly when d > 0, and holds 1 to 16 distinct ids in byte order', async () => {
    const [owner, device] = [await testIdentity(94), await testIdentity(95)]
    const id = (fill: number) => new Uint8Array(32).fill(fill)
    const body = (dep: number, seen: Uint8Array[]) =>
      makeEnvelope(
        new Uint8Array(64),
        encodeCommitBodyReference({
          space: owner.address,
          author: device.address,
          seq: 1,
          prev: null,
          clock: 1,
          dep,
          seen,
          ops: []
        })
      )
    expect(decodeCommit(body(3, [id(1)])).seen).toEqual([id(1)])
    expect(decodeCommit(body(3, [id(1), id(2)])).seen).toEqual([id(1), id(2)])
    expect(decodeCommit(body(0, [])).seen).toEqual([])
    for (const [dep, seen] of [
      [3, []],
      [0, [id(1)]],
      [3, [id(2), id(1)]],
      [3, [id(1), id(1)]],
      [3, [new Uint8Array(31)]],
      [3, Array.from({ length: 17 }, (_, i) => id(i))]
    ] as Array<[number, Uint8Array[]]>) {
      expect(() => decodeCommit(body(dep, seen)), `${dep} ${seen.length}`).toThrow(CommitFormatError)
    }
  })
})
