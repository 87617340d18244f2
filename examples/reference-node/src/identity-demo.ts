import { join } from 'node:path'
import { type Identity, verify } from '@araliya/identity'
import { loadNodeIdentity } from './node.ts'

/** What the identity demo reports in its final JSON line. */
export interface IdentityDemoResult {
  demo: 'ok'
  address: string
  shortId: string
  created: boolean
  dataDir: string
  signVerifyMs: number
  crossContextRejected: boolean
}

/** What {@link checkSignatures} found. */
export interface SignatureCheck {
  signVerifyMs: number
  crossContextRejected: boolean
}

/**
 * Signs a message, verifies it by address alone (no key exchange: the address embeds the public key),
 * and shows that the signature is bound to its context (domain separation): the same bytes signed for
 * `araliya/demo/v1` never verify as anything else.
 */
export async function checkSignatures(
  identity: Identity,
  log: (line: string) => void = console.log
): Promise<SignatureCheck> {
  const message = new TextEncoder().encode(`hello from ${identity.shortId}`)
  const started = performance.now()
  const signature = await identity.sign('araliya/demo/v1', message)
  const valid = await verify(identity.address, 'araliya/demo/v1', message, signature)
  const signVerifyMs = performance.now() - started
  if (!valid) throw new Error('the demo signature did not verify')
  log(`signed ${message.byteLength} bytes and verified them by address alone (${signVerifyMs.toFixed(2)} ms)`)

  const crossContextRejected = !(await verify(identity.address, 'araliya/other/v1', message, signature))
  if (!crossContextRejected) throw new Error('a signature verified under the wrong context')
  log('the same signature is rejected under another context (domain separation)')
  return { signVerifyMs: Number(signVerifyMs.toFixed(3)), crossContextRejected }
}

/**
 * Creates (first run) or loads (every later run) the persistent identity of the node kept in `dataDir`
 * (`<dataDir>/identity`, the same one `araliya start` uses), and checks its signatures.
 */
export async function runIdentityDemo(
  dataDir: string,
  log: (line: string) => void = console.log
): Promise<IdentityDemoResult> {
  const { identity, created } = await loadNodeIdentity(dataDir)
  log(`${created ? 'created a new' : 'loaded the'} identity in ${join(dataDir, 'identity')}`)
  log(`  address  ${identity.address}`)
  log(`  short id ${identity.shortId}`)
  const check = await checkSignatures(identity, log)
  return { demo: 'ok', address: identity.address, shortId: identity.shortId, created, dataDir, ...check }
}
