import fc from 'fast-check'
import type { Identity } from '@araliya/identity'
import { describe, expect, it } from 'vitest'
import { type Graph, UnauthorizedWriteError } from '../src/index.js'
import { decodeCommit } from '../src/commit.js'
import { toHex } from '../src/hash.js'
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

function idOf(envelope: Uint8Array): string {
  return toHex(decodeCommit(envelope).id)
}

async function storedIds(graph: Graph): Promise<string[]> {
  return (await allEnvelopes(graph)).map(idOf)
}

async function copyAll(from: Graph, to: Graph): Promise<void> {
  await to.ingest(await allEnvelopes(from), { kind: 'remote', peer: 'test' })
}

describe('authority', () => {
  it('refuses a write into another space without a grant, locally and on every replica', async () => {
    const [owner, intruder] = [await testIdentity(40), await testIdentity(41)]
    const clock = new ManualClock()
    const a = await startGraph(owner, { now: clock.now })
    const b = await startGraph(intruder, { now: clock.now })
    await expect(b.put(`${owner.address}/x`, { v: 1 })).rejects.toBeInstanceOf(UnauthorizedWriteError)
    expect(b.get(`${owner.address}/x`)).toBeUndefined()
    expect(await allEnvelopes(b)).toHaveLength(0)

    // a forged commit that skips the local check is refused as a whole: not stored, no chain, an event
    const forged = await forge(intruder, {
      space: owner.address,
      seq: 1,
      prev: null,
      clock: clock.ms * 1024,
      ops: [['x', 'v', 0, 'evil']]
    })
    const refused: string[] = []
    a.events.addEventListener('commit:rejected', ({ detail: event }) =>
      refused.push(`${event.id}:${event.error.name}`)
    )
    const result = await a.ingest([forged], { kind: 'remote', peer: 'intruder' })
    expect(result.accepted).toBe(0)
    expect(result.rejected.map((r) => r.error)).toEqual([expect.any(UnauthorizedWriteError)])
    expect(refused).toEqual([`${idOf(forged)}:UnauthorizedWriteError`])
    expect(a.get(`${owner.address}/x`)).toBeUndefined()
    expect(a.chainLength(owner.address, intruder.address)).toBe(0)
    expect(await allEnvelopes(a)).toHaveLength(0)
    // an empty commit (no ops to judge) by a stranger is refused too: nothing grows another owner's log
    const empty = await forge(intruder, {
      space: owner.address,
      seq: 1,
      prev: null,
      clock: clock.ms * 1024,
      ops: []
    })
    expect((await a.ingest([empty])).rejected.map((r) => r.error)).toEqual([
      expect.any(UnauthorizedWriteError)
    ])
    expect(await allEnvelopes(a)).toHaveLength(0)
    await a.stop()
    await b.stop()
  })

  it('lets a granted key write inside its scope only, for the rights and time it was given', async () => {
    const [owner, device] = [await testIdentity(42), await testIdentity(43)]
    const clock = new ManualClock()
    const a = await startGraph(owner, { now: clock.now })
    const b = await startGraph(device, { now: clock.now })
    const grant = await a.grant(
      device.address,
      { pathPrefix: 'memory/', rights: ['write'] },
      {
        expiresAt: clock.ms + 60_000
      }
    )
    expect(grant.subject).toBe(device.address)
    await copyAll(a, b)
    await b.put(`${owner.address}/memory/1`, { text: 'from the phone' })
    await expect(b.put(`${owner.address}/private/1`, { text: 'no' })).rejects.toBeInstanceOf(
      UnauthorizedWriteError
    )
    await expect(b.remove(`${owner.address}/memory/1`, 'text')).rejects.toBeInstanceOf(UnauthorizedWriteError)
    clock.advance(61_000)
    await expect(b.put(`${owner.address}/memory/2`, { text: 'late' })).rejects.toBeInstanceOf(
      UnauthorizedWriteError
    )
    await copyAll(b, a)
    expect(a.get(`${owner.address}/memory/1`)).toEqual({ text: 'from the phone' })
    expect(snapshot(a)).toBe(snapshot(b))

    // the same ops forged past the local checks are refused remotely too
    const head = b.chainLength(owner.address, device.address)
    expect(head).toBe(1)
    const c = await startGraph(await testIdentity(44), { now: clock.now })
    await copyAll(a, c)
    const chainIds = a.history(`${owner.address}/memory/1`, 'text')[0]?.commit as string
    const forged = await forge(device, {
      space: owner.address,
      seq: 2,
      prev: fromHex(chainIds),
      clock: clock.ms * 1024,
      dep: 1,
      seen: headIds(a, owner.address, owner.address),
      ops: [
        ['private/1', 'text', 0, 'out of scope'],
        ['memory/1', 'text', 1],
        ['memory/3', 'text', 2, 'expired grant']
      ]
    })
    const before = await allEnvelopes(c)
    const result = await c.ingest([forged])
    expect(result.accepted).toBe(0)
    expect(result.rejected.map((r) => r.error)).toEqual([expect.any(UnauthorizedWriteError)])
    expect(c.get(`${owner.address}/memory/1`)).toEqual({ text: 'from the phone' })
    expect(c.chainLength(owner.address, device.address)).toBe(1)
    expect(await allEnvelopes(c)).toEqual(before)
    // one op outside the grant refuses the whole commit, even when its other ops are covered
    const mixed = await forge(device, {
      space: owner.address,
      seq: 2,
      prev: fromHex(chainIds),
      clock: (clock.ms - 61_000 + 10) * 1024,
      dep: 1,
      seen: headIds(a, owner.address, owner.address),
      ops: [
        ['memory/4', 'text', 0, 'in scope'],
        ['private/2', 'text', 1, 'out of scope']
      ]
    })
    expect((await c.ingest([mixed])).rejected.map((r) => r.error)).toEqual([
      expect.any(UnauthorizedWriteError)
    ])
    expect(c.get(`${owner.address}/memory/4`)).toBeUndefined()
    expect(await allEnvelopes(c)).toEqual(before)
    for (const g of [a, b, c]) await g.stop()
  })

  it('a write causally after a revocation is refused everywhere; earlier and concurrent writes survive; same verdict in every delivery order', async () => {
    const [owner, device, observer] = [await testIdentity(45), await testIdentity(46), await testIdentity(47)]
    const clock = new ManualClock()
    const a = await startGraph(owner, { now: clock.now })
    const b = await startGraph(device, { now: clock.now })
    const grant = await a.grant(
      device.address,
      { pathPrefix: '', rights: ['write', 'delete'] },
      {
        expiresAt: clock.ms + 3_600_000
      }
    )
    await copyAll(a, b)
    clock.advance(10)
    await b.put(`${owner.address}/n`, { before: 1 })
    clock.advance(10)
    await a.revoke(grant)
    clock.advance(10)
    // b has not seen the revocation yet: this write is concurrent with it
    await b.put(`${owner.address}/n`, { concurrent: 2 })
    await copyAll(a, b)
    clock.advance(10)
    // b's local check now refuses
    await expect(b.put(`${owner.address}/n`, { after: 3 })).rejects.toBeInstanceOf(UnauthorizedWriteError)
    // a forged write that claims the revocation was seen (dep = owner chain head) is refused remotely
    const bHead = b.history(`${owner.address}/n`, 'concurrent')[0]?.commit as string
    const forgedAfter = await forge(device, {
      space: owner.address,
      seq: 3,
      prev: fromHex(bHead),
      clock: clock.ms * 1024,
      dep: 2,
      seen: headIds(a, owner.address, owner.address),
      ops: [['n', 'after', 0, 3]]
    })
    const envelopes = [...(await allEnvelopes(a)), ...(await allEnvelopes(b)), forgedAfter]
    const reference = await startGraph(observer, { now: clock.now })
    const verdict = await reference.ingest(envelopes)
    const expected = snapshot(reference)
    expect(reference.get(`${owner.address}/n`)).toEqual({ before: 1, concurrent: 2 })
    expect(verdict.rejected.map((r) => r.id)).toEqual([idOf(forgedAfter)])
    expect(await storedIds(reference)).not.toContain(idOf(forgedAfter))
    await reference.stop()

    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.nat(envelopes.length - 1), {
          minLength: envelopes.length,
          maxLength: envelopes.length * 2
        }),
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 6 }),
        async (order, chunks) => {
          const replica = await startGraph(observer, { now: clock.now })
          // a random delivery order with duplicates, delivered in random chunks, then everything once more
          const deliveries = [...order.map((i) => envelopes[i] as Uint8Array), ...envelopes.slice().reverse()]
          let at = 0
          let k = 0
          while (at < deliveries.length) {
            const size = chunks[k++ % chunks.length] as number
            await replica.ingest(deliveries.slice(at, at + size))
            at += size
          }
          const state = snapshot(replica)
          await replica.stop()
          expect(state).toBe(expected)
        }
      ),
      { numRuns: 40, seed: 4242 }
    )
    await a.stop()
    await b.stop()
  })
})

