import { generateIdentity } from '@araliya/identity'
import { afterAll, describe, expect, it } from 'vitest'
import { createDhtNode, type DhtNode } from '../src/node.ts'
import { randomNetworkName, waitFor, waitForOwnPresence } from '../src/testing.ts'

describe('Node-to-Node over WebSockets on 127.0.0.1 (noise, yamux)', () => {
  const running: DhtNode[] = []
  afterAll(async () => {
    await Promise.allSettled(running.map((n) => n.stop()))
  })

  it('dials /ws multiaddrs from Node (on Node 20 too, which has no global WebSocket)', async () => {
    const network = randomNetworkName()
    const common = {
      network,
      statusIntervalMs: 0,
      bootstrapRetry: { initialDelayMs: 200, maxDelayMs: 1000 },
      gossip: { ipColocationWhitelist: ['127.0.0.1'] }
    }
    const boot = await createDhtNode({
      ...common,
      identity: await generateIdentity(),
      role: 'bootstrap',
      listen: ['/ip4/127.0.0.1/tcp/0/ws']
    })
    await boot.start()
    running.push(boot)
    const wsAddr = boot.getMultiaddrs().find((ma) => ma.toString().includes('/ws'))
    expect(wsAddr).toBeDefined()

    const [a, b] = await Promise.all(
      ['full', 'light'].map(async (role) =>
        createDhtNode({
          ...common,
          identity: await generateIdentity(),
          role: role as 'full' | 'light',
          listen: role === 'full' ? ['/ip4/127.0.0.1/tcp/0/ws'] : [],
          bootstrap: [wsAddr!.toString()]
        })
      )
    )
    for (const node of [a!, b!]) {
      await node.start()
      running.push(node)
      await node.waitForBootstrap({ signal: AbortSignal.timeout(20_000) })
      const conn = node.libp2p.getConnections(boot.libp2p.peerId)[0]
      expect(conn?.remoteAddr.toString()).toContain('/ws')
    }
    await waitForOwnPresence(a!)
    const info = await b!.findAgent(a!.address, { signal: AbortSignal.timeout(20_000) })
    expect(info.multiaddrs.some((ma) => ma.toString().includes('/ws'))).toBe(true)
    await b!.dialAgent(a!.address, { signal: AbortSignal.timeout(20_000) })
    await waitFor(() => b!.libp2p.getConnections(a!.libp2p.peerId).length > 0, 20_000, 'a connection to a')
  })
})
