import { platform } from '#platform'
import { LRUCache } from 'lru-cache'
import { InvalidContextError } from './errors.js'
import type { Ed25519Backend, SyncEd25519Backend } from './platform/types.js'

const textEncoder = new TextEncoder()
const DOMAIN = textEncoder.encode('araliya-sig-v1')
const MAX_CONTEXT_BYTES = 255
const CONTEXT_PATTERN = /^[\x21-\x7e]+$/
const headers = new LRUCache<string, Uint8Array>({ max: 1024 })

/**
 * The bytes a context string contributes in front of every message: a fixed domain tag, a zero byte,
 * the context's length and the context itself. The length prefix makes the split unambiguous, so no
 * (context, message) pair can be read as another.
 */
function contextHeader(context: string): Uint8Array {
  let header = headers.get(context)
  if (header === undefined) {
    if (typeof context !== 'string' || !CONTEXT_PATTERN.test(context) || context.length > MAX_CONTEXT_BYTES) {
      throw new InvalidContextError(
        `signature context must be 1-${MAX_CONTEXT_BYTES} printable ASCII characters without spaces ` +
          `(for example "myapp/receipt/v1"); got ${JSON.stringify(context)}`
      )
    }
    const ctx = textEncoder.encode(context)
    header = new Uint8Array(DOMAIN.byteLength + 2 + ctx.byteLength)
    header.set(DOMAIN)
    header[DOMAIN.byteLength] = 0
    header[DOMAIN.byteLength + 1] = ctx.byteLength
    header.set(ctx, DOMAIN.byteLength + 2)
    headers.set(context, header)
  }
  return header
}

/**
 * The exact bytes that are signed for `message` under `context`. Exposed so other implementations (and
 * auditors) can reproduce signatures; most callers never need it.
 */
export function signedBytes(context: string, message: Uint8Array): Uint8Array {
  const header = contextHeader(context)
  const out = new Uint8Array(header.byteLength + message.byteLength)
  out.set(header)
  out.set(message, header.byteLength)
  return out
}

let scratch = new Uint8Array(2048)

/**
 * {@link signedBytes} built in a buffer reused from call to call: the result is valid only until the next
 * call, so it is for synchronous verification, which is done with it before anything else runs.
 */
export function signedBytesScratch(context: string, message: Uint8Array): Uint8Array {
  const header = contextHeader(context)
  const size = header.byteLength + message.byteLength
  if (size > scratch.byteLength) scratch = new Uint8Array(Math.max(size, scratch.byteLength * 2))
  scratch.set(header)
  scratch.set(message, header.byteLength)
  return scratch.subarray(0, size)
}

let backend: Ed25519Backend | undefined
let backendPromise: Promise<Ed25519Backend> | undefined

/**
 * The ed25519 implementation in use here: node:crypto in Node, WebCrypto in browsers that have Ed25519,
 * @noble/ed25519 elsewhere.
 */
export function ed25519Backend(): Promise<Ed25519Backend> {
  if (backend !== undefined) return Promise.resolve(backend)
  backendPromise ??= platform.ed25519().then((b) => {
    backend = b
    return b
  })
  return backendPromise
}

/** The synchronous backend (node:crypto in Node, @noble/ed25519 elsewhere). */
export function syncBackend(): SyncEd25519Backend {
  return platform.ed25519Sync()
}

/** The backend if it has been loaded already (a fast path that skips a promise hop). */
export function loadedBackend(): Ed25519Backend | undefined {
  return backend
}

/** Checks a context string now, so a misconfiguration surfaces at start-up rather than at first use. */
export function assertSignatureContext(context: string): void {
  contextHeader(context)
}
