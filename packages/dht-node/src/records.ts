import type { AbortOptions } from '@araliya/interface'
import { Record as Libp2pRecord, type SelectFn, type ValidateFn } from '@libp2p/kad-dht'
import { type Datastore, Key } from 'interface-datastore'
import { base32 } from 'multiformats/bases/base32'
import { compareEthRecordBytes, ETH_KEY_PREFIX, validateEthRecord } from './eth-record.js'
import { InvalidRecordError } from './errors.js'
import {
  comparePresenceBytes,
  decodeKey,
  PRESENCE_KEY_PREFIX,
  type RecordValidationOptions,
  validatePresenceRecord
} from './presence.js'

/** The first path segment of every Araliya DHT key; kad-dht picks validators and selectors by it. */
export const RECORD_NAMESPACE = 'araliya'

/** How the Araliya record validator is configured. Every DHT server of a swarm must use the same rules. */
export interface RecordRulesInit {
  /** Largest encoded record, checked before decoding. Default 4096 bytes. */
  maxRecordBytes?: number
  /** Longest lifetime a record may claim. Default 48 h. */
  maxRecordTtlMs?: number
  /** The clock (ms since the epoch). Default `Date.now`. */
  now?: () => number
  /**
   * The datastore kad-dht keeps records in. When given, a record older than the one stored for the same
   * key is refused, so a replayed (validly signed) old record can never replace a newer one.
   */
  datastore?: Datastore
  /** kad-dht's `datastorePrefix`. Default `/dht`. */
  datastorePrefix?: string
}

/** kad-dht `validators` and `selectors` maps for Araliya records. */
export interface RecordRules {
  validators: Record<string, ValidateFn>
  selectors: Record<string, SelectFn>
}

/**
 * Builds the kad-dht validator and selector for `/araliya/…` keys (presence and Ethereum lookup records).
 * The validator throws an {@link InvalidRecordError} for anything it refuses; the selector returns the
 * index of the record with the highest sequence (deterministic tie-break).
 */
export function araliyaRecordRules(init: RecordRulesInit = {}): RecordRules {
  const prefix = `${init.datastorePrefix ?? '/dht'}/record`
  const validationOptions = (): RecordValidationOptions => ({
    now: init.now?.() ?? Date.now(),
    maxRecordBytes: init.maxRecordBytes,
    maxRecordTtlMs: init.maxRecordTtlMs
  })

  const compare = (keyString: string, a: Uint8Array, b: Uint8Array): number =>
    keyString.startsWith(ETH_KEY_PREFIX)
      ? compareEthRecordBytes(a, b, init.maxRecordBytes)
      : comparePresenceBytes(a, b, init.maxRecordBytes)

  const validateOnly = async (keyString: string, value: Uint8Array): Promise<void> => {
    if (keyString.startsWith(PRESENCE_KEY_PREFIX)) {
      await validatePresenceRecord(keyString, value, validationOptions())
    } else if (keyString.startsWith(ETH_KEY_PREFIX)) {
      await validateEthRecord(keyString, value, validationOptions())
    } else {
      throw new InvalidRecordError(
        'unknown-namespace',
        `no Araliya record type for key ${keyString.slice(0, 80)}`
      )
    }
  }

  const validate: ValidateFn = async (key: Uint8Array, value: Uint8Array, options?: AbortOptions) => {
    const keyString = decodeKey(key)
    await validateOnly(keyString, value)
    if (init.datastore === undefined) return
    const stored = await readStored(init.datastore, prefix, key, options)
    if (stored === undefined || compare(keyString, stored, value) <= 0) return
    // A stored record that is itself no longer valid (expired) must not block its replacement.
    try {
      await validateOnly(keyString, stored)
    } catch {
      return
    }
    throw new InvalidRecordError(
      'older-than-stored',
      `a newer record is already stored for ${keyString.slice(0, 80)}`
    )
  }

  const select: SelectFn = (key: Uint8Array, records: Uint8Array[]) => {
    const keyString = decodeKey(key)
    let best = 0
    for (let i = 1; i < records.length; i++) {
      if (compare(keyString, records[i] as Uint8Array, records[best] as Uint8Array) > 0) best = i
    }
    return best
  }

  return { validators: { [RECORD_NAMESPACE]: validate }, selectors: { [RECORD_NAMESPACE]: select } }
}

/** The kad-dht datastore key of a record key (same derivation as kad-dht: base32 of the key bytes). */
export function recordDatastoreKey(key: Uint8Array, datastorePrefix = '/dht'): Key {
  return new Key(`${datastorePrefix}/record/${base32.baseEncode(key)}`, false)
}

async function readStored(
  datastore: Datastore,
  prefix: string,
  key: Uint8Array,
  options?: AbortOptions
): Promise<Uint8Array | undefined> {
  let raw: Uint8Array
  try {
    raw = await datastore.get(new Key(`${prefix}/${base32.baseEncode(key)}`, false), options)
  } catch (err) {
    if ((err as Error)?.name === 'NotFoundError') return undefined
    throw err
  }
  try {
    return Libp2pRecord.deserialize(raw).value
  } catch {
    return undefined
  }
}
