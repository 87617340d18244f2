/**
 * Helpers to build many-node Araliya networks in one process over the libp2p memory transport, for tests
 * of this package and of packages built on it (channel-p2p, agent).
 *
 * @example
 * ```ts
 * import { createTestNetwork } from '@araliya/dht-node/testing'
 *
 * const net = await createTestNetwork({ nodes: 20 })
 * try {
 *   const [a, b] = net.full
 *   const info = await a.findAgent(b.address)
 * } finally {
 *   await net.stop()
 * }
 * ```
 *
 * @packageDocumentation
 */
import './polyfill.js'

import { generateIdentity, type Identity } from '@araliya/identity'
import { memory } from '@libp2p/memory'
import { createDhtNode, type DhtNode, type DhtNodeInit, type DhtNodeRole } from './node.js'

let counter = 0

/** A fresh, process-unique `/memory/…` listen address. */
export function memoryAddress(): string {
  counter++
  return `/memory/araliya-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}-${counter}`
}

/** A random network namespace, so concurrent test networks never see each other's traffic. */
export function randomNetworkName(): string {
  return `test-${Math.random().toString(36).slice(2, 10)}`
}

/** Options of {@link createTestNetwork}. */
export interface TestNetworkInit {
  /** Bootstrap nodes. Default 1. */
  bootstraps?: number
  /** Full nodes. Default 5. */
  nodes?: number
  /** Light (DHT client) nodes. Default 0. */
  lightNodes?: number
  /** Network namespace. Default a random one. */
  network?: string
  /** Options applied to every node (identity, role, listen, bootstrap and transports are set per node). */
  node?: Partial<DhtNodeInit>
  /** Wait until every node has published its presence. Default true. */
  waitForPresence?: boolean
  /** How many nodes start at once. Default 5. */
  startConcurrency?: number
}

/** A running in-process network. */
export interface TestNetwork {
  readonly network: string
  readonly bootstraps: DhtNode[]
  readonly full: DhtNode[]
  readonly light: DhtNode[]
  /** Every node, bootstraps first. */
  readonly all: DhtNode[]
  /** The bootstrap multiaddrs new nodes dial. */
  readonly bootstrapAddrs: string[]
  /** Creates, starts and bootstraps one more node on this network. */
  addNode(role?: DhtNodeRole, overrides?: Partial<DhtNodeInit>): Promise<DhtNode>
  /** Resolves when every node (or `nodes`) has at least `minPeers` mesh peers on `topic`. */
  waitForMesh(
    topic: string,
    options?: { minPeers?: number; nodes?: DhtNode[]; timeoutMs?: number }
  ): Promise<void>
  /** Stops every node (in parallel). */
  stop(): Promise<void>
}

/** Defaults that suit in-process networks: fast heartbeats off, many inbound connections from "one host". */
export function testNodeDefaults(network: string): Partial<DhtNodeInit> {
  return {
    network,
    transports: [memory()],
    statusIntervalMs: 0,
    connectionManager: { inboundConnectionThreshold: 10_000, maxIncomingPendingConnections: 1000 },
    bootstrapRetry: { initialDelayMs: 200, maxDelayMs: 2000 }
  }
}

/**
 * Creates a node on the memory transport (not started).
 */
export async function createMemoryNode(
  init: Partial<DhtNodeInit> & { network: string; role?: DhtNodeRole; identity?: Identity }
): Promise<DhtNode> {
  return createDhtNode({
    ...testNodeDefaults(init.network),
    // Light nodes listen too (as a phone reachable through a relay would): kad-dht servers ignore provider
    // records from peers without addresses.
    listen: [memoryAddress()],
    ...init,
    identity: init.identity ?? (await generateIdentity())
  })
}

/**
 * Builds and starts a network of bootstrap, full and light nodes on the memory transport. Every non-
 * bootstrap node dials the bootstrap nodes, then finds further peers through the DHT.
 */
export async function createTestNetwork(init: TestNetworkInit = {}): Promise<TestNetwork> {
  const network = init.network ?? randomNetworkName()
  const bootstraps: DhtNode[] = []
  const full: DhtNode[] = []
  const light: DhtNode[] = []
  const all: DhtNode[] = []
  const bootstrapAddrs: string[] = []
  const concurrency = init.startConcurrency ?? 5
  const waitForPresence = init.waitForPresence ?? true

  const startOne = async (role: DhtNodeRole, overrides: Partial<DhtNodeInit> = {}): Promise<DhtNode> => {
    const node = await createMemoryNode({
      ...init.node,
      ...overrides,
      network,
      role,
      bootstrap: role === 'bootstrap' ? [...bootstrapAddrs] : bootstrapAddrs
    })
    all.push(node)
    await node.start()
    if (bootstrapAddrs.length > 0) await node.waitForBootstrap({ signal: AbortSignal.timeout(20_000) })
    return node
  }

  const stop = async (): Promise<void> => {
    await Promise.allSettled(all.map((n) => n.stop()))
  }

  try {
    for (let i = 0; i < (init.bootstraps ?? 1); i++) {
      const node = await startOne('bootstrap')
      bootstraps.push(node)
      for (const ma of node.getMultiaddrs()) bootstrapAddrs.push(ma.toString())
    }
    const roles: DhtNodeRole[] = [
      ...Array<DhtNodeRole>(init.nodes ?? 5).fill('full'),
      ...Array<DhtNodeRole>(init.lightNodes ?? 0).fill('light')
    ]
    for (let i = 0; i < roles.length; i += concurrency) {
      const batch = await Promise.all(roles.slice(i, i + concurrency).map((role) => startOne(role)))
      for (const node of batch) (node.role === 'light' ? light : full).push(node)
    }
    if (waitForPresence) {
      await Promise.all(all.map((node) => waitForOwnPresence(node, 60_000)))
    }
  } catch (err) {
    await stop()
    throw err
  }

  return {
    network,
    bootstraps,
    full,
    light,
    all,
    bootstrapAddrs,
    async addNode(role = 'full', overrides = {}) {
      const node = await startOne(role, overrides)
      if (waitForPresence) await waitForOwnPresence(node, 60_000)
      ;(role === 'light' ? light : role === 'bootstrap' ? bootstraps : full).push(node)
      return node
    },
    async waitForMesh(topic, options = {}) {
      const minPeers = options.minPeers ?? 1
      const nodes = options.nodes ?? all
      await waitFor(
        () => nodes.every((n) => n.gossip.getMeshPeers(topic).length >= minPeers),
        options.timeoutMs ?? 20_000,
        `every node to have ${minPeers} mesh peers on ${topic}`
      )
    },
    stop
  }
}

/** Resolves when the node's first presence record is published (or rejects after `timeoutMs`). */
export async function waitForOwnPresence(node: DhtNode, timeoutMs = 20_000): Promise<void> {
  if (node.presence !== undefined) return
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      node.removeEventListener('presence:publish', done)
      reject(new Error(`${node.address} did not publish its presence within ${timeoutMs} ms`))
    }, timeoutMs)
    const done = (): void => {
      clearTimeout(timer)
      node.removeEventListener('presence:publish', done)
      resolve()
    }
    node.addEventListener('presence:publish', done)
  })
}

/** Polls `predicate` every 50 ms until it is true; rejects after `timeoutMs` naming `what`. */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
