// `pnpm demo`: a local swarm on 127.0.0.1 — one bootstrap, two full and one light node, the parts of one
// Supervisor (the bootstrap node starts first, the others depend on it) — that walks
// through what Araliya does today, one step per function:
//
//   1. identities      each node loads (or creates) its own key; sign/verify and context binding
//   2. start           real libp2p nodes on loopback TCP; the others dial the bootstrap node
//   3. presence        look an agent up by its address alone (signed DHT record), both directions
//   4. skills          advertise a skill on the DHT, find who offers it from another node
//   5. broadcast       a bus event on one node arrives exactly once on every other bus, via gossip
//   6. direct          an end-to-end encrypted message to one address, acknowledged by the recipient
//   7. forgery         tampered and impersonating envelopes are rejected by every receiver
//   8. graph sync      two nodes write their graphs offline, then sync and converge
//
// It ends with one JSON line (`{"demo":"ok",…}`) that scripts and the smoke test read.
import { join } from 'node:path'
import { type BusEvent, createSupervisor, type Subsystem, type Supervisor } from '@araliya/bus'
import {
  CBOR_CONTENT,
  type DropDetail,
  type Envelope,
  encodeEnvelope,
  SEALED_CONTENT,
  signEnvelope
} from '@araliya/channel-p2p'
import { type GraphValue, graphSyncEndpoint } from '@araliya/crdt-graph'
import { HLC_UNITS_PER_MS } from '@araliya/interface'
import type { DhtNodeRole } from '@araliya/dht-node'
import { encodeCanonical, type Identity } from '@araliya/identity'
import { AraliyaError } from '@araliya/interface'
import { escapeText, safeJson } from './escape.ts'
import { checkSignatures } from './identity-demo.ts'
import { loadNodeIdentity, type SwarmNode, startSwarmNode } from './node.ts'
import { startParts } from './supervised.ts'

/** A demo step failed; the message names the step and what it was waiting for. */
export class DemoStepError extends AraliyaError {
  static override readonly code: string = 'ERR_DEMO_STEP'
  override name = 'DemoStepError'
}

/** Options of {@link runSwarmDemo}. */
export interface SwarmDemoOptions {
  /** Where the nodes keep their folders (`<dataDir>/demo/<node>`). */
  dataDir: string
  /** Progress lines. Default `console.log`. */
  log?: (line: string) => void
  /** Abort (Ctrl-C) stops the demo and its nodes. */
  signal?: AbortSignal
  /** Longest time one step may take. Default 15 s. */
  stepTimeoutMs?: number
  /** Swarm namespace. Default `araliya-demo`. */
  network?: string
}

/** The final JSON line. */
export interface SwarmDemoResult {
  demo: 'ok'
  nodes: number
  dataDir: string
  identities: { created: number; loaded: number }
  addresses: Record<string, string>
  lookups: number
  skillProviders: number
  delivered: number
  duplicates: number
  directAcked: number
  forged: number
  rejected: number
  convergedSouls: number
  ms: Record<string, number>
}

const STEPS = 8
const SKILL = 'summarize'

/** The four nodes of the demo. */
interface Swarm {
  bootstrap: SwarmNode
  full1: SwarmNode
  full2: SwarmNode
  light: SwarmNode
  all: SwarmNode[]
  /** Every event each node's bus saw (local and remote), in order. */
  events: Map<SwarmNode, BusEvent[]>
}

/** State shared by the steps. */
interface Demo {
  readonly log: (line: string) => void
  readonly signal: AbortSignal
  readonly stepTimeoutMs: number
  readonly dataDir: string
  readonly network: string
  /** Tags this run's writes and messages, so persisted data of earlier runs is never mistaken for them. */
  readonly run: string
  readonly ms: Record<string, number>
  index: number
}

const NODES: ReadonlyArray<{ name: string; role: DhtNodeRole; graph: boolean }> = [
  { name: 'bootstrap', role: 'bootstrap', graph: false },
  { name: 'full-1', role: 'full', graph: true },
  { name: 'full-2', role: 'full', graph: true },
  { name: 'light', role: 'light', graph: false }
]

/**
 * Runs the whole demo and stops every node before it returns or throws.
 *
 * @throws {DemoStepError} naming the step that failed.
 */
