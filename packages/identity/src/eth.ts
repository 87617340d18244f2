import { type AbortOptions, isByteString, isPlainMap, isSafeUint } from '@araliya/interface'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { bytesToHex } from '@noble/hashes/utils.js'
import { decodeCanonical, encodeCanonical } from './encoding.js'
import { EncodingError, EthLinkError } from './errors.js'
import { type Identity, isAddress, verify } from './identity.js'

/** The signature context of the agent's half of an Ethereum link. */
export const ETH_LINK_CONTEXT = 'araliya/eth-link/v1'
/** Largest encoded link accepted by {@link decodeEthLink}. */
export const MAX_ETH_LINK_BYTES = 1024

const textEncoder = new TextEncoder()

/**
 * A two-way proof binding an Ethereum address to an agent: the Ethereum key signs (EIP-191
 * `personal_sign`) a text naming the agent, and the agent signs the whole link with its ed25519 key.
 */
export interface EthLink {
  readonly v: 1
  /** The agent's address (PeerId string). */
  readonly agent: string
  /** The EIP-55 checksummed `0x…` Ethereum address. */
  readonly eth: string
  /** When the link was made, ms since the epoch (part of the signed text). */
  readonly issuedAt: number
  /** The 65-byte Ethereum signature `r ‖ s ‖ v` (v = 27 or 28) over {@link ethLinkMessage}. */
  readonly ethSignature: Uint8Array
  /** The agent's ed25519 signature over the canonical link under the context `araliya/eth-link/v1`. */
  readonly agentSignature: Uint8Array
}

/** The EIP-55 checksummed address of an Ethereum (secp256k1) public or private key. */
export function ethAddressFromPrivateKey(privateKey: Uint8Array): string {
  return ethAddressFromPublicKey(secp256k1.getPublicKey(privateKey, false))
}

/** The EIP-55 address of an uncompressed (65-byte) or compressed (33-byte) secp256k1 public key. */
export function ethAddressFromPublicKey(publicKey: Uint8Array): string {
  const uncompressed =
    publicKey.byteLength === 65 ? publicKey : secp256k1.Point.fromBytes(publicKey).toBytes(false)
  return checksumEthAddress(bytesToHex(keccak_256(uncompressed.subarray(1)).subarray(12)))
}

/**
 * Normalises an Ethereum address to its EIP-55 checksummed form.
 *
 * @throws {EthLinkError} when it is not 40 hex digits, or is mixed-case with a wrong checksum.
 */
export function checksumEthAddress(address: string): string {
  const hex = address.startsWith('0x') || address.startsWith('0X') ? address.slice(2) : address
  if (!/^[0-9a-fA-F]{40}$/.test(hex))
    throw new EthLinkError(`"${address}" is not a 20-byte hex Ethereum address`)
  const lower = hex.toLowerCase()
  const hash = bytesToHex(keccak_256(textEncoder.encode(lower)))
  let out = '0x'
  for (let i = 0; i < 40; i++) {
    out += Number.parseInt(hash[i] as string, 16) >= 8 ? (lower[i] as string).toUpperCase() : lower[i]
  }
  const mixed = hex !== lower && hex !== hex.toUpperCase()
  if (mixed && out.slice(2) !== hex) throw new EthLinkError(`"${address}" has a wrong EIP-55 checksum`)
  return out
}

/**
 * The text the Ethereum key signs with `personal_sign`. Show it to wallet users: it says exactly what
 * they are agreeing to.
 */
export function ethLinkMessage(agent: string, eth: string, issuedAt: number): string {
  return `Araliya: link Ethereum address ${checksumEthAddress(eth)} to agent ${agent} at ${issuedAt}`
}

/** The EIP-191 digest of a text message (`keccak256("\x19Ethereum Signed Message:\n" + len + text)`). */
export function eip191Digest(message: string): Uint8Array {
  const body = textEncoder.encode(message)
  const prefix = textEncoder.encode(`\x19Ethereum Signed Message:\n${body.byteLength}`)
  const all = new Uint8Array(prefix.byteLength + body.byteLength)
  all.set(prefix)
  all.set(body, prefix.byteLength)
  return keccak_256(all)
}

/**
 * Links an Ethereum address to the agent when you hold the Ethereum private key. For a wallet, show
 * {@link ethLinkMessage} to the user, let the wallet sign it, and call {@link completeEthLink}.
 */
