// A child process that writes and acknowledges each durable write on stdout, for crash tests: the test
// SIGKILLs it mid-stream and checks that every acknowledged write survived.
import { type ChildProcess, spawn } from 'node:child_process'

/** A running writer. */
export interface AckingWriter<Ack> {
  readonly process: ChildProcess
  /** What the writer acknowledged so far, in order. */
  readonly acks: Ack[]
  /** Resolves when the writer printed `ready`; rejects if it exits first. */
  readonly ready: Promise<void>
  /** Resolves once at least `count` writes were acknowledged. */
  waitForAcks(count: number): Promise<void>
  /** Resolves when the process has exited. */
  readonly exited: Promise<void>
}

/**
 * Runs `script` (TypeScript, through tsx, with the workspace's source condition) with `args` in `cwd`.
 * Each stdout line `ready` resolves `ready`; each line starting with `ack ` is handed to `parseAck`
 * (without the prefix) and collected. Stderr is printed when the writer failed on its own (not killed).
 */
export function startAckingWriter<Ack>(
  script: string,
  args: readonly string[],
  options: { cwd: string; parseAck: (rest: string) => Ack }
): AckingWriter<Ack> {
  const child = spawn(
    process.execPath,
    ['--conditions=@araliya/source', '--import', 'tsx', script, ...args],
    {
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe']
    }
  )
  const acks: Ack[] = []
  const waiters: Array<{ count: number; resolve: () => void }> = []
  let buffer = ''
  let stderr = ''
  let resolveReady!: () => void
  const ready = new Promise<void>((resolve) => {
    resolveReady = resolve
  })
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  child.stdout?.on('data', (chunk: Buffer) => {
    buffer += chunk.toString()
    let newline = buffer.indexOf('\n')
    while (newline >= 0) {
      const line = buffer.slice(0, newline)
      buffer = buffer.slice(newline + 1)
      if (line.startsWith('ready')) resolveReady()
      if (line.startsWith('ack ')) acks.push(options.parseAck(line.slice(4)))
      newline = buffer.indexOf('\n')
    }
    for (const waiter of [...waiters]) {
      if (acks.length >= waiter.count) {
        waiters.splice(waiters.indexOf(waiter), 1)
        waiter.resolve()
      }
    }
  })
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()))
  exited.then(() => {
    if (stderr.length > 0 && !stderr.includes('SIGKILL')) process.stderr.write(stderr)
  })
  return {
    process: child,
    acks,
    ready: Promise.race([
      ready,
      exited.then(() => Promise.reject(new Error(`the writer exited early: ${stderr}`)))
    ]),
    waitForAcks: (count) =>
      acks.length >= count ? Promise.resolve() : new Promise((resolve) => waiters.push({ count, resolve })),
    exited
  }
}