export async function runSwarmDemo(options: SwarmDemoOptions): Promise<SwarmDemoResult> {
  const started = performance.now()
  const demo: Demo = {
    log: options.log ?? console.log,
    signal: options.signal ?? new AbortController().signal,
    stepTimeoutMs: options.stepTimeoutMs ?? 15_000,
    dataDir: options.dataDir,
    network: options.network ?? 'araliya-demo',
    run: new Date().toISOString(),
    ms: {},
    index: 0
  }
  demo.log(`araliya swarm demo: 4 nodes on 127.0.0.1, network "${demo.network}", data in ${demo.dataDir}`)

  const loaded = await step(demo, 'identities', 'identities: one persistent key per node', () =>
    identities(demo)
  )
  // The four nodes are the parts of one supervisor: the bootstrap node first, the others after it.
  const stops = { stopped: 0, failed: 0 }
  const supervisor = createSupervisor({
    // A node that fails in the middle of the demo fails the demo; its own parts restart inside it.
    restart: { maxRestarts: 0 },
    healthCheckIntervalMs: 0,
    bus: {
      publish: (topic, payload) => {
        if (topic !== 'subsystem:stopped') return
        stops.stopped++
        if ((payload as { error?: Error }).error !== undefined) stops.failed++
      }
    }
  })
  try {
    const swarm = await step(demo, 'start', 'start the nodes (1 bootstrap, 2 full, 1 light)', (signal) =>
      startNodes(demo, loaded, supervisor, signal)
    )
    const lookups = await step(demo, 'presence', 'presence: find an agent by its address', (signal) =>
      presence(demo, swarm, signal)
    )
    const skillProviders = await step(demo, 'skills', `skills: who offers "${SKILL}"?`, (signal) =>
      skills(demo, swarm, signal)
    )
    const broadcasted = await step(demo, 'broadcast', 'broadcast: one bus event to every node', (signal) =>
      broadcast(demo, swarm, signal)
    )
    const directAcked = await step(demo, 'direct', 'direct: an encrypted message to one address', (signal) =>
      direct(demo, swarm, signal)
    )
    const forged = await step(demo, 'forgery', 'forgery: envelopes that lie are rejected', (signal) =>
      forgery(demo, swarm, broadcasted.genuine, signal)
    )
    const convergedSouls = await step(demo, 'graphSync', 'graph: offline writes, then sync', (signal) =>
      graphSync(demo, swarm, signal)
    )
    return {
      demo: 'ok',
      nodes: swarm.all.length,
      dataDir: demo.dataDir,
      identities: {
        created: loaded.filter((l) => l.created).length,
        loaded: loaded.filter((l) => !l.created).length
      },
      addresses: Object.fromEntries(swarm.all.map((n) => [n.name, n.address])),
      lookups,
      skillProviders,
      delivered: broadcasted.delivered,
      duplicates: broadcasted.duplicates,
      directAcked,
      forged: forged.forged,
      rejected: forged.rejected,
      convergedSouls,
      ms: { ...demo.ms, total: Math.round(performance.now() - started) }
    }
  } finally {
    // Always, also on failure and on Ctrl-C: free the ports and the database locks.
    await stopAll(demo, supervisor, stops)
  }
}

// ------------------------------------------------------------------------------------------- steps

interface LoadedIdentity {
  name: string
  role: DhtNodeRole
  graph: boolean
  dir: string
  identity: Identity
  created: boolean
}

/** 1. Each node has its own folder and key; a second run loads the same keys, so the same addresses. */
async function identities(demo: Demo): Promise<LoadedIdentity[]> {
  const loaded: LoadedIdentity[] = []
  for (const spec of NODES) {
    const dir = join(demo.dataDir, 'demo', spec.name)
    const { identity, created } = await loadNodeIdentity(dir)
    loaded.push({ ...spec, dir, identity, created })
    demo.log(
      `      ${spec.name.padEnd(9)} ${created ? 'created' : 'loaded '}  ${identity.address}  ${identity.shortId}`
    )
  }
  // The key signs with a context; the address alone verifies (it embeds the public key).
  const first = loaded[1] as LoadedIdentity
  await checkSignatures(first.identity, (line) => demo.log(`      ${first.name}: ${line}`))
  return loaded
}

/**
 * 2. Start the bootstrap node first: the others need its address, so they depend on it. Wait until
 * everyone is on the DHT.
 */
