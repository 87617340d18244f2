import { join } from 'node:path'
import { loadIdentity, loadOrCreateIdentity, KeystoreNotFoundError, verify } from '@araliya/identity'

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

/**
 * Creates (first run) or loads (every later run) a persistent identity in `dataDir`, signs a message and
 * verifies it by address alone, and shows that the signature is bound to its context.
 */
export async function runIdentityDemo(
  dataDir: string,
  log: (line: string) => void = console.log
): Promise<IdentityDemoResult> {
  const keyDir = join(dataDir, 'identity')
  let created = false
  try {
    await loadIdentity({ dir: keyDir })
  } catch (err) {
    if (!KeystoreNotFoundError.isInstance(err)) throw err
    created = true
  }
  const identity = await loadOrCreateIdentity({ dir: keyDir })
  log(`${created ? 'created a new' : 'loaded the'} identity in ${keyDir}`)
  log(`  address  ${identity.address}`)
  log(`  short id ${identity.shortId}`)

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
  return {
    demo: 'ok',
    address: identity.address,
    shortId: identity.shortId,
    created,
    dataDir,
    signVerifyMs: Number(signVerifyMs.toFixed(3)),
    crossContextRejected
  }
}
