// graph-write: 100k signed field sets on 1k souls in commits of 100, side by side with Yjs map sets
// (one transaction each, unsigned); and one-op commits against the raw node:crypto ed25519 sign rate.
import { createPrivateKey, sign } from 'node:crypto'
import { createGraph, memoryStore } from '@araliya/crdt-graph'
import { identityFromSeed } from '@araliya/identity'
import * as Y from 'yjs'
import { alternate, FULL, median, now, report } from '../lib/report.ts'

const OPS = FULL ? 1_000_000 : 100_000
const SOULS = 1000
const BATCH = 100
const SINGLE = FULL ? 20_000 : 8000

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})
const identity = await identityFromSeed(new Uint8Array(32).fill(1))
const souls = Array.from({ length: SOULS }, (_, i) => `${identity.address}/soul/${i}`)

async function oursBatched(): Promise<number> {
  gc()
  const graph = createGraph({ identity, store: memoryStore() })
  await graph.start()
  const start = now()
  const writes: Promise<unknown>[] = []
  for (let i = 0; i < OPS; i += BATCH) {
    writes.push(
      graph.transact((tx) => {
        for (let k = i; k < i + BATCH; k++) tx.set(souls[k % SOULS] as string, `f${k % 10}`, k)
      })
    )
  }
  await Promise.all(writes)
  const ms = now() - start
  await graph.stop()
  return (OPS / ms) * 1000
}

function yjs(): number {
  gc()
  const doc = new Y.Doc()
  const root = doc.getMap<Y.Map<number>>('root')
  doc.transact(() => {
    for (let i = 0; i < SOULS; i++) root.set(String(i), new Y.Map<number>())
  })
  const maps = Array.from({ length: SOULS }, (_, i) => root.get(String(i)) as Y.Map<number>)
  const start = now()
  for (let k = 0; k < OPS; k++) {
    const map = maps[k % SOULS] as Y.Map<number>
    doc.transact(() => map.set(`f${k % 10}`, k))
  }
  const ms = now() - start
  doc.destroy()
  return (OPS / ms) * 1000
}

async function oursSingle(): Promise<number> {
  gc()
  const graph = createGraph({ identity, store: memoryStore() })
  await graph.start()
  const start = now()
  for (let k = 0; k < SINGLE; k++) await graph.put(souls[k % SOULS] as string, { [`f${k % 10}`]: k })
  const ms = now() - start
  await graph.stop()
  return (SINGLE / ms) * 1000
}

const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')
const key = createPrivateKey({
  key: Buffer.concat([PKCS8_PREFIX, Buffer.alloc(32, 1)]),
  format: 'der',
  type: 'pkcs8'
})
const message = Buffer.alloc(200, 7)
function rawSign(): number {
  gc()
  const start = now()
  for (let k = 0; k < SINGLE; k++) {
    message[k % 200] = k & 0xff
    sign(null, message, key)
  }
  return (SINGLE / (now() - start)) * 1000
}

const batched = await alternate(3, 1, oursBatched, yjs)
const single = await alternate(7, 3, oursSingle, rawSign)
report(
  'graph-write',
  [
    {
      metric: 'signed field sets/s (commits of 100) vs Yjs map sets',
      unit: 'ops/s',
      ours: Math.round(median(batched.ours)),
      peer: 'yjs',
      peerValue: Math.round(median(batched.peer)),
      better: 'higher',
      target: 4
    },
    {
      metric: 'one-op commits/s vs raw node:crypto ed25519 sign/s',
      unit: 'ops/s',
      ours: Math.round(median(single.ours)),
      peer: 'node:crypto sign',
      peerValue: Math.round(median(single.peer)),
      better: 'higher',
      target: 0.85
    }
  ],
  { ops: OPS, souls: SOULS, batch: BATCH, singleOps: SINGLE, store: 'memory' }
)
