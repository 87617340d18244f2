import { createGraph, DEFAULT_COMMIT_LIMITS, type Graph } from '@araliya/crdt-graph'
import {
  type CanonicalValue,
  decodeCanonical,
  encodeCanonical,
  equalBytes,
  generateIdentity,
  type Identity,
  verify
} from '@araliya/identity'
import {
  type AbortOptions,
  isByteString,
  isPlainMap,
  isSafeUint,
  isText,
  LOCAL_ORIGIN,
  unknownKey
} from '@araliya/interface'
import { sha256 } from '@noble/hashes/sha2.js'
import { MemoryError } from './errors.js'
import { KEY_BOX_PATH, MEMORY_PATH } from './replica.js'

/** The first bytes of a memory export file: `ARME`. */
export const EXPORT_MAGIC = Uint8Array.of(0x41, 0x52, 0x4d, 0x45)
/** The format version this package writes and reads. */
export const EXPORT_FORMAT_VERSION = 1
/** Domain-separation context of the manifest signature. */
export const EXPORT_CONTEXT = 'araliya/memory-export/v1'
/** Largest manifest accepted, in bytes. */
const MAX_MANIFEST_BYTES = 4096
const SIGNATURE_BYTES = 64
/** Magic, version, manifest length. */
const PREFIX_BYTES = EXPORT_MAGIC.byteLength + 1 + 4
const MANIFEST_KEYS = new Set(['v', 'owner', 'signer', 'created', 'commits', 'bytes', 'digest'])

/** Default bounds of {@link importMemory}. */
export const DEFAULT_IMPORT_LIMITS: Readonly<ImportLimits> = Object.freeze({
  maxCommits: 1_000_000,
  maxBytes: 1024 * 1024 * 1024
})

/** What an import accepts at most. */
export interface ImportLimits {
  /** Most commits a file may declare. Default 1,000,000. */
  maxCommits: number
  /** Largest file accepted, in bytes. Default 1 GiB. */
  maxBytes: number
}

/** The signed header of an export file. */
export interface ExportManifest {
  /** Format version (1). */
  readonly v: number
  /** Whose memory: the address of the space's owner. */
  readonly owner: string
  /** The key that made the export and signed this manifest (the owner, or a device of the owner). */
  readonly signer: string
  /** When the export was made, milliseconds since the epoch. */
  readonly created: number
  /** How many commits follow. */
  readonly commits: number
  /** Total size of the commit section, in bytes (length prefixes included). */
  readonly bytes: number
  /** SHA-256 of the commit section. */
  readonly digest: Uint8Array
}

/** What an import did. */
export interface ImportReport {
  readonly manifest: ExportManifest
  /** Commits in the file. */
  readonly commits: number
  /** Commits this replica did not have and now applied. */
  readonly accepted: number
  /** Commits this replica already held. */
  readonly duplicates: number
  /** Memories (souls under `memory/`) in the file. */
  readonly memories: number
}

/** Why a file was refused. */
export type ExportFileReason =
  | 'format'
  | 'version'
  | 'too-large'
  | 'truncated'
  | 'signature'
  | 'owner'
  | 'signer'
  | 'digest'
  | 'commits'

/**
 * A memory export file was refused: not an export, damaged, too large, signed by a key that cannot speak
 * for the owner, made for another owner, or carrying commits the graph does not accept. Nothing was
 * imported. `reason` says which.
 */
export class MemoryExportError extends MemoryError<'ERR_MEMORY_EXPORT'> {
  static override readonly code: string = 'ERR_MEMORY_EXPORT'
  override name = 'MemoryExportError'
  readonly reason: ExportFileReason
  constructor(reason: ExportFileReason, message: string, options?: ErrorOptions) {
    super(message, options)
    this.reason = reason
  }
}

/** What {@link exportMemory} reads: the graph holding the owner's space, and the key that signs. */
export interface ExportSource {
  readonly graph: Graph
  readonly owner: string
  readonly identity: Identity
  readonly now?: () => number
}

/** What {@link importMemory} writes into. */
export interface ImportTarget {
  readonly graph: Graph
  readonly owner: string
}

