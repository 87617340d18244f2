import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { mkdtemp, rm } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateIdentity } from '@araliya/identity'
import { afterEach, describe, expect, it } from 'vitest'
import { createMemory, EmbedderError, hashingEmbedder, type Memory, openAIEmbedder } from '../src/index.js'

type Handler = (body: { model: string; input: string[]; dimensions?: number }, res: ServerResponse) => void

const servers: Server[] = []
const open: Memory[] = []
afterEach(async () => {
  for (const memory of open.splice(0)) await memory.stop()
  for (const server of servers.splice(0)) {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  }
})

/** A tiny OpenAI-compatible `/v1/embeddings` server on 127.0.0.1, answering with `handler`. */
async function serve(
  handler: Handler
): Promise<{ baseURL: string; requests: Array<{ input: string[]; auth?: string }> }> {
  const requests: Array<{ input: string[]; auth?: string }> = []
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let raw = ''
    req.on('data', (chunk) => {
      raw += chunk
    })
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/embeddings') {
        res.writeHead(404).end('not found')
        return
      }
      const body = JSON.parse(raw)
      requests.push({
        input: body.input,
        ...(req.headers.authorization ? { auth: req.headers.authorization } : {})
      })
      handler(body, res)
    })
  })
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return { baseURL: `http://127.0.0.1:${port}/v1`, requests }
}

/** A deterministic "model": the hashing embedder behind the endpoint. */
const model = hashingEmbedder({ dimensions: 32 })
const speaks: Handler = (body, res) => {
  void model.embed(body.input).then((vectors) => {
    const data = vectors.map((v, index) => ({ object: 'embedding', index, embedding: [...v] })).reverse()
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ object: 'list', data, model: body.model }))
  })
}

describe('openAIEmbedder', () => {
  it('embeds through the endpoint in bounded batches, in order, normalised, with the API key', async () => {
    const { baseURL, requests } = await serve(speaks)
    const embedder = openAIEmbedder({ baseURL, model: 'tiny', apiKey: 'k-123', batchSize: 2, dimensions: 32 })
    expect(embedder).toMatchObject({ id: 'openai:tiny', dimensions: 32 })
    const texts = ['one apple', 'two pears', 'three plums', 'four figs', 'five limes']
    const vectors = await embedder.embed(texts)
    expect(requests.map((r) => r.input.length)).toEqual([2, 2, 1])
    expect(requests.every((r) => r.auth === 'Bearer k-123')).toBe(true)
    expect(vectors).toEqual(await model.embed(texts))
  })

  it('learns the dimension from the first answer when none is configured', async () => {
    const { baseURL } = await serve(speaks)
    const embedder = openAIEmbedder({ baseURL: `${baseURL}/`, model: 'tiny' })
    expect(embedder.dimensions).toBe(0)
    await embedder.embed(['hello'])
    expect(embedder.dimensions).toBe(32)
  })

  it('a server returning the wrong dimension is a typed error that says what to do', async () => {
    const { baseURL } = await serve(speaks)
    const embedder = openAIEmbedder({ baseURL, model: 'tiny', dimensions: 768 })
    const err = await embedder.embed(['hello']).catch((e: unknown) => e)
    expect(EmbedderError.isInstance(err)).toBe(true)
    expect((err as Error).message).toMatch(
      /returned 32-dimension vectors; this embedder expects 768: set \{ dimensions \}/
    )
  })

  for (const [what, handler, message] of [
    ['garbage', (_b, res) => res.writeHead(200).end('<html>hello</html>'), /did not answer with JSON/],
    [
      'an error status',
      (_b, res) => res.writeHead(500).end('model not loaded'),
      /answered 500: model not loaded/
    ],
    [
      'too few vectors',
      (_b, res) => res.writeHead(200).end(JSON.stringify({ data: [] })),
      /one embedding per input/
    ],
    [
      'non-numbers',
      (b, res) =>
        res
          .writeHead(200)
          .end(JSON.stringify({ data: b.input.map((_, index) => ({ index, embedding: ['x'] })) })),
      /not a list of numbers/
    ],
    [
      'repeated indexes',
      (b, res) =>
        res
          .writeHead(200)
          .end(JSON.stringify({ data: b.input.map(() => ({ index: 0, embedding: [1, 2] })) })),
      /bad or repeated indexes/
    ]
  ] as Array<[string, Handler, RegExp]>) {
    it(`a server returning ${what} is a typed EmbedderError`, async () => {
      const { baseURL } = await serve(handler)
      const err = await openAIEmbedder({ baseURL, model: 'tiny' })
        .embed(['a', 'b'])
        .catch((e: unknown) => e)
      expect(EmbedderError.isInstance(err)).toBe(true)
      expect((err as EmbedderError).code).toBe('ERR_MEMORY_EMBEDDER')
      expect((err as Error).message).toMatch(message)
    })
  }

  it('a server that never answers times out; an abort signal cancels', async () => {
    const { baseURL } = await serve(() => undefined)
    const slow = openAIEmbedder({ baseURL, model: 'tiny', timeout: 100 })
    await expect(slow.embed(['a'])).rejects.toThrow(/did not answer within 100 ms/)
    const controller = new AbortController()
    const pending = openAIEmbedder({ baseURL, model: 'tiny' }).embed(['a'], { signal: controller.signal })
    controller.abort()
    await expect(pending).rejects.toThrow(/abort/i)
  })

  it('a server streaming an endless answer is cut off at maxResponseBytes', async () => {
    const { baseURL } = await serve((_b, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      const chunk = `[${'1,'.repeat(4096)}`
      const pump = (): void => {
        while (!res.destroyed && res.write(chunk)) {}
        if (!res.destroyed) res.once('drain', pump)
      }
      pump()
    })
    const err = await openAIEmbedder({ baseURL, model: 'tiny', maxResponseBytes: 100_000 })
      .embed(['a'])
      .catch((e: unknown) => e)
    expect(EmbedderError.isInstance(err)).toBe(true)
    expect((err as Error).message).toMatch(/more than 100000 bytes/)
  })

  it('an unreachable server says to start it', async () => {
    const { baseURL } = await serve(speaks)
    for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve))
    await expect(openAIEmbedder({ baseURL, model: 'tiny' }).embed(['a'])).rejects.toThrow(
      /cannot reach .*start the embeddings server/
    )
  })

  it('refuses bad configuration', () => {
    expect(() => openAIEmbedder({ baseURL: 'localhost:11434', model: 'x' })).toThrow(EmbedderError)
    expect(() => openAIEmbedder({ baseURL: 'http://127.0.0.1/v1', model: '' })).toThrow(EmbedderError)
    expect(() => openAIEmbedder({ baseURL: 'http://127.0.0.1/v1', model: 'x', batchSize: 0 })).toThrow(
      EmbedderError
    )
    expect(() => hashingEmbedder({ dimensions: 3 })).toThrow(EmbedderError)
  })

  it('drives vector recall of a memory; when the server fails, hybrid recall answers from full text', async () => {
    let up = true
    const { baseURL } = await serve((body, res) => (up ? speaks(body, res) : res.writeHead(503).end('down')))
    const memory = createMemory({
      identity: await generateIdentity(),
      recall: { embedder: openAIEmbedder({ baseURL, model: 'tiny', dimensions: 32 }) }
    })
    await memory.start()
    open.push(memory)
    await memory.remember('the tram to the castle is number 28')
    await memory.remember('bakeries open at six')
    const [hit] = await memory.recall('castle trams', { mode: 'vector', limit: 1 })
    expect(hit?.item.kind === 'note' && hit.item.text).toBe('the tram to the castle is number 28')
    expect(memory.recallStats).toMatchObject({ embedder: 'openai:tiny', vectors: 2, pending: 0 })
    up = false
    await memory.remember('the castle closes at dusk')
    await expect(memory.recall('castle', { mode: 'vector' })).rejects.toThrow(EmbedderError)
    const hybrid = await memory.recall('castle', { mode: 'hybrid' })
    expect(hybrid.map((r) => r.ranks.vector)).toEqual([undefined, undefined])
    expect(memory.recallStats.pending).toBe(1)
    up = true
    expect((await memory.recall('castle dusk', { mode: 'vector', limit: 1 }))[0]?.item.kind).toBe('note')
    expect(memory.recallStats.pending).toBe(0)
  })
})

