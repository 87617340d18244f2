import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { generateIdentity } from '@araliya/identity'
import { createDhtNode, DatastoreOpenError } from '../src/index.js'
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

describe('a start that fails', () => {
  it('releases the data folder and every address it had opened, so the next start can use them', async () => {
    const taken: Server = createServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    const port = (taken.address() as { port: number }).port
    const identity = await generateIdentity()
    const init = { identity, network: randomNetworkName(), dataDir: dir }
    const failed = await createDhtNode({ ...init, listen: [`/ip4/127.0.0.1/tcp/${port}`] })
    const failure = await failed.start().catch((err: unknown) => err)
    expect(failure).toBeInstanceOf(Error)
    await new Promise<void>((resolve) => taken.close(() => resolve()))
    // Same folder, same port: both were let go by the failed start, without calling stop().
    const next = await createDhtNode({ ...init, listen: [`/ip4/127.0.0.1/tcp/${port}`] })
    try {
      await next.start()
      expect(next.isStarted()).toBe(true)
    } finally {
      await next.stop()
    }
  })
})
