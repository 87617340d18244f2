import { generateIdentity, identityFromSeed } from '@araliya/identity'
import { afterEach, describe, expect, it } from 'vitest'
import { createMemory, type Memory, MemoryKeyError } from '../src/index.js'
import { syncPair } from './helpers.js'

const open: Memory[] = []
afterEach(async () => {
  for (const memory of open.splice(0)) await memory.stop()
})
async function start(memory: Memory): Promise<Memory> {
  await memory.start()
  open.push(memory)
  return memory
}

describe('two devices sharing one key', () => {
  it('both change one single-valued fact offline: one winner everywhere, the loser listed identically', async () => {
    const seed = globalThis.crypto.getRandomValues(new Uint8Array(32))
    const laptop = await start(createMemory({ identity: await identityFromSeed(seed), device: 'laptop' }))
    const phone = await start(createMemory({ identity: await identityFromSeed(seed), device: 'phone' }))
    await laptop.relate('user', 'favourite colour', 'blue', { single: true })
    await syncPair(laptop.graph, phone.graph)
    const id = laptop.facts({ subject: 'user' })[0]?.id as string
    expect(phone.get(id)).toMatchObject({ object: 'blue' })

    await laptop.correct(id, { object: 'green' })
    await phone.correct(id, { object: 'red' })
    await syncPair(laptop.graph, phone.graph)

    expect(laptop.get(id)).toEqual(phone.get(id))
    const conflicts = laptop.conflicts()
    expect(conflicts).toHaveLength(1)
    expect(phone.conflicts()).toEqual(conflicts)
    const objects = [conflicts[0]?.winner.item, ...(conflicts[0]?.losers ?? []).map((l) => l.item)].map(
      (item) => item?.kind === 'fact' && item.object
    )
    expect(objects.sort()).toEqual(['green', 'red'])

    // a correction resolves it, on every replica
    await phone.correct(id, { object: 'teal' })
    await syncPair(laptop.graph, phone.graph)
    expect(laptop.conflicts()).toEqual([])
    expect(phone.conflicts()).toEqual([])
    expect(laptop.get(id)).toMatchObject({ object: 'teal' })
  })
})

describe('a device with its own key', () => {
  it('cannot read until the owner adds it, then reads and writes the same memory', async () => {
    const owner = await start(createMemory({ identity: await generateIdentity(), device: 'desktop' }))
    const deviceKey = await generateIdentity()
    const phone = await start(createMemory({ identity: deviceKey, owner: owner.owner, device: 'phone' }))
    const note = await owner.remember('the wifi password is in the blue notebook')
    await syncPair(owner.graph, phone.graph)
    expect(phone.readable).toBe(false)
    expect(phone.get(note.id)).toBeUndefined()
    await expect(phone.remember('x')).rejects.toThrow(MemoryKeyError)

    await owner.addDevice(deviceKey.address, { expiresAt: Date.now() + 86_400_000 })
    await syncPair(owner.graph, phone.graph)
    expect(phone.readable).toBe(true)
    expect(phone.get(note.id)).toMatchObject({ text: 'the wifi password is in the blue notebook' })

    const fromPhone = await phone.remember('bought milk')
    await syncPair(owner.graph, phone.graph)
    expect(owner.get(fromPhone.id)).toMatchObject({
      text: 'bought milk',
      writer: deviceKey.address,
      device: 'phone'
    })
    expect(owner.why(fromPhone.id).current?.writer).toBe(deviceKey.address)
  })

  it("a stranger holding a replica reads nothing: the plaintext is not in the graph's bytes", async () => {
    const owner = await start(createMemory({ identity: await generateIdentity() }))
    const stranger = await start(createMemory({ identity: await generateIdentity(), owner: owner.owner }))
    await owner.remember('my bank PIN is 4711')
    await owner.session('s').append({ role: 'user', content: 'call me Ishmael' })
    await syncPair(owner.graph, stranger.graph)
    expect(stranger.list()).toEqual([])
    const chunks: string[] = []
    for await (const batch of stranger.graph.store.replay()) {
      for (const envelope of batch) chunks.push(Buffer.from(envelope).toString('latin1'))
    }
    expect(chunks.length).toBeGreaterThan(0)
    const bytes = chunks.join('')
    expect(bytes).not.toContain('4711')
    expect(bytes).not.toContain('Ishmael')
  })
})
