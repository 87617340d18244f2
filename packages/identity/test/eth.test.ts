import { hexToBytes } from '@noble/hashes/utils.js'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  checksumEthAddress,
  completeEthLink,
  decodeEthLink,
  encodeEthLink,
  ethAddressFromPrivateKey,
  EthLinkError,
  ethLinkMessage,
  generateIdentity,
  type Identity,
  linkEthereumAddress,
  verifyEthLink
} from '../src/index.js'
import { eip191Digest, recoverEthSigner } from '../src/eth.js'

// A published web3.js `eth.accounts.sign` example (private key, address, message, signature).
const KEY = hexToBytes('4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318')
const ADDRESS = '0x2c7536E3605D9C16a7a3D7b1898e529396a65c23'
const SIGNATURE = hexToBytes(
  'b91467e570a6466aa9e9876cbcd013baba02900b8979d43fe208a4a4f339f5fd6007e74cd82e037b800186422fc2da167c747ef045e5d18a5f5d4300f8e1a0291c'
)

let agent: Identity
beforeAll(async () => {
  agent = await generateIdentity()
})

describe('Ethereum primitives', () => {
  it('derives the checksummed address of a known key', () => {
    expect(ethAddressFromPrivateKey(KEY)).toBe(ADDRESS)
    expect(checksumEthAddress(ADDRESS.toLowerCase())).toBe(ADDRESS)
    expect(() => checksumEthAddress('0x2C7536E3605D9C16a7a3D7b1898e529396a65c23')).toThrowError(/checksum/)
    expect(() => checksumEthAddress('0x1234')).toThrowError(EthLinkError)
  })

  it('matches a published EIP-191 personal_sign vector', () => {
    expect(Buffer.from(eip191Digest('Some data')).toString('hex')).toBe(
      '1da44b586eb0729ff70a73c326926f6ed5a25f5b056e7f47fbc6e58d86871655'
    )
    expect(recoverEthSigner('Some data', SIGNATURE)).toBe(ADDRESS)
    expect(recoverEthSigner('Other data', SIGNATURE)).not.toBe(ADDRESS)
    expect(recoverEthSigner('Some data', SIGNATURE.subarray(1))).toBeUndefined()
  })
})

describe('Ethereum link', () => {
  it('binds an ETH address to the agent; verifying recovers the 0x address', async () => {
    const link = await linkEthereumAddress(agent, KEY, { issuedAt: 1_700_000_000_000 })
    expect(link.eth).toBe(ADDRESS)
    expect(await verifyEthLink(link)).toEqual({ eth: ADDRESS, agent: agent.address })
    const again = decodeEthLink(encodeEthLink(link))
    expect(await verifyEthLink(again)).toEqual({ eth: ADDRESS, agent: agent.address })
  })

  it('completes a link from a wallet signature over the shown message', async () => {
    const issuedAt = 1_700_000_000_123
    const message = ethLinkMessage(agent.address, ADDRESS, issuedAt)
    expect(message).toContain(agent.address)
    const walletLink = await linkEthereumAddress(agent, KEY, { issuedAt })
    const link = await completeEthLink(agent, {
      eth: ADDRESS,
      issuedAt,
      ethSignature: walletLink.ethSignature
    })
    expect((await verifyEthLink(link)).eth).toBe(ADDRESS)
    const other = await generateIdentity()
    await expect(
      completeEthLink(other, { eth: ADDRESS, issuedAt, ethSignature: walletLink.ethSignature })
    ).rejects.toThrowError(EthLinkError)
  })

  it('rejects a link with any part changed', async () => {
    const link = await linkEthereumAddress(agent, KEY, { issuedAt: 1_700_000_000_000 })
    const other = await generateIdentity()
    const flip = (bytes: Uint8Array, at: number) => bytes.map((b, i) => (i === at ? b ^ 1 : b))
    for (const bad of [
      { ...link, agent: other.address },
      { ...link, issuedAt: link.issuedAt + 1 },
      { ...link, eth: ethAddressFromPrivateKey(new Uint8Array(32).fill(7)) },
      { ...link, ethSignature: flip(link.ethSignature, 10) },
      { ...link, agentSignature: flip(link.agentSignature, 10) },
      { ...link, eth: link.eth.toLowerCase() }
    ]) {
      await expect(verifyEthLink(bad)).rejects.toThrowError(EthLinkError)
    }
    expect(() => decodeEthLink(new Uint8Array([1, 2, 3]))).toThrowError()
  })
})