async function startNodes(
  demo: Demo,
  loaded: LoadedIdentity[],
  supervisor: Supervisor,
  signal: AbortSignal
): Promise<Swarm> {
  const [bootSpec] = loaded as [LoadedIdentity, ...LoadedIdentity[]]
  const started = new Map<string, SwarmNode>()
  const parts: Subsystem[] = loaded.map((spec) => ({
    name: spec.name,
    dependsOn: spec === bootSpec ? [] : [bootSpec.name],
    async start() {
      const bootstrap = spec === bootSpec ? [] : (started.get(bootSpec.name)?.multiaddrs() ?? [])
      const node = await startSwarmNode(
        {
          name: spec.name,
          role: spec.role,
          dir: spec.dir,
          graph: spec.graph,
          network: demo.network,
          bootstrap,
          // Heartbeats are for dashboards; the demo is over before the first one would be due.
          heartbeatMs: 0
        },
        spec
      )
      started.set(spec.name, node)
    },
    async stop() {
      const node = started.get(spec.name)
      started.delete(spec.name)
      await node?.stop()
    }
  }))
  const t0 = performance.now()
  const since = (): number => Math.round(performance.now() - t0)
  await startParts(supervisor, parts, signal)
  const [bootstrap, full1, full2, light] = loaded.map((spec) => started.get(spec.name)) as [
    SwarmNode,
    SwarmNode,
    SwarmNode,
    SwarmNode
  ]
  const others = [full1, full2, light]
  const all = [bootstrap, full1, full2, light]

  // A promise we make in the README: nothing listens anywhere but on loopback.
  for (const node of all) {
    const exposed = node.multiaddrs().filter((ma) => !ma.startsWith('/ip4/127.0.0.1/'))
    if (exposed.length > 0) throw new Error(`${node.name} listens on ${exposed.join(', ')}`)
  }

  // Record what reaches each bus (sync delivery: in order, as it happens).
  const events = new Map<SwarmNode, BusEvent[]>()
  for (const node of all) {
    const seen: BusEvent[] = []
    node.bus.subscribe('*', (event) => void seen.push(event), { delivery: 'sync', name: 'demo-log' })
    events.set(node, seen)
  }

  const running = since()
  await Promise.all(others.map((node) => node.node.waitForBootstrap({ signal })))
  const connected = since()
  // Each node signs a presence record (address -> multiaddrs, skills) and stores it on the DHT.
  await waitFor(signal, 'every node to publish its presence record', () =>
    all.every((node) => node.node.presence !== undefined)
  )
  demo.log(
    `      running after ${running} ms, all connected to the bootstrap node after ${connected} ms, every presence record on the DHT after ${since()} ms`
  )
  for (const node of all) {
    const addrs = node.multiaddrs().map((ma) => ma.replace(`/p2p/${node.address}`, ''))
    demo.log(
      `      ${node.name.padEnd(9)} ${node.role.padEnd(9)} ${(addrs.join(' ') || '(dials out only)').padEnd(26)} ${node.node.libp2p.getPeers().length} peers`
    )
  }
  return { bootstrap, full1, full2, light, all, events }
}

/** 3. Resolve an address to a dialable peer through the DHT; no local state, no registry. */
async function presence(demo: Demo, swarm: Swarm, signal: AbortSignal): Promise<number> {
  const { light, full1 } = swarm
  const lookups: Array<[SwarmNode, SwarmNode]> = [
    [light, full1],
    [full1, light]
  ]
  for (const [from, to] of lookups) {
    const t0 = performance.now()
    const info = await from.node.findAgent(to.address, { signal })
    const ms = Math.round(performance.now() - t0)
    const found = info.multiaddrs.map((ma) => ma.toString()).sort()
    const actual = to
      .multiaddrs()
      .map((ma) => ma.replace(`/p2p/${to.address}`, ''))
      .sort()
    // The record must be the current one, not a stale record left on the DHT by an earlier run.
    if (found.join() !== actual.join()) {
      throw new Error(`${from.name} found ${to.name} at [${found}] but it listens on [${actual}]`)
    }
    // Multiaddrs from a record on the DHT are the network's words: escaped before they are printed.
    const where =
      found.length > 0 ? found.map(escapeText).join(' ') : 'no listen address (a light node dials out)'
    demo.log(
      `      ${from.name} -> ${to.name}: ${short(to.address)} is at ${where} (record seq ${info.seq}, ${ms} ms)`
    )
  }
  return lookups.length
}

