// `araliya start`: one node that runs until Ctrl-C (or until its stdout closes), printing what happens.
//
// Everything printed that came from the network (bus topics and payloads, heartbeat fields, presence
// records, peer ids, error messages) goes through escapeText or safeJson: a peer must never be able to
// move the cursor, clear the screen or forge a line on the operator's console. With `--json`, stdout
// carries one JSON object per line and nothing else; the few human notes go to stderr.
import type { BusEvent } from '@araliya/bus'
import type { DhtNode, DhtNodeEvents, DhtNodeRole, NodeStatus } from '@araliya/dht-node'
import { escapeText as e, safeJson } from './escape.ts'
import { ensureWritableDataDir, explainStartError } from './errors.ts'
import { startSwarmNode } from './node.ts'
import type { Output } from './output.ts'

/** What `araliya start` was asked to do, already validated. */
export interface StartOptions {
  role: DhtNodeRole
  dataDir: string
  bootstrap: string[]
  /** Empty: the default (loopback TCP on a free port; none for a light node). */
  listen: string[]
  network: string
  skills: string[]
  /** Interval of the node-status heartbeat, ms; 0 turns it off. */
  heartbeatMs: number
  /** One JSON object per line on stdout, nothing else. */
  json: boolean
}

/** `30 s`, `1.5 s`, `250 ms`. */
function duration(ms: number): string {
  return ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`
}

function statusLine(status: NodeStatus): string {
  const mesh = Object.entries(status.mesh)
    .map(([topic, peers]) => `${e(topic)}=${peers}`)
    .join(' ')
  return (
    `status from ${e(status.address)}: ${e(status.role)}, ${status.peers} peers, mesh ${mesh || 'none'}, ` +
    `dht ${e(status.dht.mode)} with ${status.dht.routingTable} in its table, up ${duration(status.uptimeMs)}`
  )
}

/** Prints one event: a JSON line in --json mode, else a human line. */
type Say = (human: string, event: Record<string, unknown>) => void

/** Prints what the DHT node reports; returns the function that stops listening. */
function listen(dht: DhtNode, say: Say): () => void {
  const cleanups: Array<() => void> = []
  const on = <K extends keyof DhtNodeEvents>(type: K, listener: (event: DhtNodeEvents[K]) => void): void => {
    dht.addEventListener(type, listener)
    cleanups.push(() => dht.removeEventListener(type, listener))
  }
  on('peer:connect', (event) =>
    say(`peer connected    ${e(event.detail.peerId)}`, { event: 'peer:connect', peer: event.detail.peerId })
  )
  on('peer:disconnect', (event) =>
    say(`peer disconnected ${e(event.detail.peerId)}`, {
      event: 'peer:disconnect',
      peer: event.detail.peerId
    })
  )
  // Every retry: a node whose bootstrap is unreachable says so, and when it tries next.
  // Attempt 0: the bootstrap node was connected and went away; it is dialled again.
  on('bootstrap:retry', ({ detail }) =>
    say(
      detail.attempt === 0
        ? `bootstrap ${e(detail.multiaddr)} lost (${e(detail.error.message)}); dialling again in ${duration(detail.delayMs)}`
        : `bootstrap ${e(detail.multiaddr)} not reached (attempt ${detail.attempt}): ${e(detail.error.message)}; ` +
            `retrying in ${duration(detail.delayMs)}`,
      {
        event: 'bootstrap:retry',
        multiaddr: detail.multiaddr,
        attempt: detail.attempt,
        delayMs: detail.delayMs,
        error: detail.error.message
      }
    )
  )
  on('presence:publish', ({ detail }) =>
    say(`presence published (seq ${detail.record.seq}) on ${detail.accepted} DHT servers`, {
      event: 'presence:publish',
      seq: detail.record.seq,
      accepted: detail.accepted
    })
  )
  on('presence:error', ({ detail }) =>
    say(`presence not published yet (retrying): ${e(detail.error.message)}`, {
      event: 'presence:error',
      error: detail.error.message
    })
  )
  on('agent:announce', ({ detail: { record } }) =>
    say(
      `agent ${e(record.address)} announced (seq ${record.seq}): ` +
        `${record.multiaddrs.map(e).join(' ') || 'no listen address'}; skills ${record.skills.map(e).join(', ') || 'none'}`,
      {
        event: 'agent:announce',
        address: record.address,
        seq: record.seq,
        multiaddrs: record.multiaddrs,
        skills: record.skills
      }
    )
  )
  on('status:receive', ({ detail: { status } }) =>
    say(statusLine(status), { event: 'status', from: status.address, status })
  )
  return () => {
    for (const cleanup of cleanups.splice(0)) cleanup()
  }
}

/**
 * Runs one node until `signal` aborts (Ctrl-C, SIGTERM, stdout closed), then stops it.
 *
 * @throws {DataDirError} when the data folder cannot be written.
 * @throws {ListenError} (or a subclass) when a listen address cannot be used.
 */
export async function runStart(options: StartOptions, out: Output, signal: AbortSignal): Promise<void> {
  // An event: a JSON line in --json mode, else a human line on stdout. Events of the node's start (a
  // bootstrap that is not reached yet) wait until the start banner is out, so it stays the first line.
  let held: Array<() => void> | undefined = []
  const say: Say = (human, event) => {
    const print = (): void => {
      if (options.json) out.json(event)
      else out.line(human)
    }
    if (held === undefined) print()
    else held.push(print)
  }
  // A note for a person: stderr in --json mode (stdout is JSON only), else stdout.
  const note = (human: string): void => {
    if (options.json) out.error(human)
    else out.line(human)
  }

  await ensureWritableDataDir(options.dataDir)
  let detach = (): void => {}
  const node = await startSwarmNode({
    name: options.role,
    role: options.role,
    dir: options.dataDir,
    bootstrap: options.bootstrap,
    network: options.network,
    skills: options.skills,
    heartbeatMs: options.heartbeatMs,
    // The node's own graph space, synced with its peers: its other devices, and anyone reading its
    // public record (below).
    graph: true,
    graphSync: true,
    ...(options.listen.length > 0 ? { listen: options.listen } : {}),
    // The DHT node's events, from before it starts; a restart of the dht part brings a new node.
    watch: (dht) => {
      detach()
      detach = listen(dht, say)
    }
  }).catch((err: unknown) => {
    throw explainStartError(err)
  })
  const cleanups: Array<() => void> = []
  try {
    // The node's public record in its own space: what a peer that syncs this space reads first.
    await node.graph?.put(`${node.address}/node`, {
      role: options.role,
      network: options.network,
      startedAt: Date.now()
    })
    const multiaddrs = node.multiaddrs()
    if (options.json) {
      out.json({
        event: 'start',
        address: node.address,
        shortId: node.identity.shortId,
        identity: node.created ? 'created' : 'loaded',
        role: options.role,
        network: node.node.network,
        dataDir: node.dir,
        multiaddrs,
        heartbeatMs: options.heartbeatMs
      })
    } else {
      out.line(
        `${node.created ? 'created' : 'loaded'} identity ${node.address} (${e(node.identity.shortId)})`
      )
      out.line(`running as ${options.role} on network ${e(node.node.network)} in ${e(node.dir)}`)
      for (const ma of multiaddrs) out.line(`  other nodes can use: --bootstrap ${e(ma)}`)
    }
    note(
      options.heartbeatMs > 0
        ? `heartbeat on node-status every ${duration(options.heartbeatMs)}`
        : 'heartbeat off (--heartbeat-ms 0)'
    )

    for (const print of held ?? []) print()
    held = undefined
    cleanups.push(() => detach())
    const parts = node.bus.subscribe(
      'subsystem:*',
      (event) => {
        const payload = event.payload as { name: string; error?: Error; restartInMs?: number }
        const topic: string = event.topic
        if (topic === 'subsystem:failed') {
          const then =
            payload.restartInMs === undefined
              ? 'not restarted'
              : `restarting in ${duration(payload.restartInMs)}`
          say(`part ${e(payload.name)} failed: ${e(payload.error?.message ?? 'unknown')}; ${then}`, {
            event: 'part:fail',
            part: payload.name,
            error: payload.error?.message,
            ...(payload.restartInMs === undefined ? {} : { restartInMs: payload.restartInMs })
          })
        } else if (topic === 'subsystem:started') {
          say(`part ${e(payload.name)} restarted`, { event: 'part:restart', part: payload.name })
        }
      },
      { delivery: 'sync', name: 'operator-parts' }
    )
    cleanups.push(() => parts.unsubscribe())
    const print = (event: BusEvent): void => {
      const from = event.origin.kind === 'remote' ? event.origin.peer : 'local'
      say(`bus ${e(event.topic)} from ${e(from)}: ${safeJson(event.payload)}`, {
        event: 'bus',
        topic: event.topic,
        from,
        payload: event.payload
      })
    }
    node.bus.subscribe('agents/*', print, { from: 'remote' })
    node.bus.subscribe('direct/*', print, { from: 'remote' })

    note('press Ctrl-C to stop')
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve()
      else signal.addEventListener('abort', () => resolve(), { once: true })
    })
    note('stopping…')
  } finally {
    for (const cleanup of cleanups) cleanup()
    await node.stop()
  }
  if (options.json) out.json({ event: 'stop' })
}
