import { equalBytes } from '@araliya/identity'
import { type BackoffPolicy, backoffDelay } from '@araliya/interface'
import { sha256 } from '../hash.js'

// When a sync session may send a hello again: after a gap, as a repeated reply, or to a repeated request.

/** Pacing of hellos sent because commits arrived ahead of their chain, and of repeated hello replies. */
export const HELLO_BACKOFF: BackoffPolicy = Object.freeze({
  initialDelayMs: 1000,
  maxDelayMs: 30_000,
  factor: 2,
  jitter: 0.1
})

/**
 * The last request of one kind (hello or probe) received and answered: the same bytes again within its
 * window (backoff from 1 s, doubling to 30 s, per repeat in a row) is a repeat.
 */
export class RepeatWindow {
  /** A digest, not the bytes: a hello carries a whole version vector (megabytes), and this is per peer. */
  #last: Uint8Array | undefined
  #count = 0
  #notBefore = Number.NEGATIVE_INFINITY

  /** True when `bytes` repeat the last request within its window; otherwise it becomes the last one. */
  repeats(bytes: Uint8Array, now: number): boolean {
    const digest = sha256(bytes)
    const same = this.#last !== undefined && equalBytes(digest, this.#last)
    if (same && now < this.#notBefore) return true
    this.#count = same ? this.#count + 1 : 1
    this.#last = digest
    this.#notBefore = now + backoffDelay(this.#count, HELLO_BACKOFF)
    return false
  }
}

/**
 * Our own hello: the same hello again (nothing changed here) goes out at most once per backoff window
 * (from 1 s, doubling to 30 s, per repeat in a row), so a peer repeating its hello cannot make us repeat
 * ours (our whole version vector) every time.
 */
export class HelloPacer {
  /** A digest, not the bytes: a hello carries our whole version vector (megabytes), and this is per peer. */
  #last: Uint8Array | undefined
  #count = 0
  #notBefore = Number.NEGATIVE_INFINITY

  /** True when `bytes` repeat the last hello sent, within its window: hold it back. */
  holdsBack(bytes: Uint8Array, now: number): boolean {
    return now < this.#notBefore && this.#isLast(sha256(bytes))
  }

  /** Records that `bytes` (a hello) go out now. */
  sent(bytes: Uint8Array, now: number): void {
    const digest = sha256(bytes)
    this.#count = this.#isLast(digest) ? this.#count + 1 : 1
    this.#last = digest
    this.#notBefore = now + backoffDelay(this.#count, HELLO_BACKOFF)
  }

  #isLast(digest: Uint8Array): boolean {
    return this.#last !== undefined && equalBytes(digest, this.#last)
  }
}

/**
 * Gap hellos: something is missing before what arrived (a lost or reordered message), so ask with a
 * hello. Only newly held commits raise the question (duplicates of commits already waiting do not), and
 * at most one gap hello is outstanding: the next one waits until the backoff window of the last has
 * passed, then goes out (with the next message from this peer, or from a timer) if commits still wait.
 */
export class GapPacer {
  /** Commits arrived ahead of their chain and we have not asked for the gap yet. */
  #wanted = false
  /** Gap hellos sent since the pending buffer was last empty, and when the next one may go. */
  #attempt = 0
  #notBefore = Number.NEGATIVE_INFINITY
  /** Calls `onTimer` when the window ends, if nothing else sent the gap hello by then. */
  #timer: ReturnType<typeof setTimeout> | undefined
  readonly #now: () => number
  readonly #onTimer: () => void

  constructor(now: () => number, onTimer: () => void) {
    this.#now = now
    this.#onTimer = onTimer
  }

  /** True when a gap hello should go out now, given newly `held` commits and the `pending` count. */
  due(held: number, pending: number): boolean {
    if (held > 0) this.#wanted = true
    if (pending === 0) {
      this.#wanted = false
      this.#attempt = 0
      this.#notBefore = Number.NEGATIVE_INFINITY
      this.clear()
      return false
    }
    if (!this.#wanted) return false
    const now = this.#now()
    if (now < this.#notBefore) {
      this.#arm(this.#notBefore - now)
      return false
    }
    this.clear()
    this.#wanted = false
    this.#attempt++
    this.#notBefore = now + backoffDelay(this.#attempt, HELLO_BACKOFF)
    return true
  }

  /** Cancels a deferred gap hello. */
  clear(): void {
    if (this.#timer === undefined) return
    clearTimeout(this.#timer)
    this.#timer = undefined
  }

  #arm(delayMs: number): void {
    if (this.#timer !== undefined) return
    const timer = setTimeout(() => {
      this.#timer = undefined
      this.#onTimer()
    }, delayMs)
    // A pending gap hello must not keep a Node process alive.
    ;(timer as { unref?: () => void }).unref?.()
    this.#timer = timer
  }
}
