// Where the command line writes. Everything goes through one Output so that a closed pipe is handled in
// one place: `araliya start | head -1` closes stdout after one line, and Node then reports EPIPE as an
// 'error' event on process.stdout, which crashes the process if nobody listens.
import { safeJson } from './escape.ts'

/** The part of a writable stream Output uses (process.stdout / process.stderr in the CLI). */
export interface OutputStream {
  write(chunk: string): boolean
  on(event: 'error', listener: (err: Error) => void): unknown
}

/** Error codes that mean the reader went away, which is not the node's fault. */
const READER_GONE = new Set(['EPIPE', 'ERR_STREAM_DESTROYED', 'ECONNRESET'])

/**
 * The command line's two streams.
 *
 * When stdout closes (the reader went away: EPIPE), `closed` fires and nothing more is written to it;
 * the command then stops its nodes and the process exits 0, as `yes | head -1` does. Any other stdout
 * error (EIO from a lost terminal, ENOSPC from a full disk) also fires `closed`, with that error as the
 * reason, and ends the process with exit code 1. When stderr closes, diagnostics are dropped and the node
 * keeps running: stdout is what the operator reads.
 */
export class Output {
  readonly #stdout: OutputStream
  readonly #stderr: OutputStream
  readonly #closed = new AbortController()
  #stderrOpen = true
  #stdoutError: Error | undefined

  constructor(stdout: OutputStream, stderr: OutputStream) {
    this.#stdout = stdout
    this.#stderr = stderr
    stdout.on('error', (err) => {
      if (this.#closed.signal.aborted) return
      if (!READER_GONE.has((err as NodeJS.ErrnoException).code ?? '')) this.#stdoutError = err
      this.#closed.abort(err)
    })
    stderr.on('error', () => {
      // Nowhere left to report it: stderr is the report channel. Stop writing to it.
      this.#stderrOpen = false
    })
  }

  /** Fires when stdout can no longer be written. */
  get closed(): AbortSignal {
    return this.#closed.signal
  }

  /** The stdout error that was not a reader going away (exit code 1), if any. */
  get stdoutError(): Error | undefined {
    return this.#stdoutError
  }

  /** Writes one line to stdout (dropped once stdout is closed). The caller escapes remote text. */
  line(text: string): void {
    if (this.#closed.signal.aborted) return
    this.#stdout.write(`${text}\n`)
  }

  /** Writes one line to stderr (dropped once stderr is closed). The caller escapes remote text. */
  error(text: string): void {
    if (!this.#stderrOpen) return
    this.#stderr.write(`${text}\n`)
  }

  /** Writes one JSON value as one terminal-safe line to stdout. */
  json(value: unknown): void {
    this.line(safeJson(value))
  }
}