/** 4. Skills are DHT provider records under a key derived from the skill name. */
async function skills(demo: Demo, swarm: Swarm, signal: AbortSignal): Promise<number> {
  const { full1, full2, light } = swarm
  await Promise.all([full1.node.provideSkill(SKILL, { signal }), full2.node.provideSkill(SKILL, { signal })])
  demo.log(`      full-1 and full-2 advertise "${SKILL}"`)
  const t0 = performance.now()
  const providers = await light.node.findSkillProviders(SKILL, { signal })
  const names = providers.map((p) => swarm.all.find((n) => n.address === p.address)?.name ?? short(p.address))
  demo.log(
    `      light found ${providers.length} providers in ${Math.round(performance.now() - t0)} ms: ${names.join(', ')}`
  )
  for (const expected of [full1, full2]) {
    if (!providers.some((p) => p.address === expected.address)) {
      throw new Error(`light did not find ${expected.name} among the providers of "${SKILL}"`)
    }
  }
  return providers.length
}

/**
 * 5. Publish on one node's bus; channel-p2p signs it into an envelope, gossips it on `agent-messages`,
 * and every other channel verifies it and publishes it on its own bus tagged with its origin.
 */
async function broadcast(
  demo: Demo,
  swarm: Swarm,
  signal: AbortSignal
): Promise<{ delivered: number; duplicates: number; genuine: Envelope }> {
  const { full1, light } = swarm
  const receivers = swarm.all.filter((n) => n !== full1)
  // Gossip needs a mesh: wait until every node has a mesh peer on the topic.
  await waitFor(signal, 'every node to have a gossip mesh peer on agent-messages', () =>
    swarm.all.every((n) => n.node.gossip.getMeshPeers('agent-messages').length > 0)
  )
  // Keep the signed envelope as the light node received it: the forgery step replays it.
  let genuine: Envelope | undefined
  light.channel.addEventListener('envelope:accept', (event) => {
    if (event.detail.envelope.topic === 'agents/hello') genuine ??= event.detail.envelope
  })

  const payload = { text: 'hello swarm', run: demo.run }
  const isHello = (e: BusEvent): boolean =>
    e.topic === 'agents/hello' && (e.payload as { run?: string }).run === demo.run
  const t0 = Date.now()
  full1.bus.publish('agents/hello', payload)
  demo.log(`      full-1 published agents/hello on its bus: ${safeJson({ text: payload.text })}`)
  await waitFor(signal, 'agents/hello on every other bus', () =>
    receivers.every((n) => swarm.events.get(n)?.some(isHello))
  )
  // Wait a little longer so that a duplicate or an echo would show up before we count.
  await sleep(300, signal)

  let duplicates = 0
  for (const node of receivers) {
    const got = (swarm.events.get(node) ?? []).filter(isHello)
    duplicates += got.length - 1
    const first = got[0] as BusEvent
    const origin = first.origin.kind === 'remote' ? first.origin.peer : 'local'
    demo.log(
      `      ${node.name.padEnd(9)} got it ${got.length}x after ${first.timestamp - t0} ms, origin remote ${nameOf(swarm, origin)}`
    )
  }
  const echoes = (swarm.events.get(full1) ?? []).filter((e) => isHello(e) && e.origin.kind === 'remote')
  if (duplicates > 0 || echoes.length > 0) {
    throw new Error(`expected exactly once: ${duplicates} duplicates, ${echoes.length} echoes back to full-1`)
  }
  demo.log('      full-1 got nothing back: a bridge never echoes what came from the swarm')
  if (genuine === undefined) throw new Error('light delivered the message but its envelope was not seen')
  return { delivered: receivers.length, duplicates, genuine }
}

