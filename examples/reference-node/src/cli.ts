#!/usr/bin/env node
// The reference node's command line: the local swarm demo, one node that runs until Ctrl-C, and the
// node's identity.
//
// Operator errors print one line, `error <code>: <what is wrong and what to do>`, and exit non-zero: 2
// when the command line is wrong, 1 when the node cannot run. A stack follows only when DEBUG is set.
import { resolve } from 'node:path'
import { inspect, parseArgs } from 'node:util'
import { type DhtNodeRole, normalizeSkillName } from '@araliya/dht-node'
import { AbortedError, AraliyaError } from '@araliya/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { escapeText } from './escape.ts'
import { UsageError } from './errors.ts'
import { runIdentityDemo } from './identity-demo.ts'
import { DEFAULT_HEARTBEAT_MS, LOOPBACK_TCP } from './node.ts'
import { Output } from './output.ts'
import { runStart } from './start.ts'
import { runSwarmDemo } from './swarm-demo.ts'

const START_OPTIONS = `  --role bootstrap|full|light   (default full)
  --bootstrap MULTIADDR         a node to dial first, ending in /p2p/<address> (repeatable)
  --listen MULTIADDR            (default ${LOOPBACK_TCP}; none for light) (repeatable)
  --network NAME                (default main)
  --skill NAME                  advertise a skill (repeatable)
  --heartbeat-ms N              node-status heartbeat interval in ms, 0 = off
                                (default ${DEFAULT_HEARTBEAT_MS}; at least 1000 when on)
  --json                        print one JSON object per line on stdout, nothing else`

const COMMON_OPTIONS = `  --data-dir DIR   where keys and data live (default $ARALIYA_DATA_DIR or .araliya)
  -h, --help       show this help`

const EXIT_CODES = `exit codes: 0 done (also when stdout is closed early, e.g. piped to head), 1 the node could not run,
2 the command line is wrong, 130 the demo was interrupted. Set DEBUG (e.g. DEBUG=araliya:*) to see error stacks.`

const USAGE = `usage: araliya <command> [options]

commands:
  demo      run a local swarm on 127.0.0.1 (1 bootstrap, 2 full, 1 light node) and show what it can do;
            ends with one JSON line {"demo":"ok",...}
  start     run one node until Ctrl-C
${START_OPTIONS.replace(/^/gm, '            ')}
  identity  print this node's address and short id

options:
${COMMON_OPTIONS}

araliya <command> --help shows the help of one command.

${EXIT_CODES}`

/** `araliya <command> --help`. */
const COMMAND_USAGE: Record<'demo' | 'start' | 'identity', string> = {
  demo: `usage: araliya demo [--data-dir DIR]

Runs a local swarm on 127.0.0.1 (1 bootstrap, 2 full, 1 light node) and shows what it can do, step by
step; the last line is one JSON object {"demo":"ok",...}. A second run reuses the same identities.

options:
${COMMON_OPTIONS}

${EXIT_CODES}`,
  start: `usage: araliya start [options]

Runs one node until Ctrl-C (or SIGTERM), printing its address, peers, presence records, heartbeats and
the bus events that arrive from the swarm.

options:
${START_OPTIONS}
${COMMON_OPTIONS}

${EXIT_CODES}`,
  identity: `usage: araliya identity [--data-dir DIR]

Prints the address and short id of the node kept in the data folder (created on first use).

options:
${COMMON_OPTIONS}

${EXIT_CODES}`
}

/** The demo must finish well inside a minute; past this it stops its nodes and fails. */
const DEMO_BUDGET_MS = 50_000
const MAX_TIMER_MS = 2 ** 31 - 1

type OptionSpec = { type: 'string' | 'boolean'; multiple?: boolean; short?: string }
const COMMON = {
  'data-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h' }
} as const satisfies Record<string, OptionSpec>
const START = {
  ...COMMON,
  role: { type: 'string' },
  bootstrap: { type: 'string', multiple: true },
  listen: { type: 'string', multiple: true },
  network: { type: 'string' },
  skill: { type: 'string', multiple: true },
  'heartbeat-ms': { type: 'string' },
  json: { type: 'boolean' }
} as const satisfies Record<string, OptionSpec>

