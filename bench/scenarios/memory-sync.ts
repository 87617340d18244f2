// memory-sync: 2 devices sharing one key each write 10k memories offline through the Memory API (notes,
// session turns, single-valued facts; every value encrypted on the device, every commit signed), then
// reconnect and sync until both hold the same memories; side by side with two Yjs docs syncing an equal
// workload (the same texts in a map, arrays and a map of facts) by state vectors. Times the reconnect to
// converged (exchange, verify, apply, the memory's catalog updated), not the writes; that both sides hold
// the same content is checked right after, outside the timed part, on both sides. Counts every byte
// exchanged in both directions. Writes are issued 100 at a time (group commit); MEMORY_SYNC_BATCH=1
// awaits each write alone (one commit per write). `--full` writes 50k per device.
import { memoryStore } from '@araliya/crdt-graph'
import { identityFromSeed } from '@araliya/identity'
import { createMemory, type Memory, type SessionHandle } from '@araliya/memory'
import { seededRandom } from '@araliya/test-support/random'
import * as Y from 'yjs'
import { syncBackToBack } from '../lib/sync.ts'
import { alternate, FULL, median, now, report } from '../lib/report.ts'

const WRITES = FULL ? 50_000 : 10_000
const ROUNDS = Number(process.env.MEMORY_SYNC_ROUNDS ?? (FULL ? 5 : 3))
/** Writes issued together (not awaited one by one), the way an app records a turn with what it learnt. */
const BATCH = Number(process.env.MEMORY_SYNC_BATCH ?? 100)
const SUBJECTS = 500
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})
const seed = new Uint8Array(32).fill(5)

const WORDS =
  'the a user prefers tea coffee morning train Kandy Colombo Lisbon meeting project deadline invoice sister birthday remember call doctor appointment flight hotel budget notes idea garden book read write code review weekly plan gym run music piano lesson recipe dinner friend'.split(
    ' '
  )

type Write =
  | { kind: 'note'; text: string }
  | { kind: 'turn'; session: string; role: 'user' | 'assistant'; content: string }
  | { kind: 'fact'; subject: string; object: string }

function workload(device: number, round: number): Write[] {
  const next = seededRandom(round * 100 + device)
  const sentence = (): string => {
    const length = 40 + Math.floor(next() * 360)
    let out = ''
    while (out.length < length) out += `${WORDS[Math.floor(next() * WORDS.length)]} `
    return out.trim()
  }
  return Array.from({ length: WRITES }, (_, i): Write => {
    const pick = next()
    if (pick < 0.7) return { kind: 'note', text: sentence() }
    if (pick < 0.9) {
      return {
        kind: 'turn',
        session: `d${device}-s${i % 20}`,
        role: i % 2 === 0 ? 'user' : 'assistant',
        content: sentence()
      }
    }
    return {
      kind: 'fact',
      subject: `person${Math.floor(next() * SUBJECTS)}`,
      object: WORDS[Math.floor(next() * WORDS.length)] as string
    }
  })
}

/** Session handles, as an app holds them while a conversation goes on. */
const handles = new WeakMap<Memory, Map<string, SessionHandle>>()

function writeOne(memory: Memory, write: Write): Promise<unknown> {
  switch (write.kind) {
    case 'note':
      return memory.remember(write.text)
    case 'turn': {
      const open = handles.get(memory) ?? new Map<string, SessionHandle>()
      handles.set(memory, open)
      const handle = open.get(write.session) ?? memory.session(write.session)
      open.set(write.session, handle)
      return handle.append({ role: write.role, content: write.content })
    }
    case 'fact':
      return memory.relate(write.subject, 'likes', write.object, { single: true })
  }
}

let writeMs = 0
async function prepareOurs(round: number): Promise<[Memory, Memory]> {
  const devices: [Memory, Memory] = [
    createMemory({ identity: await identityFromSeed(seed), store: memoryStore(), device: 'laptop' }),
    createMemory({ identity: await identityFromSeed(seed), store: memoryStore(), device: 'phone' })
  ]
  const start = now()
  for (const [index, memory] of devices.entries()) {
    await memory.start()
    const writes = workload(index, round)
    for (let i = 0; i < writes.length; i += BATCH) {
      await Promise.all(writes.slice(i, i + BATCH).map((write) => writeOne(memory, write)))
    }
  }
  writeMs = now() - start
  return devices
}