/** 6. `channel.send` finds the recipient on the DHT, seals the body to its key and waits for its ack. */
async function direct(demo: Demo, swarm: Swarm, signal: AbortSignal): Promise<number> {
  const { light, full1 } = swarm
  let wire: Envelope | undefined
  full1.channel.addEventListener('envelope:accept', (event) => {
    if (event.detail.chan === 'direct' && event.detail.envelope.topic === 'direct/hello')
      wire = event.detail.envelope
  })
  const t0 = performance.now()
  const receipt = await light.channel.send(
    full1.address,
    'direct/hello',
    { text: 'just between us', run: demo.run },
    { signal }
  )
  demo.log(
    `      light -> full-1: acknowledged after ${receipt.attempts} attempt(s) in ${Math.round(performance.now() - t0)} ms`
  )
  const isHello = (e: BusEvent): boolean =>
    e.topic === 'direct/hello' && (e.payload as { run?: string }).run === demo.run
  await waitFor(signal, 'direct/hello on the bus of full-1', () => swarm.events.get(full1)?.some(isHello))
  const event = swarm.events.get(full1)?.find(isHello) as BusEvent
  const origin = event.origin.kind === 'remote' ? nameOf(swarm, event.origin.peer) : 'local'
  demo.log(
    `      full-1's bus got direct/hello from ${origin}: ${safeJson({ text: (event.payload as { text: unknown }).text })}`
  )
  if (wire?.ct !== SEALED_CONTENT) throw new Error(`the direct message travelled as ${wire?.ct}, not sealed`)
  demo.log(
    `      on the wire the body was ${escapeText(wire.ct)} (${wire.body.byteLength} bytes only full-1 can open)`
  )
  const elsewhere = swarm.all.filter((n) => n !== full1 && swarm.events.get(n)?.some(isHello))
  if (elsewhere.length > 0) throw new Error(`direct/hello also reached ${elsewhere.map((n) => n.name)}`)
  return 1
}

/**
 * 7. The light node plays a forger. It publishes two envelopes with valid libp2p gossip signatures, so
 * gossipsub itself lets them through to the channel: one whose body was changed after signing, and a
 * genuine envelope of full-1 re-published as if it were its own. Every receiver must reject both
 * (`envelope:drop`, action `reject`) — and a reject also costs the forger gossip score.
 */
async function forgery(
  demo: Demo,
  swarm: Swarm,
  genuine: Envelope,
  signal: AbortSignal
): Promise<{ forged: number; rejected: number }> {
  const { light } = swarm
  const receivers = swarm.all.filter((n) => n !== light)
  // Rejected messages are not forwarded, so the forger needs a direct connection to every receiver.
  for (const node of receivers) await light.node.dialAgent(node.address, { signal })
  await waitFor(signal, 'the forger to see every receiver subscribed to agent-messages', () => {
    const subscribers = light.node.gossip.getSubscribers('agent-messages')
    return receivers.every((n) => subscribers.includes(n.address))
  })

  const drops = new Map<SwarmNode, DropDetail[]>(receivers.map((n) => [n, []]))
  const cleanups = receivers.map((node) => {
    const onDrop = (event: CustomEvent<DropDetail>): void => {
      if (event.detail.chan === 'agent-messages') drops.get(node)?.push(event.detail)
    }
    node.channel.addEventListener('envelope:drop', onDrop)
    return () => node.channel.removeEventListener('envelope:drop', onDrop)
  })
  try {
    // Forgery 1: a correctly signed envelope whose body is swapped afterwards.
    const id = new Uint8Array(16)
    globalThis.crypto.getRandomValues(id)
    const signed = await signEnvelope(light.identity, {
      net: demo.network,
      chan: 'agent-messages',
      from: light.address,
      id,
      hlc: Date.now() * HLC_UNITS_PER_MS,
      ttl: 60_000,
      topic: 'agents/hello',
      ct: CBOR_CONTENT,
      body: encodeCanonical({ text: 'hello swarm', run: demo.run })
    })
    const tampered = { ...signed, body: encodeCanonical({ text: 'send your keys to the light node' }) }
    // Forgery 2: full-1's genuine envelope, re-published by the light node (the gossip sender is not `from`).
    const forgeries: Array<[string, Uint8Array]> = [
      ['body changed after signing', encodeEnvelope(tampered)],
      [`full-1's envelope re-published by light`, encodeEnvelope(genuine)]
    ]
    for (const [what, bytes] of forgeries) {
      const { recipients } = await light.node.gossip.publish('agent-messages', bytes, { signal })
      demo.log(`      light published raw: ${what} (sent to ${recipients} peers)`)
    }
    await waitFor(signal, 'every receiver to reject both forgeries', () =>
      receivers.every(
        (n) => (drops.get(n) ?? []).filter((d) => d.action === 'reject').length >= forgeries.length
      )
    )
  } finally {
    for (const cleanup of cleanups) cleanup()
  }

  // Gossipsub recomputes scores once per heartbeat (1 s): wait for the penalty to show.
  await waitFor(signal, "the forger's gossip score to fall on every receiver", () =>
    receivers.every((n) => n.node.gossip.getScore(light.address) < 0)
  )
  let rejected = 0
  for (const node of receivers) {
    const list = drops.get(node) ?? []
    rejected += list.filter((d) => d.action === 'reject').length
    const score = node.node.gossip.getScore(light.address)
    demo.log(
      `      ${node.name.padEnd(9)} rejected ${list.length}: ${list.map((d) => d.reason).join(', ')}; light's gossip score there: ${score.toFixed(1)}`
    )
  }
  // Nothing forged reached a bus: full-1's one hello is still the only remote agents/hello anywhere.
  for (const node of receivers) {
    const hellos = (swarm.events.get(node) ?? []).filter(
      (e) => e.topic === 'agents/hello' && e.origin.kind === 'remote'
    )
    if (hellos.length !== (node === swarm.full1 ? 0 : 1)) {
      throw new Error(`a forged envelope reached the bus of ${node.name}`)
    }
  }
  demo.log('      no forged event reached any bus')
  return { forged: 2, rejected }
}

