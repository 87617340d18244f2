/**
 * Regenerates the test vectors published in docs/protocols/addresses.md from fixed keys:
 * `pnpm exec tsx --conditions=@araliya/source test/vectors.generate.ts` (from packages/identity).
 * Review the diff: a vector whose verdict changes is a protocol change.
 */
import { lookAlikeAddresses, replaceAt, secondSpellings } from '@araliya/test-support/addresses'
import { writeVectors } from '@araliya/test-support/doc-vectors'
import { identityFromSeed, InvalidAddressError, publicKeyFromAddress } from '../src/index.js'

const DOC = new URL('../../../docs/protocols/addresses.md', import.meta.url)

const me = await identityFromSeed(new Uint8Array(32).fill(7))
const last = me.address.length - 1
const candidates: Array<[string, unknown]> = [
  ['the address of the key', me.address],
  ['not a string', 42],
  ['empty', ''],
  ['too long', me.address.repeat(3)],
  ...Object.entries(lookAlikeAddresses(me.address)).map(([name, s]): [string, string] => [
    `look-alike: ${name}`,
    s
  ]),
  ['a trailing space', `${me.address} `],
  ['a zero in place of a letter', replaceAt(me.address, last, '0')],
  ['a leading "1" (a zero byte in front)', `1${me.address}`],
  ['an RSA PeerId', 'QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N'],
  ['the CIDv1 (bafz…) form of the key', me.peerId.toCID().toString()],
  ...Object.entries(secondSpellings(me.publicKey)).map(([name, s]): [string, string] => [
    `second spelling: ${name}`,
    s
  ])
]

const vectors = candidates.map(([name, address]) => {
  try {
    publicKeyFromAddress(address as string)
    return { name, address, valid: true }
  } catch (err) {
    if (!InvalidAddressError.isInstance(err)) throw err
    return { name, address, valid: err.reason }
  }
})
writeVectors(DOC, { kind: 'address/v1', vectors })
console.log(`wrote ${vectors.length} address vectors`)
