// The README's store-acceptance example, exactly as written (test/readme.test.ts checks they match).
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { levelStore } from '@araliya/crdt-graph/level'
import { storeAcceptance } from '@araliya/crdt-graph/testing'

storeAcceptance('level, as a third-party store would run it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'my-store-'))
  return {
    store: levelStore(dir),
    reopen: () => levelStore(dir),
    teardown: () => rm(dir, { recursive: true, force: true })
  }
})