/** node:util parseArgs, strictly: unknown flags, missing values and stray arguments are UsageErrors. */
function parse<T extends Record<string, OptionSpec>>(command: string, args: string[], options: T) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values
  } catch (err) {
    const code = (err as { code?: string }).code ?? ''
    const message = (err as Error).message
    // Node's messages run over several lines; say the same in one.
    const quoted = /'([^']*)'/.exec(message)?.[1] ?? ''
    const option = /^-{1,2}[\w-]+/.exec(quoted)?.[0] ?? quoted
    const what =
      code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION'
        ? `unknown option ${quoted}`
        : code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL'
          ? `unexpected argument ${quoted}`
          : code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && message.includes('does not take an argument')
            ? `${option} takes no value`
            : code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE'
              ? `${option} needs a value (write ${option}=VALUE for a value that starts with a dash)`
              : message
    throw new UsageError(`araliya ${command}: ${what}; see araliya --help`, { cause: err })
  }
}

function dataDir(value: string | undefined): string {
  return resolve(value ?? process.env.ARALIYA_DATA_DIR ?? '.araliya')
}

function checkMultiaddr(flag: string, value: string, needsPeer: boolean): string {
  let parsed: ReturnType<typeof multiaddr>
  try {
    parsed = multiaddr(value)
  } catch (err) {
    throw new UsageError(
      `${flag} ${value} is not a multiaddr (${(err as Error).message}); it looks like /ip4/127.0.0.1/tcp/4001`,
      { cause: err }
    )
  }
  const hasPeer = parsed.getComponents().some((c) => c.name === 'p2p')
  if (needsPeer && !hasPeer) {
    throw new UsageError(
      `${flag} ${value} must end in /p2p/<address> of the node to dial; copy it from that node's output`
    )
  }
  if (!needsPeer && hasPeer) {
    throw new UsageError(`${flag} ${value} must not name a peer (/p2p/…): it is where this node listens`)
  }
  return value
}

function heartbeatMs(value: string | undefined): number {
  if (value === undefined) return DEFAULT_HEARTBEAT_MS
  const ms = /^\d+$/.test(value) ? Number(value) : Number.NaN
  if (!(ms === 0 || (ms >= 1000 && ms <= MAX_TIMER_MS))) {
    throw new UsageError(
      `--heartbeat-ms must be 0 (off) or a whole number of milliseconds from 1000 to ${MAX_TIMER_MS}; got ${value}`
    )
  }
  return ms
}

function role(value: string | undefined): DhtNodeRole {
  const r = value ?? 'full'
  if (r !== 'bootstrap' && r !== 'full' && r !== 'light') {
    throw new UsageError(`--role must be bootstrap, full or light; got ${r}`)
  }
  return r
}

function skill(value: string): string {
  try {
    return normalizeSkillName(value)
  } catch (err) {
    throw new UsageError(`--skill ${value}: ${(err as Error).message}`, { cause: err })
  }
}

/**
 * An AbortSignal that fires on Ctrl-C (and SIGTERM). If stopping then hangs, a second signal or a
 * 5-second grace period ends the process anyway.
 */
