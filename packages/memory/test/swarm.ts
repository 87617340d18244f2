import { graphSync } from '@araliya/channel-p2p'
import type { Graph } from '@araliya/crdt-graph'
import type { DhtNode, DhtNodeRole } from '@araliya/dht-node'
import { createTestNetwork, type TestNetwork } from '@araliya/dht-node/testing'
import { generateIdentity, type Identity } from '@araliya/identity'
import { lpStream } from '@libp2p/utils'
import {
  MEMORY_REPLICATION_PROTOCOL,
  type MemoryReplication,
  type MemoryReplicationInit,
  memoryReplication
} from '../src/index.js'
import { decodeReply, type ReplicationReply } from '../src/replication/request.js'

/** A node of the test swarm with the replication service. */
export interface SwarmNode {
  readonly node: DhtNode
  readonly identity: Identity
  readonly replication: MemoryReplication
}

/** An in-process swarm (libp2p memory transport): one bootstrap node and two plain DHT servers. */
export function createSwarm(): Promise<TestNetwork> {
  return createTestNetwork({ bootstraps: 1, nodes: 2, waitForPresence: false })
}

/** Adds a node running graph sync and memory replication in the given role. */
export async function addNode(
  net: TestNetwork,
  role: Exclude<DhtNodeRole, 'bootstrap'>,
  init: MemoryReplicationInit = {},
  identity?: Identity
): Promise<SwarmNode> {
  const id = identity ?? (await generateIdentity())
  const node = await net.addNode(role, {
    identity: id,
    services: {
      graphSync: graphSync(),
      memoryReplication: memoryReplication({ role: role === 'full' ? 'full' : 'light', ...init })
    }
  })
  const replication = (node.libp2p.services as unknown as { memoryReplication: MemoryReplication })
    .memoryReplication
  return { node, identity: id, replication }
}

/** Resolves once `event` fired on `target` with a detail passing `match` (registered before `trigger` runs). */
export async function eventAfter<T>(
  target: EventTarget,
  event: string,
  match: (detail: T) => boolean,
  trigger: () => Promise<unknown> | unknown,
  timeoutMs = 60_000
): Promise<void> {
  let done: () => void = () => undefined
  let fail: (err: Error) => void = () => undefined
  const seen = new Promise<void>((resolve, reject) => {
    done = resolve
    fail = reject
  })
  const listener = (e: Event): void => {
    if (match((e as CustomEvent<T>).detail)) done()
  }
  target.addEventListener(event, listener)
  const timer = setTimeout(() => fail(new Error(`no ${event} within ${timeoutMs} ms`)), timeoutMs)
  try {
    await trigger()
    await seen
  } finally {
    clearTimeout(timer)
    target.removeEventListener(event, listener)
  }
}

/** Resolves once `check()` holds, looking again at every commit the graph accepts. */
export async function whenGraph(graph: Graph, check: () => boolean, timeoutMs = 60_000): Promise<void> {
  if (check()) return
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      graph.events.removeEventListener('commit:accepted', look)
      reject(new Error(`the graph did not reach the expected state within ${timeoutMs} ms`))
    }, timeoutMs)
    const look = (): void => {
      if (!check()) return
      clearTimeout(timer)
      graph.events.removeEventListener('commit:accepted', look)
      resolve()
    }
    graph.events.addEventListener('commit:accepted', look)
  })
}

/** True when `graph` holds every head `source` holds of `space`. */
export function holdsSpace(graph: Graph, source: Graph, space: string): boolean {
  return source.versionVector(new Set([space])).every((h) => graph.hasCommit(space, h.author, h.seq, h.head))
}

/** Sends raw bytes on the replication protocol from `from` to `to` and reads the reply. */
export async function sendRaw(from: SwarmNode, to: SwarmNode, bytes: Uint8Array): Promise<ReplicationReply> {
  const signal = AbortSignal.timeout(30_000)
  const stream = await from.node.libp2p.dialProtocol(to.identity.peerId, MEMORY_REPLICATION_PROTOCOL, {
    signal
  })
  const lp = lpStream(stream, { maxDataLength: 64 * 1024 })
  await lp.write(bytes, { signal })
  const reply = decodeReply((await lp.read({ signal })).subarray())
  await stream.close({ signal })
  if (reply === undefined) throw new Error('malformed reply')
  return reply
}

/** Every byte the graph's store holds (its commits as stored). */
export async function storedBytes(graph: Graph): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const batch of graph.store.replay()) parts.push(...batch)
  return Buffer.concat(parts)
}
