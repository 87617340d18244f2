import { describe, expect, it, vi } from 'vitest'
import { HLC_UNITS_PER_MS, HybridClock } from '@araliya/interface'
import { ClockSkewError } from '../src/index.js'
import {
  allEnvelopes,
  forge,
  fromHex,
  headIds,
  ManualClock,
  snapshot,
  startGraph,
  testIdentity
} from './helpers.js'

describe('replay and time', () => {
  it('applies a commit delivered 1,000 times exactly once', async () => {
    const [ia, ib] = [await testIdentity(50), await testIdentity(51)]
    const a = await startGraph(ia)
    const b = await startGraph(ib)
    await a.put(`${ia.address}/x`, { v: 1 })
    const [envelope] = await allEnvelopes(a)
    let changes = 0
    b.subscribe({}, () => changes++)
    let accepted = 0
    let duplicates = 0
    for (let i = 0; i < 1000; i++) {
      const result = await b.ingest([envelope as Uint8Array])
      accepted += result.accepted
      duplicates += result.duplicates
    }
    const batch = await b.ingest(Array.from({ length: 1000 }, () => envelope as Uint8Array))
    expect(accepted).toBe(1)
    expect(duplicates + batch.duplicates).toBe(1999)
    expect(changes).toBe(1)
    expect(b.history(`${ia.address}/x`, 'v')).toHaveLength(1)
    expect(await allEnvelopes(b)).toHaveLength(1)
    await a.stop()
    await b.stop()
  })

  it('rejects a stamp beyond maxClockSkewMs with ClockSkewError and parks nothing in a timer', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'setInterval', 'setImmediate'] })
    try {
      const [ia, ib] = [await testIdentity(52), await testIdentity(53)]
      const clock = new ManualClock()
      const b = await startGraph(ib, { now: clock.now, maxClockSkewMs: 60_000 })
      const future = await forge(ia, {
        space: ia.address,
        seq: 1,
        prev: null,
        clock: (clock.ms + 61_000) * HLC_UNITS_PER_MS,
        ops: [['x', 'v', 0, 'from the future']]
      })
      const result = await b.ingest([future])
      expect(result.accepted).toBe(0)
      expect(result.rejected[0]?.error).toBeInstanceOf(ClockSkewError)
      const skew = result.rejected[0]?.error as ClockSkewError
      expect(skew.aheadMs).toBeGreaterThan(60_000)
      expect(vi.getTimerCount()).toBe(0)
      expect(b.pendingCount).toBe(0)
      expect(b.get(`${ia.address}/x`)).toBeUndefined()
      // later, when it is no longer in the future, the same commit offered again is accepted
      clock.advance(2_000)
      expect((await b.ingest([future])).accepted).toBe(1)
      await b.stop()
    } finally {
      vi.useRealTimers()
    }
  })

  it('accepts a stamp within the skew and moves the local clock past it', async () => {
    const [ia, ib] = [await testIdentity(54), await testIdentity(55)]
    const clock = new ManualClock()
    const b = await startGraph(ib, { now: clock.now })
    const stamp = (clock.ms + 30_000) * HLC_UNITS_PER_MS
    const ahead = await forge(ia, {
      space: ia.address,
      seq: 1,
      prev: null,
      clock: stamp,
      ops: [['x', 'v', 0, 1]]
    })
    expect((await b.ingest([ahead])).accepted).toBe(1)
    expect(b.clock).toBeGreaterThanOrEqual(stamp)
    await b.put(`${ib.address}/y`, { v: 1 })
    expect(b.getField(`${ib.address}/y`, 'v')?.hlc).toBeGreaterThan(stamp)
    // a local write to the same field as the remote one wins: its stamp is later
    await b.stop()
  })

  it('stays monotonic when the system clock jumps backwards', () => {
    let now = 1_000_000
    const clock = new HybridClock(() => now)
    const stamps: number[] = []
    for (let i = 0; i < 5; i++) stamps.push(clock.tick())
    now -= 500_000
    for (let i = 0; i < 5; i++) stamps.push(clock.tick())
    now += 1_000_000
    stamps.push(clock.tick())
    for (let i = 1; i < stamps.length; i++) expect(stamps[i]).toBeGreaterThan(stamps[i - 1] as number)
    expect(stamps.at(-1)).toBe(1_500_000 * HLC_UNITS_PER_MS)
  })

  it('equal clocks from different signers give the same winner in every delivery order', async () => {
    const signers = [await testIdentity(56), await testIdentity(57), await testIdentity(58)]
    const owner = signers[0] as (typeof signers)[number]
    const clock = new ManualClock()
    const stamp = clock.ms * HLC_UNITS_PER_MS
    // three owners write the same clock stamp to a field of their own soul and one shared link target;
    // ties on one field need one space, so the owner signs twice with different values too
    const envelopes = [
      await forge(owner, {
        space: owner.address,
        seq: 1,
        prev: null,
        clock: stamp,
        ops: [['t', 'f', 0, 'a']]
      })
    ]
    const other = await forge(owner, {
      space: owner.address,
      seq: 1,
      prev: null,
      clock: stamp,
      ops: [['t', 'f', 0, 'b']]
    })
    const results = new Set<string>()
    for (const order of [
      [envelopes[0], other],
      [other, envelopes[0]]
    ]) {
      const replica = await startGraph(signers[1] as (typeof signers)[number], { now: clock.now })
      await replica.ingest(order as Uint8Array[])
      results.add(snapshot(replica))
      await replica.stop()
    }
    // a forked key: both commits are kept, so both orders agree (the value hash breaks the exact tie)
    expect(results.size).toBe(1)

    // honest ties between two signers (an owner and a granted device) converge in every order
    const device = signers[2] as (typeof signers)[number]
    const a = await startGraph(owner, { now: clock.now })
    await a.grant(device.address, { pathPrefix: '', rights: ['write'] }, { expiresAt: clock.ms + 60_000 })
    const grantCommits = await allEnvelopes(a)
    const ownerHead = a.chainLength(owner.address, owner.address)
    const ownerSeen = headIds(a, owner.address, owner.address)
    const tieStamp = (clock.ms + 5) * HLC_UNITS_PER_MS
    const seed = await a.put(`${owner.address}/seed`, { s: 1 })
    const byOwner = await forge(owner, {
      space: owner.address,
      seq: seed.seq + 1,
      prev: fromHex(seed.id),
      clock: tieStamp,
      ops: [['t', 'f', 0, 'owner']]
    })
    const byDevice = await forge(device, {
      space: owner.address,
      seq: 1,
      prev: null,
      clock: tieStamp,
      dep: ownerHead,
      seen: ownerSeen,
      ops: [['t', 'f', 0, 'device']]
    })
    const all = [...(await allEnvelopes(a)), byOwner, byDevice]
    expect(grantCommits.length).toBe(1)
    const winners = new Set<string>()
    for (const order of [all, [...all].reverse(), [byDevice, byOwner, ...all]]) {
      const replica = await startGraph(signers[1] as (typeof signers)[number], { now: clock.now })
      await replica.ingest(order)
      const field = replica.getField(`${owner.address}/t`, 'f')
      winners.add(`${field?.signer}:${String(field?.value)}`)
      expect(replica.history(`${owner.address}/t`, 'f')).toHaveLength(2)
      await replica.stop()
    }
    expect(winners.size).toBe(1)
    const expectedSigner = [owner.address, device.address].sort().at(-1)
    expect([...winners][0]?.startsWith(expectedSigner as string)).toBe(true)
    await a.stop()
  })
})
