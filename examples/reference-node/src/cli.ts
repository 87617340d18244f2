#!/usr/bin/env node
// The reference node's command line: the local swarm demo, one node that runs until Ctrl-C, and the
// node's identity.
import { resolve } from 'node:path'
import type { BusEvent } from '@araliya/bus'
import type { DhtNodeRole } from '@araliya/dht-node'
import { AbortedError, AraliyaError, InvalidInputError } from '@araliya/interface'
import { runIdentityDemo } from './identity-demo.ts'
import { LOOPBACK_TCP, startSwarmNode } from './node.ts'
import { runSwarmDemo } from './swarm-demo.ts'

const USAGE = `usage: araliya <command> [options]

commands:
  demo      run a local swarm on 127.0.0.1 (1 bootstrap, 2 full, 1 light node) and show what it can do;
            ends with one JSON line {"demo":"ok",...}
  start     run one node until Ctrl-C
              --role bootstrap|full|light   (default full)
              --bootstrap MULTIADDR         a node to dial first (repeatable)
              --listen MULTIADDR            (default ${LOOPBACK_TCP}; none for light)
              --network NAME                (default main)
              --skill NAME                  advertise a skill (repeatable)
  identity  print this node's address and short id

options:
  --data-dir DIR   where keys and data live (default $ARALIYA_DATA_DIR or .araliya)`

/** The demo must finish well inside a minute; past this it stops its nodes and fails. */
const DEMO_BUDGET_MS = 50_000

function values(args: string[], name: string): string[] {
  const out: string[] = []
  for (let i = 0; i < args.length; i++) {
    if (args[i] !== name) continue
    const value = args[i + 1]
    if (value === undefined || value.startsWith('--')) throw new InvalidInputError(`${name} needs a value`)
    out.push(value)
  }
  return out
}

function dataDir(args: string[]): string {
  return resolve(values(args, '--data-dir').at(-1) ?? process.env.ARALIYA_DATA_DIR ?? '.araliya')
}

/**
 * An AbortSignal that fires on Ctrl-C (and SIGTERM). If stopping then hangs, a second signal or a
 * 5-second grace period ends the process anyway.
 */
function interruptSignal(): { signal: AbortSignal; interrupted: () => boolean; dispose: () => void } {
  const controller = new AbortController()
  let interrupted = false
  const onSignal = (): void => {
    if (interrupted) process.exit(130)
    interrupted = true
    controller.abort(new AbortedError('interrupted'))
    setTimeout(() => {
      console.error('nodes did not stop within 5 s; exiting anyway')
      process.exit(130)
    }, 5000).unref()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  return {
    signal: controller.signal,
    interrupted: () => interrupted,
    dispose: () => {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    }
  }
}

async function demo(args: string[]): Promise<number> {
  const interrupt = interruptSignal()
  const budget = AbortSignal.timeout(DEMO_BUDGET_MS)
  try {
    const result = await runSwarmDemo({
      dataDir: dataDir(args),
      signal: AbortSignal.any([interrupt.signal, budget])
    })
    // The contract for scripts: the last line on stdout is this JSON object.
    console.log(JSON.stringify(result))
    return 0
  } catch (err) {
    if (interrupt.interrupted()) {
      console.error('interrupted; every node was stopped')
      return 130
    }
    throw err
  } finally {
    interrupt.dispose()
  }
}

async function start(args: string[]): Promise<number> {
  const role = (values(args, '--role').at(-1) ?? 'full') as DhtNodeRole
  if (!['bootstrap', 'full', 'light'].includes(role)) {
    throw new InvalidInputError(`--role must be bootstrap, full or light; got ${role}`)
  }
  const listen = values(args, '--listen')
  const interrupt = interruptSignal()
  const node = await startSwarmNode({
    name: role,
    role,
    dir: dataDir(args),
    bootstrap: values(args, '--bootstrap'),
    network: values(args, '--network').at(-1) ?? 'main',
    skills: values(args, '--skill'),
    ...(listen.length > 0 ? { listen } : {})
  })
  try {
    console.log(`${node.created ? 'created' : 'loaded'} identity ${node.address} (${node.identity.shortId})`)
    console.log(`running as ${role} on network ${node.node.network} in ${node.dir}`)
    for (const ma of node.multiaddrs()) console.log(`  other nodes can use: --bootstrap ${ma}`)
    node.node.addEventListener('peer:connect', (e) => console.log(`peer connected    ${e.detail.peerId}`))
    node.node.addEventListener('peer:disconnect', (e) => console.log(`peer disconnected ${e.detail.peerId}`))
    node.node.addEventListener('presence:publish', (e) =>
      console.log(`presence published (seq ${e.detail.record.seq}) on ${e.detail.accepted} DHT servers`)
    )
    const print = (event: BusEvent): void => {
      const from = event.origin.kind === 'remote' ? event.origin.peer : 'local'
      console.log(`bus ${event.topic} from ${from}: ${JSON.stringify(event.payload)}`)
    }
    node.bus.subscribe('agents/*', print, { from: 'remote' })
    node.bus.subscribe('direct/*', print, { from: 'remote' })
    console.log('press Ctrl-C to stop')
    await new Promise<void>((resolve) => {
      if (interrupt.signal.aborted) resolve()
      else interrupt.signal.addEventListener('abort', () => resolve(), { once: true })
    })
    console.log('stopping…')
    return 0
  } finally {
    await node.stop()
    interrupt.dispose()
  }
}

async function main(args: string[]): Promise<number> {
  const command = args[0]
  switch (command) {
    case 'demo':
      return demo(args)
    case 'start':
      return start(args)
    case 'identity': {
      const result = await runIdentityDemo(dataDir(args), () => {})
      console.log(`${result.address} ${result.shortId}`)
      return 0
    }
    default:
      console.error(USAGE)
      return command === undefined || command === '--help' ? 0 : 2
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    // Typed errors carry a message that says what to do; print that, not a stack.
    if (AraliyaError.isInstance(err)) console.error(`error ${err.code}: ${err.message}`)
    else console.error(err)
    process.exit(1)
  }
)
