import { describe, expect, it } from 'vitest'
import { generateIdentity, verify, ed25519Backend } from '../src/index.js'
describe('smoke', () => {
  it('signs', async () => {
    const id = await generateIdentity()
    const msg = new Uint8Array([1, 2, 3])
    const sig = await id.sign('a/b', msg)
    expect(await verify(id.address, 'a/b', msg, sig)).toBe(true)
    expect(await verify(id.address, 'a/c', msg, sig)).toBe(false)
    expect((await ed25519Backend()).name).toBe('node:crypto')
    console.log(id.address, id.shortId)
  })
})
