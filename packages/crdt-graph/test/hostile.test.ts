import { encodeCanonical } from '@araliya/identity'
import { InvalidInputError, TooLargeError } from '@araliya/interface'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { makeEnvelope } from '../src/commit.js'
import {
  CommitFormatError,
  createGraph,
  createSyncPeer,
  encodeCommits,
  InvalidSignatureError,
  memoryStore
} from '../src/index.js'
import { decodeCommit } from '../src/commit.js'
import { compressCommits, decodeSyncMessage, inflateSyncMessage } from '../src/sync.js'
import { allEnvelopes, forge, startGraph, testIdentity } from './helpers.js'

function typed(err: unknown): boolean {
  return InvalidInputError.isInstance(err)
}

describe('hostile bytes', () => {
  it('decodeCommit rejects random bytes with a typed error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        try {
          decodeCommit(bytes)
          return false
        } catch (err) {
          return typed(err)
        }
      }),
      { numRuns: 2000, seed: 1 }
    )
  })

  it('decodeSyncMessage rejects random bytes, and random bodies behind valid headers, with typed errors', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<number[]>([], [1, 1], [1, 2], [1]),
        fc.uint8Array({ maxLength: 400 }),
        (header, body) => {
          const bytes = Uint8Array.from([...header, ...body])
          try {
            const message = decodeSyncMessage(bytes)
            // a commits message of random envelopes can be well framed; its envelopes are checked later
            return message.type === 'commits' || message.type === 'hello'
          } catch (err) {
            return typed(err)
          }
        }
      ),
      { numRuns: 2000, seed: 2 }
    )
  })

  it('rejects oversized commits and messages before decoding', () => {
    const big = new Uint8Array(2 * 1024 * 1024).fill(0xff)
    expect(() => decodeCommit(big)).toThrow(TooLargeError)
    expect(() => decodeSyncMessage(new Uint8Array(5 * 1024 * 1024))).toThrow(TooLargeError)
    const framed = encodeCommits([new Uint8Array(2000)])
    expect(() => decodeSyncMessage(framed, { maxCommitBytes: 1000 })).toThrow(TooLargeError)
    expect(() => decodeCommit(new Uint8Array(3000), { ...decodeLimits(), maxCommitBytes: 2000 })).toThrow(
      TooLargeError
    )
  })

  it('compressed messages: corrupt streams and decompression bombs are rejected with typed errors', async () => {
    const me = await testIdentity(65)
    const graph = await startGraph(me)
    const peer = createSyncPeer(graph, {
      peer: 'hostile',
      send: () => {},
      limits: { maxMessageBytes: 1024 * 1024 }
    })
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 200 }), async (body) => {
        const error = await peer.receive(Uint8Array.from([1, 3, ...body])).then(
          () => undefined,
          (err: unknown) => err
        )
        // an empty or valid-but-empty deflate stream is an empty commits message; anything else is typed
        if (error !== undefined) expect(typed(error)).toBe(true)
      }),
      { numRuns: 200, seed: 5 }
    )
    // 8 MiB of zeros deflates to a few KiB: refused once the output passes the limit
    const bomb = await compressCommits(Uint8Array.from([1, 2, ...new Uint8Array(0)]))
    expect(bomb[1]).toBe(2) // nothing to compress
    const zeros = new Uint8Array(8 * 1024 * 1024 + 2)
    zeros[0] = 1
    zeros[1] = 2
    const packed = await compressCommits(zeros)
    expect(packed[1]).toBe(3)
    expect(packed.byteLength).toBeLessThan(64 * 1024)
    await expect(inflateSyncMessage(packed, { maxMessageBytes: 1024 * 1024 })).rejects.toBeInstanceOf(
      TooLargeError
    )
    await expect(peer.receive(packed)).rejects.toBeInstanceOf(TooLargeError)
    await graph.stop()
  })

  it('compressed messages interoperate with the platform streams browsers use, both ways', async () => {
    const stream = async (bytes: Uint8Array, transform: TransformStream<Uint8Array, Uint8Array>) => {
      const chunks: Uint8Array[] = []
      const writer = transform.writable.getWriter()
      void writer.write(bytes)
      void writer.close()
      const reader = transform.readable.getReader()
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        chunks.push(value)
      }
      return Uint8Array.from(chunks.flatMap((chunk) => [...chunk]))
    }
    const message = Uint8Array.from([1, 2, ...Array.from({ length: 5000 }, (_, i) => (i * 7) % 13)])
    const packed = await compressCommits(message)
    expect(packed[1]).toBe(3)
    // Node's one-shot deflate, read by DecompressionStream (what a browser peer runs)…
    const inflated = await stream(
      packed.subarray(2),
      new DecompressionStream('deflate-raw') as unknown as TransformStream<Uint8Array, Uint8Array>
    )
    expect(inflated).toEqual(message.subarray(2))
    // …and CompressionStream's output (a browser peer's), read here.
    const fromBrowser = await stream(
      message.subarray(2),
      new CompressionStream('deflate-raw') as unknown as TransformStream<Uint8Array, Uint8Array>
    )
    expect(await inflateSyncMessage(Uint8Array.from([1, 3, ...fromBrowser]))).toEqual(message)
  })

  it('bounds nesting and op counts', async () => {
    const me = await testIdentity(60)
    let nested: unknown = 'x'
    for (let i = 0; i < 40; i++) nested = [nested]
    const body = encodeCanonical({
      v: 1,
      s: me.address,
      a: me.address,
      n: 1,
      p: null,
      t: 1,
      d: 0,
      o: [['p', 'f', 0, nested as string]]
    })
    expect(() => decodeCommit(makeEnvelope(new Uint8Array(64), body))).toThrow(CommitFormatError)
    const many = await forge(me, {
      space: me.address,
      seq: 1,
      prev: null,
      clock: 1,
      ops: Array.from({ length: 200 }, (_, i) => ['p', `f${i}`, 0, i] as const)
    })
    expect(() => decodeCommit(many, { ...decodeLimits(), maxOpsPerCommit: 100 })).toThrow(/over the limit/)
  })

  it('graph.ingest and SyncPeer.receive never throw untyped errors on garbage', async () => {
    const me = await testIdentity(61)
    const graph = await startGraph(me)
    const peer = createSyncPeer(graph, { peer: 'hostile', send: () => {} })
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 5 }), async (envelopes) => {
        const result = await graph.ingest(envelopes)
        expect(result.accepted).toBe(0)
        for (const rejected of result.rejected) expect(typed(rejected.error)).toBe(true)
        const framed = encodeCommits(envelopes.filter((e) => e.byteLength > 0))
        await peer.receive(framed)
        const raw = envelopes[0] ?? new Uint8Array(0)
        await peer.receive(raw).catch((err: unknown) => expect(typed(err)).toBe(true))
      }),
      { numRuns: 300, seed: 3 }
    )
    expect(graph.pendingCount).toBe(0)
    await graph.stop()
  })

  it('keeps the pending buffer bounded when a peer floods commits that can never link', async () => {
    const [me, flooder] = [await testIdentity(66), await testIdentity(67)]
    const graph = await startGraph(me, { maxPendingCommits: 50, maxPendingPerChain: 100 })
    const gaps: number[] = []
    graph.events.addEventListener('commit:held', ({ detail: gap }) => gaps.push(gap.got))
    const envelopes: Uint8Array[] = []
    let prev: Uint8Array | null = null
    for (let seq = 1; seq <= 160; seq++) {
      const envelope = await forge(flooder, {
        space: flooder.address,
        seq,
        prev,
        clock: seq,
        ops: [['x', 'v', 0, seq]]
      })
      prev = decodeCommit(envelope).id
      envelopes.push(envelope)
    }
    // everything but the first: nothing can be applied
    const result = await graph.ingest(envelopes.slice(1))
    expect(result.accepted).toBe(0)
    expect(graph.pendingCount).toBe(50)
    expect(gaps.length).toBe(50)
    // the missing first one releases what was held; the rest arrives again later (as sync would resend)
    expect((await graph.ingest(envelopes.slice(0, 1))).accepted).toBe(51)
    expect(graph.pendingCount).toBe(0)
    expect((await graph.ingest(envelopes)).accepted).toBe(109)
    expect(graph.get(`${flooder.address}/x`)).toEqual({ v: 160 })
    await graph.stop()
  })

  it('recovers what it can from a store with damaged entries, reporting the rest', async () => {
    const me = await testIdentity(62)
    const store = memoryStore()
    const graph = await startGraph(me, { store })
    await graph.put(`${me.address}/a`, { v: 1 })
    await graph.put(`${me.address}/b`, { v: 2 })
    await graph.stop()
    await store.open()
    await store.append(
      [
        {
          id: new Uint8Array(32),
          space: me.address,
          author: me.address,
          seq: 99,
          envelope: new Uint8Array([1, 2, 3])
        }
      ],
      { clock: 0 }
    )
    await store.close()
    const problems: string[] = []
    const third = createGraph({ identity: me, store })
    third.events.addEventListener('store:damaged', ({ detail: problem }) => problems.push(problem.where))
    await third.start()
    expect(problems).toHaveLength(1)
    expect(third.get(`${me.address}/a`)).toEqual({ v: 1 })
    expect(third.get(`${me.address}/b`)).toEqual({ v: 2 })
    await third.stop()
  })
})

