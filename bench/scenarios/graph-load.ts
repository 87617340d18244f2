// graph-load: reopen a persisted graph of 100k ops (1k commits of 100 ops on 1k souls, level store on
// disk) and rebuild its state, side by side with Yjs loading an equal document from a file on disk.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createGraph, type Graph } from '@araliya/crdt-graph'
import { levelStore } from '@araliya/crdt-graph/level'
import { identityFromSeed } from '@araliya/identity'
import * as Y from 'yjs'
import { alternate, FULL, median, now, report } from '../lib/report.ts'

const OPS = FULL ? 1_000_000 : 100_000
const SOULS = 1000
const BATCH = 100
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})

const dir = mkdtempSync(join(tmpdir(), 'araliya-graph-load-'))
const identity = await identityFromSeed(new Uint8Array(32).fill(5))
const souls = Array.from({ length: SOULS }, (_, i) => `${identity.address}/soul/${i}`)

// Build both once.
{
  const graph = createGraph({ identity, store: levelStore(join(dir, 'graph')) })
  await graph.start()
  const writes: Promise<unknown>[] = []
  for (let i = 0; i < OPS; i += BATCH) {
    writes.push(
      graph.transact((tx) => {
        for (let k = i; k < i + BATCH; k++) tx.set(souls[k % SOULS] as string, `f${k % 10}`, k)
      })
    )
  }
  await Promise.all(writes)
  await graph.stop()
  const doc = new Y.Doc()
  const root = doc.getMap<Y.Map<number>>('root')
  doc.transact(() => {
    for (let i = 0; i < SOULS; i++) root.set(String(i), new Y.Map<number>())
  })
  for (let i = 0; i < OPS; i += BATCH) {
    doc.transact(() => {
      for (let k = i; k < i + BATCH; k++) (root.get(String(k % SOULS)) as Y.Map<number>).set(`f${k % 10}`, k)
    })
  }
  writeFileSync(join(dir, 'doc.yjs'), Y.encodeStateAsUpdate(doc))
  doc.destroy()
}

let check: Graph | undefined
async function ours(): Promise<number> {
  gc()
  const start = now()
  const graph = createGraph({ identity, store: levelStore(join(dir, 'graph')) })
  await graph.start()
  const value = graph.get(souls[SOULS - 1] as string)?.f9
  const ms = now() - start
  if (value !== OPS - 1) throw new Error(`graph did not load: ${String(value)}`)
  check = graph
  await graph.stop()
  return ms
}

function yjs(): number {
  gc()
  const start = now()
  const doc = new Y.Doc()
  Y.applyUpdate(doc, readFileSync(join(dir, 'doc.yjs')))
  const value = (doc.getMap<Y.Map<number>>('root').get(String(SOULS - 1)) as Y.Map<number>).get('f9')
  const ms = now() - start
  if (value !== OPS - 1) throw new Error('yjs did not load')
  doc.destroy()
  return ms
}

const timed = await alternate(5, 1, ours, yjs)
rmSync(dir, { recursive: true, force: true })
report(
  'graph-load',
  [
    {
      metric: 'reopen a persisted graph of 100k ops (level store) vs Yjs load from a file',
      unit: 'ms',
      ours: Number(median(timed.ours).toFixed(2)),
      peer: 'yjs',
      peerValue: Number(median(timed.peer).toFixed(2)),
      better: 'lower',
      target: 1
    }
  ],
  { ops: OPS, souls: SOULS, batch: BATCH, historyKept: check !== undefined }
)
