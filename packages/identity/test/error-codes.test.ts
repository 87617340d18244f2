import type { AbortedError, TooLargeError } from '@araliya/interface'
import { describe, expect, expectTypeOf, it } from 'vitest'
import {
  decodeCanonical,
  type EncodingError,
  EthLinkError,
  type SealError,
  GrantError,
  GrantExpiredError,
  GrantRevokedError,
  GrantScopeError,
  GrantSignatureError,
  type IdentityErrorCode,
  InvalidAddressError,
  type InvalidContextError,
  InvalidKeyError,
  KeystoreCorruptError,
  KeystoreError,
  type KeystoreExistsError,
  type KeystoreForeignFileError,
  KeystoreNotFoundError,
  KeystorePassphraseError,
  type KeystorePermissionError,
  type KeystoreVersionError,
  publicKeyFromAddress
} from '../src/index.js'

/** Every error class this package throws, and the two shared ones it lets through. */
type IdentityError =
  | InvalidKeyError
  | InvalidAddressError
  | InvalidContextError
  | EncodingError
  | KeystoreError
  | KeystorePassphraseError
  | KeystoreCorruptError
  | KeystoreForeignFileError
  | KeystoreVersionError
  | KeystorePermissionError
  | KeystoreExistsError
  | KeystoreNotFoundError
  | GrantError
  | GrantSignatureError
  | GrantExpiredError
  | GrantScopeError
  | GrantRevokedError
  | EthLinkError
  | SealError
  | TooLargeError
  | AbortedError

/** What an app does with a failure: a switch that TypeScript checks for exhaustiveness. */
function advice(err: IdentityError): string {
  switch (err.code) {
    case 'ERR_INVALID_ADDRESS':
      expectTypeOf(err).toEqualTypeOf<InvalidAddressError>()
      return `bad address (${err.reason})`
    case 'ERR_KEYSTORE_PASSPHRASE':
      expectTypeOf(err).toEqualTypeOf<KeystorePassphraseError>()
      return `wrong passphrase for ${err.location}`
    case 'ERR_TOO_LARGE':
      expectTypeOf(err).toEqualTypeOf<TooLargeError>()
      return `too large: ${err.size} > ${err.limit}`
    case 'ERR_INVALID_KEY':
    case 'ERR_INVALID_SIGNATURE_CONTEXT':
    case 'ERR_ENCODING':
    case 'ERR_KEYSTORE':
    case 'ERR_KEYSTORE_CORRUPT':
    case 'ERR_KEYSTORE_FOREIGN':
    case 'ERR_KEYSTORE_VERSION':
    case 'ERR_KEYSTORE_PERMISSIONS':
    case 'ERR_KEYSTORE_EXISTS':
    case 'ERR_KEYSTORE_NOT_FOUND':
    case 'ERR_GRANT':
    case 'ERR_GRANT_SIGNATURE':
    case 'ERR_GRANT_EXPIRED':
    case 'ERR_GRANT_SCOPE':
    case 'ERR_GRANT_REVOKED':
    case 'ERR_ETH_LINK':
    case 'ERR_SEAL':
    case 'ERR_ABORTED':
      return err.message
    default: {
      const unreachable: never = err
      return unreachable
    }
  }
}

describe('error codes', () => {
  it('each class carries its code as a literal type', () => {
    expectTypeOf(new InvalidAddressError('length', 'x').code).toEqualTypeOf<'ERR_INVALID_ADDRESS'>()
    expectTypeOf(new KeystoreNotFoundError('x').code).toEqualTypeOf<'ERR_KEYSTORE_NOT_FOUND'>()
    expectTypeOf(new KeystoreError('x').code).toEqualTypeOf<'ERR_KEYSTORE'>()
    expectTypeOf(new GrantScopeError('x').code).toEqualTypeOf<'ERR_GRANT_SCOPE'>()
    expectTypeOf(new EthLinkError('x').code).toEqualTypeOf<'ERR_ETH_LINK'>()
    expectTypeOf<IdentityError['code']>().toEqualTypeOf<IdentityErrorCode>()
  })

  it('switch (err.code) narrows to the class, at run time too', () => {
    let caught: unknown
    try {
      publicKeyFromAddress('0OIl')
    } catch (err) {
      caught = err
    }
    expect(InvalidAddressError.isInstance(caught)).toBe(true)
    expect(advice(caught as InvalidAddressError)).toBe('bad address (not-base58btc)')
    expect(advice(new KeystorePassphraseError('no', { location: '/tmp/k' }))).toBe(
      'wrong passphrase for /tmp/k'
    )
    try {
      decodeCanonical(new Uint8Array(10), { maxBytes: 4 })
    } catch (err) {
      caught = err
    }
    expect(advice(caught as TooLargeError)).toBe('too large: 10 > 4')
    expect(advice(new GrantExpiredError('expired'))).toBe('expired')
  })

  it('an isInstance check of a base class still catches its subclasses', () => {
    const err: unknown = new KeystoreCorruptError('damaged')
    expect(KeystoreError.isInstance(err)).toBe(true)
    expect(KeystoreNotFoundError.isInstance(err)).toBe(false)
    expect(InvalidKeyError.isInstance(new InvalidAddressError('length', 'x'))).toBe(true)
    expect(GrantError.isInstance(new GrantRevokedError('revoked'))).toBe(true)
    expect(GrantError.isInstance(new GrantSignatureError('bad'))).toBe(true)
  })
})
