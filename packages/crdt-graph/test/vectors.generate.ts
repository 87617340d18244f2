/**
 * Regenerates the commit test vectors published in docs/protocols/graph-sync.md from fixed keys and fixed
 * clocks: `pnpm exec tsx --conditions=@araliya/source test/vectors.generate.ts` (from packages/crdt-graph).
 * Each verdict is what our code says today, so review the diff: a verdict that changes is a protocol
 * change and needs the doc's text changed too.
 */
import {
  type CanonicalValue,
  encodeCanonical,
  encodeGrant,
  GRANT_CONTEXT,
  type Identity,
  identityFromSeed,
  signedBytes
} from '@araliya/identity'
import { secondSpellings } from '@araliya/test-support/addresses'
import { toHex, writeVectors } from '@araliya/test-support/doc-vectors'
import { COMMIT_CONTEXT, type CommitBodyInit, encodeCommitBody, makeEnvelope } from '../src/commit.ts'
import { DEFAULT_COMMIT_LIMITS } from '../src/index.ts'
import { decodeCommit } from '../src/commit.ts'
import { type CommitVector, type CommitVectorContext, judgeCommit } from './vectors-verdict.ts'

const DOC = new URL('../../../docs/protocols/graph-sync.md', import.meta.url)

const NOW = 1_750_000_000_000
/** Stamps are `wallMs × 1024 + counter`. */
const T = NOW * 1024
const MS = 1024
const DAY = 86_400_000
const alice = await identityFromSeed(new Uint8Array(32).fill(1))
const bob = await identityFromSeed(new Uint8Array(32).fill(2))
const carol = await identityFromSeed(new Uint8Array(32).fill(3))
const [aliceReordered] = Object.values(secondSpellings(alice.publicKey)) as [string]

const context: CommitVectorContext = {
  now: NOW + 1_000,
  maxClockSkewMs: 60_000,
  maxCommitBytes: DEFAULT_COMMIT_LIMITS.maxCommitBytes
}

type Body = Omit<CommitBodyInit, 'space' | 'author' | 'dep'> & {
  space?: string
  author?: string
  dep?: number
}

async function sign(signer: Identity, body: Uint8Array): Promise<Uint8Array> {
  return makeEnvelope(await signer.sign(COMMIT_CONTEXT, body), body)
}

/** A commit in alice's space, by `signer` (author: the signer's address unless given). */
function commit(signer: Identity, init: Body): Promise<Uint8Array> {
  return sign(signer, encodeCommitBody({ space: alice.address, author: signer.address, dep: 0, ...init }))
}

/** The same commit with its body built by the generic encoder from `fields` (for shapes ours never writes). */
function raw(signer: Identity, fields: Record<string, CanonicalValue>): Promise<Uint8Array> {
  return sign(signer, encodeCanonical(fields))
}

const idOf = (envelope: Uint8Array): Uint8Array => decodeCommit(envelope).id

// A grant to bob: write below `shared/` for 30 days. The nonce is fixed here (issueGrant draws a random one).
const unsignedGrant = {
  v: 1,
  kind: 'grant',
  issuer: alice.address,
  subject: bob.address,
  scope: { pathPrefix: 'shared/', rights: ['write'] },
  notBefore: NOW,
  expiresAt: NOW + 30 * DAY,
  nonce: new Uint8Array(16).fill(0xb0)
} as const
const grant = encodeGrant({
  ...unsignedGrant,
  scope: { pathPrefix: 'shared/', rights: ['write'] },
  signature: await alice.sign(GRANT_CONTEXT, encodeCanonical(unsignedGrant as unknown as CanonicalValue))
})

// alice's chain: 1 (a put), 2 (a put, a link, a tombstone), 3 (the grant to bob).
const a1 = await commit(alice, { seq: 1, prev: null, clock: T, ops: [['notes/1', 'title', 0, 'hello']] })
const a2 = await commit(alice, {
  seq: 2,
  prev: idOf(a1),
  clock: T + MS,
  ops: [
    ['notes/1', 'done', 0, false],
    ['notes/2', 'parent', 1, [`${alice.address}/notes/1`]],
    ['notes/1', 'draft', 2]
  ]
})
const a3 = await commit(alice, { seq: 3, prev: idOf(a2), clock: T + 2 * MS, ops: [], grants: [grant] })
const a1Fields = {
  v: 1,
  s: alice.address,
  a: alice.address,
  n: 1,
  p: null,
  t: T,
  d: 0,
  o: [['notes/1', 'title', 0, 'hello']]
}
/** bob's first commit in alice's space, having seen alice's chain up to `seen` (at position `dep`). */
const bob1 = (init: Partial<Body> = {}) =>
  commit(bob, {
    seq: 1,
    prev: null,
    clock: T + 3 * MS,
    dep: 3,
    seen: [idOf(a3)],
    ops: [['shared/todo', 'text', 0, 'from bob']],
    ...init
  })
