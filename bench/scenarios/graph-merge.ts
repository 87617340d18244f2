// graph-merge: 2 replicas x 10k concurrent offline edits on 1k keys, then sync (version vectors, deltas),
// verify convergence; side by side with Yjs state-vector merge of an equal workload. Times the merge
// (exchange + apply + verify), not the edits; counts every byte exchanged in both directions.
import { createGraph, type Graph, memoryStore } from '@araliya/crdt-graph'
import { identityFromSeed } from '@araliya/identity'
import * as Y from 'yjs'
import { syncBackToBack } from '../lib/sync.ts'
import { alternate, FULL, median, now, report } from '../lib/report.ts'
import { seededRandom } from '@araliya/test-support/random'

const EDITS = 10_000
const KEYS = 1000
const BATCH = 100
const SEEDS = FULL ? 100 : 10
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})

const owner = await identityFromSeed(new Uint8Array(32).fill(3))
const device = await identityFromSeed(new Uint8Array(32).fill(4))
const keyNames = Array.from({ length: KEYS }, (_, i) => ({
  path: `k${i % 100}`,
  soul: `${owner.address}/k${i % 100}`,
  field: `f${Math.floor(i / 100)}`
}))

const random = seededRandom

function edits(seed: number): Array<[number, number]> {
  const next = random(seed)
  return Array.from({ length: EDITS }, () => [Math.floor(next() * KEYS), Math.floor(next() * 1_000_000)])
}

async function prepareOurs(seed: number): Promise<{ a: Graph; b: Graph }> {
  let clock = 1_760_000_000_000
  const a = createGraph({ identity: owner, store: memoryStore(), now: () => clock })
  const b = createGraph({ identity: device, store: memoryStore(), now: () => clock })
  await a.start()
  await b.start()
  await a.grant(
    device.address,
    { pathPrefix: '', rights: ['write', 'delete'] },
    { expiresAt: clock + 86_400_000 }
  )
  await b.ingest((await a.readChain(owner.address, owner.address, 1, 1)) as Uint8Array[])
  for (const [graph, list] of [
    [a, edits(seed)],
    [b, edits(seed + 1)]
  ] as const) {
    for (let i = 0; i < list.length; i += BATCH) {
      clock += 1
      await graph.transact((tx) => {
        for (let k = i; k < i + BATCH; k++) {
          const [key, value] = list[k] as [number, number]
          const name = keyNames[key] as { soul: string; field: string }
          tx.set(name.soul, name.field, value)
        }
      })
    }
  }
  return { a, b }
}

function state(graph: Graph): string {
  const out: unknown[] = []
  for (const { soul, field } of keyNames) out.push(graph.getField(soul, field)?.value ?? null)
  return JSON.stringify(out)
}

let lastOursBytes = 0
let oursConverged = 0
async function ours(seed: number): Promise<number> {
  gc()
  const { a, b } = await prepareOurs(seed)
  const start = now()
  const bytes = await syncBackToBack(a, b)
  const converged = state(a) === state(b)
  const ms = now() - start
  if (converged) oursConverged++
  lastOursBytes = bytes
  await a.stop()
  await b.stop()
  return ms
}

function prepareYjs(seed: number): { a: Y.Doc; b: Y.Doc } {
  const a = new Y.Doc()
  const b = new Y.Doc()
  for (const [doc, list] of [
    [a, edits(seed)],
    [b, edits(seed + 1)]
  ] as const) {
    const map = doc.getMap<number>('m')
    for (let i = 0; i < list.length; i += BATCH) {
      doc.transact(() => {
        for (let k = i; k < i + BATCH; k++) {
          const [key, value] = list[k] as [number, number]
          const name = keyNames[key] as { path: string; field: string }
          // the same information an op carries: path and field (the owner is per commit, not per op)
          map.set(`${name.path}.${name.field}`, value)
        }
      })
    }
  }
  return { a, b }
}

function sortedJson(value: Record<string, unknown>): string {
  return JSON.stringify(
    Object.keys(value)
      .sort()
      .map((key) => [key, value[key]])
  )
}

let lastYjsBytes = 0
let yjsConverged = 0
function yjs(seed: number): number {
  gc()
  const { a, b } = prepareYjs(seed)
  const start = now()
  const vectorA = Y.encodeStateVector(a)
  const vectorB = Y.encodeStateVector(b)
  const toB = Y.encodeStateAsUpdate(a, vectorB)
  const toA = Y.encodeStateAsUpdate(b, vectorA)
  Y.applyUpdate(b, toB)
  Y.applyUpdate(a, toA)
  const converged = sortedJson(a.getMap('m').toJSON()) === sortedJson(b.getMap('m').toJSON())
  const ms = now() - start
  if (converged) yjsConverged++
  lastYjsBytes = vectorA.byteLength + vectorB.byteLength + toA.byteLength + toB.byteLength
  a.destroy()
  b.destroy()
  return ms
}

let seed = 1
const timed = await alternate(
  5,
  1,
  () => ours(seed++),
  () => yjs(seed)
)
// convergence over many seeds (not timed)
let seedsConverged = 0
for (let s = 1000; s < 1000 + SEEDS; s++) {
  const before = oursConverged
  await ours(s)
  if (oursConverged > before) seedsConverged++
}
report(
  'graph-merge',
  [
    {
      metric: 'merge time (sync + apply + verify), 2 x 10k concurrent edits on 1k keys',
      unit: 'ms',
      ours: Number(median(timed.ours).toFixed(2)),
      peer: 'yjs',
      peerValue: Number(median(timed.peer).toFixed(2)),
      better: 'lower',
      target: 0.4
    },
    {
      metric: 'delta bytes exchanged (both directions)',
      unit: 'bytes',
      ours: lastOursBytes,
      peer: 'yjs',
      peerValue: lastYjsBytes,
      better: 'lower',
      target: 1
    },
    {
      metric: 'seeds converged',
      unit: 'seeds',
      ours: seedsConverged,
      peer: 'all seeds',
      peerValue: SEEDS,
      better: 'higher',
      target: 1
    }
  ],
  { edits: EDITS, keys: KEYS, batch: BATCH, seeds: SEEDS, yjsConverged, signed: true }
)
