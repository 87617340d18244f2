/**
 * Regenerates the test vectors published in docs/protocols/presence.md and docs/protocols/node-status.md
 * from fixed keys and a fixed clock: `pnpm exec tsx --conditions=@araliya/source test/vectors.generate.ts`
 * (from packages/dht-node). Each vector's verdict is what our validators say today, so review the diff:
 * a verdict that changes is a protocol change and needs the docs' text changed too.
 */
import { type CanonicalValue, encodeCanonical, identityFromSeed, signedBytes } from '@araliya/identity'
import { secondSpellings } from '@araliya/test-support/addresses'
import { patch, present, toHex, writeVectors } from '@araliya/test-support/doc-vectors'
import { InvalidRecordError } from '../src/errors.ts'
import { PRESENCE_CONTEXT, presenceKey, validatePresenceRecord } from '../src/presence.ts'
import { checkNodeStatus } from '../src/status.ts'

const PRESENCE_DOC = new URL('../../../docs/protocols/presence.md', import.meta.url)
const STATUS_DOC = new URL('../../../docs/protocols/node-status.md', import.meta.url)

const NOW = 1_750_000_000_000
const HOUR = 3_600_000
const MAX_TTL = 48 * HOUR
const alice = await identityFromSeed(new Uint8Array(32).fill(1))
const bob = await identityFromSeed(new Uint8Array(32).fill(2))
const [aliceReordered] = Object.values(secondSpellings(alice.publicKey)) as [string]
/** 2^53-2 as CBOR (a uint64), and 2^53: the first integer the decoder refuses (`encodeCanonical` never writes it). */
const BELOW_SAFE = [0x1b, 0x00, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]
const ABOVE_SAFE = [0x1b, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]

type Fields = Record<string, CanonicalValue | undefined>

// ---------------------------------------------------------------- presence records

const base: Fields = {
  v: 1,
  address: alice.address,
  multiaddrs: ['/ip4/192.0.2.1/tcp/4001', '/ip6/2001:db8::1/udp/4001/quic-v1'],
  skills: ['code-review', 'translate'],
  seq: NOW,
  expires: NOW + HOUR
}

interface RecordInit {
  fields?: Fields
  signer?: typeof alice | null
  /** Signature bytes to use as-is instead of signing. */
  sig?: CanonicalValue
  /** Byte patch applied to both the signed body and the record (for encodings `encodeCanonical` never makes). */
  patchBytes?: [readonly number[], readonly number[]]
  /** Fields changed after signing. */
  tamper?: Fields
}

async function record(init: RecordInit = {}): Promise<Uint8Array> {
  const body = present({ ...base, ...init.fields })
  let bodyBytes = encodeCanonical(body)
  if (init.patchBytes !== undefined) bodyBytes = patch(bodyBytes, ...init.patchBytes)
  const signer = init.signer === undefined ? alice : init.signer
  const sig = init.sig ?? (signer === null ? undefined : await signer.sign(PRESENCE_CONTEXT, bodyBytes))
  let bytes = encodeCanonical(present({ ...body, ...init.tamper, sig }))
  if (init.patchBytes !== undefined) bytes = patch(bytes, ...init.patchBytes)
  return bytes
}

