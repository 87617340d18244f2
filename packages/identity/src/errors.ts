import { AraliyaError, InvalidInputError } from '@araliya/interface'

/** A key, seed, address or signature context was malformed. */
export class InvalidKeyError<Code extends string = 'ERR_INVALID_KEY'> extends InvalidInputError<Code> {
  static override readonly code: string = 'ERR_INVALID_KEY'
  override name = 'InvalidKeyError'
}

/**
 * Why a string is not an Araliya address:
 * - `not-a-string`: the value is not a string at all;
 * - `length`: empty, or longer than 128 characters (checked before anything else);
 * - `non-ascii`: a character outside ASCII, such as a Cyrillic or fullwidth look-alike of a base58 letter;
 * - `not-base58btc`: an ASCII character outside the base58btc alphabet (`0 O I l`, spaces, punctuation…);
 * - `not-a-peer-id`: base58btc, but not a libp2p PeerId;
 * - `not-ed25519`: a PeerId of another key type (RSA, secp256k1…);
 * - `not-canonical`: it names an Ed25519 key, but is not the one spelling of that key's address (a
 *   re-ordered or padded key encoding, a CID form, …).
 */
export type InvalidAddressReason =
  | 'not-a-string'
  | 'length'
  | 'non-ascii'
  | 'not-base58btc'
  | 'not-a-peer-id'
  | 'not-ed25519'
  | 'not-canonical'

/**
 * Longest string considered as an address, in characters. Every Araliya address is exactly 52; the bound
 * only keeps the decoder's work small for hostile input.
 */
export const MAX_ADDRESS_LENGTH = 128

/**
 * A string is not an Araliya address: the canonical ASCII base58btc PeerId string of an Ed25519 key.
 * `reason` says which rule it broke. A subclass of {@link InvalidKeyError}, so existing handlers still
 * catch it.
 */
export class InvalidAddressError extends InvalidKeyError<'ERR_INVALID_ADDRESS'> {
  static override readonly code: string = 'ERR_INVALID_ADDRESS'
  override name = 'InvalidAddressError'
  /** The rule the string broke. */
  readonly reason: InvalidAddressReason
  constructor(reason: InvalidAddressReason, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.reason = reason
  }
}

/** A signature context string was empty, too long, or not printable ASCII. */
export class InvalidContextError extends InvalidInputError<'ERR_INVALID_SIGNATURE_CONTEXT'> {
  static override readonly code: string = 'ERR_INVALID_SIGNATURE_CONTEXT'
  override name = 'InvalidContextError'
}

/** Bytes given to a canonical decoder were not valid canonical CBOR, or broke a limit. */
export class EncodingError extends InvalidInputError<'ERR_ENCODING'> {
  static override readonly code: string = 'ERR_ENCODING'
  override name = 'EncodingError'
}

/** Base class of every keystore problem. `location` names the file or record involved. */
export class KeystoreError<Code extends string = 'ERR_KEYSTORE'> extends AraliyaError<Code> {
  static override readonly code: string = 'ERR_KEYSTORE'
  override name = 'KeystoreError'
  /** Where the keystore lives (a file path, or a storage description). */
  readonly location: string | undefined
  constructor(message: string, options?: { cause?: unknown; location?: string }) {
    super(message, options)
    this.location = options?.location
  }
}

/** The keystore is encrypted and the passphrase was missing or wrong. */
export class KeystorePassphraseError extends KeystoreError<'ERR_KEYSTORE_PASSPHRASE'> {
  static override readonly code: string = 'ERR_KEYSTORE_PASSPHRASE'
  override name = 'KeystorePassphraseError'
}

/** The keystore looks like ours but is truncated or damaged. */
export class KeystoreCorruptError extends KeystoreError<'ERR_KEYSTORE_CORRUPT'> {
  static override readonly code: string = 'ERR_KEYSTORE_CORRUPT'
  override name = 'KeystoreCorruptError'
}

/** The file is not an Araliya keystore at all. */
export class KeystoreForeignFileError extends KeystoreError<'ERR_KEYSTORE_FOREIGN'> {
  static override readonly code: string = 'ERR_KEYSTORE_FOREIGN'
  override name = 'KeystoreForeignFileError'
}

