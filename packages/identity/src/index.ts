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
  DEFAULT_MAX_DECODE_BYTES,
  DEFAULT_MAX_DECODE_DEPTH,
  type DecodeLimits,
  decodeCanonical,
  encodeCanonical,
  equalBytes
} from './encoding.js'
export * from './errors.js'
export * from './eth.js'
export * from './grants.js'
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
  shortIdOf,
  verify
} from './identity.js'
export * from './keystore.js'
export type { Ed25519Backend, KeyStorage, RawSigner } from './platform/types.js'
export { assertSignatureContext, ed25519Backend, signedBytes } from './signing.js'
