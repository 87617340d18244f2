/**
 * Lets the event loop run (timers, I/O, other peers' messages) before the caller continues a long piece
 * of work. Uses `scheduler.yield()` where the platform has it (current browsers), else `setImmediate`
 * (Node), else a `MessageChannel` message (other browsers, not clamped like nested timers), else
 * `setTimeout(0)`.
 */
export function yieldToEventLoop(): Promise<void> {
  const platform = globalThis as {
    scheduler?: { yield?: () => Promise<void> }
    setImmediate?: (callback: () => void) => unknown
    MessageChannel?: typeof MessageChannel
  }
  if (typeof platform.scheduler?.yield === 'function') return platform.scheduler.yield()
  const setImmediate = platform.setImmediate
  if (typeof setImmediate === 'function') return new Promise((resolve) => setImmediate(resolve))
  const Channel = platform.MessageChannel
  if (typeof Channel === 'function') {
    return new Promise((resolve) => {
      const channel = new Channel()
      channel.port1.onmessage = () => {
        channel.port1.close()
        resolve()
      }
      channel.port2.postMessage(null)
    })
  }
  return new Promise((resolve) => setTimeout(resolve, 0))
}

/** Milliseconds from a monotonic clock where there is one (`performance.now()`), else `Date.now()`. */
export function monotonicMs(): number {
  const performance = (globalThis as { performance?: { now(): number } }).performance
  return performance === undefined ? Date.now() : performance.now()
}

/**
 * Decides when a long loop should yield: after `everyItems` items or `everyMs` milliseconds since the
 * last yield, whichever comes first. Counting items keeps the promise even where clocks are coarse.
 */
export class YieldPacer {
  readonly #everyItems: number
  readonly #everyMs: number
  #items = 0
  #since = monotonicMs()

  constructor(everyItems: number, everyMs: number) {
    this.#everyItems = everyItems
    this.#everyMs = everyMs
  }

  /** Counts one item; true when it is time to yield. */
  due(): boolean {
    return ++this.#items >= this.#everyItems || monotonicMs() - this.#since >= this.#everyMs
  }

  /** Yields to the event loop, then starts a new slice. */
  async yield(): Promise<void> {
    await yieldToEventLoop()
    this.#items = 0
    this.#since = monotonicMs()
  }
}
