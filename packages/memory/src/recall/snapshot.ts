import { randomBytes } from 'node:crypto'
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex } from '@noble/hashes/utils.js'
import MiniSearch from 'minisearch'
import type { Embedder } from './embedder.js'
import { type IndexedDoc, MINISEARCH_OPTIONS, SearchIndex, VectorStore } from './search-index.js'

/** The context under which the snapshot key is derived from the private content key. */
export const INDEX_KEY_CONTEXT = 'araliya/memory/index-snapshot/v1'
/** The snapshot's file name inside `<dir>/index/`. */
export const SNAPSHOT_FILE = 'recall.snapshot'
const MAGIC = new TextEncoder().encode('ARIX')
const FORMAT = 1
const NONCE_BYTES = 24
const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** The snapshot's header: what it covers. */
interface Header {
  readonly format: number
  readonly owner: string
  /** The embedder whose vectors it holds, or null. */
  readonly embedder: { readonly id: string; readonly dimensions: number } | null
  /** Every indexed memory: [id, hlc, kind, scope, session, validFrom, validTo, subject, object]. */
  readonly docs: ReadonlyArray<readonly unknown[]>
  /** Ids of the vector rows, in order. */
  readonly vectors: readonly string[]
  /** sha256 of the sorted (id, hlc) pairs: what the snapshot covers, at a glance. */
  readonly covers: string
}

/** Why a snapshot was not used. */
export class SnapshotRejected extends Error {
  override name = 'SnapshotRejected'
}

/** The digest of what an index covers: sha256 over its sorted `id:hlc` pairs. */
export function coverDigest(pairs: Iterable<readonly [string, number]>): string {
  const sorted = [...pairs].map(([id, hlc]) => `${id}:${hlc}`).sort()
  return bytesToHex(sha256(encoder.encode(sorted.join('\n'))))
}

/**
 * Encodes and seals an index: `ARIX | format | nonce | xchacha20poly1305(body, aad = ARIX|format|owner)`,
 * the body being the header JSON, MiniSearch's JSON and the vector rows, each length-prefixed. The key is
 * derived from the private content key, so the file is as private as the memories and a file from
 * another memory (or a damaged one) fails to open.
 */
export function encodeSnapshot(index: SearchIndex, owner: string, key: Uint8Array): Uint8Array {
  const docs = [...index.docs.values()]
  const exported = index.vectors?.export()
  const header: Header = {
    format: FORMAT,
    owner,
    embedder:
      index.vectors === undefined ? null : { id: index.vectors.model, dimensions: index.vectors.dimensions },
    docs: docs.map((d) => [
      d.id,
      d.hlc,
      d.kind,
      d.scope,
      d.session ?? null,
      d.validFrom ?? null,
      d.validTo ?? null,
      d.subject ?? null,
      d.object ?? null
    ]),
    vectors: exported?.ids ?? [],
    covers: coverDigest(docs.map((d) => [d.id, d.hlc]))
  }
  const parts = [
    encoder.encode(JSON.stringify(header)),
    encoder.encode(JSON.stringify(index.text)),
    new Uint8Array(exported?.data.buffer ?? new ArrayBuffer(0), 0, exported?.data.byteLength ?? 0)
  ]
  const body = new Uint8Array(parts.reduce((n, p) => n + 4 + p.byteLength, 0))
  const view = new DataView(body.buffer)
  let at = 0
  for (const part of parts) {
    view.setUint32(at, part.byteLength)
    body.set(part, at + 4)
    at += 4 + part.byteLength
  }
  const nonce = randomBytes(NONCE_BYTES)
  const sealed = xchacha20poly1305(key, nonce, aad(owner)).encrypt(body)
  const out = new Uint8Array(MAGIC.length + 1 + NONCE_BYTES + sealed.byteLength)
  out.set(MAGIC, 0)
  out[MAGIC.length] = FORMAT
  out.set(nonce, MAGIC.length + 1)
  out.set(sealed, MAGIC.length + 1 + NONCE_BYTES)
  return out
}

/**
 * Opens a snapshot into an index for `embedder` (vectors are kept only when they were made by the same
 * model and size). Throws {@link SnapshotRejected} when it is not this owner's, is damaged, or has an
 * unknown format: it is then rebuilt from the graph, never trusted.
 */
