/**
 * The code that runs inside headless Chromium: a light Araliya node (WebSockets, WebRTC, circuit relay)
 * driven by the Node side of the test through `window.araliya`.
 */
import { generateIdentity } from '@araliya/identity'
import { multiaddr } from '@multiformats/multiaddr'
import { createDhtNode, type DhtNode } from '../../src/index.ts'

let node: DhtNode | undefined
const received: string[] = []

const api = {
  async start(bootstrap: string, network: string): Promise<string> {
    node = await createDhtNode({
      identity: await generateIdentity(),
      role: 'light',
      network,
      bootstrap: [bootstrap],
      statusIntervalMs: 0,
      bootstrapRetry: { initialDelayMs: 200, maxDelayMs: 1000 },
      // Browsers refuse to dial private addresses by default; the test runs on 127.0.0.1.
      allowPrivateAddresses: true
    })
    node.gossip.addEventListener('gossip:message', (event) => {
      received.push(new TextDecoder().decode(event.detail.data))
    })
    await node.start()
    await node.waitForBootstrap({ signal: AbortSignal.timeout(20_000) })
    return node.address
  },
  async findAgent(address: string): Promise<{ address: string; multiaddrs: string[] }> {
    const info = await node!.findAgent(address, { signal: AbortSignal.timeout(30_000) })
    return { address: info.address, multiaddrs: info.multiaddrs.map(String) }
  },
  received(): string[] {
    return [...received]
  },
  meshPeers(topic: string): string[] {
    return node!.gossip.getMeshPeers(topic)
  },
  async publish(topic: string, text: string): Promise<number> {
    return (await node!.gossip.publish(topic, new TextEncoder().encode(text))).recipients
  },
  multiaddrs(): string[] {
    return node!.getMultiaddrs().map(String)
  },
  async dialWebRTC(addr: string, attempts: number): Promise<{ remoteAddr: string; attempt: number }> {
    let lastError: unknown
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        const connection = await node!.libp2p.dial(multiaddr(addr), { signal: AbortSignal.timeout(15_000) })
        return { remoteAddr: connection.remoteAddr.toString(), attempt }
      } catch (err) {
        lastError = err
        await new Promise((resolve) => setTimeout(resolve, 500 * attempt))
      }
    }
    throw lastError
  },
  async ping(peer: string): Promise<number> {
    const connection = node!.libp2p.getConnections().find((c) => c.remotePeer.toString() === peer)
    if (connection === undefined) throw new Error('not connected')
    return node!.libp2p.services.ping.ping(multiaddr(connection.remoteAddr.toString()))
  },
  connections(): Array<{ peer: string; remoteAddr: string; limited: boolean }> {
    return node!.libp2p.getConnections().map((c) => ({
      peer: c.remotePeer.toString(),
      remoteAddr: c.remoteAddr.toString(),
      limited: c.limits !== undefined
    }))
  },
  async stop(): Promise<void> {
    await node?.stop()
  }
}

;(globalThis as unknown as { araliya: typeof api }).araliya = api
;(globalThis as unknown as { araliyaReady: boolean }).araliyaReady = true
