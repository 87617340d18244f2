// graph-ingest: single-op signed commits from peers — decode, verify, apply (ours, through Graph.ingest in
// batches as sync delivers them) vs a raw node:crypto ed25519 verify loop over the same signatures.
import { createPublicKey, verify } from 'node:crypto'
import { COMMIT_CONTEXT, createGraph, memoryStore, SIGNATURE_BYTES } from '@araliya/crdt-graph'
import { identityFromSeed, publicKeyFromAddress, signedBytes } from '@araliya/identity'
import { alternate, FULL, median, now, report } from '../lib/report.ts'

const COMMITS = FULL ? 100_000 : 20_000
const AUTHORS = 10
const BATCH = 200
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})

// Peers write single-op commits into their own spaces.
const envelopes: Uint8Array[] = []
for (let a = 0; a < AUTHORS; a++) {
  const identity = await identityFromSeed(new Uint8Array(32).fill(10 + a))
  const graph = createGraph({ identity, store: memoryStore() })
  await graph.start()
  for (let i = 0; i < COMMITS / AUTHORS; i++) await graph.put(`${identity.address}/n${i % 500}`, { v: i })
  envelopes.push(...(await graph.readChain(identity.address, identity.address, 1, COMMITS)))
  await graph.stop()
}
// interleave authors as a sync session from several peers would
const ordered: Uint8Array[] = []
const perAuthor = COMMITS / AUTHORS
for (let i = 0; i < perAuthor; i++)
  for (let a = 0; a < AUTHORS; a++) ordered.push(envelopes[a * perAuthor + i] as Uint8Array)

const observer = await identityFromSeed(new Uint8Array(32).fill(99))

async function ours(): Promise<number> {
  gc()
  const graph = createGraph({ identity: observer, store: memoryStore() })
  await graph.start()
  const start = now()
  let accepted = 0
  for (let i = 0; i < ordered.length; i += BATCH) {
    const result = await graph.ingest(ordered.slice(i, i + BATCH), { kind: 'remote', peer: 'bench' })
    accepted += result.accepted
  }
  const ms = now() - start
  if (accepted !== COMMITS) throw new Error(`accepted ${accepted} of ${COMMITS}`)
  await graph.stop()
  return (COMMITS / ms) * 1000
}

// The raw loop gets every advantage: message bytes prepared, public keys parsed and cached up front.
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')
const prepared = ordered.map((envelope) => {
  const body = envelope.subarray(SIGNATURE_BYTES)
  const text = Buffer.from(body).toString('latin1')
  const author = /12D3KooW[1-9A-HJ-NP-Za-km-z]{44}/.exec(text)?.[0] as string
  return {
    author,
    message: signedBytes(COMMIT_CONTEXT, body),
    signature: envelope.subarray(0, SIGNATURE_BYTES)
  }
})
const keys = new Map<string, ReturnType<typeof createPublicKey>>()
for (const { author } of prepared) {
  if (!keys.has(author)) {
    keys.set(
      author,
      createPublicKey({
        key: Buffer.concat([SPKI_PREFIX, publicKeyFromAddress(author)]),
        format: 'der',
        type: 'spki'
      })
    )
  }
}

function raw(): number {
  gc()
  const start = now()
  let ok = 0
  for (const { author, message, signature } of prepared)
    if (verify(null, message, keys.get(author) as never, signature)) ok++
  const ms = now() - start
  if (ok !== COMMITS) throw new Error('raw verify failed')
  return (COMMITS / ms) * 1000
}

const timed = await alternate(5, 1, ours, raw)
report(
  'graph-ingest',
  [
    {
      metric: 'single-op commits ingested/s (decode + verify + apply) vs raw verify/s',
      unit: 'commits/s',
      ours: Math.round(median(timed.ours)),
      peer: 'node:crypto verify loop',
      peerValue: Math.round(median(timed.peer)),
      better: 'higher',
      target: 1.5
    }
  ],
  { commits: COMMITS, authors: AUTHORS, batch: BATCH, store: 'memory' }
)