describe('backdating', () => {
  const everything = { pathPrefix: '', rights: ['write', 'delete'] as const }

  /**
   * An owner, four granted devices and an honest history, plus one forgery per way of backdating:
   * below the owner commit it declares it has seen, under a revocation it has seen, below its own chain,
   * and with a position behind its own chain's.
   */
  async function scenario() {
    const [owner, d1, d2, d3, d4] = (await Promise.all([100, 101, 102, 103, 104].map(testIdentity))) as [
      Identity,
      Identity,
      Identity,
      Identity,
      Identity
    ]
    const space = owner.address
    const clock = new ManualClock()
    const t0 = clock.ms
    const a = await startGraph(owner, { now: clock.now })
    /** The id of the owner commit at `seq` (what a writer that had seen it names in `h`). */
    const ownerAt = async (seq: number) => {
      const chain = (await allEnvelopes(a)).map((envelope) => decodeCommit(envelope))
      return [chain.find((commit) => commit.author === space && commit.seq === seq)?.id as Uint8Array]
    }
    const devices = await Promise.all([d1, d2, d3, d4].map((d) => startGraph(d, { now: clock.now })))
    const [b1, b2, b3, b4] = devices as [Graph, Graph, Graph, Graph]
    await a.grant(d1.address, { ...everything, rights: [...everything.rights] }, { expiresAt: t0 + 60_000 }) // O1
    const g2 = await a.grant(
      d2.address,
      { ...everything, rights: [...everything.rights] },
      { expiresAt: t0 + 3_600_000 }
    ) // O2
    await a.grant(
      d3.address,
      { ...everything, rights: [...everything.rights] },
      { expiresAt: t0 + 3_600_000 }
    ) // O3
    await a.grant(
      d4.address,
      { ...everything, rights: [...everything.rights] },
      { expiresAt: t0 + 3_600_000 }
    ) // O4
    for (const b of devices) await copyAll(a, b)
    clock.advance(10)
    const e1 = await b1.put(`${space}/n1`, { early: 1 }) // D1#1, position 4
    await b2.put(`${space}/n2`, { early: 2 }) // D2#1, position 4
    clock.advance(10)
    // revoked from half an hour in the future: once the device has seen it, the graph does not wait for it
    await a.revoke(g2, { revokedAt: t0 + 1_800_000 }) // O5
    clock.advance(10)
    const c2 = await b2.put(`${space}/n2`, { concurrent: 2 }) // D2#2, position 4: it had not seen O5
    clock.advance(120_000) // D1's grant has expired
    await a.put(`${space}/o`, { tick: 1 }) // O6
    const o6 = a.getField(`${space}/o`, 'tick')?.hlc as number
    for (const b of devices) await copyAll(a, b)
    // local writes never sign what replicas would refuse
    await expect(b1.put(`${space}/n1`, { late: 1 })).rejects.toBeInstanceOf(UnauthorizedWriteError)
    await expect(b2.put(`${space}/n2`, { late: 2 })).rejects.toBeInstanceOf(UnauthorizedWriteError)
    clock.advance(1000)
    const h3 = await b3.put(`${space}/n3`, { honest: 3 }) // D3#1, position 6
    const h4 = await b4.put(`${space}/n4`, { honest: 4 }) // D4#1, position 6
    const h3Stamp = b3.getField(`${space}/n3`, 'honest')?.hlc as number
    const h4Stamp = b4.getField(`${space}/n4`, 'honest')?.hlc as number
    const forgeries = {
      // D1 declares it has seen O6 (stamped after its grant expired) but stamps inside the grant's window
      expiredBackdated: await forge(d1, {
        space,
        seq: 2,
        prev: fromHex(e1.id),
        clock: (t0 + 30) * 1024,
        dep: 6,
        seen: await ownerAt(6),
        ops: [['n1', 'late', 0, 'backdated']]
      }),
      // D2 has seen the revocation (position 5); stamps after O5 but before the revokedAt it names
      revokedSeen: await forge(d2, {
        space,
        seq: 3,
        prev: fromHex(c2.id),
        clock: (t0 + 40) * 1024,
        dep: 5,
        seen: await ownerAt(5),
        ops: [['n2', 'late', 0, 'after the revocation']]
      }),
      // the owner's own chain going back in time
      ownerRegress: await forge(owner, {
        space,
        seq: 7,
        prev: fromHex(a.history(`${space}/o`, 'tick')[0]?.commit as string),
        clock: (t0 + 50) * 1024,
        ops: [['o', 'tick', 0, 'regressed']]
      }),
      // D3 stamps below its own previous commit (still above the owner commit it has seen)
      chainRegress: await forge(d3, {
        space,
        seq: 2,
        prev: fromHex(h3.id),
        clock: h3Stamp - 500 * 1024,
        dep: 6,
        seen: await ownerAt(6),
        ops: [['n3', 'honest', 0, 'regressed']]
      }),
      // D4 declares an owner position behind the one its chain already declared
      positionRegress: await forge(d4, {
        space,
        seq: 2,
        prev: fromHex(h4.id),
        clock: h4Stamp + 1024,
        dep: 4,
        seen: await ownerAt(4),
        ops: [['n4', 'honest', 0, 'position went back']]
      })
    }
    expect(h3Stamp - 500 * 1024).toBeGreaterThan(o6)
    const honest = new Map<string, Uint8Array>()
    for (const g of [a, ...devices]) for (const e of await allEnvelopes(g)) honest.set(idOf(e), e)
    for (const g of [a, ...devices]) await g.stop()
    return { space, clock, honest, forgeries }
  }

  it('every backdated commit is refused and every honest one kept, the same on every replica in every delivery order', async () => {
    const { space, clock, honest, forgeries } = await scenario()
    const observer = await testIdentity(105)
    const envelopes = [...honest.values(), ...Object.values(forgeries)]
    const forged = new Set(Object.values(forgeries).map(idOf))

    const reference = await startGraph(observer, { now: clock.now })
    const verdict = await reference.ingest(envelopes)
    expect(new Set(verdict.rejected.map((r) => r.id))).toEqual(forged)
    expect(reference.get(`${space}/n1`)).toEqual({ early: 1 })
    expect(reference.get(`${space}/n2`)).toEqual({ early: 2, concurrent: 2 })
    expect(reference.get(`${space}/o`)).toEqual({ tick: 1 })
    expect(reference.get(`${space}/n3`)).toEqual({ honest: 3 })
    expect(reference.get(`${space}/n4`)).toEqual({ honest: 4 })
    expect(new Set(await storedIds(reference))).toEqual(new Set(honest.keys()))
    const expected = snapshot(reference)
    await reference.stop()

    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.nat(envelopes.length - 1), {
          minLength: envelopes.length,
          maxLength: envelopes.length * 2
        }),
        fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 6 }),
        async (order, chunks) => {
          const replica = await startGraph(observer, { now: clock.now })
          // a random order with duplicates, in random chunks, then everything once more
          const deliveries = [...order.map((i) => envelopes[i] as Uint8Array), ...envelopes.slice().reverse()]
          let at = 0
          let k = 0
          while (at < deliveries.length) {
            const size = chunks[k++ % chunks.length] as number
            await replica.ingest(deliveries.slice(at, at + size))
            at += size
          }
          const state = snapshot(replica)
          const stored = new Set(await storedIds(replica))
          const pending = replica.pendingCount
          await replica.stop()
          expect(state).toBe(expected)
          expect(stored).toEqual(new Set(honest.keys()))
          expect(pending).toBe(0)
        }
      ),
      { numRuns: 40, seed: 9090 }
    )
  })

  it('a chain stamp must be strictly above the previous commit of its chain', async () => {
    const owner = await testIdentity(106)
    const clock = new ManualClock()
    const replica = await startGraph(await testIdentity(107), { now: clock.now })
    const base = clock.ms * 1024
    const first = await forge(owner, {
      space: owner.address,
      seq: 1,
      prev: null,
      clock: base,
      ops: [
        ['x', 'a', 0, 1],
        ['x', 'b', 7, 2]
      ]
    })
    const id = fromHex(idOf(first))
    const equal = await forge(owner, {
      space: owner.address,
      seq: 2,
      prev: id,
      clock: base + 7,
      ops: [['x', 'c', 0, 3]]
    })
    const above = await forge(owner, {
      space: owner.address,
      seq: 2,
      prev: id,
      clock: base + 8,
      ops: [['x', 'c', 0, 4]]
    })
    expect((await replica.ingest([first])).accepted).toBe(1)
    const refused = await replica.ingest([equal])
    expect(refused.accepted).toBe(0)
    expect(refused.rejected.map((r) => r.error.name)).toEqual(['BackdatedCommitError'])
    expect((await replica.ingest([above])).accepted).toBe(1)
    expect(replica.get(`${owner.address}/x`)).toEqual({ a: 1, b: 2, c: 4 })
    await replica.stop()
  })
})