const aliceKey = `/araliya/presence/${alice.address}`
const presenceCases: Array<{ name: string; key?: string; bytes: Uint8Array; maxRecordBytes?: number }> = [
  { name: 'valid', bytes: await record() },
  {
    name: 'valid: no skills, a relayed address',
    bytes: await record({
      fields: { skills: [], multiaddrs: [`/ip4/192.0.2.9/tcp/4001/p2p/${bob.address}/p2p-circuit`] }
    })
  },
  {
    name: 'valid: seq may be as large as 2^53-1',
    bytes: await record({ fields: { seq: 2 ** 53 - 1 } })
  },
  {
    name: 'too large for a 64-byte limit (size is checked before decoding)',
    bytes: await record(),
    maxRecordBytes: 64
  },
  { name: 'not CBOR', bytes: Uint8Array.of(0xff, 0x00) },
  { name: 'not a map', bytes: encodeCanonical(['v', 1]) },
  {
    name: 'not canonical: v written as a two-byte integer',
    bytes: await record({
      patchBytes: [
        [0x61, 0x76, 0x01],
        [0x61, 0x76, 0x18, 0x01]
      ]
    })
  },
  {
    name: 'nested deeper than 3',
    bytes: await record({ fields: { multiaddrs: [[['/ip4/192.0.2.1/tcp/4001']]] } })
  },
  { name: 'v is 2', bytes: await record({ fields: { v: 2 } }) },
  { name: 'a field is missing (skills)', bytes: await record({ fields: { skills: undefined } }) },
  { name: 'an unknown field', bytes: await record({ fields: { name: 'alice' } }) },
  { name: 'seq is negative', bytes: await record({ fields: { seq: -1 } }) },
  { name: 'seq is not an integer', bytes: await record({ fields: { seq: 1.5 } }) },
  {
    name: 'seq is 2^53, above 2^53-1',
    bytes: await record({ fields: { seq: 2 ** 53 - 2 }, patchBytes: [BELOW_SAFE, ABOVE_SAFE] })
  },
  { name: 'skills not sorted', bytes: await record({ fields: { skills: ['translate', 'code-review'] } }) },
  { name: 'skills not unique', bytes: await record({ fields: { skills: ['code-review', 'code-review'] } }) },
  { name: 'a skill not normalised', bytes: await record({ fields: { skills: ['Code-Review'] } }) },
  {
    name: 'a multiaddr with the /p2p/<address> suffix',
    bytes: await record({ fields: { multiaddrs: [`/ip4/192.0.2.1/tcp/4001/p2p/${alice.address}`] } })
  },
  {
    name: 'a multiaddr with a space',
    bytes: await record({ fields: { multiaddrs: ['/dns4/exam ple.com/tcp/443'] } })
  },
  {
    name: 'a multiaddr with an empty segment',
    bytes: await record({ fields: { multiaddrs: ['/ip4/192.0.2.1//tcp/4001'] } })
  },
  {
    name: 'a multiaddr not starting with /',
    bytes: await record({ fields: { multiaddrs: ['ip4/192.0.2.1/tcp/4001'] } })
  },
  {
    name: 'a multiaddr of 513 bytes',
    bytes: await record({ fields: { multiaddrs: [`/dns4/${'a'.repeat(501)}/tcp/1`] } })
  },
  {
    name: '33 multiaddrs',
    bytes: await record({
      fields: { multiaddrs: Array.from({ length: 33 }, (_, i) => `/ip4/192.0.2.${i}/tcp/1`) }
    })
  },
  { name: 'sig is text, not bytes', bytes: await record({ sig: 'not bytes' }) },
  { name: 'unsigned', bytes: await record({ signer: null }) },
  {
    name: 'unsigned, under the wrong key: unsigned comes first',
    key: `/araliya/presence/${bob.address}`,
    bytes: await record({ signer: null })
  },
  { name: "alice's record under bob's key", key: `/araliya/presence/${bob.address}`, bytes: await record() },
  {
    name: 'address is a second spelling of the signing key',
    key: `/araliya/presence/${aliceReordered}`,
    bytes: await record({ fields: { address: aliceReordered } })
  },
  {
    name: 'address is an RSA PeerId',
    key: '/araliya/presence/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N',
    bytes: await record({ fields: { address: 'QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N' } })
  },
  { name: 'expires now', bytes: await record({ fields: { expires: NOW } }) },
  {
    name: 'expires 48 h from now: the longest allowed',
    bytes: await record({ fields: { expires: NOW + MAX_TTL } })
  },
  { name: 'expires 48 h + 1 ms from now', bytes: await record({ fields: { expires: NOW + MAX_TTL + 1 } }) },
  { name: 'a 63-byte signature', bytes: await record({ sig: new Uint8Array(63) }) },
  { name: "signed by bob, not by the record's address", bytes: await record({ signer: bob }) },
  { name: 'seq changed after signing', bytes: await record({ tamper: { seq: NOW + 1 } }) },
  {
    name: 'signed under another context (araliya/eth-record/v1)',
    bytes: await record({ sig: await alice.sign('araliya/eth-record/v1', encodeCanonical(present(base))) })
  }
]

