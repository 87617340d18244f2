import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { StoreLockedError } from '@araliya/crdt-graph'
import { identityFromSeed } from '@araliya/identity'
import { type AckingWriter, startAckingWriter } from '@araliya/test-support/child'
import { describe, expect, it } from 'vitest'
import { createMemory } from '../src/index.js'

const here = dirname(fileURLToPath(import.meta.url))
const writer = join(here, 'fixtures', 'memory-writer.ts')
const seed = new Uint8Array(32).fill(7)

interface Ack {
  readonly id: string
  readonly n: number
}

function startWriter(dir: string): AckingWriter<Ack> {
  return startAckingWriter(writer, [dir], {
    cwd: join(here, '..'),
    parseAck: (rest) => {
      const [id, n] = rest.split(' ')
      return { id: id as string, n: Number(n) }
    }
  })
}

describe('durability', () => {
  it('every acknowledged memory survives SIGKILL of the writing process, and reads back', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'araliya-memory-crash-'))
    const acked: Ack[] = []
    try {
      for (const [round, count] of [
        [0, 25],
        [1, 60],
        [2, 10]
      ] as const) {
        const child = startWriter(dir)
        await child.ready
        await child.waitForAcks(count)
        // let it run on a little, so the kill lands mid-write
        await new Promise((resolve) => setTimeout(resolve, round * 5))
        child.process.kill('SIGKILL')
        await child.exited
        acked.push(...child.acks)
      }
      expect(acked.length).toBeGreaterThanOrEqual(95)
      const memory = createMemory({ identity: await identityFromSeed(seed), dir })
      await memory.start()
      try {
        for (const { id, n } of acked) {
          if (n % 5 === 0) {
            // a keyed note: a later write under its key may have superseded it; the version stays
            const texts = memory.why(id).history.map((v) => v.item?.kind === 'note' && v.item.text)
            expect(texts, `acknowledged keyed note ${n}`).toContain(`keyed note ${n}`)
            expect(memory.get(id)?.kind).toBe('note')
          } else {
            expect(memory.get(id), `acknowledged note ${n}`).toMatchObject({
              kind: 'note',
              text: `note ${n}`
            })
          }
        }
        expect(memory.graph.pendingCount).toBe(0)
      } finally {
        await memory.stop()
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('a second process cannot open the same memory: a typed error that says another process holds it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'araliya-memory-lock-'))
    try {
      const child = startWriter(dir)
      await child.ready
      await child.waitForAcks(1)
      const second = createMemory({ identity: await identityFromSeed(seed), dir })
      const error = await second.start().catch((err: unknown) => err)
      expect(StoreLockedError.isInstance(error), String(error)).toBe(true)
      expect((error as StoreLockedError).code).toBe('ERR_GRAPH_STORE_LOCKED')
      expect((error as Error).message).toMatch(/open in another process/)
      expect(second.started).toBe(false)

      // once the holder is gone, the same memory opens and holds what it acknowledged
      child.process.kill('SIGKILL')
      await child.exited
      await second.start()
      try {
        for (const { id } of child.acks) expect(second.get(id)).toBeDefined()
      } finally {
        await second.stop()
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