describe('pending buffer', () => {
  it('a stranger cannot plant commits in the pending buffer; what cannot be judged yet is bounded per space and in total', async () => {
    const [owner, stranger, device, elsewhere] = (await Promise.all(
      [110, 111, 112, 113].map(testIdentity)
    )) as [Identity, Identity, Identity, Identity]
    const space = owner.address
    const clock = new ManualClock()
    const a = await startGraph(owner, { now: clock.now })
    await a.put(`${space}/x`, { v: 1 }) // O1
    await a.grant(device.address, { pathPrefix: '', rights: ['write'] }, { expiresAt: clock.ms + 3_600_000 }) // O2
    const replica = await startGraph(await testIdentity(114), {
      now: clock.now,
      maxPendingUngranted: 12,
      maxPendingUngrantedPerSpace: 8
    })
    expect((await replica.ingest(await allEnvelopes(a))).accepted).toBe(2)
    // the owner's next commits, which the replica does not have yet
    clock.advance(10)
    for (let i = 0; i < 3; i++) await a.put(`${space}/y`, { i }) // O3, O4, O5
    const ownerChain = await allEnvelopes(a)
    const ownerAt = (seq: number) => [decodeCommit(ownerChain[seq - 1] as Uint8Array).id]
    clock.advance(10)
    const stamp = clock.ms * 1024
    const gapped = (signer: Identity, into: string, dep: number, seen: Uint8Array[], count: number) =>
      Promise.all(
        Array.from({ length: count }, (_, i) =>
          forge(signer, {
            space: into,
            seq: i + 2,
            prev: new Uint8Array(32).fill(i + 1),
            clock: stamp + i,
            dep,
            seen,
            ops: [['x', 'v', 0, `junk ${i}`]]
          })
        )
      )
    // validly signed, with a gap, at a position this replica has: judged at once and refused, never held
    const judged = await replica.ingest(await gapped(stranger, space, 2, ownerAt(2), 30))
    expect(judged.rejected).toHaveLength(30)
    expect(judged.rejected.every((r) => UnauthorizedWriteError.isInstance(r.error))).toBe(true)
    expect(replica.pendingCount).toBe(0)
    // at a position it does not have yet (could be honest: a grant it has not received): bounded per space
    await replica.ingest(await gapped(stranger, space, 5, ownerAt(5), 30))
    expect(replica.pendingCount).toBe(8)
    // … and in total, over every space
    await replica.ingest(await gapped(stranger, elsewhere.address, 1, [new Uint8Array(32).fill(7)], 30))
    expect(replica.pendingCount).toBe(12)
    // strangers never take the place of the owner's or a granted device's commits
    const deviceCommit = await forge(device, {
      space,
      seq: 1,
      prev: null,
      clock: (clock.ms + 1) * 1024,
      dep: 5,
      seen: ownerAt(5),
      ops: [['d', 'v', 0, 'from the device']]
    })
    await replica.ingest([ownerChain[3] as Uint8Array, ownerChain[4] as Uint8Array, deviceCommit])
    expect(replica.pendingCount).toBe(15)
    // once the owner's chain arrives, the held strangers of that space are judged and dropped
    const released = await replica.ingest([ownerChain[2] as Uint8Array])
    expect(released.accepted).toBe(4)
    expect(replica.get(`${space}/d`)).toEqual({ v: 'from the device' })
    expect(replica.pendingCount).toBe(4)
    expect(replica.chainLength(space, stranger.address)).toBe(0)
    await a.stop()
    await replica.stop()
  })
})