const b1 = await bob1()

interface Case {
  name: string
  given?: Uint8Array[]
  bytes: Uint8Array
  maxCommitBytes?: number
}

const flipped = Uint8Array.from(a1)
flipped[10] = (flipped[10] as number) ^ 0x01

const cases: Case[] = [
  { name: 'valid: owner commit, seq 1, no prev', bytes: a1 },
  { name: 'valid: second owner commit (a put, a link, a tombstone)', given: [a1], bytes: a2 },
  { name: 'valid: owner commit carrying a grant to bob', given: [a1, a2], bytes: a3 },
  {
    name: 'valid: grantee commit by bob naming the owner head it saw (d 3, h [id of 3])',
    given: [a1, a2, a3],
    bytes: b1
  },
  { name: 'not canonical: v written as a two-byte integer', bytes: await sign(alice, noncanonicalV()) },
  { name: 'an unknown key (x)', bytes: await raw(alice, { ...a1Fields, x: 1 }) },
  { name: 'v is 2', bytes: await raw(alice, { ...a1Fields, v: 2 }) },
  { name: 'bad signature: one signature byte flipped', bytes: flipped },
  {
    name: "author is a second spelling of alice's key (signed by alice)",
    bytes: await raw(alice, { ...a1Fields, a: aliceReordered })
  },
  { name: 'too large for a 64-byte limit (size is checked before decoding)', bytes: a1, maxCommitBytes: 64 },
  {
    name: "backdated: t below the previous commit's highest stamp",
    given: [a1],
    bytes: await commit(alice, { seq: 2, prev: idOf(a1), clock: T - MS, ops: [['notes/1', 'title', 0, 'x']] })
  },
  {
    name: "backdated: t equal to the previous commit's highest stamp",
    given: [a1],
    bytes: await commit(alice, { seq: 2, prev: idOf(a1), clock: T, ops: [['notes/1', 'title', 1, 'x']] })
  },
  {
    name: 'clock skew: stamped 2 minutes ahead of the receiver',
    bytes: await commit(alice, {
      seq: 1,
      prev: null,
      clock: (NOW + 120_000) * MS,
      ops: [['notes/1', 'title', 0, 'hello']]
    })
  },
  {
    name: 'grantee: h names a commit below d (d 3, h [id of 2])',
    given: [a1, a2, a3],
    bytes: await bob1({ seen: [idOf(a2)] })
  },
  {
    name: 'grantee: t not above the owner commit it names',
    given: [a1, a2, a3],
    bytes: await bob1({ clock: T + 2 * MS })
  },
  {
    name: 'grantee: writes outside the granted scope',
    given: [a1, a2, a3],
    bytes: await bob1({ ops: [['notes/1', 'title', 0, 'from bob']] })
  },
  {
    name: 'grantee: names the owner commit before the grant (d 2)',
    given: [a1, a2, a3],
    bytes: await bob1({ dep: 2, seen: [idOf(a2)] })
  }
]

/** alice's first commit with `v` (the last key) written as `0x18 0x01` instead of `0x01`. */
function noncanonicalV(): Uint8Array {
  const body = encodeCanonical(a1Fields)
  if (body.at(-1) !== 0x01 || body.at(-2) !== 0x76) throw new Error('expected the body to end with "v": 1')
  return Uint8Array.from([...body.subarray(0, -1), 0x18, 0x01])
}

const vectors: CommitVector[] = []
for (const c of cases) {
  const vector: CommitVector = {
    name: c.name,
    ...(c.given === undefined ? {} : { given: c.given.map(toHex) }),
    hex: toHex(c.bytes),
    ...(c.maxCommitBytes === undefined ? {} : { maxCommitBytes: c.maxCommitBytes }),
    verdict: ''
  }
  const { verdict, id } = await judgeCommit(vector, context, carol)
  vectors.push({
    name: vector.name,
    ...(vector.given === undefined ? {} : { given: vector.given }),
    hex: vector.hex,
    ...(id === undefined ? {} : { id }),
    ...(vector.maxCommitBytes === undefined ? {} : { maxCommitBytes: vector.maxCommitBytes }),
    verdict
  })
}
writeVectors(DOC, {
  kind: 'graph-commit/v1',
  context: {
    ...context,
    signingPrefixHex: toHex(signedBytes(COMMIT_CONTEXT, new Uint8Array(0))),
    seeds: { alice: '01 x 32', bob: '02 x 32', receiver: '03 x 32' },
    alice: alice.address,
    bob: bob.address
  },
  vectors
})
console.log(`wrote ${vectors.length} commit vectors`)
for (const v of vectors) console.log(`${v.verdict.padEnd(24)} ${v.name}`)
