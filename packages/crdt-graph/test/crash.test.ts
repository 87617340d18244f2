import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { identityFromSeed } from '@araliya/identity'
import { type AckingWriter, startAckingWriter } from '@araliya/test-support/child'
import { describe, expect, it } from 'vitest'
import { createGraph, StoreLockedError } from '../src/index.js'
import { levelStore } from '../src/store/level.js'
import { seeded } from './helpers.js'

const here = dirname(fileURLToPath(import.meta.url))
const writer = join(here, 'fixtures', 'crash-writer.ts')

function startWriter(dir: string): AckingWriter<number> {
  return startAckingWriter(writer, [dir], { cwd: join(here, '..'), parseAck: Number })
}

describe('crash and storage', () => {
  it('SIGKILL at random moments, many times: every acknowledged commit is there, none half-applied', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'araliya-crash-'))
    const random = seeded(99)
    const acked: number[] = []
    const kills = process.env.ARALIYA_BIG === '1' ? 25 : 6
    try {
      for (let round = 0; round < kills; round++) {
        const child = startWriter(dir)
        await child.ready
        await child.waitForAcks(5 + Math.floor(random() * 60))
        // let it run a little further so the kill lands mid-write
        await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 15)))
        child.process.kill('SIGKILL')
        await child.exited
        acked.push(...child.acks)
      }
      const identity = await identityFromSeed(new Uint8Array(32).fill(9))
      const graph = createGraph({ identity, store: levelStore(dir) })
      await graph.start()
      const space = identity.address
      for (const n of acked) {
        const found = graph.history(`${space}/k${n % 50}`, 'a').some((entry) => entry.value === n)
        expect(found, `acknowledged write ${n}`).toBe(true)
      }
      // nothing half-applied: every commit's fields are all there or all missing
      for (let k = 0; k < 50; k++) {
        const history = {
          a: graph.history(`${space}/k${k}`, 'a').map((h) => h.value),
          b: graph.history(`${space}/k${k}`, 'b').map((h) => h.value),
          c: graph.history(`${space}/k${k}`, 'c').map((h) => h.value)
        }
        expect(history.b).toEqual(history.a)
        expect(history.c).toEqual(history.a.map((n) => `value-${n}`))
      }
      for (let b = 0; b < 5; b++) {
        const fields = Object.keys(graph.get(`${space}/bulk${b}`) ?? {})
        expect([0, 100]).toContain(fields.length)
      }
      expect(graph.pendingCount).toBe(0)
      await graph.stop()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('a second process gets a clear locked error; the lock is released when the holder is killed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'araliya-lock-'))
    try {
      const child = startWriter(dir)
      await child.ready
      const store = levelStore(dir)
      const error = await store.open().catch((err: unknown) => err)
      expect(StoreLockedError.isInstance(error)).toBe(true)
      expect((error as Error).message).toMatch(/open in another process/)
      child.process.kill('SIGKILL')
      await child.exited
      await store.open()
      await store.close()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
