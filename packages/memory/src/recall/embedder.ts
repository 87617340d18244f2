import type { AbortOptions } from '@araliya/interface'
import { EmbedderError } from './errors.js'

/**
 * Turns texts into vectors for similarity recall. The memory stores `id` and `dimensions` with its
 * vectors: opening a memory with another embedder (another model, another size) re-embeds everything
 * instead of comparing vectors from two models.
 */
export interface Embedder {
  /** The model id (e.g. `nomic-embed-text`, `hashing-v1`): vectors of two ids are never compared. */
  readonly id: string
  /** The length of every vector this embedder returns. */
  readonly dimensions: number
  /**
   * Cosine similarity below which a match is noise for this model (vector recall leaves such matches
   * out unless `minSimilarity` says otherwise). Default 0.
   */
  readonly threshold?: number
  /** One vector per text, in order, each of length `dimensions`. */
  embed(texts: readonly string[], options?: AbortOptions): Promise<Float32Array[]>
}

/** Options of {@link hashingEmbedder}. */
export interface HashingEmbedderInit {
  /** Vector length. Default 512 (2 KiB per memory; the noise between unrelated texts is about 1/√512 ≈ 0.044). */
  dimensions?: number
}

const WORD = /[\p{L}\p{N}]+/gu

/**
 * English function words left out of full-text and hashed features: they match nearly every memory and
 * drown the words that matter ("where does the user live" is about "user" and "live").
 */
export const STOP_WORDS: ReadonlySet<string> = new Set(
  (
    'a an and are as at be but by do does did for from has have had he her his i if in into is it its ' +
    'me my no not of on or our she so that the their them then there these they this to was we were ' +
    'what when where which who whom why will with you your'
  ).split(' ')
)

/** 32-bit FNV-1a of a string's UTF-16 code units, seeded. */
function fnv1a(text: string, seed: number): number {
  let hash = 0x811c9dc5 ^ seed
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return hash >>> 0
}

/** Scales a vector to length 1 in place (a zero vector stays zero). */
export function normalize(vector: Float32Array): Float32Array {
  let sum = 0
  for (let i = 0; i < vector.length; i++) sum += (vector[i] as number) ** 2
  if (sum === 0) return vector
  const scale = 1 / Math.sqrt(sum)
  for (let i = 0; i < vector.length; i++) vector[i] = (vector[i] as number) * scale
  return vector
}

/**
 * The weightless default embedder: feature hashing of word unigrams (weight 1), word bigrams (0.5) and
 * character trigrams of each word (0.3), each hashed to a slot with a hashed sign, then L2-normalised.
 * Deterministic, offline, no model file: it finds memories that share words and word pieces (typos,
 * plurals, compounds), not paraphrases — plug in a model through {@link openAIEmbedder} for those.
 */
export function hashingEmbedder(init: HashingEmbedderInit = {}): Embedder {
  const dimensions = init.dimensions ?? 512
  if (!Number.isSafeInteger(dimensions) || dimensions < 8 || dimensions > 8192) {
    throw new EmbedderError('a hashing embedder has 8 to 8192 dimensions')
  }
  const embedOne = (text: string): Float32Array => {
    const vector = new Float32Array(dimensions)
    const add = (feature: string, weight: number): void => {
      const hash = fnv1a(feature, 0)
      const slot = hash % dimensions
      const sign = fnv1a(feature, 0x9e3779b9) & 1 ? 1 : -1
      vector[slot] = (vector[slot] as number) + sign * weight
    }
    const words = (text.toLowerCase().match(WORD) ?? []).filter((word) => !STOP_WORDS.has(word))
    for (let i = 0; i < words.length; i++) {
      const word = words[i] as string
      add(`w:${word}`, 1)
      if (i > 0) add(`b:${words[i - 1]} ${word}`, 0.5)
      const padded = `<${word}>`
      for (let j = 0; j + 3 <= padded.length; j++) add(`c:${padded.slice(j, j + 3)}`, 0.3)
    }
    return normalize(vector)
  }
  return {
    id: 'hashing-v1',
    dimensions,
    threshold: 0.1,
    embed: async (texts, options) => {
      options?.signal?.throwIfAborted()
      return texts.map(embedOne)
    }
  }
}

/** Options of {@link openAIEmbedder}. */
export interface OpenAIEmbedderInit {
  /** The API root, e.g. `http://127.0.0.1:11434/v1` (Ollama), `http://127.0.0.1:8080/v1` (llama.cpp). */
  baseURL: string
  /** The embedding model the server runs, e.g. `nomic-embed-text`. */
  model: string
  /** Sent as `Authorization: Bearer <apiKey>` when set. */
  apiKey?: string
  /**
   * The vector length. When set, it is sent as `dimensions` (models that can shorten their output honour
   * it) and every answer is checked against it; when not set, the first answer decides it.
   */
  dimensions?: number
  /** Texts per request. Default 64, at most 2048. */
  batchSize?: number
  /** Milliseconds one request may take. Default 30,000. */
  timeout?: number
  /** Cosine similarity below which a match is noise for this model (see {@link Embedder.threshold}). Default 0. */
  threshold?: number
  /** Largest answer read, in bytes (a server streaming more is cut off with an error). Default 64 MiB. */
  maxResponseBytes?: number
  /** The fetch to use (default: the global one). */
  fetch?: typeof globalThis.fetch
}

/**
 * An {@link Embedder} over an OpenAI-compatible `POST {baseURL}/embeddings` endpoint (Ollama, llama.cpp
 * server, vLLM, LM Studio, OpenAI): plain `fetch`, bounded batches, a timeout per request, and a typed
 * {@link EmbedderError} when the server is unreachable, answers with an error, or returns vectors of the
 * wrong count or size.
 */
