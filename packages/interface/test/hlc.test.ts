import { describe, expect, it } from 'vitest'
import { HLC_UNITS_PER_MS, HybridClock, hlcMs } from '../src/index.js'

/** A wall clock the test moves by hand. */
function manualClock(startMs: number): { now: () => number; set: (ms: number) => void } {
  let ms = startMs
  return { now: () => ms, set: (next) => (ms = next) }
}

describe('HybridClock', () => {
  it('ticks strictly upwards and never behind wall time', () => {
    const wall = manualClock(1_000)
    const clock = new HybridClock(wall.now)
    const first = clock.tick()
    expect(first).toBe(1_000 * HLC_UNITS_PER_MS)
    const second = clock.tick()
    expect(second).toBeGreaterThan(first)
    wall.set(2_000)
    const third = clock.tick()
    expect(third).toBe(2_000 * HLC_UNITS_PER_MS)
    expect(clock.last).toBe(third)
  })

  it('keeps counting when the wall clock goes backwards', () => {
    const wall = manualClock(5_000)
    const clock = new HybridClock(wall.now)
    const before = clock.tick()
    wall.set(4_000)
    const after = clock.tick()
    expect(after).toBe(before + 1)
    expect(hlcMs(after)).toBe(5_000)
  })

  it('moves past an observed remote stamp, and ignores an older one', () => {
    const wall = manualClock(1_000)
    const clock = new HybridClock(wall.now)
    clock.tick()
    const remote = 9_000 * HLC_UNITS_PER_MS + 7
    clock.observe(remote)
    expect(clock.last).toBe(remote)
    expect(clock.tick()).toBe(remote + 1)
    clock.observe(1)
    expect(clock.last).toBe(remote + 1)
  })

  it('starts after a persisted stamp passed to the constructor', () => {
    const persisted = 3_000 * HLC_UNITS_PER_MS + 12
    const clock = new HybridClock(() => 1_000, persisted)
    expect(clock.last).toBe(persisted)
    expect(clock.tick()).toBe(persisted + 1)
  })

  it('keeps a burst of more than 1024 ticks in one millisecond strictly ordered', () => {
    const clock = new HybridClock(() => 1_000)
    const stamps: number[] = []
    for (let i = 0; i < 3 * HLC_UNITS_PER_MS + 5; i++) stamps.push(clock.tick())
    for (let i = 1; i < stamps.length; i++) expect(stamps[i]).toBe((stamps[i - 1] as number) + 1)
    // The counter carried into the millisecond part: the clock ran ahead of the frozen wall clock.
    expect(hlcMs(stamps[0] as number)).toBe(1_000)
    expect(hlcMs(stamps.at(-1) as number)).toBe(1_003)
  })

  it('reports the injected wall time', () => {
    expect(new HybridClock(() => 42.5).nowMs()).toBe(42.5)
  })
})

describe('hlcMs', () => {
  it('is the wall-clock milliseconds of a stamp', () => {
    expect(hlcMs(0)).toBe(0)
    expect(hlcMs(1_700_000_000_000 * HLC_UNITS_PER_MS + 1_023)).toBe(1_700_000_000_000)
    expect(hlcMs(1_700_000_000_001 * HLC_UNITS_PER_MS)).toBe(1_700_000_000_001)
  })
})
