/**
 * Hybrid logical clock packed into one safe integer: `wallMs * 1024 + counter`. Comparing two stamps is
 * comparing two numbers. The counter carries into the millisecond part when more than 1024 events fall
 * into one millisecond, which lets the clock run slightly ahead of wall time under bursts (it catches up
 * as soon as the burst ends). 2^53 / 1024 ms is about the year 280,000, so the packing never overflows.
 */
export const HLC_UNITS_PER_MS = 1024

/** The wall-clock milliseconds part of a stamp. */
export function hlcMs(stamp: number): number {
  return Math.floor(stamp / HLC_UNITS_PER_MS)
}

/** A monotonic hybrid logical clock. */
export class HybridClock {
  #last: number
  readonly #now: () => number

  constructor(now: () => number, last = 0) {
    this.#now = now
    this.#last = last
  }

  /** The last stamp issued or observed. */
  get last(): number {
    return this.#last
  }

  /** A stamp strictly greater than every stamp issued or observed before, and not behind wall time. */
  tick(): number {
    const physical = Math.floor(this.#now()) * HLC_UNITS_PER_MS
    this.#last = physical > this.#last ? physical : this.#last + 1
    return this.#last
  }

  /** Moves the clock past a stamp seen elsewhere (a remote commit, or the persisted clock). */
  observe(stamp: number): void {
    if (stamp > this.#last) this.#last = stamp
  }

  /** Local wall time in milliseconds (the injected clock). */
  nowMs(): number {
    return this.#now()
  }
}
