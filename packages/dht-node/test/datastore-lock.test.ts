import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { DatastoreOpenError } from '../src/index.js'
import { createMemoryNode, randomNetworkName } from '../src/testing.js'

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'araliya-dht-lock-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('a data folder in use', () => {
  it('a second node on the same dataDir fails with a typed error that says what to do', async () => {
    const network = randomNetworkName()
    const first = await createMemoryNode({ network, dataDir: dir })
    await first.start()
    const second = await createMemoryNode({ network, dataDir: dir })
    try {
      const failure = await second.start().catch((err: unknown) => err)
      expect(DatastoreOpenError.isInstance(failure)).toBe(true)
      expect((failure as Error).message).toContain('another process')
      expect((failure as Error).message).toContain(dir)
    } finally {
      await second.stop().catch(() => {})
      await first.stop()
    }
  })
})
