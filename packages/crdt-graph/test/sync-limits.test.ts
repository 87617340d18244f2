import { encodeCanonical } from '@araliya/identity'
import { InvalidInputError, TooLargeError } from '@araliya/interface'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  createSyncPeer,
  DEFAULT_SYNC_LIMITS,
  encodeCommits,
  type Graph,
  TooManyEntriesError
} from '../src/index.js'
import { compressCommits, decodeSyncMessage, encodeHello, inflateSyncMessage } from '../src/sync.js'
import { allEnvelopes, startGraph, testIdentity } from './helpers.js'

/** A commits message of `count` entries of `size` bytes each (0x01 0x02, then length-prefixed junk). */
function junkCommits(count: number, size: number): Uint8Array {
  const out = new Uint8Array(2 + count * (1 + size))
  out[0] = 1
  out[1] = 2
  for (let i = 0, offset = 2; i < count; i++, offset += 1 + size) {
    out[offset] = size
    out.fill(0xa5, offset + 1, offset + 1 + size)
  }
  return out
}

/** A hello whose payload is the canonical CBOR of `{ v, s: null, r: false }`. */
function helloWith(vector: unknown[]): Uint8Array {
  const payload = encodeCanonical({ v: vector, s: null, r: false } as never)
  const out = new Uint8Array(payload.byteLength + 2)
  out[0] = 1
  out[1] = 1
  out.set(payload, 2)
  return out
}

/** Counts every commit the graph decoded and refused (the per-entry work a hostile message costs). */
function countRejections(graph: Graph): { count: number } {
  const seen = { count: 0 }
  graph.events.addEventListener('commit:rejected', () => {
    seen.count++
  })
  return seen
}

async function validChain(n: number, count: number): Promise<Uint8Array[]> {
  const me = await testIdentity(n)
  const source = await startGraph(me)
  for (let i = 0; i < count; i++) await source.put(`${me.address}/n${i % 50}`, { v: i })
  const envelopes = await allEnvelopes(source)
  await source.stop()
  return envelopes
}