/** The keystore was written by a newer (or unknown) format version. */
export class KeystoreVersionError extends KeystoreError<'ERR_KEYSTORE_VERSION'> {
  static override readonly code: string = 'ERR_KEYSTORE_VERSION'
  override name = 'KeystoreVersionError'
}

/** The key file can be read by users other than its owner. */
export class KeystorePermissionError extends KeystoreError<'ERR_KEYSTORE_PERMISSIONS'> {
  static override readonly code: string = 'ERR_KEYSTORE_PERMISSIONS'
  override name = 'KeystorePermissionError'
}

/** A keystore already exists where a new one was to be written. */
export class KeystoreExistsError extends KeystoreError<'ERR_KEYSTORE_EXISTS'> {
  static override readonly code: string = 'ERR_KEYSTORE_EXISTS'
  override name = 'KeystoreExistsError'
}

/** No keystore exists at the given location. */
export class KeystoreNotFoundError extends KeystoreError<'ERR_KEYSTORE_NOT_FOUND'> {
  static override readonly code: string = 'ERR_KEYSTORE_NOT_FOUND'
  override name = 'KeystoreNotFoundError'
}

/** Base class of grant and revocation failures. */
export class GrantError<Code extends string = 'ERR_GRANT'> extends AraliyaError<Code> {
  static override readonly code: string = 'ERR_GRANT'
  override name = 'GrantError'
}

/** The grant (or revocation) is malformed or its signature does not verify. */
export class GrantSignatureError extends GrantError<'ERR_GRANT_SIGNATURE'> {
  static override readonly code: string = 'ERR_GRANT_SIGNATURE'
  override name = 'GrantSignatureError'
}

/** The grant is not valid at the time asked about (before `notBefore`, or at/after `expiresAt`). */
export class GrantExpiredError extends GrantError<'ERR_GRANT_EXPIRED'> {
  static override readonly code: string = 'ERR_GRANT_EXPIRED'
  override name = 'GrantExpiredError'
}

/** The grant does not cover the path, right or subject asked about. */
export class GrantScopeError extends GrantError<'ERR_GRANT_SCOPE'> {
  static override readonly code: string = 'ERR_GRANT_SCOPE'
  override name = 'GrantScopeError'
}

/** The grant was revoked by its issuer. */
export class GrantRevokedError extends GrantError<'ERR_GRANT_REVOKED'> {
  static override readonly code: string = 'ERR_GRANT_REVOKED'
  override name = 'GrantRevokedError'
}

/** An Ethereum link is malformed or its signatures do not verify. */
export class EthLinkError extends AraliyaError<'ERR_ETH_LINK'> {
  static override readonly code: string = 'ERR_ETH_LINK'
  override name = 'EthLinkError'
}

/**
 * A sealed box could not be opened: it was sealed to another key or for another purpose (context), it was
 * altered, or it is not a sealed box at all.
 */
export class SealError extends AraliyaError<'ERR_SEAL'> {
  static override readonly code: string = 'ERR_SEAL'
  override name = 'SealError'
}

/**
 * Every `code` an error thrown by this package can carry (including `ERR_TOO_LARGE` from the canonical
 * decoder's size check and `ERR_ABORTED` from a fired `AbortSignal`, both classes of
 * `@araliya/interface`), so a `switch (err.code)` over them can be exhaustive.
 */
export type IdentityErrorCode =
  | 'ERR_INVALID_KEY'
  | 'ERR_INVALID_ADDRESS'
  | 'ERR_INVALID_SIGNATURE_CONTEXT'
  | 'ERR_ENCODING'
  | 'ERR_KEYSTORE'
  | 'ERR_KEYSTORE_PASSPHRASE'
  | 'ERR_KEYSTORE_CORRUPT'
  | 'ERR_KEYSTORE_FOREIGN'
  | 'ERR_KEYSTORE_VERSION'
  | 'ERR_KEYSTORE_PERMISSIONS'
  | 'ERR_KEYSTORE_EXISTS'
  | 'ERR_KEYSTORE_NOT_FOUND'
  | 'ERR_GRANT'
  | 'ERR_GRANT_SIGNATURE'
  | 'ERR_GRANT_EXPIRED'
  | 'ERR_GRANT_SCOPE'
  | 'ERR_GRANT_REVOKED'
  | 'ERR_ETH_LINK'
  | 'ERR_SEAL'
  | 'ERR_TOO_LARGE'
  | 'ERR_ABORTED'
