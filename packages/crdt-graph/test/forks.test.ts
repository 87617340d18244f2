import { describe, expect, it } from 'vitest'
import { COMMIT_CONTEXT, encodeCommitBody, makeEnvelope } from '../src/commit.js'
import { EquivocationError, InvalidSignatureError } from '../src/index.js'
import { allEnvelopes, forge, startGraph, testIdentity } from './helpers.js'

describe('framing an honest key', () => {
  it('a forged commit at a known position is refused for its signature and never reported as a fork', async () => {
    const [honest, framer] = [await testIdentity(300), await testIdentity(301)]
    const source = await startGraph(honest)
    await source.put(`${honest.address}/a`, { v: 1 })
    const replica = await startGraph(framer)
    const ingested = await replica.ingest(await allEnvelopes(source), { kind: 'remote', peer: 'honest' })
    expect(ingested.accepted).toBe(1)
    // held waiting for seq 2, so the pending position is known too
    const waiting = await forge(honest, {
      space: honest.address,
      seq: 3,
      prev: new Uint8Array(32).fill(3),
      clock: 1_750_000_000_001 * 1024,
      ops: [['a', 'v', 0, 3]]
    })
    expect((await replica.ingest([waiting])).pending).toBe(1)
    const reports: unknown[] = []
    replica.events.on('chain:equivocation', (event) => reports.push(event))
    const refused: Error[] = []
    replica.events.on('commit:rejected', (event) => refused.push(event.error))

    const forgeries: Uint8Array[] = []
    for (const seq of [1, 3]) {
      const body = encodeCommitBody({
        space: honest.address,
        author: honest.address,
        seq,
        prev: seq === 1 ? null : new Uint8Array(32).fill(9),
        clock: 1_750_000_000_000 * 1024,
        dep: 0,
        ops: [['a', 'v', 0, 'framed']]
      })
      // no signature at all, and a valid signature by another key
      forgeries.push(makeEnvelope(new Uint8Array(64), body))
      forgeries.push(makeEnvelope(await framer.sign(COMMIT_CONTEXT, body), body))
    }
    const result = await replica.ingest(forgeries, { kind: 'remote', peer: 'framer' })
    expect(result.accepted).toBe(0)
    expect(result.duplicates).toBe(0)
    expect(result.rejected).toHaveLength(forgeries.length)
    for (const { error } of result.rejected) {
      expect(error).toBeInstanceOf(InvalidSignatureError)
      expect(error).not.toBeInstanceOf(EquivocationError)
    }
    expect(refused.every((error) => error instanceof InvalidSignatureError)).toBe(true)
    expect(reports).toEqual([])
    // the honest commit is still the one kept, and a real replay is still a duplicate
    expect(replica.get(`${honest.address}/a`)).toEqual({ v: 1 })
    expect((await replica.ingest(await allEnvelopes(source))).duplicates).toBe(1)
    await source.stop()
    await replica.stop()
  })
})
