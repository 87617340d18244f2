import { TooLargeError } from '@araliya/interface'
import { SyncProtocolError } from '../errors.js'
import {
  DEFAULT_SYNC_LIMITS,
  SYNC_PROTOCOL_VERSION,
  type SyncLimits,
  TYPE_COMMITS,
  TYPE_COMMITS_DEFLATE
} from './codec.js'

/** True when the platform has `CompressionStream` (Node >= 18, current browsers). */
/** The parts of node:zlib used here. */
interface NodeZlib {
  deflateRaw(
    bytes: Uint8Array,
    options: { level: number },
    callback: (err: Error | null, result: Uint8Array) => void
  ): void
  inflateRawSync(bytes: Uint8Array, options: { maxOutputLength: number }): Uint8Array
}

/**
 * node:zlib where the runtime has it (Node), one-shot rather than through the streams below (no stream
 * machinery): deflating runs on libuv's thread pool, so the event loop goes on meanwhile; inflating is
 * synchronous, being ten times cheaper than deflating and its output bounded. Browsers use
 * `CompressionStream`. Both speak raw DEFLATE, so either side reads what the other wrote.
 */
const nodeZlib: NodeZlib | undefined = (() => {
  const getBuiltin = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process
    ?.getBuiltinModule
  const zlib = typeof getBuiltin === 'function' ? (getBuiltin('node:zlib') as Partial<NodeZlib>) : undefined
  return typeof zlib?.deflateRaw === 'function' && typeof zlib.inflateRawSync === 'function'
    ? (zlib as NodeZlib)
    : undefined
})()

function canCompress(): boolean {
  return typeof (globalThis as { CompressionStream?: unknown }).CompressionStream === 'function'
}

/** For a stream error that reaches the caller another way (see the uses). */
function reportedByReader(): void {}

async function pipeThrough(
  bytes: Uint8Array,
  transform: TransformStream<Uint8Array, Uint8Array>,
  limit: number
): Promise<Uint8Array> {
  const writer = transform.writable.getWriter()
  // A failed write or close errors the readable side too, so `reader.read()` below throws it.
  void writer.write(bytes).catch(reportedByReader)
  void writer.close().catch(reportedByReader)
  const reader = transform.readable.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > limit) {
      // Cancelling a stream we give up on: the TooLargeError below is what the caller needs.
      await reader.cancel().catch(reportedByReader)
      throw new TooLargeError('decompressed sync message', size, limit)
    }
    chunks.push(value)
  }
  const out = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.byteLength
  }
  return out
}

/**
 * Compresses a commits message (type 2) into a deflate-raw commits message (type 3) with the same entries.
 * Returns the input when compression is unavailable or does not help.
 */
export async function compressCommits(message: Uint8Array): Promise<Uint8Array> {
  if (message[1] !== TYPE_COMMITS || (nodeZlib === undefined && !canCompress())) return message
  const deflated =
    nodeZlib !== undefined
      ? await deflateHere(nodeZlib, message.subarray(2))
      : await pipeThrough(
          message.subarray(2),
          new CompressionStream('deflate-raw') as unknown as TransformStream<Uint8Array, Uint8Array>,
          Number.MAX_SAFE_INTEGER
        )
  if (deflated.byteLength + 2 >= message.byteLength) return message
  const out = new Uint8Array(deflated.byteLength + 2)
  out[0] = SYNC_PROTOCOL_VERSION
  out[1] = TYPE_COMMITS_DEFLATE
  out.set(deflated, 2)
  return out
}

/**
 * Turns a deflate-raw commits message (type 3) back into a plain commits message (type 2), stopping as
 * soon as the output would exceed `maxMessageBytes` (no decompression bombs). Other messages pass through.
 *
 * @throws {TooLargeError} when the compressed or the decompressed message is over the limit.
 * @throws {SyncProtocolError} when the deflate stream is corrupt.
 */
export async function inflateSyncMessage(
  bytes: Uint8Array,
  limits: Partial<SyncLimits> = {}
): Promise<Uint8Array> {
  const l = { ...DEFAULT_SYNC_LIMITS, ...limits }
  if (!(bytes instanceof Uint8Array) || bytes.byteLength < 2 || bytes[1] !== TYPE_COMMITS_DEFLATE)
    return bytes
  if (bytes.byteLength > l.maxMessageBytes)
    throw new TooLargeError('sync message', bytes.byteLength, l.maxMessageBytes)
  if (bytes[0] !== SYNC_PROTOCOL_VERSION) return bytes
  if (nodeZlib !== undefined)
    return withHeader(inflateHere(nodeZlib, bytes.subarray(2), l.maxMessageBytes - 2))
  if (!canCompress())
    throw new SyncProtocolError('this platform cannot decompress sync messages; ask the peer not to compress')
  let inflated: Uint8Array
  try {
    inflated = await pipeThrough(
      bytes.subarray(2),
      new DecompressionStream('deflate-raw') as unknown as TransformStream<Uint8Array, Uint8Array>,
      l.maxMessageBytes - 2
    )
  } catch (err) {
    if (TooLargeError.isInstance(err)) throw err
    throw new SyncProtocolError(`corrupt compressed sync message: ${(err as Error).message}`, { cause: err })
  }
  return withHeader(inflated)
}

/** An inflated body behind the header of a plain commits message. */
function withHeader(inflated: Uint8Array): Uint8Array {
  const out = new Uint8Array(inflated.byteLength + 2)
  out[0] = SYNC_PROTOCOL_VERSION
  out[1] = TYPE_COMMITS
  out.set(inflated, 2)
  return out
}

/**
 * zlib's level for sync messages. On commit batches level 5 deflates about 1.7 times quicker than the
 * default 6 for about 2% more bytes; the fast levels (1-3, about 4 times quicker) cost about 8% more
 * bytes, which would put a merge's delta within a few percent of Yjs's.
 */
const DEFLATE_LEVEL = 5

/** Deflates with node:zlib on its thread pool. */
function deflateHere(zlib: NodeZlib, bytes: Uint8Array): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    zlib.deflateRaw(bytes, { level: DEFLATE_LEVEL }, (err, result) =>
      err === null ? resolve(result) : reject(err)
    )
  })
}

/** Inflates with node:zlib, refusing output over `limit` bytes the moment it passes it (a bomb). */
function inflateHere(zlib: NodeZlib, deflated: Uint8Array, limit: number): Uint8Array {
  try {
    return zlib.inflateRawSync(deflated, { maxOutputLength: Math.max(1, limit) })
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE')
      throw new TooLargeError('decompressed sync message', limit + 1, limit)
    throw new SyncProtocolError(`corrupt compressed sync message: ${(err as Error).message}`, { cause: err })
  }
}