/**
 * Every signed commit of the owner's space as stored (values already sealed), the owner's chain
 * first, then its devices' chains by address: what an export carries. Grants come first, so an importing
 * graph can judge each device commit as it arrives.
 */
async function spaceCommits(graph: Graph, owner: string, options?: AbortOptions): Promise<Uint8Array[]> {
  const tops = new Map<string, number>()
  for (const head of graph.versionVector(new Set([owner]))) {
    tops.set(head.author, Math.max(tops.get(head.author) ?? 0, head.seq))
  }
  const authors = [...tops.keys()].sort((a, b) => (a === owner ? -1 : b === owner ? 1 : a < b ? -1 : 1))
  const out: Uint8Array[] = []
  for (const author of authors) {
    out.push(...(await graph.readChain(owner, author, 1, tops.get(author) as number, options)))
  }
  return out
}

/**
 * Exports an owner's whole memory (every commit of its space) to one file: a signed manifest, then the
 * commits exactly as they were signed. Memory values stay sealed: the file reads no better than a
 * replica. Format: docs/protocols/memory-export.md.
 */
export async function exportMemory(source: ExportSource, options?: AbortOptions): Promise<Uint8Array> {
  const envelopes = await spaceCommits(source.graph, source.owner, options)
  let size = 0
  for (const envelope of envelopes) size += 4 + envelope.byteLength
  const section = new Uint8Array(size)
  const view = new DataView(section.buffer)
  let at = 0
  for (const envelope of envelopes) {
    view.setUint32(at, envelope.byteLength)
    section.set(envelope, at + 4)
    at += 4 + envelope.byteLength
  }
  const manifest = {
    v: EXPORT_FORMAT_VERSION,
    owner: source.owner,
    signer: source.identity.address,
    created: Math.floor((source.now ?? Date.now)()),
    commits: envelopes.length,
    bytes: size,
    digest: sha256(section)
  }
  const head = new Uint8Array(PREFIX_BYTES)
  head.set(EXPORT_MAGIC)
  head[EXPORT_MAGIC.byteLength] = EXPORT_FORMAT_VERSION
  const manifestBytes = encodeCanonical(manifest)
  new DataView(head.buffer).setUint32(EXPORT_MAGIC.byteLength + 1, manifestBytes.byteLength)
  const signed = concat([head, manifestBytes])
  const signature = await source.identity.sign(EXPORT_CONTEXT, signed, options)
  return concat([signed, signature, section])
}

/** Writes {@link exportMemory}'s bytes to `path` (a temporary file renamed into place). */
export async function exportMemoryTo(
  source: ExportSource,
  path: string,
  options?: AbortOptions
): Promise<void> {
  // node:fs is loaded here, not at the top, so the package still loads where there is no file system
  const { rename, rm, writeFile } = await import('node:fs/promises')
  const bytes = await exportMemory(source, options)
  const temporary = `${path}.${Date.now().toString(36)}${Math.random().toString(36).slice(2)}.tmp`
  try {
    await writeFile(temporary, bytes, { signal: options?.signal })
    await rename(temporary, path)
  } catch (error) {
    await rm(temporary, { force: true })
    throw error
  }
}

/** A parsed (not yet verified) export file. */
interface Parsed {
  readonly manifest: ExportManifest
  readonly signed: Uint8Array
  readonly signature: Uint8Array
  readonly section: Uint8Array
}

/** Reads the manifest of an export file and checks its signature, without importing anything. */
export async function readExportManifest(
  bytes: Uint8Array,
  limits: Partial<ImportLimits> = {}
): Promise<ExportManifest> {
  const parsed = parse(bytes, { ...DEFAULT_IMPORT_LIMITS, ...limits })
  if (!(await verify(parsed.manifest.signer, EXPORT_CONTEXT, parsed.signed, parsed.signature))) {
    throw new MemoryExportError('signature', "the export's manifest signature does not verify")
  }
  return parsed.manifest
}

