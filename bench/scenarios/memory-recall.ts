// memory-recall: an agent memory of N memories (encrypted in the graph, decrypted into the hot cache and
// the recall index), read with Zipf-distributed access, side by side with the bare libraries underneath:
//   (a) hot by key: `memory.get(id)` on cached ids vs `lru-cache` `get` over the same ids and items;
//   (b) full text top-10: `memory.recall(q, { mode: 'text' })` vs a bare MiniSearch with the same
//       tokenisation and search options over the same texts (ids in, top 10 ids out);
//   (c) cold p50 (a miss fetched from a replica vs a bare kad-dht get plus one stream round trip) is
//       measured by the replication scenario, not here: no check for it in this file.
// Setup is not timed. Vectors are off (`embedder: null`): neither check touches them.
import { generateIdentity } from '@araliya/identity'
import { createMemory, type MemoryItem, memoryText, STOP_WORDS } from '@araliya/memory'
import { seededRandom } from '@araliya/test-support/random'
import { LRUCache } from 'lru-cache'
import MiniSearch, { type SearchOptions } from 'minisearch'
import { alternate, FULL, median, now, report } from '../lib/report.ts'

const N = FULL ? 100_000 : 10_000
const VOCABULARY = 5000
const GETS = 200_000
const QUERIES = FULL ? 200 : 100
const ROUNDS = 7
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})
const random = seededRandom(11)

/** A Zipf(s = 1) sampler over 0..n-1 (rank 0 most frequent), by inverse CDF over precomputed weights. */
function zipf(n: number, next: () => number): () => number {
  const cdf = new Float64Array(n)
  let sum = 0
  for (let i = 0; i < n; i++) {
    sum += 1 / (i + 1)
    cdf[i] = sum
  }
  return () => {
    const target = next() * sum
    let lo = 0
    let hi = n - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((cdf[mid] as number) < target) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}

const syllables = [
  'ka',
  'lo',
  'mi',
  'ne',
  'ru',
  'sa',
  'ti',
  'vo',
  'ze',
  'ba',
  'do',
  'fi',
  'gu',
  'ha',
  'je',
  'pe'
]
const words = Array.from({ length: VOCABULARY }, (_, i) => {
  let word = ''
  let x = i + 17
  do {
    word += syllables[x % syllables.length]
    x = Math.floor(x / syllables.length)
  } while (x > 0)
  return word
})
const pickWord = zipf(VOCABULARY, random)

/** One paragraph of 110..190 characters (so that each becomes one chunk of at most 200). */
function paragraph(): string {
  let text = ''
  while (text.length < 110) text += `${text === '' ? '' : ' '}${words[pickWord()]}`
  return text.slice(0, 190).trim()
}

// --- setup: the memory, written as documents of 1,000 one-paragraph chunks (256 writes per commit) ---
const setupStart = now()
const memory = createMemory({
  identity: await generateIdentity(),
  cacheSize: N + 1000,
  recall: { embedder: null }
})
await memory.start()
for (let written = 0; written < N; written += 1000) {
  const count = Math.min(1000, N - written)
  await memory.addDocument({
    title: `doc ${written / 1000}`,
    text: Array.from({ length: count }, paragraph).join('\n\n'),
    chunkChars: 200
  })
}
// Reopen, as an app does at its next start: the catalog, the hot cache and the recall index are built
// from the graph in one pass (not interleaved with the writes above).
await memory.stop()
await memory.start()
const items = memory.list({ kind: 'chunk' })
if (items.length !== N) throw new Error(`expected ${N} chunks, got ${items.length}`)
const ids = items.map((item) => item.id)
// Everything the recall index holds (the chunks and the documents' titles), for the bare baseline.
const indexed = memory.list().map((item) => ({ id: item.id, text: memoryText(item) }))
const setupMs = now() - setupStart

// --- (a) hot by key ---
const lru = new LRUCache<string, MemoryItem>({ max: N + 1000 })
for (const item of items) lru.set(item.id, item)
const pickId = zipf(N, random)
const reads = Array.from({ length: GETS }, () => ids[pickId()] as string)
for (const id of reads) if (memory.get(id) === undefined) throw new Error(`${id} is not readable`)

let sink = 0
const hot = await alternate(
  ROUNDS,
  1,
  () => {
    const start = now()
    for (const id of reads) if (memory.get(id) !== undefined) sink++
    return GETS / ((now() - start) / 1000)
  },
  () => {
    const start = now()
    for (const id of reads) if (lru.get(id) !== undefined) sink++
    return GETS / ((now() - start) / 1000)
  }
)

// --- (b) full text top-10 ---
const bareOptions: SearchOptions = {
  prefix: (term, index, terms) => index === terms.length - 1 && term.length >= 3,
  fuzzy: (term) => (term.length >= 5 ? 0.2 : false),
  combineWith: 'OR'
}
const bare = new MiniSearch<{ id: string; text: string }>({
  fields: ['text'],
  idField: 'id',
  storeFields: [],
  processTerm: (term) => {
    const lower = term.toLowerCase()
    return STOP_WORDS.has(lower) ? null : lower
  },
  searchOptions: bareOptions
})
bare.addAll(indexed)
const queryPool = Array.from({ length: 1000 }, () =>
  Array.from({ length: 2 + Math.floor(random() * 2) }, () => words[pickWord()]).join(' ')
)
const pickQuery = zipf(queryPool.length, random)
const queries = Array.from({ length: QUERIES }, () => queryPool[pickQuery()] as string)

// Same answers first (the same index over the same texts): the top-10 scores agree on every query
// (ids may differ among equal scores, which the two indexes hold in different insertion orders).
for (const q of queries.slice(0, 50)) {
  const a = (await memory.recall(q, { mode: 'text', limit: 10 })).map((r) => r.score.toFixed(6)).join()
  const b = bare
    .search(q, bareOptions)
    .slice(0, 10)
    .map((r) => r.score.toFixed(6))
    .join()
  if (a !== b) throw new Error(`recall and bare MiniSearch disagree on "${q}"`)
}

gc()
const text = await alternate(
  ROUNDS,
  1,
  async () => {
    const start = now()
    for (const q of queries) sink += (await memory.recall(q, { mode: 'text', limit: 10 })).length
    return QUERIES / ((now() - start) / 1000)
  },
  () => {
    const start = now()
    for (const q of queries) sink += bare.search(q, bareOptions).slice(0, 10).length
    return QUERIES / ((now() - start) / 1000)
  }
)

await memory.stop()

const round = (x: number) => (x >= 100 ? Math.round(x) : Math.round(x * 100) / 100)
report(
  'memory-recall',
  [
    {
      metric: 'hot get by key (Zipf)',
      unit: 'ops/s',
      ours: round(median(hot.ours)),
      peer: 'lru-cache get',
      peerValue: round(median(hot.peer)),
      better: 'higher',
      target: 0.5
    },
    {
      metric: 'full-text top-10 recall (Zipf queries)',
      unit: 'queries/s',
      ours: round(median(text.ours)),
      peer: 'bare MiniSearch search',
      peerValue: round(median(text.peer)),
      better: 'higher',
      target: 0.8
    }
    // (c) cold p50 — a miss fetched from a replica vs a bare kad-dht get + one stream round trip,
    // target <= 1.5x — belongs to the replication scenario.
  ],
  { memories: N, setupMs: round(setupMs), sink: sink > 0 }
)