/**
 * 8. full-1 and full-2 write into their own graphs (persistent, in `<node>/graph`) with no sync running —
 * as two devices offline would. Then `channel.syncGraph` opens a `/araliya/graph-sync/1.0.0` session;
 * they exchange version vectors, send each other only the commits the other lacks, and converge.
 */
async function graphSync(demo: Demo, swarm: Swarm, signal: AbortSignal): Promise<number> {
  const { full1, full2 } = swarm
  const graphA = full1.graph
  const graphB = full2.graph
  if (graphA === undefined || graphB === undefined) throw new Error('the full nodes have no graph')
  const writes: Array<[SwarmNode, string, Record<string, GraphValue>]> = [
    [full1, `${full1.address}/demo/greeting`, { text: 'hello from full-1', run: demo.run }],
    [full1, `${full1.address}/demo/tasks/1`, { title: 'water the plants', done: false, run: demo.run }],
    [full2, `${full2.address}/demo/greeting`, { text: 'hello from full-2', run: demo.run }],
    [full2, `${full2.address}/demo/tasks/1`, { title: 'read the paper', done: true, run: demo.run }]
  ]
  for (const [node, soul, fields] of writes) {
    await node.graph?.put(soul, fields, { signal })
  }
  const ownCommits = (node: SwarmNode): number => node.graph?.chainLength(node.address, node.address) ?? 0
  demo.log(
    `      offline: full-1 wrote 2 souls (${ownCommits(full1)} own commits on disk), full-2 wrote 2 (${ownCommits(full2)})`
  )
  const isCurrent = (node: SwarmNode, soul: string): boolean => node.graph?.get(soul)?.run === demo.run
  const [, soulA] = writes[0] as [SwarmNode, string, unknown]
  if (isCurrent(full2, soulA)) throw new Error('full-2 saw full-1 write before any sync ran')
  demo.log(`      full-2 does not have full-1's writes yet`)

  // Sync only with each other (the bootstrap and light nodes run no graph here).
  const t0 = performance.now()
  const handleA = await full1.channel.syncGraph(graphSyncEndpoint(graphA), {
    peers: (peer) => peer === full2.address,
    retryDelayMs: 250
  })
  const handleB = await full2.channel.syncGraph(graphSyncEndpoint(graphB), {
    peers: (peer) => peer === full1.address,
    retryDelayMs: 250
  })
  try {
    await full1.node.dialAgent(full2.address, { signal })
    const same = (soul: string): boolean =>
      isCurrent(full1, soul) &&
      isCurrent(full2, soul) &&
      JSON.stringify(graphA.get(soul)) === JSON.stringify(graphB.get(soul))
    await waitFor(signal, 'both graphs to hold all four souls of this run', () =>
      writes.every(([, soul]) => same(soul))
    )
    const sent = (h: typeof handleA): number =>
      h.sessions().reduce((n, s) => n + (s.stats.commitsSent ?? 0), 0)
    demo.log(
      `      converged in ${Math.round(performance.now() - t0)} ms (full-1 sent ${sent(handleA)} commits, full-2 sent ${sent(handleB)})`
    )
  } finally {
    await Promise.allSettled([handleA.stop(), handleB.stop()])
  }
  for (const [node, soul] of writes) {
    const other = node === full1 ? full2 : full1
    const { run: _run, ...value } = other.graph?.get(soul) ?? {}
    demo.log(
      `      ${other.name} reads ${short(node.address)}/${soul.split('/').slice(1).join('/')} = ${safeJson(value)}`
    )
  }
  return writes.length
}