function parse(bytes: Uint8Array, limits: ImportLimits): Parsed {
  if (!(bytes instanceof Uint8Array)) throw new MemoryExportError('format', 'an export is a Uint8Array')
  if (bytes.byteLength > limits.maxBytes) {
    throw new MemoryExportError(
      'too-large',
      `the export is ${bytes.byteLength} bytes; the limit is ${limits.maxBytes}`
    )
  }
  if (bytes.byteLength < PREFIX_BYTES || !equalBytes(bytes.subarray(0, 4), EXPORT_MAGIC)) {
    throw new MemoryExportError('format', 'not an Araliya memory export (the file does not start with ARME)')
  }
  const version = bytes[4] as number
  if (version !== EXPORT_FORMAT_VERSION) {
    throw new MemoryExportError(
      'version',
      `the export has format version ${version}; this version of @araliya/memory reads ${EXPORT_FORMAT_VERSION}`
    )
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const manifestLength = view.getUint32(5)
  if (manifestLength > MAX_MANIFEST_BYTES) {
    throw new MemoryExportError(
      'format',
      `the manifest claims ${manifestLength} bytes; at most ${MAX_MANIFEST_BYTES}`
    )
  }
  const signedEnd = PREFIX_BYTES + manifestLength
  if (bytes.byteLength < signedEnd + SIGNATURE_BYTES) {
    throw new MemoryExportError('truncated', 'the export ends inside its manifest or signature')
  }
  let decoded: CanonicalValue
  try {
    decoded = decodeCanonical(bytes.subarray(PREFIX_BYTES, signedEnd), {
      maxBytes: MAX_MANIFEST_BYTES,
      maxDepth: 2
    })
  } catch (error) {
    throw new MemoryExportError('format', `the manifest is not valid CBOR: ${(error as Error).message}`, {
      cause: error
    })
  }
  const manifest = checkManifest(decoded)
  if (manifest.commits > limits.maxCommits) {
    throw new MemoryExportError(
      'too-large',
      `the export declares ${manifest.commits} commits; the limit is ${limits.maxCommits}`
    )
  }
  const section = bytes.subarray(signedEnd + SIGNATURE_BYTES)
  if (section.byteLength < manifest.bytes) {
    throw new MemoryExportError(
      'truncated',
      `the export's commit section has ${section.byteLength} of the ${manifest.bytes} bytes its manifest declares`
    )
  }
  if (section.byteLength > manifest.bytes) {
    throw new MemoryExportError('format', 'the export has bytes after its commit section')
  }
  return {
    manifest,
    signed: bytes.subarray(0, signedEnd),
    signature: bytes.subarray(signedEnd, signedEnd + SIGNATURE_BYTES),
    section
  }
}

function checkManifest(value: CanonicalValue): ExportManifest {
  const fail = (what: string): never => {
    throw new MemoryExportError('format', `the export's manifest is malformed: ${what}`)
  }
  if (!isPlainMap(value)) return fail('not a map')
  const extra = unknownKey(value, MANIFEST_KEYS)
  if (extra !== undefined) fail(`unknown field "${extra}"`)
  if (value.v !== EXPORT_FORMAT_VERSION) fail('v')
  if (!isText(value.owner, 1, 256)) fail('owner')
  if (!isText(value.signer, 1, 256)) fail('signer')
  if (!isSafeUint(value.created)) fail('created')
  if (!isSafeUint(value.commits)) fail('commits')
  if (!isSafeUint(value.bytes)) fail('bytes')
  if (!isByteString(value.digest, 32)) fail('digest')
  return value as unknown as ExportManifest
}

/** Splits the commit section into envelopes, bounded by the graph's commit size. */
function frames(section: Uint8Array, count: number): Uint8Array[] {
  const view = new DataView(section.buffer, section.byteOffset, section.byteLength)
  const out: Uint8Array[] = []
  let at = 0
  while (at < section.byteLength) {
    if (out.length >= count)
      throw new MemoryExportError('commits', 'the export holds more commits than its manifest declares')
    if (at + 4 > section.byteLength)
      throw new MemoryExportError('truncated', 'the export ends inside a length')
    const length = view.getUint32(at)
    if (length === 0 || length > DEFAULT_COMMIT_LIMITS.maxCommitBytes) {
      throw new MemoryExportError('commits', `a commit of ${length} bytes is outside the graph's limits`)
    }
    if (at + 4 + length > section.byteLength)
      throw new MemoryExportError('truncated', 'the export ends inside a commit')
    out.push(section.subarray(at + 4, at + 4 + length))
    at += 4 + length
  }
  if (out.length !== count) {
    throw new MemoryExportError(
      'commits',
      `the export holds ${out.length} commits; its manifest declares ${count}`
    )
  }
  return out
}

/**
 * Imports an export file into the owner's memory: checks the manifest's signature, that it is this
 * owner's, and the digest of the commits; then verifies every commit (signature, chain, authority) in a
 * scratch graph, and only when all of them pass ingests them into `target.graph` (where they are
 * verified again as any synced commit is). A refused file throws {@link MemoryExportError} and changes
 * nothing. Importing a file twice is harmless (its commits are duplicates).
 */
export async function importMemory(
  target: ImportTarget,
  bytes: Uint8Array,
  options: AbortOptions & { limits?: Partial<ImportLimits> } = {}
): Promise<ImportReport> {
  const parsed = parse(bytes, { ...DEFAULT_IMPORT_LIMITS, ...options.limits })
  const { manifest } = parsed
  if (!(await verify(manifest.signer, EXPORT_CONTEXT, parsed.signed, parsed.signature))) {
    throw new MemoryExportError('signature', "the export's manifest signature does not verify")
  }
  if (manifest.owner !== target.owner) {
    throw new MemoryExportError(
      'owner',
      `the export holds the memory of ${manifest.owner}; this memory belongs to ${target.owner}`
    )
  }
  if (!equalBytes(sha256(parsed.section), manifest.digest)) {
    throw new MemoryExportError('digest', "the export's commits do not match the digest its manifest signed")
  }
  const envelopes = frames(parsed.section, manifest.commits)
  const spaces = new Set([target.owner])

  // every commit must verify on its own (a fresh graph holds no state the file could lean on)
  const scratch = createGraph({
    identity: await generateIdentity(),
    maxPendingCommits: Math.max(10_000, envelopes.length)
  })
  await scratch.start(options)
  let memories = 0
  try {
    const trial = await scratch.ingest(envelopes, LOCAL_ORIGIN, { spaces, signal: options.signal })
    const refused = trial.rejected.length + trial.ignored + trial.dropped + scratch.pendingCount
    if (refused > 0) {
      const first = trial.rejected[0]?.error
      throw new MemoryExportError(
        'commits',
        `the export carries commits the graph refuses: ${trial.rejected.length} rejected, ${trial.ignored} of another space, ${trial.dropped} unreadable, ${scratch.pendingCount} without their predecessors${first === undefined ? '' : ` (${first.message})`}`,
        first === undefined ? undefined : { cause: first }
      )
    }
    const authors = new Set(scratch.versionVector(spaces).map((head) => head.author))
    const boxed = scratch.get(`${target.owner}/${KEY_BOX_PATH}${manifest.signer}`) !== undefined
    if (manifest.signer !== target.owner && !authors.has(manifest.signer) && !boxed) {
      throw new MemoryExportError(
        'signer',
        `the export was signed by ${manifest.signer}, which is neither the owner nor one of its devices`
      )
    }
    const prefix = `${target.owner}/${MEMORY_PATH}`
    for (const soul of scratch.souls(target.owner)) if (soul.startsWith(prefix)) memories++
  } finally {
    await scratch.stop()
  }

  const result = await target.graph.ingest(envelopes, LOCAL_ORIGIN, { spaces, signal: options.signal })
  if (result.rejected.length > 0) {
    // commits that verified alone but not here: this replica holds a revocation the file does not
    const first = result.rejected[0]?.error
    throw new MemoryExportError(
      'commits',
      `${result.rejected.length} of the export's commits were refused by this replica${first === undefined ? '' : `: ${first.message}`}`,
      first === undefined ? undefined : { cause: first }
    )
  }
  return {
    manifest,
    commits: envelopes.length,
    accepted: result.accepted,
    duplicates: result.duplicates,
    memories
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let size = 0
  for (const part of parts) size += part.byteLength
  const out = new Uint8Array(size)
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.byteLength
  }
  return out
}