export function openAIEmbedder(init: OpenAIEmbedderInit): Embedder {
  const base = init.baseURL.replace(/\/+$/, '')
  if (!/^https?:\/\//.test(base)) {
    throw new EmbedderError(
      `baseURL is an http(s) URL such as http://127.0.0.1:11434/v1; got ${init.baseURL}`
    )
  }
  if (typeof init.model !== 'string' || init.model.length === 0) {
    throw new EmbedderError('name the embedding model the server runs: openAIEmbedder({ model })')
  }
  const batchSize = init.batchSize ?? 64
  if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > 2048) {
    throw new EmbedderError('batchSize is 1 to 2048 texts per request')
  }
  if (init.dimensions !== undefined && (!Number.isSafeInteger(init.dimensions) || init.dimensions < 1)) {
    throw new EmbedderError('dimensions is a positive integer')
  }
  const timeout = init.timeout ?? 30_000
  const maxResponseBytes = init.maxResponseBytes ?? 64 * 1024 * 1024
  const doFetch = init.fetch ?? globalThis.fetch
  const url = `${base}/embeddings`
  let dimensions = init.dimensions ?? 0

  const request = async (
    texts: readonly string[],
    signal: AbortSignal | undefined
  ): Promise<Float32Array[]> => {
    const timer = AbortSignal.timeout(timeout)
    const both = signal === undefined ? timer : AbortSignal.any([signal, timer])
    let response: Response
    try {
      response = await doFetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(init.apiKey === undefined ? {} : { authorization: `Bearer ${init.apiKey}` })
        },
        body: JSON.stringify({
          model: init.model,
          input: texts,
          encoding_format: 'float',
          ...(init.dimensions === undefined ? {} : { dimensions: init.dimensions })
        }),
        signal: both
      })
    } catch (error) {
      signal?.throwIfAborted()
      if (timer.aborted) {
        throw new EmbedderError(
          `${url} did not answer within ${timeout} ms: check that the server runs the model "${init.model}", or raise { timeout }`,
          { cause: error }
        )
      }
      throw new EmbedderError(
        `cannot reach ${url} (${(error as Error).message}): start the embeddings server (e.g. \`ollama serve\`) or fix baseURL`,
        { cause: error }
      )
    }
    const body = await readBody(response, url, signal, maxResponseBytes)
    if (!response.ok) {
      throw new EmbedderError(
        `${url} answered ${response.status}: ${body.slice(0, 200)} — check the model name ("${init.model}"), the API key and the server's log`
      )
    }
    let parsed: unknown
    try {
      parsed = JSON.parse(body)
    } catch (error) {
      throw new EmbedderError(
        `${url} did not answer with JSON (${body.slice(0, 80)}…): is baseURL the OpenAI-compatible root (ending in /v1)?`,
        { cause: error }
      )
    }
    return vectorsOf(parsed, texts.length)
  }

  const vectorsOf = (parsed: unknown, count: number): Float32Array[] => {
    const data = (parsed as { data?: unknown } | null)?.data
    if (!Array.isArray(data) || data.length !== count) {
      throw new EmbedderError(
        `${url} answered without one embedding per input (${count} sent): not an OpenAI-compatible embeddings endpoint?`
      )
    }
    const out = new Array<Float32Array>(count)
    for (const [position, entry] of data.entries()) {
      const index = typeof entry?.index === 'number' ? entry.index : position
      const embedding = entry?.embedding
      if (!Number.isSafeInteger(index) || index < 0 || index >= count || out[index] !== undefined) {
        throw new EmbedderError(`${url} answered with embeddings at bad or repeated indexes`)
      }
      if (!Array.isArray(embedding) || embedding.length === 0 || !embedding.every(Number.isFinite)) {
        throw new EmbedderError(
          `${url} answered with an embedding that is not a list of numbers (request encoding_format "float")`
        )
      }
      if (dimensions === 0) dimensions = embedding.length
      if (embedding.length !== dimensions) {
        throw new EmbedderError(
          `${url} returned ${embedding.length}-dimension vectors; this embedder expects ${dimensions}: set { dimensions } to the model's size, or use the model the memory was indexed with`
        )
      }
      out[index] = normalize(Float32Array.from(embedding as number[]))
    }
    return out
  }

  return {
    id: `openai:${init.model}`,
    threshold: init.threshold ?? 0,
    get dimensions() {
      return dimensions
    },
    embed: async (texts, options) => {
      const out: Float32Array[] = []
      for (let i = 0; i < texts.length; i += batchSize) {
        options?.signal?.throwIfAborted()
        out.push(...(await request(texts.slice(i, i + batchSize), options?.signal)))
      }
      return out
    }
  }
}

async function readBody(
  response: Response,
  url: string,
  signal: AbortSignal | undefined,
  max: number
): Promise<string> {
  const tooLarge = (): EmbedderError =>
    new EmbedderError(`${url} answered with more than ${max} bytes: use a smaller batchSize`)
  const declared = Number(response.headers.get('content-length') ?? 0)
  if (declared > max) {
    await response.body?.cancel()
    throw tooLarge()
  }
  if (response.body === null) return ''
  const reader = response.body.getReader()
  const chunks: Uint8Array[] = []
  let total = 0
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      total += value.byteLength
      if (total > max) {
        await reader.cancel()
        throw tooLarge()
      }
      chunks.push(value)
    }
  } catch (error) {
    signal?.throwIfAborted()
    if (EmbedderError.isInstance(error)) throw error
    throw new EmbedderError(`${url} broke off its answer (${(error as Error).message})`, { cause: error })
  }
  return Buffer.concat(chunks).toString('utf8')
}