// ----------------------------------------------------------------------------------------- helpers

/** Runs one step: prints its title, times it, bounds it, and turns failures into a DemoStepError. */
async function step<T>(
  demo: Demo,
  key: string,
  title: string,
  fn: (signal: AbortSignal) => Promise<T>
): Promise<T> {
  demo.index++
  demo.log(`\n[${demo.index}/${STEPS}] ${title}`)
  const started = performance.now()
  const signal = AbortSignal.any([demo.signal, AbortSignal.timeout(demo.stepTimeoutMs)])
  try {
    const value = await bounded(fn(signal), signal)
    const ms = Math.round(performance.now() - started)
    demo.ms[key] = ms
    demo.log(`      ok (${ms} ms)`)
    return value
  } catch (err) {
    const why = demo.signal.aborted
      ? ((demo.signal.reason as Error | undefined)?.message ?? 'interrupted')
      : AraliyaError.isInstance(err)
        ? `${err.code}: ${err.message}`
        : err instanceof Error
          ? err.message
          : String(err)
    throw new DemoStepError(`step ${demo.index}/${STEPS} (${key}) failed: ${why}`, { cause: err })
  }
}

/**
 * Settles with `promise`, or rejects shortly after `signal` aborts if the work does not stop by itself
 * (the grace period lets a step's own, more descriptive error win).
 */
function bounded<T>(promise: Promise<T>, signal: AbortSignal, graceMs = 250): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined
    const onAbort = (): void => {
      timer = setTimeout(() => reject(abortError(signal, 'the step')), graceMs)
    }
    if (signal.aborted) onAbort()
    else signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (value) => {
        clearTimeout(timer)
        signal.removeEventListener('abort', onAbort)
        resolve(value)
      },
      (err: unknown) => {
        clearTimeout(timer)
        signal.removeEventListener('abort', onAbort)
        reject(err)
      }
    )
  })
}

/** Polls `predicate` every 25 ms until it holds; rejects, naming `what`, when `signal` aborts. */
async function waitFor(
  signal: AbortSignal,
  what: string,
  predicate: () => boolean | undefined
): Promise<void> {
  while (predicate() !== true) {
    if (signal.aborted) throw abortError(signal, what)
    await sleep(25, signal).catch(() => {})
  }
}

function abortError(signal: AbortSignal, what: string, cause?: unknown): Error {
  const reason = signal.reason as { name?: string } | undefined
  const message =
    reason?.name === 'TimeoutError' ? `timed out waiting for ${what}` : `stopped while waiting for ${what}`
  return new Error(message, { cause: cause ?? signal.reason })
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason)
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(signal.reason)
    }
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

async function stopAll(
  demo: Demo,
  supervisor: Supervisor,
  stops: { stopped: number; failed: number }
): Promise<void> {
  const t0 = performance.now()
  await supervisor.stop()
  // Every node that ran, whether stopped here or already when a start failed or was interrupted.
  if (stops.stopped === 0) return
  demo.log(
    `\nstopped ${stops.stopped - stops.failed}/${stops.stopped} nodes in ${Math.round(performance.now() - t0)} ms`
  )
}

/** `12D3KooW…a1b2c3`: enough to tell addresses apart in a log line. */
function short(address: string): string {
  // Addresses of peers we do not know came from the network.
  return escapeText(`${address.slice(0, 8)}…${address.slice(-6)}`)
}

function nameOf(swarm: Swarm, address: string): string {
  return swarm.all.find((n) => n.address === address)?.name ?? short(address)
}
