import { toHex } from '../hash.js'
import { type GraphValue, isLink, type Soul } from '../model.js'
import { compareOps, type FieldTable } from './fields.js'
import type { FieldState, HistoryEntry, TraversalStep, TraverseOptions } from './types.js'

// The reads of a graph over its field state (see the `Graph` methods of the same names).

/** The live fields of a soul (deleted fields left out), or `undefined` when it has none. */
export function readSoul(table: FieldTable, soul: Soul): Record<string, GraphValue> | undefined {
  const fields = table.fields(soul)
  if (fields === undefined) return undefined
  let out: Record<string, GraphValue> | undefined
  for (const [field, entry] of fields) {
    if (entry.winner.wire === undefined) continue
    out ??= {}
    out[field] = entry.winner.value as GraphValue
  }
  return out
}

/** The state of one field, including a winning tombstone; `undefined` when never written. */
export function readField(table: FieldTable, soul: Soul, field: string): FieldState | undefined {
  const winner = table.fields(soul)?.get(field)?.winner
  if (winner === undefined) return undefined
  return { value: winner.value, deleted: winner.wire === undefined, hlc: winner.hlc, signer: winner.signer }
}

/** Every accepted write of a field, winner first, then the losers in descending order. */
export function fieldHistory(table: FieldTable, soul: Soul, field: string): HistoryEntry[] {
  const entry = table.fields(soul)?.get(field)
  if (entry === undefined) return []
  const all = [entry.winner, ...(entry.losers ?? [])].sort((a, b) => compareOps(b, a))
  return all.map((op, index) => ({
    value: op.value,
    deleted: op.wire === undefined,
    hlc: op.hlc,
    signer: op.signer,
    commit: toHex(op.commit),
    winner: index === 0
  }))
}

/** The soul a field links to, or `undefined` when the field is not a live link. */
export function follow(table: FieldTable, soul: Soul, field: string): Soul | undefined {
  const value = table.fields(soul)?.get(field)?.winner.value
  return isLink(value) ? value['#'] : undefined
}

/** The live links of a soul. */
export function links(
  table: FieldTable,
  soul: Soul
): Array<{ readonly field: string; readonly target: Soul }> {
  const out: Array<{ field: string; target: Soul }> = []
  for (const [field, entry] of table.fields(soul) ?? []) {
    const value = entry.winner.value
    if (entry.winner.wire !== undefined && isLink(value)) out.push({ field, target: value['#'] })
  }
  return out
}

/** Breadth-first walk along links from `start` (each soul visited once, bounded by depth and count). */
export function traverse(table: FieldTable, start: Soul, options: TraverseOptions = {}): TraversalStep[] {
  const maxDepth = options.maxDepth ?? 3
  const maxNodes = options.maxNodes ?? 1000
  const fields = options.fields === undefined ? undefined : new Set(options.fields)
  const seen = new Set<Soul>([start])
  const out: TraversalStep[] = [{ soul: start, depth: 0, via: undefined }]
  for (let i = 0; i < out.length && out.length < maxNodes; i++) {
    const step = out[i] as TraversalStep
    if (step.depth >= maxDepth) continue
    for (const { field, target } of links(table, step.soul)) {
      if (fields !== undefined && !fields.has(field)) continue
      if (seen.has(target)) continue
      seen.add(target)
      out.push({ soul: target, depth: step.depth + 1, via: { soul: step.soul, field } })
      if (out.length >= maxNodes) break
    }
  }
  return out
}