export async function linkEthereumAddress(
  identity: Identity,
  ethPrivateKey: Uint8Array,
  options: AbortOptions & { issuedAt?: number } = {}
): Promise<EthLink> {
  const eth = ethAddressFromPrivateKey(ethPrivateKey)
  const issuedAt = options.issuedAt ?? Date.now()
  const digest = eip191Digest(ethLinkMessage(identity.address, eth, issuedAt))
  const recovered = secp256k1.sign(digest, ethPrivateKey, { prehash: false, format: 'recovered' })
  const ethSignature = new Uint8Array(65)
  ethSignature.set(recovered.subarray(1), 0)
  ethSignature[64] = 27 + (recovered[0] as number)
  return completeEthLink(identity, { eth, issuedAt, ethSignature }, options)
}

/**
 * Completes a link from a wallet's `personal_sign` signature (65 bytes `r ‖ s ‖ v`) over
 * {@link ethLinkMessage}, adding the agent's own signature.
 *
 * @throws {EthLinkError} when the Ethereum signature does not recover to `eth`.
 */
export async function completeEthLink(
  identity: Identity,
  init: { eth: string; issuedAt: number; ethSignature: Uint8Array },
  options?: AbortOptions
): Promise<EthLink> {
  const eth = checksumEthAddress(init.eth)
  const recovered = recoverEthSigner(ethLinkMessage(identity.address, eth, init.issuedAt), init.ethSignature)
  if (recovered !== eth) {
    throw new EthLinkError(`the Ethereum signature was made by ${recovered ?? 'no valid key'}, not ${eth}`)
  }
  const body = {
    v: 1,
    agent: identity.address,
    eth,
    issuedAt: init.issuedAt,
    ethSignature: init.ethSignature
  }
  const agentSignature = await identity.sign(ETH_LINK_CONTEXT, encodeCanonical(body), options)
  return { ...body, v: 1, agentSignature }
}

/**
 * The EIP-55 address that made a `personal_sign` signature over `message`, or `undefined` when the
 * signature is malformed or recovers to no key.
 */
export function recoverEthSigner(message: string, signature: Uint8Array): string | undefined {
  if (!(signature instanceof Uint8Array) || signature.byteLength !== 65) return undefined
  const v = signature[64] as number
  const recovery = v >= 27 ? v - 27 : v
  if (recovery !== 0 && recovery !== 1) return undefined
  const compact = new Uint8Array(65)
  compact[0] = recovery
  compact.set(signature.subarray(0, 64), 1)
  try {
    const publicKey = secp256k1.recoverPublicKey(compact, eip191Digest(message), { prehash: false })
    return ethAddressFromPublicKey(publicKey)
  } catch {
    return undefined
  }
}

/**
 * Verifies both halves of a link and returns the proven Ethereum address.
 *
 * @throws {EthLinkError} when the link is malformed or either signature fails.
 */
export async function verifyEthLink(link: EthLink): Promise<{ eth: string; agent: string }> {
  if (!isPlainMap(link) || link.v !== 1) throw new EthLinkError('not a version 1 Ethereum link')
  if (!isAddress(link.agent)) throw new EthLinkError('the link names no valid agent address')
  if (!isSafeUint(link.issuedAt, -Number.MAX_SAFE_INTEGER))
    throw new EthLinkError('the link has no valid issuedAt')
  if (!isByteString(link.agentSignature)) throw new EthLinkError('the link has no agent signature')
  const eth = checksumEthAddress(String(link.eth))
  if (eth !== link.eth) throw new EthLinkError('the link must carry the checksummed Ethereum address')
  const recovered = recoverEthSigner(ethLinkMessage(link.agent, eth, link.issuedAt), link.ethSignature)
  if (recovered !== eth) throw new EthLinkError(`the Ethereum signature does not recover to ${eth}`)
  const body = { v: 1, agent: link.agent, eth, issuedAt: link.issuedAt, ethSignature: link.ethSignature }
  if (!(await verify(link.agent, ETH_LINK_CONTEXT, encodeCanonical(body), link.agentSignature))) {
    throw new EthLinkError(`the agent signature by ${link.agent} does not verify`)
  }
  return { eth, agent: link.agent }
}

/** Canonical CBOR of a link (for DHT records and the wire). */
export function encodeEthLink(link: EthLink): Uint8Array {
  return encodeCanonical({ ...link })
}

/** Decodes a link (size before parsing, then shape). Call {@link verifyEthLink} to check signatures. */
export function decodeEthLink(bytes: Uint8Array): EthLink {
  const value = decodeCanonical(bytes, { maxBytes: MAX_ETH_LINK_BYTES, maxDepth: 2 })
  if (
    !isPlainMap(value) ||
    value.v !== 1 ||
    typeof value.agent !== 'string' ||
    typeof value.eth !== 'string' ||
    !isSafeUint(value.issuedAt, -Number.MAX_SAFE_INTEGER) ||
    !isByteString(value.ethSignature) ||
    !isByteString(value.agentSignature)
  ) {
    throw new EncodingError('bytes are not an Ethereum link')
  }
  return value as unknown as EthLink
}
