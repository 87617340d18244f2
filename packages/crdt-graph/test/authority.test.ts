import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type Graph, UnauthorizedWriteError } from '../src/index.js'
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

    // a forged commit that skips the local check: accepted into the intruder's chain, its op refused
    const forged = await forge(intruder, {
      space: owner.address,
      seq: 1,
      prev: null,
      clock: clock.ms * 1024,
      ops: [['x', 'v', 0, 'evil']]
    })
    const refused: string[] = []
    a.events.on('op:rejected', (event) => refused.push(`${event.soul}.${event.field}`))
    const result = await a.ingest([forged], { kind: 'remote', peer: 'intruder' })
    expect(result.accepted).toBe(1)
    expect(refused).toEqual([`${owner.address}/x.v`])
    expect(a.get(`${owner.address}/x`)).toBeUndefined()
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
    const refused: string[] = []
    c.events.on('op:rejected', (event) => refused.push(event.soul.split('/').slice(1).join('/')))
    const result = await c.ingest([forged])
    expect(result.accepted).toBe(1)
    expect(refused).toEqual(['private/1', 'memory/1', 'memory/3'])
    expect(c.get(`${owner.address}/memory/1`)).toEqual({ text: 'from the phone' })
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
    await reference.ingest(envelopes)
    const expected = snapshot(reference)
    expect(reference.get(`${owner.address}/n`)).toEqual({ before: 1, concurrent: 2 })
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
