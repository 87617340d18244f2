/**
 * An Araliya agent's identity: one ed25519 key that is its libp2p PeerId, its address on the swarm and
 * its write authority. Domain-separated signatures, a persistent (optionally encrypted) keystore,
 * grants for device keys and peers, canonical CBOR, and an Ethereum address link.
 *
 * @example
 * ```ts
 * import { loadOrCreateIdentity, verify } from '@araliya/identity'
 *
 * const me = await loadOrCreateIdentity({ dir: './.araliya' })
 * console.log(me.address, me.shortId) // 12D3KooW… bot-pkey51aee87e
 *
 * const message = new TextEncoder().encode('hello swarm')
 * const signature = await me.sign('myapp/greeting/v1', message)
 * await verify(me.address, 'myapp/greeting/v1', message, signature) // true
 * await verify(me.address, 'myapp/other/v1', message, signature)    // false: other context
 * ```
 *
 * @packageDocumentation
 */
export {
  type CanonicalValue,
  type DecodeLimits,
  decodeCanonical,
  encodeCanonical,
  equalBytes
} from './encoding.js'
export {
  EncodingError,
  EthLinkError,
  GrantError,
  GrantExpiredError,
  GrantRevokedError,
  GrantScopeError,
  GrantSignatureError,
  type IdentityErrorCode,
  InvalidAddressError,
  type InvalidAddressReason,
  InvalidContextError,
  InvalidKeyError,
  KeystoreCorruptError,
  KeystoreError,
  KeystoreExistsError,
  KeystoreForeignFileError,
  KeystoreNotFoundError,
  KeystorePassphraseError,
  KeystorePermissionError,
  KeystoreVersionError,
  SealError
} from './errors.js'
export {
  checksumEthAddress,
  completeEthLink,
  decodeEthLink,
  type EthLink,
  encodeEthLink,
  ethAddressFromPrivateKey,
  ethLinkMessage,
  linkEthereumAddress,
  verifyEthLink
} from './eth.js'
export {
  decodeGrant,
  decodeRevocation,
  encodeGrant,
  encodeRevocation,
  GRANT_CONTEXT,
  type Grant,
  type GrantCheck,
  type GrantInit,
  type GrantRight,
  type GrantScope,
  type GrantVerdict,
  grantId,
  issueGrant,
  type Revocation,
  revokeGrant,
  scopeCoversPath,
  verifyGrant,
  verifyRevocation
} from './grants.js'
export {
  addressFromPublicKey,
  generateIdentity,
  Identity,
  identityFromLibp2pKey,
  identityFromSeed,
  isAddress,
  type PublicIdentity,
  publicIdentity,
  publicKeyFromAddress,
  type SignatureCheck,
  shortIdOf,
  verify,
  verifyBatch,
  verifySync
} from './identity.js'
export {
  exportIdentity,
  importIdentity,
  type KeystoreLocation,
  type KeystoreReadOptions,
  type KeystoreWriteOptions,
  keyStorage,
  loadIdentity,
  loadOrCreateIdentity,
  saveIdentity
} from './keystore.js'
export type { Ed25519Backend, KeyStorage } from './platform/types.js'
export { SEAL_OVERHEAD, sealTo } from './seal.js'
export { ed25519Backend, signedBytes } from './signing.js'
