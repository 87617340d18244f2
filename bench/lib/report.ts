import { cpus } from 'node:os'
/**
 * Shared helpers for benchmark scenarios: timing, percentiles, the side-by-side alternation, and the
 * final JSON line of the BENCHMARKS.md contract.
 */

/** True when the scenario was started with `--full` (large sizes). */
export const FULL = process.argv.includes('--full')

/** Median of a list of numbers. */
export function median(values: readonly number[]): number {
  return percentile(values, 50)
}

/** The p-th percentile (nearest rank) of a list of numbers. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank] as number
}

/** Current time in milliseconds with sub-millisecond resolution. */
export function now(): number {
  return performance.now()
}

/** Runs `fn` `rounds` times for ours and peer alternately (after `warmup` rounds of each), returning each side's samples. */
export async function alternate(
  rounds: number,
  warmup: number,
  ours: () => Promise<number> | number,
  peer: () => Promise<number> | number
): Promise<{ ours: number[]; peer: number[] }> {
  for (let i = 0; i < warmup; i++) {
    await ours()
    await peer()
  }
  const result = { ours: [] as number[], peer: [] as number[] }
  for (let i = 0; i < rounds; i++) {
    // Alternate which side goes first so neither always runs on a warmer or colder machine.
    if (i % 2 === 0) {
      result.ours.push(await ours())
      result.peer.push(await peer())
    } else {
      result.peer.push(await peer())
      result.ours.push(await ours())
    }
  }
  return result
}

/** One target of a scenario. `ratio = ours / peerValue`. */
export interface Check {
  metric: string
  unit?: string
  ours: number
  peer?: string
  peerValue: number
  better: 'higher' | 'lower'
  target: number
}

/** A check with its computed ratio and verdict. */
export interface JudgedCheck extends Check {
  ratio: number
  pass: boolean
}

/** Computes ratio and pass for one check. */
export function judge(check: Check): JudgedCheck {
  const ratio = check.ours / check.peerValue
  const pass = check.better === 'higher' ? ratio >= check.target : ratio <= check.target
  return { ...check, ratio: round(ratio, 4), pass }
}

function round(value: number, digits: number): number {
  const f = 10 ** digits
  return Math.round(value * f) / f
}

/**
 * Prints the scenario's final JSON line. The first check is the headline (top-level fields); every check
 * is listed under `checks`; `pass` is true only when all pass. `extra` adds figures such as p99 or bytes.
 */
export function report(bench: string, checks: Check[], extra: Record<string, unknown> = {}): void {
  const judged = checks.map(judge)
  const head = judged[0]
  if (head === undefined) throw new Error('a benchmark needs at least one check')
  const line = {
    bench,
    metric: head.metric,
    unit: head.unit ?? '',
    ours: head.ours,
    peer: head.peer ?? '',
    peerValue: head.peerValue,
    ratio: head.ratio,
    better: head.better,
    target: head.target,
    pass: judged.every((c) => c.pass),
    ...extra,
    checks: judged,
    machine: {
      node: process.version,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? '',
      platform: process.platform,
      arch: process.arch
    },
    full: FULL
  }
  console.log(JSON.stringify(line))
}