const presenceVectors = []
for (const c of presenceCases) {
  const key = c.key ?? aliceKey
  let verdict = 'valid'
  try {
    await validatePresenceRecord(presenceKey(key.slice('/araliya/presence/'.length)), c.bytes, {
      now: NOW,
      maxRecordBytes: c.maxRecordBytes
    })
  } catch (err) {
    if (!InvalidRecordError.isInstance(err)) throw err
    verdict = err.reason
  }
  presenceVectors.push({
    name: c.name,
    key,
    ...(c.maxRecordBytes === undefined ? {} : { maxRecordBytes: c.maxRecordBytes }),
    hex: toHex(c.bytes),
    verdict
  })
}
writeVectors(PRESENCE_DOC, {
  kind: 'presence-record/v1',
  context: {
    now: NOW,
    maxRecordBytes: 4096,
    maxRecordTtlMs: MAX_TTL,
    signingPrefixHex: toHex(signedBytes(PRESENCE_CONTEXT, new Uint8Array(0))),
    seeds: { alice: '01 x 32', bob: '02 x 32' },
    alice: alice.address,
    bob: bob.address
  },
  vectors: presenceVectors
})

// ---------------------------------------------------------------- node-status heartbeats

const heartbeat: Fields = {
  v: 1,
  address: alice.address,
  role: 'full',
  peers: 8,
  mesh: { 'agent-announcements': 4, 'agent-messages': 6, 'node-status': 4 },
  dht: { mode: 'server', routingTable: 20 },
  memory: 52_428_800,
  uptimeMs: 3_600_000,
  timestamp: NOW
}
const status = (fields: Fields = {}) => encodeCanonical(present({ ...heartbeat, ...fields }))
const statusCases: Array<{ name: string; signer?: string; bytes: Uint8Array }> = [
  { name: 'valid', bytes: status() },
  {
    name: 'valid: a light client with an empty mesh',
    bytes: status({ role: 'light', mesh: {}, dht: { mode: 'client', routingTable: 0 } })
  },
  { name: 'published by bob, not by its address', signer: bob.address, bytes: status() },
  { name: 'v is 2', bytes: status({ v: 2 }) },
  { name: 'a field is missing (uptimeMs)', bytes: status({ uptimeMs: undefined }) },
  { name: 'an unknown field', bytes: status({ load: 1 }) },
  { name: 'an unknown dht field', bytes: status({ dht: { mode: 'server', routingTable: 20, buckets: 2 } }) },
  { name: 'role is not bootstrap, full or light', bytes: status({ role: 'relay' }) },
  { name: 'dht.mode is not client or server', bytes: status({ dht: { mode: 'auto', routingTable: 20 } }) },
  { name: 'a negative mesh size', bytes: status({ mesh: { 'agent-messages': -1 } }) },
  { name: 'a mesh key that is not a topic name', bytes: status({ mesh: { 'Agent Messages': 1 } }) },
  { name: 'memory is not an integer', bytes: status({ memory: 0.5 }) },
  {
    name: 'timestamp is 2^53, above 2^53-1',
    bytes: patch(status({ timestamp: 2 ** 53 - 2 }), BELOW_SAFE, ABOVE_SAFE)
  },
  { name: 'nested deeper than 3', bytes: status({ mesh: { 'agent-messages': [[1]] } }) },
  {
    name: 'address is a second spelling of the signing key',
    signer: aliceReordered,
    bytes: status({ address: aliceReordered })
  },
  {
    name: 'not canonical: v written as a two-byte integer',
    bytes: patch(status(), [0x61, 0x76, 0x01], [0x61, 0x76, 0x18, 0x01])
  },
  {
    name: 'not CBOR (an envelope or other app message on a shared topic)',
    bytes: Uint8Array.of(0x00, 0x01, 0x02)
  }
]
const statusVectors = statusCases.map((c) => {
  const signer = c.signer ?? alice.address
  const verdict = checkNodeStatus(c.bytes, signer)
  return {
    name: c.name,
    signer,
    hex: toHex(c.bytes),
    action: verdict.action,
    ...(verdict.action === 'accept' ? {} : { reason: verdict.reason })
  }
})
writeVectors(STATUS_DOC, {
  kind: 'node-status/v1',
  context: { seeds: { alice: '01 x 32', bob: '02 x 32' }, alice: alice.address, bob: bob.address },
  vectors: statusVectors
})
console.log(`wrote ${presenceVectors.length} presence and ${statusVectors.length} node-status vectors`)
