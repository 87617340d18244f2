import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateIdentity } from '@araliya/identity'
import { expect, it } from 'vitest'
import { createGraph, createSyncPeer, type GraphChange, type SyncPeer } from '../src/index.js'
import { levelStore } from '../src/store/level.js'

it('the README example runs as written', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'araliya-readme-'))
  const me = await generateIdentity()
  const phoneKey = await generateIdentity()
  const desktop = createGraph({ identity: me, store: levelStore(join(dir, 'graph')) })
  const phone = createGraph({ identity: phoneKey })
  await desktop.start()
  await phone.start()
  const ada = `${me.address}/people/ada`
  await desktop.put(ada, { name: 'Ada', born: 1815 })
  await desktop.link(ada, 'friend', `${me.address}/people/alan`)
  await desktop.grant(
    phoneKey.address,
    { pathPrefix: 'memory/', rights: ['write', 'delete'] },
    {
      expiresAt: Date.now() + 30 * 86_400_000
    }
  )
  const a: SyncPeer = createSyncPeer(desktop, { peer: 'phone', send: (bytes) => b.receive(bytes) })
  const b: SyncPeer = createSyncPeer(phone, { peer: 'desktop', send: (bytes) => a.receive(bytes) })
  await a.start()
  await b.start()
  await a.idle()
  const changes: GraphChange[] = []
  desktop.subscribe({ space: me.address }, (change) => changes.push(change))
  await phone.put(`${me.address}/memory/today`, { note: 'bought milk' })
  expect(phone.get(ada)).toEqual({ name: 'Ada', born: 1815, friend: { '#': `${me.address}/people/alan` } })
  await b.idle()
  expect(desktop.get(`${me.address}/memory/today`)).toEqual({ note: 'bought milk' })
  expect(changes.map((c) => c.origin)).toEqual([{ kind: 'remote', peer: 'phone' }])
  a.stop()
  b.stop()
  await desktop.stop()
  await phone.stop()
  await rm(dir, { recursive: true, force: true })
})
