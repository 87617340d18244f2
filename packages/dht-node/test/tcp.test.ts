import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateIdentity, type Identity } from '@araliya/identity'
import { afterAll, describe, expect, it } from 'vitest'
import { createDhtNode, type DhtNode, type DhtNodeInit, type DhtNodeRole } from '../src/node.ts'
import { presenceKey } from '../src/presence.ts'
import { recordDatastoreKey } from '../src/records.ts'
import { randomNetworkName, waitFor, waitForOwnPresence } from '../src/testing.ts'

describe('loopback TCP (noise, yamux) with on-disk persistence', () => {
  const running = new Set<DhtNode>()
  const dirs: string[] = []
  const network = randomNetworkName()

  afterAll(async () => {
    await Promise.allSettled([...running].map((n) => n.stop()))
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })))
  })

  async function start(
    role: DhtNodeRole,
    identity: Identity,
    init: Partial<DhtNodeInit> = {}
  ): Promise<DhtNode> {
    const node = await createDhtNode({
      identity,
      role,
      network,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      statusIntervalMs: 0,
      bootstrapRetry: { initialDelayMs: 200, maxDelayMs: 1000 },
      connectionManager: { inboundConnectionThreshold: 1000 },
      gossip: { ipColocationWhitelist: ['127.0.0.1'] },
      ...init
    })
    await node.start()
    running.add(node)
    return node
  }

  async function stop(node: DhtNode): Promise<void> {
    await node.stop()
    running.delete(node)
  }

  const tcpAddr = (node: DhtNode): string =>
    node
      .getMultiaddrs()
      .find((ma) => ma.toString().includes('/tcp/'))!
      .toString()
  const port = (node: DhtNode): string => tcpAddr(node).split('/tcp/')[1]!.split('/')[0]!

  it('keeps DHT records, provider records and the peer store across a restart', async () => {
    const [bootId, fullId, full2Id, agentId, lightId] = await Promise.all(
      Array.from({ length: 5 }, () => generateIdentity())
    )
    const bootDir = await mkdtemp(join(tmpdir(), 'araliya-dht-boot-'))
    const fullDir = await mkdtemp(join(tmpdir(), 'araliya-dht-full-'))
    dirs.push(bootDir, fullDir)

    const boot = await start('bootstrap', bootId!, { dataDir: bootDir })
    const bootstrap = [tcpAddr(boot)]
    const full = await start('full', fullId!, { dataDir: fullDir, bootstrap })
    const full2 = await start('full', full2Id!, { bootstrap })
    const agent = await start('full', agentId!, { bootstrap, skills: ['persisted-skill'] })
    const light = await start('light', lightId!, { bootstrap, listen: [] })
    await Promise.all([boot, full, full2, agent, light].map((n) => waitForOwnPresence(n, 30_000)))
    await waitFor(
      async () => (await full.findSkillProviders('persisted-skill')).length > 0,
      60_000,
      'the skill provider record'
    )
    expect((await light.findAgent(agent.address)).address).toBe(agent.address)
    // The light node stays out of routing tables and keeps nothing for others, over TCP too.
    for (const server of [boot, full, full2, agent]) {
      // biome-ignore lint/suspicious/noExplicitAny: the routing table is not part of the public KadDHT type
      expect(await (server.dht as any).routingTable.find(light.libp2p.peerId)).toBeUndefined()
    }
    const lightKeys: string[] = []
    for await (const key of light.datastore.queryKeys({ prefix: '/dht/record' }))
      lightKeys.push(key.toString())
    expect(lightKeys).toEqual([recordDatastoreKey(presenceKey(light.address)).toString()])

    // Everything goes down; the agent never comes back.
    const bootPort = port(boot)
    const fullPort = port(full)
    const agentRecord = agent.presence!
    for (const node of [agent, light, full2, full, boot]) await stop(node)

    // The bootstrap and the full node restart from disk, on their old ports.
    const boot2 = await start('bootstrap', bootId!, {
      dataDir: bootDir,
      listen: [`/ip4/127.0.0.1/tcp/${bootPort}`]
    })
    const full3 = await start('full', fullId!, {
      dataDir: fullDir,
      listen: [`/ip4/127.0.0.1/tcp/${fullPort}`],
      bootstrap: [tcpAddr(boot2)]
    })
    // Peer store on disk: the bootstrap still knows the peers it met before, with their addresses.
    for (const peer of [full2, agent]) {
      const known = await boot2.libp2p.peerStore.get(peer.libp2p.peerId)
      expect(known.addresses.length).toBeGreaterThan(0)
    }
    await full3.waitForBootstrap()
    const newcomer = await start('light', await generateIdentity(), {
      bootstrap: [tcpAddr(boot2)],
      listen: []
    })
    await newcomer.waitForBootstrap()
    await waitFor(
      () => (newcomer.dht as unknown as { routingTable: { size: number } }).routingTable.size > 0,
      60_000,
      'routing table'
    )
    const info = await newcomer.findAgent(agent.address)
    expect(info.seq).toBe(agentRecord.seq)
    expect(info.multiaddrs.map(String)).toEqual([...agentRecord.multiaddrs])
    const providers = await newcomer.findSkillProviders('persisted-skill')
    expect(providers.map((p) => p.address)).toContain(agent.address)
  })
})
