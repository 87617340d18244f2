import { join } from 'node:path'
import { expect, it } from 'vitest'
import { describeInBrowser } from '@araliya/test-support/browser'
import { generateIdentity, KeystorePassphraseError, verify } from '../src/index.js'

type Api = typeof import('../src/index.js') & {
  nobleEd25519: typeof import('../src/platform/noble.js').nobleEd25519
}
declare const araliya: Api

describeInBrowser('@araliya/identity', join(import.meta.dirname, 'browser', 'page.ts'), (tab) => {
  it('uses WebCrypto ed25519, and its signatures verify in Node', async () => {
    const result = await tab().page.evaluate(async () => {
      const id = await araliya.generateIdentity()
      const message = new TextEncoder().encode('from the browser')
      const signature = await id.sign('araliya/browser-test/v1', message)
      return {
        backend: (await araliya.ed25519Backend()).name,
        address: id.address,
        peerId: id.peerId.toString(),
        signature: Array.from(signature),
        selfCheck: await araliya.verify(id.address, 'araliya/browser-test/v1', message, signature)
      }
    })
    expect(result.backend).toBe('webcrypto')
    expect(result.peerId).toBe(result.address)
    expect(result.selfCheck).toBe(true)
    const message = new TextEncoder().encode('from the browser')
    const signature = Uint8Array.from(result.signature)
    expect(await verify(result.address, 'araliya/browser-test/v1', message, signature)).toBe(true)
    expect(await verify(result.address, 'araliya/other/v1', message, signature)).toBe(false)
  })

  it('verifies Node signatures, with WebCrypto and with the noble fallback, and rejects tampering', async () => {
    const id = await generateIdentity()
    const message = new TextEncoder().encode('from node')
    const signature = await id.sign('araliya/browser-test/v1', message)
    const verdicts = await tab().page.evaluate(
      async ({ address, signature }) => {
        const message = new TextEncoder().encode('from node')
        const sig = Uint8Array.from(signature)
        const bad = Uint8Array.from(signature)
        bad[3] = (bad[3] as number) ^ 1
        const noble = araliya.nobleEd25519()
        const bytes = araliya.signedBytes('araliya/browser-test/v1', message)
        const publicKey = araliya.publicKeyFromAddress(address)
        return {
          webcrypto: await araliya.verify(address, 'araliya/browser-test/v1', message, sig),
          tampered: await araliya.verify(address, 'araliya/browser-test/v1', message, bad),
          noble: await noble.verify(publicKey, bytes, sig),
          nobleTampered: await noble.verify(publicKey, bytes, bad)
        }
      },
      { address: id.address, signature: Array.from(signature) }
    )
    expect(verdicts).toEqual({ webcrypto: true, tampered: false, noble: true, nobleTampered: false })
  })

  it('keeps the identity in IndexedDB: the same address after a reload and in another tab', async () => {
    const create = () =>
      araliya
        .loadOrCreateIdentity({ dir: 'araliya-browser-test' })
        .then((id: { address: string }) => id.address)
    const first = await tab().page.evaluate(create)
    await tab().reload()
    const second = await tab().page.evaluate(create)
    const other = await tab().newPage()
    const third = await other.evaluate(create)
    expect(second).toBe(first)
    expect(third).toBe(first)
  })

  it('encrypts a keystore with a passphrase (noble scrypt) and refuses a wrong one', async () => {
    const outcome = await tab().page.evaluate(async () => {
      const id = await araliya.generateIdentity()
      const bytes = await araliya.exportIdentity(id, { passphrase: 'pässword', scryptLogN: 12 })
      const back = await araliya.importIdentity(bytes, { passphrase: 'pässword' })
      const wrong = await araliya.importIdentity(bytes, { passphrase: 'nope' }).catch((err: Error) => err)
      return { same: back.address === id.address, wrongCode: (wrong as { code?: string }).code }
    })
    expect(outcome).toEqual({ same: true, wrongCode: KeystorePassphraseError.code })
  })

  it('verifySync (noble) and verifyBatch (WebCrypto) give the verdicts verify gives, in the browser', async () => {
    const id = await generateIdentity()
    const message = new TextEncoder().encode('from node')
    const signature = await id.sign('araliya/browser-test/v1', message)
    const verdicts = await tab().page.evaluate(
      async ({ address, signature }) => {
        const message = new TextEncoder().encode('from node')
        const sig = Uint8Array.from(signature)
        const bad = Uint8Array.from(signature)
        bad[0] = (bad[0] as number) ^ 1
        const checks = [
          { signer: address, context: 'araliya/browser-test/v1', message, signature: sig },
          { signer: address, context: 'araliya/other/v1', message, signature: sig },
          { signer: address, context: 'araliya/browser-test/v1', message, signature: bad }
        ]
        return {
          sync: checks.map((c) => araliya.verifySync(c.signer, c.context, c.message, c.signature)),
          batch: await araliya.verifyBatch(checks)
        }
      },
      { address: id.address, signature: Array.from(signature) }
    )
    expect(verdicts).toEqual({ sync: [true, false, false], batch: [true, false, false] })
  })
})