describe('a model that changes size under the same id', () => {
  it('the vectors of the snapshot are dropped and everything is re-embedded', async () => {
    let size = 32
    const { baseURL } = await serve((body, res) => {
      void hashingEmbedder({ dimensions: size })
        .embed(body.input)
        .then((vectors) => {
          const data = vectors.map((v, index) => ({ index, embedding: [...v] }))
          res.writeHead(200).end(JSON.stringify({ data }))
        })
    })
    const dir = await mkdtemp(join(tmpdir(), 'araliya-embedder-'))
    try {
      const identity = await generateIdentity()
      const first = createMemory({
        identity,
        dir,
        recall: { embedder: openAIEmbedder({ baseURL, model: 'm' }) }
      })
      await first.start()
      await first.remember('the kettle is descaled monthly')
      await first.remember('the plants need water on Mondays')
      expect((await first.recall('kettles', { mode: 'vector', limit: 1 }))[0]?.item.kind).toBe('note')
      await first.stop()
      size = 16
      const second = createMemory({
        identity,
        dir,
        recall: { embedder: openAIEmbedder({ baseURL, model: 'm' }) }
      })
      await second.start()
      open.push(second)
      expect(second.recallStats).toMatchObject({ opened: { from: 'snapshot' }, vectors: 2 })
      const [hit] = await second.recall('kettles', { mode: 'vector', limit: 1 })
      expect(hit?.item.kind === 'note' && hit.item.text).toBe('the kettle is descaled monthly')
      expect(second.recallStats).toMatchObject({ vectors: 2, pending: 0 })
    } finally {
      for (const memory of open.splice(0)) await memory.stop()
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('hashingEmbedder', () => {
  it('is deterministic, unit length, and similar for shared words and word pieces', async () => {
    const embedder = hashingEmbedder()
    expect(embedder).toMatchObject({ id: 'hashing-v1', dimensions: 512 })
    const [a, b, c, d] = await embedder.embed([
      'Violin lessons',
      'violin lesson',
      'tax return deadline',
      'violin lessons'
    ])
    const dot = (x?: Float32Array, y?: Float32Array) =>
      (x as Float32Array).reduce((s, v, i) => s + v * ((y as Float32Array)[i] as number), 0)
    expect(dot(a, a)).toBeCloseTo(1, 5)
    expect(d).toEqual(a)
    expect(dot(a, b)).toBeGreaterThan(0.5)
    expect(Math.abs(dot(a, c))).toBeLessThan(0.2)
    const [empty] = await embedder.embed(['the of and'])
    expect(dot(empty, empty)).toBe(0)
  })
})
