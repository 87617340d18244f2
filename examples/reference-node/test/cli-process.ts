// Runs `araliya …` as a child process, exactly as `pnpm araliya` does, and waits on what it prints.
// Every process started here is registered, so a test's afterEach can kill whatever is still running.
import { type ChildProcessByStdio, spawn } from 'node:child_process'
import { join } from 'node:path'
import type { Readable } from 'node:stream'

const PACKAGE_DIR = join(import.meta.dirname, '..')
const running = new Set<CliProcess>()

/** How a child ended. */
export interface CliExit {
  code: number | null
  signal: NodeJS.Signals | null
}

/** A running `araliya` child process and everything it printed so far. */
export interface CliProcess {
  readonly child: ChildProcessByStdio<null, Readable, Readable>
  /** Everything written to stdout so far. */
  stdout(): string
  /** Everything written to stderr so far. */
  stderr(): string
  /** Settles when the process has exited. */
  readonly exited: Promise<CliExit>
  /** Resolves with the first stdout line that matches; rejects when the process exits or the deadline passes. */
  line(match: (line: string) => boolean, what: string, deadlineMs?: number): Promise<string>
  /** Sends `signal` (default SIGKILL) unless the process has already exited. */
  kill(signal?: NodeJS.Signals): void
}

/** Starts `araliya <args>` with `--conditions=@araliya/source --import tsx`, as the package scripts do. */
export function startCli(
  args: string[],
  env: Record<string, string | undefined> = {},
  /** Run the CLI as another user (numeric uid and gid), e.g. to see a permission error when tests run as root. */
  user?: { uid: number; gid: number }
): CliProcess {
  const child = spawn(
    process.execPath,
    ['--conditions=@araliya/source', '--import', 'tsx', 'src/cli.ts', ...args],
    {
      cwd: PACKAGE_DIR,
      stdio: ['ignore', 'pipe', 'pipe'],
      // No inherited DEBUG: stacks are printed only when a test asks for them.
      env: { ...process.env, DEBUG: undefined, ...env },
      ...user
    }
  ) as ChildProcessByStdio<null, Readable, Readable>
  let stdout = ''
  let stderr = ''
  let done = false
  const waiters = new Set<() => void>()
  const notify = (): void => {
    for (const waiter of [...waiters]) waiter()
  }
  child.stdout.setEncoding('utf8')
  child.stderr.setEncoding('utf8')
  child.stdout.on('data', (chunk: string) => {
    stdout += chunk
    notify()
  })
  child.stderr.on('data', (chunk: string) => {
    stderr += chunk
  })
  const exited = new Promise<CliExit>((resolve, reject) => {
    child.on('exit', (code, signal) => {
      done = true
      running.delete(cli)
      resolve({ code, signal })
      notify()
    })
    // The process could not be started at all (e.g. the node binary is not executable for `user`).
    child.on('error', (err) => {
      done = true
      running.delete(cli)
      reject(err)
      notify()
    })
  })
  // A test that never awaits `exited` must not see an unhandled rejection.
  exited.catch(() => {})
  const cli: CliProcess = {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    line(match, what, deadlineMs = 60_000) {
      return new Promise<string>((resolve, reject) => {
        const check = (): void => {
          const found = stdout
            .split('\n')
            .slice(0, -1) // only complete lines
            .find(match)
          if (found !== undefined) finish(() => resolve(found))
          else if (done) finish(() => reject(new Error(`exited before printing ${what}; stderr: ${stderr}`)))
        }
        const timer = setTimeout(
          () => finish(() => reject(new Error(`timed out waiting for ${what}; stdout so far:\n${stdout}`))),
          deadlineMs
        )
        const finish = (settle: () => void): void => {
          clearTimeout(timer)
          waiters.delete(check)
          settle()
        }
        waiters.add(check)
        check()
      })
    },
    kill(signal = 'SIGKILL') {
      if (!done) child.kill(signal)
    }
  }
  running.add(cli)
  return cli
}

/** Kills every child process still running (call from afterEach) and waits until they are gone. */
export async function killAll(): Promise<void> {
  const all = [...running]
  for (const cli of all) cli.kill('SIGKILL')
  await Promise.all(all.map((cli) => cli.exited))
}

/** Waits for a process to exit, killing it (and failing) if it has not within the deadline. */
export async function exitOf(cli: CliProcess, deadlineMs = 60_000): Promise<CliExit> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      cli.kill('SIGKILL')
      reject(new Error(`the process did not exit within ${deadlineMs} ms; stderr: ${cli.stderr()}`))
    }, deadlineMs)
  })
  try {
    return await Promise.race([cli.exited, deadline])
  } finally {
    clearTimeout(timer)
  }
}

/** Polls `predicate` every 50 ms until it holds, failing with `what` after the deadline. */
export async function waitUntil(what: string, predicate: () => boolean, deadlineMs = 60_000): Promise<void> {
  const until = Date.now() + deadlineMs
  while (!predicate()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** The lines of an error output, without blank ones. */
export function nonEmptyLines(text: string): string[] {
  return text.split('\n').filter((line) => line.trim().length > 0)
}

/** A stack frame line, as Node prints them. */
export const STACK_FRAME = /^\s+at /m