function interruptSignal(out: Output): {
  signal: AbortSignal
  interrupted: () => boolean
  dispose: () => void
} {
  const controller = new AbortController()
  let interrupted = false
  const onSignal = (): void => {
    if (interrupted) process.exit(130)
    interrupted = true
    controller.abort(new AbortedError('interrupted'))
    setTimeout(() => {
      out.error('nodes did not stop within 5 s; exiting anyway')
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

/** Exit code once stdout has closed: 0 when the reader went away, 1 (with a line) on a real write error. */
function closedExit(out: Output): number {
  const err = out.stdoutError
  if (err === undefined) return 0
  out.error(`error ERR_STDOUT: cannot write to stdout (${escapeText(err.message)}); the node was stopped`)
  return 1
}

async function demo(args: string[], out: Output): Promise<number> {
  const values = parse('demo', args, COMMON)
  if (values.help === true) return help(out, 'demo')
  const interrupt = interruptSignal(out)
  const budget = AbortSignal.timeout(DEMO_BUDGET_MS)
  try {
    const result = await runSwarmDemo({
      dataDir: dataDir(values['data-dir']),
      log: (line) => out.line(line),
      signal: AbortSignal.any([interrupt.signal, budget, out.closed])
    })
    // The contract for scripts: the last line on stdout is this JSON object.
    out.json(result)
    return out.closed.aborted ? closedExit(out) : 0
  } catch (err) {
    if (out.closed.aborted) return closedExit(out)
    if (interrupt.interrupted()) {
      out.error('interrupted; every node was stopped')
      return 130
    }
    throw err
  } finally {
    interrupt.dispose()
  }
}

async function start(args: string[], out: Output): Promise<number> {
  const values = parse('start', args, START)
  if (values.help === true) return help(out, 'start')
  const options = {
    role: role(values.role),
    dataDir: dataDir(values['data-dir']),
    bootstrap: (values.bootstrap ?? []).map((ma) => checkMultiaddr('--bootstrap', ma, true)),
    listen: (values.listen ?? []).map((ma) => checkMultiaddr('--listen', ma, false)),
    network: values.network ?? 'main',
    skills: (values.skill ?? []).map(skill),
    heartbeatMs: heartbeatMs(values['heartbeat-ms']),
    json: values.json === true
  }
  const interrupt = interruptSignal(out)
  try {
    await runStart(options, out, AbortSignal.any([interrupt.signal, out.closed]))
    return out.closed.aborted ? closedExit(out) : 0
  } finally {
    interrupt.dispose()
  }
}

async function identity(args: string[], out: Output): Promise<number> {
  const values = parse('identity', args, COMMON)
  if (values.help === true) return help(out, 'identity')
  const result = await runIdentityDemo(dataDir(values['data-dir']), () => {})
  out.line(`${result.address} ${result.shortId}`)
  return 0
}

function help(out: Output, command?: keyof typeof COMMAND_USAGE): number {
  out.line(command === undefined ? USAGE : COMMAND_USAGE[command])
  return 0
}

async function main(args: string[], out: Output): Promise<number> {
  const [command, ...rest] = args
  switch (command) {
    case 'demo':
      return demo(rest, out)
    case 'start':
      return start(rest, out)
    case 'identity':
      return identity(rest, out)
    case undefined:
    case '--help':
    case '-h':
      return help(out)
    case 'help':
      // `araliya help start` is `araliya start --help`.
      return rest[0] === 'demo' || rest[0] === 'start' || rest[0] === 'identity'
        ? help(out, rest[0])
        : help(out)
    default:
      if (command.startsWith('-')) {
        throw new UsageError(
          `unknown option ${command}; put a command first (demo, start, identity); see araliya --help`
        )
      }
      throw new UsageError(
        `unknown command ${command}; the commands are demo, start and identity (araliya --help)`
      )
  }
}

/**
 * One line for any error: ours carry a code and a message that says what to do; file-system errors
 * their errno code; anything else is unexpected. The message is escaped (it may quote remote data or
 * the command line), which also keeps it on one line. With DEBUG set, the stack and causes follow.
 */
function report(err: unknown, out: Output): number {
  const sysCode = (err as { code?: unknown } | null)?.code
  if (AraliyaError.isInstance(err)) {
    out.error(`error ${err.code}: ${escapeText(err.message)}`)
  } else if (err instanceof Error && typeof sysCode === 'string' && /^E[A-Z]+$/.test(sysCode)) {
    out.error(`error ${sysCode}: ${escapeText(err.message)}`)
  } else {
    const message = err instanceof Error ? err.message : String(err)
    out.error(
      `error: ${escapeText(message)} (unexpected; run again with DEBUG=araliya:* to see where it came from)`
    )
  }
  if (process.env.DEBUG) {
    for (const line of inspect(err, { depth: 4 }).split('\n')) out.error(escapeText(line))
  }
  return UsageError.isInstance(err) ? 2 : 1
}

const out = new Output(process.stdout, process.stderr)
main(process.argv.slice(2), out).then(
  (code) => process.exit(code),
  (err: unknown) => process.exit(report(err, out))
)
