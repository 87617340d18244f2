import { describe, expect, it } from 'vitest'
import type { DhtNode } from '../src/node.ts'
import { createTestNetwork, waitFor } from '../src/testing.ts'
import { fastNode, sleep } from './helpers.ts'

const SCALE = process.env.ARALIYA_SCALE_TESTS === '1'

/** Opt-in (ARALIYA_SCALE_TESTS=1): a 50-node network in one process, several minutes on 2 cores. */
describe.skipIf(!SCALE)('scale: 50 nodes on one machine', () => {
  it('delivers gossip from any node to all others (no star-topology loss) and resolves presence', async () => {
    const net = await createTestNetwork({ nodes: 49, node: fastNode, waitForPresence: false })
    const errors: string[] = []
    for (const node of net.all)
      node.addEventListener('presence:error', (e) => errors.push(e.detail.error.message))
    try {
      await waitFor(() => net.all.every((n) => n.presence !== undefined), 240_000, 'every presence record')
      await net.waitForMesh('agent-messages', { minPeers: 2, timeoutMs: 120_000 })
      const hub = net.bootstraps[0]!
      const counts = new Map<DhtNode, Set<string>>()
      for (const node of net.all) {
        const seen = new Set<string>()
        counts.set(node, seen)
        node.addEventListener('gossip:message', (e) => seen.add(new TextDecoder().decode(e.detail.data)))
      }
      const publishers = [net.full[0]!, net.full[24]!, net.full[48]!]
      for (const [i, publisher] of publishers.entries()) {
        await publisher.gossip.publish('agent-messages', new TextEncoder().encode(`scale-${i}`))
      }
      await waitFor(
        () => publishers.every((p, i) => net.all.every((n) => n === p || counts.get(n)!.has(`scale-${i}`))),
        60_000,
        'delivery to all 49 other nodes'
      )
      expect(hub.libp2p.getPeers().length).toBeGreaterThan(0)
      // Nodes are connected to each other, not only to the bootstrap.
      const onlyHub = net.full.filter((n) => n.libp2p.getPeers().length <= 1)
      expect(onlyHub).toEqual([])
      for (let i = 0; i < 5; i++) {
        const info = await net.full[i * 7]!.findAgent(net.full[48 - i * 5]!.address)
        expect(info.address).toBe(net.full[48 - i * 5]!.address)
      }
      await sleep(100)
      console.info(`presence publish retries: ${errors.length}`)
    } finally {
      await net.stop()
    }
  }, 600_000)
})