describe('sync messages: work is bounded, not only bytes', () => {
  it('a 1 MB commits message of 500,000 tiny entries is refused with a typed error before any entry is decoded', async () => {
    const message = junkCommits(500_000, 1)
    expect(message.byteLength).toBe(1_000_002)
    const limit = DEFAULT_SYNC_LIMITS.maxCommitsPerMessage
    // the decoder frames one entry past the cap, then stops: it never walks the other 495,000 entries
    const error = (() => {
      try {
        decodeSyncMessage(message)
      } catch (err) {
        return err
      }
      return undefined
    })()
    expect(TooManyEntriesError.isInstance(error)).toBe(true)
    expect(InvalidInputError.isInstance(error)).toBe(true)
    expect((error as TooManyEntriesError).count).toBe(limit + 1)
    expect((error as TooManyEntriesError).limit).toBe(limit)

    const graph = await startGraph(await testIdentity(400))
    const rejections = countRejections(graph)
    const peer = createSyncPeer(graph, { peer: 'hostile', send: () => {} })
    await expect(peer.receive(message)).rejects.toSatisfy((err) => TooManyEntriesError.isInstance(err))
    await peer.idle()
    expect(rejections.count).toBe(0)
    expect(peer.stats.commitsReceived).toBe(0)
    expect(peer.stats.messagesRefused).toBe(1)
    await graph.stop()
  }, 60_000)

  it('the same message deflated is refused the same way after inflating', async () => {
    const packed = await compressCommits(junkCommits(500_000, 1))
    expect(packed[1]).toBe(3)
    const graph = await startGraph(await testIdentity(401))
    const rejections = countRejections(graph)
    const peer = createSyncPeer(graph, { peer: 'hostile', send: () => {}, onError: () => {} })
    await expect(peer.receive(packed)).rejects.toSatisfy((err) => TooManyEntriesError.isInstance(err))
    await peer.idle()
    expect(rejections.count).toBe(0)
    expect(peer.stats.commitsReceived).toBe(0)
    await graph.stop()
  }, 60_000)

  it('a commits message stops at its first invalid entry: the rest is dropped, counted, never decoded', async () => {
    const valid = await validChain(402, 40)
    const graph = await startGraph(await testIdentity(403))
    const rejections = countRejections(graph)
    // 3 valid commits, then junk, then the rest of a valid chain and 3,000 more junk entries
    const junk = new Uint8Array(120).fill(0x5a)
    const envelopes = [
      ...valid.slice(0, 3),
      junk,
      ...valid.slice(3),
      ...Array.from({ length: 3000 }, () => junk)
    ]
    const result = await graph.ingest(envelopes)
    expect(result.accepted).toBe(3)
    expect(result.rejected).toHaveLength(1)
    expect(result.dropped).toBe(envelopes.length - 4)
    expect(rejections.count).toBe(1)

    // through a sync peer: the same, and counted in its stats; a later message delivers the rest
    const other = await startGraph(await testIdentity(404))
    const otherRejections = countRejections(other)
    const peer = createSyncPeer(other, { peer: 'flaky', send: () => {} })
    await peer.receive(encodeCommits(envelopes))
    expect(otherRejections.count).toBe(1)
    expect(peer.stats.commitsDropped).toBe(envelopes.length - 4)
    await peer.receive(encodeCommits(valid))
    expect(peer.stats.commitsAccepted).toBe(valid.length)
    await graph.stop()
    await other.stop()
  }, 60_000)

  it('a batch of forged signatures costs one verification, not one per entry', async () => {
    const valid = await validChain(405, 2)
    const forged = valid.map((envelope) => {
      const copy = Uint8Array.from(envelope)
      copy[0] = (copy[0] as number) ^ 1
      return copy
    })
    const graph = await startGraph(await testIdentity(406))
    const rejections = countRejections(graph)
    const batch = Array.from({ length: 4000 }, (_, i) => forged[i % forged.length] as Uint8Array)
    const result = await graph.ingest(batch)
    expect(result.accepted).toBe(0)
    expect(rejections.count).toBe(1)
    expect(result.dropped).toBe(3999)
    await graph.stop()
  })

  it('hellos over the vector-entry limit are refused before they are decoded; the limit itself passes', () => {
    const limit = DEFAULT_SYNC_LIMITS.maxVectorEntries
    const head = new Uint8Array(32)
    // [space, author, seq, head id]: 100,000 of them take more than 4 MiB, so the size limit is raised here
    const roomy = { maxMessageBytes: 16 * 1024 * 1024 }
    const over = helloWith(Array.from({ length: limit + 1 }, (_, i) => ['', '', i + 1, head]))
    const error = (() => {
      try {
        decodeSyncMessage(over, roomy)
      } catch (err) {
        return err
      }
      return undefined
    })()
    // refused from the array's declared length: the entries were not walked
    expect(TooManyEntriesError.isInstance(error)).toBe(true)
    expect((error as TooManyEntriesError).count).toBe(limit + 1)
    expect(() => decodeSyncMessage(over, { ...roomy, maxVectorEntries: limit + 1 })).not.toThrow()
    const atLimit = decodeSyncMessage(
      helloWith(Array.from({ length: limit }, (_, i) => ['', '', i + 1, head])),
      roomy
    )
    expect(atLimit.type === 'hello' && atLimit.vector.length).toBe(limit)
    // the spaces asked for are counted against their own limit the same way
    const spaces = Array.from({ length: DEFAULT_SYNC_LIMITS.maxSpaces + 1 }, (_, i) => `s${i}`)
    const tooMany = encodeHello({ vector: [], spaces, reply: false })
    expect(() => decodeSyncMessage(tooMany)).toThrow(TooManyEntriesError)
    expect(() => decodeSyncMessage(tooMany, { maxSpaces: spaces.length })).not.toThrow()
  }, 60_000)

  it('hellos whose entries hold too many items are refused while counting, before decoding', () => {
    // 40,000 entries of 20 items each: far fewer entries than the limit, far more work than any real hello
    const fat = helloWith(Array.from({ length: 40_000 }, () => Array.from({ length: 20 }, () => 0)))
    expect(fat.byteLength).toBeLessThan(DEFAULT_SYNC_LIMITS.maxMessageBytes)
    expect(() => decodeSyncMessage(fat)).toThrow(TooManyEntriesError)
  })

  it('senders put at most 1,024 commits in one message', async () => {
    const me = await testIdentity(407)
    const source = await startGraph(me)
    for (let i = 0; i < 2500; i++) await source.put(`${me.address}/n`, { v: i })
    const sizes: number[] = []
    const peer = createSyncPeer(source, {
      peer: 'counter',
      compress: false,
      targetMessageBytes: 4 * 1024 * 1024,
      send: (bytes) => {
        const message = decodeSyncMessage(bytes)
        if (message.type === 'commits') sizes.push(message.envelopes.length)
      }
    })
    await peer.receive(helloWith([]))
    await peer.idle()
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(2500)
    expect(Math.max(...sizes)).toBeLessThanOrEqual(1024)
    await source.stop()
  }, 60_000)

  it('a long ingest yields to the event loop between batches', async () => {
    // more than 3 x 512 commits: at least 3 yields whatever the clock says
    const valid = await validChain(408, 1600)
    const graph = await startGraph(await testIdentity(409))
    let done = false
    let turns = 0
    const tick = (): void => {
      if (done) return
      turns++
      setImmediate(tick)
    }
    setImmediate(tick)
    const ingesting = graph.ingest(valid).then((result) => {
      done = true
      return result
    })
    const result = await ingesting
    expect(result.accepted).toBe(valid.length)
    // every turn counted ran while the ingest was still under way
    expect(turns).toBeGreaterThanOrEqual(3)
    await graph.stop()
  }, 60_000)

  it('huge CBOR headers in a hello are refused with typed errors, without walking what they announce', () => {
    // { r: false, s: null, v: <array of 2^64 - 1 entries> } and the same one level deeper
    const head = [0xa3, 0x61, 0x72, 0xf4, 0x61, 0x73, 0xf6, 0x61, 0x76]
    const huge = [0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
    const top = Uint8Array.from([1, 1, ...head, ...huge])
    expect(() => decodeSyncMessage(top)).toThrow(TooManyEntriesError)
    const nested = Uint8Array.from([1, 1, ...head, 0x81, ...huge, 0x00])
    const error = (() => {
      try {
        decodeSyncMessage(nested)
      } catch (err) {
        return err
      }
      return undefined
    })()
    expect(InvalidInputError.isInstance(error)).toBe(true)
    // a map announcing 2^32 pairs at the top
    const map = Uint8Array.from([1, 1, 0xba, 0xff, 0xff, 0xff, 0xff, 0x61, 0x72, 0xf4])
    expect(() => decodeSyncMessage(map)).toThrow(InvalidInputError)
  })

  it('a 64 MiB deflate bomb is refused once the inflated output passes the limit', async () => {
    const zeros = new Uint8Array(64 * 1024 * 1024 + 2)
    zeros[0] = 1
    zeros[1] = 2
    const bomb = await compressCommits(zeros)
    expect(bomb[1]).toBe(3)
    expect(bomb.byteLength).toBeLessThan(DEFAULT_SYNC_LIMITS.maxMessageBytes)
    await expect(inflateSyncMessage(bomb)).rejects.toBeInstanceOf(TooLargeError)
    const graph = await startGraph(await testIdentity(421))
    const peer = createSyncPeer(graph, { peer: 'hostile', send: () => {}, onError: () => {} })
    await expect(peer.receive(bomb)).rejects.toBeInstanceOf(TooLargeError)
    expect(peer.stats.messagesRefused).toBe(1)
    await graph.stop()
  }, 60_000)

  it('property: every hello within the limits still decodes to what was encoded', () => {
    const text = fc.string({ maxLength: 60 })
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            text,
            text,
            fc.integer({ min: 1, max: 2 ** 40 }),
            fc.uint8Array({ minLength: 32, maxLength: 32 })
          ),
          { maxLength: 50 }
        ),
        fc.option(fc.array(text, { maxLength: 20 }), { nil: null }),
        fc.boolean(),
        (vector, spaces, reply) => {
          const message = decodeSyncMessage(encodeHello({ vector, spaces, reply }), {
            maxVectorEntries: Math.max(vector.length, 1),
            maxSpaces: spaces?.length ?? 0
          })
          expect(message).toEqual({ type: 'hello', vector, spaces, reply })
        }
      ),
      { numRuns: 300, seed: 12 }
    )
  })
})