function fingerprint(memory: Memory): string {
  return memory
    .list()
    .map((item) => `${item.id}@${item.version}`)
    .sort()
    .join(',')
}

let oursBytes = 0
let oursConverged = 0
let oursMemories = 0
let commits = 0
async function ours(round: number): Promise<number> {
  const [a, b] = await prepareOurs(round)
  commits = a.graph.chainLength(a.owner, a.owner)
  gc()
  const start = now()
  const bytes = await syncBackToBack(a.graph, b.graph)
  // the memories' catalogs follow the graph as it applies commits: once both peers are idle, both
  // devices answer from the merged memory (checked below, outside the timed part, as for Yjs)
  const ms = now() - start
  const converged = fingerprint(a) === fingerprint(b)
  if (converged) oursConverged++
  oursMemories = a.list().length
  oursBytes = bytes
  await a.stop()
  await b.stop()
  return ms
}

function prepareYjs(round: number): [Y.Doc, Y.Doc] {
  const docs: [Y.Doc, Y.Doc] = [new Y.Doc(), new Y.Doc()]
  for (const [index, doc] of docs.entries()) {
    const writes = workload(index, round)
    const notes = doc.getMap<string>('notes')
    const facts = doc.getMap<string>('facts')
    for (let i = 0; i < writes.length; i += BATCH) {
      doc.transact(() => {
        for (const [offset, write] of writes.slice(i, i + BATCH).entries()) {
          if (write.kind === 'note') notes.set(`${index}-${i + offset}`, write.text)
          else if (write.kind === 'turn') {
            doc.getArray<string>(write.session).push([`${write.role}\u0000${write.content}`])
          } else facts.set(`${write.subject}\u0000likes`, write.object)
        }
      })
    }
  }
  return docs
}

function yjsState(doc: Y.Doc): string {
  const notes = doc.getMap('notes').toJSON()
  const facts = doc.getMap('facts').toJSON()
  return JSON.stringify([Object.keys(notes).sort().length, Object.entries(facts).sort()])
}

let yjsBytes = 0
let yjsConverged = 0
function yjs(round: number): number {
  const [a, b] = prepareYjs(round)
  gc()
  const start = now()
  const vectorA = Y.encodeStateVector(a)
  const vectorB = Y.encodeStateVector(b)
  const toB = Y.encodeStateAsUpdate(a, vectorB)
  const toA = Y.encodeStateAsUpdate(b, vectorA)
  Y.applyUpdate(b, toB)
  Y.applyUpdate(a, toA)
  const ms = now() - start
  const converged = yjsState(a) === yjsState(b)
  if (converged) yjsConverged++
  yjsBytes = vectorA.byteLength + vectorB.byteLength + toA.byteLength + toB.byteLength
  a.destroy()
  b.destroy()
  return ms
}

let round = 1
const timed = await alternate(
  ROUNDS,
  1,
  () => ours(round),
  () => yjs(round++)
)
report(
  'memory-sync',
  [
    {
      metric: `reconnect to converged, 2 devices x ${WRITES / 1000}k offline memory writes (encrypted, signed)`,
      unit: 'ms',
      ours: Number(median(timed.ours).toFixed(2)),
      peer: 'yjs',
      peerValue: Number(median(timed.peer).toFixed(2)),
      better: 'lower',
      target: 3
    },
    {
      metric: 'bytes exchanged (both directions)',
      unit: 'bytes',
      ours: oursBytes,
      peer: 'yjs',
      peerValue: yjsBytes,
      better: 'lower',
      target: 1.5
    },
    {
      metric: 'rounds converged',
      unit: 'rounds',
      ours: oursConverged,
      peer: 'all rounds',
      peerValue: ROUNDS + 1,
      better: 'higher',
      target: 1
    }
  ],
  {
    writes: WRITES,
    batch: BATCH,
    memories: oursMemories,
    commitsPerDevice: commits,
    writeMsBothDevices: Number(writeMs.toFixed(0)),
    yjsConverged,
    encrypted: true,
    signed: true
  }
)