describe('signatures', () => {
  it('every flipped bit of a signed commit is rejected; missing signatures too', async () => {
    const [me, other] = [await testIdentity(63), await testIdentity(64)]
    const source = await startGraph(me)
    await source.transact((tx) => tx.put(`${me.address}/a`, { v: 'hello', n: 1, b: new Uint8Array([9]) }))
    const [envelope] = (await allEnvelopes(source)) as [Uint8Array]
    const graph = await startGraph(other)
    for (let i = 0; i < envelope.byteLength; i++) {
      for (const bit of [0x01, 0x80]) {
        const flipped = Uint8Array.from(envelope)
        flipped[i] = (flipped[i] as number) ^ bit
        const result = await graph.ingest([flipped])
        expect(result.accepted, `byte ${i}`).toBe(0)
        expect(result.rejected).toHaveLength(1)
      }
    }
    // without a signature the body alone is too short or mis-framed
    const unsigned = envelope.subarray(64)
    expect((await graph.ingest([unsigned])).accepted).toBe(0)
    // a zeroed signature
    const zero = Uint8Array.from(envelope)
    zero.fill(0, 0, 64)
    const result = await graph.ingest([zero])
    expect(result.rejected[0]?.error).toBeInstanceOf(InvalidSignatureError)
    // the untouched one still goes in
    expect((await graph.ingest([envelope])).accepted).toBe(1)
    await source.stop()
    await graph.stop()
  })
})

function decodeLimits() {
  return {
    maxPathLength: 1024,
    maxFieldLength: 256,
    maxValueLength: 65_536,
    maxCommitBytes: 1024 * 1024,
    maxOpsPerCommit: 10_000,
    maxGrantsPerCommit: 64
  }
}
