import { generateIdentity } from '@araliya/identity'
import { afterEach, describe, expect, it } from 'vitest'
import type { DhtNode } from '../src/node.ts'
import {
  createMemoryNode,
  memoryAddress,
  randomNetworkName,
  waitFor,
  waitForOwnPresence
} from '../src/testing.ts'
import { fastNode, nextEvent } from './helpers.ts'

const encoder = new TextEncoder()

describe('bootstrap down, then back', () => {
  const started: DhtNode[] = []
  afterEach(async () => {
    await Promise.allSettled(started.splice(0).map((n) => n.stop()))
  })

  it('starts without its bootstrap, retries with backoff, and joins when it comes back', async () => {
    const network = randomNetworkName()
    const bootstrapIdentity = await generateIdentity()
    const bootstrapListen = memoryAddress()
    const bootstrapAddr = `${bootstrapListen}/p2p/${bootstrapIdentity.address}`
    const retry = { initialDelayMs: 100, maxDelayMs: 400 }
    const a = await createMemoryNode({
      ...fastNode,
      network,
      bootstrap: [bootstrapAddr],
      bootstrapRetry: retry
    })
    const b = await createMemoryNode({
      ...fastNode,
      network,
      bootstrap: [bootstrapAddr],
      bootstrapRetry: retry
    })
    started.push(a, b)
    const retries: number[] = []
    a.addEventListener('bootstrap:retry', (event) => retries.push(event.detail.delayMs))
    const t0 = Date.now()
    await Promise.all([a.start(), b.start()])
    expect(Date.now() - t0).toBeLessThan(5000)
    // Local work goes on: the gossip layer is up and publishing to nobody is fine.
    expect((await a.gossip.publish('agent-messages', encoder.encode('alone'))).recipients).toBe(0)
    await waitFor(() => retries.length >= 3, 60_000, 'three retries')
    expect(retries[2]!).toBeGreaterThan(retries[0]! * 1.2)
    expect(Math.max(...retries)).toBeLessThanOrEqual(400 * 1.25)

    const bootstrap = await createMemoryNode({
      ...fastNode,
      network,
      role: 'bootstrap',
      identity: bootstrapIdentity,
      listen: [bootstrapListen]
    })
    started.push(bootstrap)
    await bootstrap.start()
    await Promise.all([a.waitForBootstrap(), b.waitForBootstrap()])
    await Promise.all([waitForOwnPresence(a, 30_000), waitForOwnPresence(b, 30_000)])
    expect((await a.findAgent(b.address)).address).toBe(b.address)

    // The bootstrap is killed later: the existing mesh keeps working.
    await a.dialAgent(b.address)
    await waitFor(() => a.gossip.getMeshPeers('agent-messages').includes(b.address), 60_000, 'a-b mesh')
    await bootstrap.stop()
    const received = nextEvent(b, 'gossip:message', (m) => new TextDecoder().decode(m.data) === 'still here')
    await a.gossip.publish('agent-messages', encoder.encode('still here'))
    await received

    // And it comes back: the nodes reconnect on their own.
    const reconnected = nextEvent(a, 'bootstrap:connect', () => true, 60_000)
    const again = await createMemoryNode({
      ...fastNode,
      network,
      role: 'bootstrap',
      identity: bootstrapIdentity,
      listen: [bootstrapListen]
    })
    started.push(again)
    await again.start()
    await reconnected
  })
})