export function decodeSnapshot(
  bytes: Uint8Array,
  owner: string,
  key: Uint8Array,
  embedder: Embedder | undefined
): { index: SearchIndex; covers: string; vectorsKept: boolean } {
  if (bytes.byteLength < MAGIC.length + 1 + NONCE_BYTES + 16) throw new SnapshotRejected('too short')
  if (!MAGIC.every((b, i) => bytes[i] === b)) throw new SnapshotRejected('not an index snapshot')
  if (bytes[MAGIC.length] !== FORMAT) throw new SnapshotRejected(`unknown format ${bytes[MAGIC.length]}`)
  const nonce = bytes.subarray(MAGIC.length + 1, MAGIC.length + 1 + NONCE_BYTES)
  let body: Uint8Array
  try {
    body = xchacha20poly1305(key, nonce, aad(owner)).decrypt(bytes.subarray(MAGIC.length + 1 + NONCE_BYTES))
  } catch (error) {
    throw new SnapshotRejected(
      `does not open with this memory's key (damaged, or another memory's): ${error}`
    )
  }
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength)
  const parts: Uint8Array[] = []
  let at = 0
  for (let i = 0; i < 3; i++) {
    if (at + 4 > body.byteLength) throw new SnapshotRejected('truncated body')
    const length = view.getUint32(at)
    if (at + 4 + length > body.byteLength) throw new SnapshotRejected('truncated body')
    parts.push(body.subarray(at + 4, at + 4 + length))
    at += 4 + length
  }
  const header = JSON.parse(decoder.decode(parts[0])) as Header
  if (header.format !== FORMAT || header.owner !== owner) throw new SnapshotRejected('another owner')
  const text = MiniSearch.loadJSON<{ id: string; text: string }>(decoder.decode(parts[1]), MINISEARCH_OPTIONS)
  const index = new SearchIndex(embedder, text)
  for (const row of header.docs) index.restore(docFromRow(row))
  const covered = coverDigest([...index.docs.values()].map((d) => [d.id, d.hlc] as const))
  if (covered !== header.covers)
    throw new SnapshotRejected('its documents do not match what it says it covers')
  const sameModel =
    embedder !== undefined &&
    header.embedder !== null &&
    header.embedder.id === embedder.id &&
    // An embedder that learns its size from its first answer (dimensions 0) keeps the stored vectors;
    // should the model answer in another size, the index re-embeds everything then.
    (embedder.dimensions === 0 || header.embedder.dimensions === embedder.dimensions)
  if (sameModel && header.embedder !== null) {
    const raw = parts[2] as Uint8Array
    const { dimensions } = header.embedder
    if (raw.byteLength !== header.vectors.length * dimensions * 4) throw new SnapshotRejected('vector rows')
    const data = new Float32Array(raw.byteLength / 4)
    new Uint8Array(data.buffer).set(raw)
    index.vectors = VectorStore.import(header.embedder.id, dimensions, header.vectors, data)
  }
  if (embedder !== undefined) {
    for (const doc of index.docs.values()) {
      if (index.text.has(doc.id) && !index.vectors?.has(doc.id)) index.pending.add(doc.id)
    }
  }
  return { index, covers: header.covers, vectorsKept: sameModel }
}

function docFromRow(row: readonly unknown[]): IndexedDoc {
  const [id, hlc, kind, scope, session, validFrom, validTo, subject, object] = row
  if (
    typeof id !== 'string' ||
    typeof hlc !== 'number' ||
    typeof kind !== 'string' ||
    typeof scope !== 'string'
  ) {
    throw new SnapshotRejected('a document row')
  }
  return {
    id,
    hlc,
    kind: kind as IndexedDoc['kind'],
    scope,
    ...(typeof session === 'string' ? { session } : {}),
    ...(typeof validFrom === 'number' ? { validFrom } : {}),
    ...(typeof validTo === 'number' ? { validTo } : {}),
    ...(typeof subject === 'string' ? { subject } : {}),
    ...(typeof object === 'string' ? { object } : {})
  }
}

function aad(owner: string): Uint8Array {
  return encoder.encode(`ARIX|${FORMAT}|${owner}`)
}

/** The snapshot's path under a memory's directory. */
export function snapshotPath(dir: string): string {
  return join(dir, 'index', SNAPSHOT_FILE)
}

/** Reads the snapshot file, or undefined when there is none. */
export async function readSnapshot(dir: string): Promise<Uint8Array | undefined> {
  try {
    return await readFile(snapshotPath(dir))
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

/** Writes the snapshot atomically: a temporary file, flushed, then renamed over the old one. */
export async function writeSnapshot(dir: string, bytes: Uint8Array): Promise<void> {
  const path = snapshotPath(dir)
  await mkdir(join(dir, 'index'), { recursive: true })
  const tmp = `${path}.${process.pid}.${bytesToHex(randomBytes(4))}.tmp`
  const file = await open(tmp, 'w', 0o600)
  try {
    await file.writeFile(bytes)
    await file.sync()
  } finally {
    await file.close()
  }
  try {
    await rename(tmp, path)
  } catch (error) {
    await rm(tmp, { force: true })
    throw error
  }
}
