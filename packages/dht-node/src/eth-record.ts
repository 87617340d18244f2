import {
  checksumEthAddress,
  decodeEthLink,
  type EthLink,
  encodeCanonical,
  encodeEthLink,
  type Identity,
  verify,
  verifyEthLink
} from '@araliya/identity'
import { isByteString, isSafeUint, unknownKey } from '@araliya/interface'
import { InvalidRecordError } from './errors.js'
import {
  checkExpiry,
  compareBytes,
  DEFAULT_MAX_RECORD_BYTES,
  decodeKey,
  decodeRecordValue,
  type RecordValidationOptions
} from './presence.js'

/** The signature context of Ethereum lookup records. */
export const ETH_RECORD_CONTEXT = 'araliya/eth-record/v1'
/** The DHT key namespace of Ethereum lookup records: keys are `/araliya/eth/<0xChecksummed>`. */
export const ETH_KEY_PREFIX = '/araliya/eth/'

const textEncoder = new TextEncoder()
const ETH_RECORD_FIELDS: ReadonlySet<string> = new Set(['v', 'link', 'seq', 'expires', 'sig'])

/**
 * A DHT record mapping an Ethereum address to an agent. It carries the identity package's two-way
 * {@link EthLink} proof, and the agent signs it again with a sequence number and an expiry so the agent
 * controls how long the mapping lives.
 */
export interface EthRecord {
  readonly v: 1
  /** The encoded {@link EthLink} (canonical CBOR). */
  readonly link: Uint8Array
  /** Sequence number: among records with the same link time, the higher one wins. */
  readonly seq: number
  /** When the record stops being valid, in ms since the epoch. */
  readonly expires: number
  /** The agent's signature over the canonical `{ v, link, seq, expires }` under {@link ETH_RECORD_CONTEXT}. */
  readonly sig: Uint8Array
}

/** A validated Ethereum lookup record with its decoded link. */
export interface VerifiedEthRecord {
  readonly record: EthRecord
  readonly link: EthLink
  /** The checksummed Ethereum address. */
  readonly eth: string
  /** The agent address the Ethereum address is linked to. */
  readonly agent: string
}

/**
 * The DHT key of an Ethereum address's lookup record, `/araliya/eth/<0xChecksummed>`, as bytes.
 *
 * @throws {EthLinkError} when `eth` is not a valid Ethereum address.
 */
export function ethKey(eth: string): Uint8Array {
  return textEncoder.encode(ETH_KEY_PREFIX + checksumEthAddress(eth))
}

/** Creates and signs the DHT record for a link made by `identity`. */
export async function createEthRecord(
  identity: Identity,
  link: EthLink,
  init: { seq: number; expires: number },
  options?: { signal?: AbortSignal }
): Promise<EthRecord> {
  const linkBytes = encodeEthLink(link)
  const body = { v: 1 as const, link: linkBytes, seq: init.seq, expires: init.expires }
  const sig = await identity.sign(ETH_RECORD_CONTEXT, encodeCanonical(body), options)
  return { ...body, sig }
}

/** Canonical CBOR of an Ethereum lookup record. */
export function encodeEthRecord(record: EthRecord): Uint8Array {
  return encodeCanonical({
    v: 1,
    link: record.link,
    seq: record.seq,
    expires: record.expires,
    sig: record.sig
  })
}

/**
 * Validates an Ethereum lookup record stored under `key`: size before decoding, shape, the link's two
 * signatures, the key's address, expiry and the agent's record signature.
 *
 * @throws {InvalidRecordError} naming the rule the record broke.
 */
export async function validateEthRecord(
  key: Uint8Array | string,
  bytes: Uint8Array,
  options: RecordValidationOptions = {}
): Promise<VerifiedEthRecord> {
  const record = decodeEthRecord(bytes, options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES)
  let link: EthLink
  let proven: { eth: string; agent: string }
  try {
    link = decodeEthLink(record.link)
    proven = await verifyEthLink(link)
  } catch (err) {
    throw new InvalidRecordError('bad-signature', 'the Ethereum link in the record does not verify', {
      cause: err
    })
  }
  const keyString = typeof key === 'string' ? key : decodeKey(key)
  if (keyString !== ETH_KEY_PREFIX + proven.eth) {
    throw new InvalidRecordError(
      'key-mismatch',
      `a link for ${proven.eth} cannot be stored under ${keyString}`
    )
  }
  checkExpiry(record.expires, options)
  const body = { v: 1, link: record.link, seq: record.seq, expires: record.expires }
  if (
    record.sig.byteLength !== 64 ||
    !(await verify(proven.agent, ETH_RECORD_CONTEXT, encodeCanonical(body), record.sig))
  ) {
    throw new InvalidRecordError('bad-signature', `the record signature does not verify for ${proven.agent}`)
  }
  return { record, link, eth: proven.eth, agent: proven.agent }
}

/**
 * Orders two encoded Ethereum records for one key: the later link (`issuedAt`, the Ethereum owner's latest
 * choice) wins, then higher `seq`, then later `expires`, then the bytewise greater encoding.
 */
export function compareEthRecordBytes(a: Uint8Array, b: Uint8Array, maxRecordBytes?: number): number {
  const ra = tryOrder(a, maxRecordBytes)
  const rb = tryOrder(b, maxRecordBytes)
  if (ra === undefined || rb === undefined) return (ra === undefined ? 0 : 1) - (rb === undefined ? 0 : 1)
  return ra.issuedAt - rb.issuedAt || ra.seq - rb.seq || ra.expires - rb.expires || compareBytes(a, b)
}

function tryOrder(
  bytes: Uint8Array,
  maxRecordBytes = DEFAULT_MAX_RECORD_BYTES
): { issuedAt: number; seq: number; expires: number } | undefined {
  try {
    const record = decodeEthRecord(bytes, maxRecordBytes)
    return { issuedAt: decodeEthLink(record.link).issuedAt, seq: record.seq, expires: record.expires }
  } catch {
    return undefined
  }
}

function decodeEthRecord(bytes: Uint8Array, maxBytes: number): EthRecord {
  const v = decodeRecordValue(bytes, maxBytes, 'Ethereum record') as Record<string, unknown>
  if (v.v !== 1 || !isByteString(v.link) || !isSafeUint(v.seq) || !isSafeUint(v.expires)) {
    throw new InvalidRecordError('malformed', 'the bytes are not a version 1 Ethereum record')
  }
  const extra = unknownKey(v, ETH_RECORD_FIELDS)
  if (extra !== undefined) throw new InvalidRecordError('malformed', `unexpected field "${extra}"`)
  if (v.sig === undefined)
    throw new InvalidRecordError('unsigned', 'the Ethereum record carries no signature')
  if (!isByteString(v.sig)) throw new InvalidRecordError('malformed', 'the signature is not bytes')
  return v as unknown as EthRecord
}
