import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { AbortedError } from '@araliya/interface'
import { describe, expect, it } from 'vitest'
import { type BusErrorEvent, createBus, QueueFullError } from '../src/index.js'
import { microtasks } from './helpers.js'

/** A handler that blocks until released, to play a slow subscriber deterministically. */
function gate(): { handler: (e: { payload: unknown }) => Promise<void>; seen: unknown[]; release(): void } {
  const seen: unknown[] = []
  let open: () => void = () => {}
  let opened = new Promise<void>((resolve) => {
    open = resolve
  })
  return {
    seen,
    handler: async (e) => {
      seen.push(e.payload)
      await opened
    },
    release() {
      open()
      opened = new Promise<void>((resolve) => {
        open = resolve
      })
    }
  }
}

function collectGc(): (() => void) | undefined {
  const exposed = (globalThis as { gc?: () => void }).gc
  if (exposed !== undefined) return exposed
  try {
    setFlagsFromString('--expose-gc')
    return runInNewContext('gc') as () => void
  } catch {
    return undefined
  }
}

describe('backpressure', () => {
  it('a slow subscriber under a 100k-event burst keeps its queue and the heap bounded', async () => {
    const gc = collectGc()
    const bus = createBus()
    const capacity = 1000
    let handled = 0
    const slow = bus.subscribe(
      'net/in',
      async () => {
        handled++
        await new Promise((resolve) => setImmediate(resolve))
      },
      { queue: { capacity, policy: 'drop-oldest' } }
    )
    const fast: unknown[] = []
    bus.subscribe('net/in', (e) => void fast.push(e.payload), { delivery: 'sync' })

    gc?.()
    const heapBefore = process.memoryUsage().heapUsed
    const total = 100_000
    for (let i = 0; i < total; i++) {
      // Each payload is ~0.5 KB: an unbounded queue would hold ~50 MB.
      bus.publish('net/in', { n: i, body: new Array(60).fill(i) })
      if (i % 10_000 === 9_999) await new Promise((resolve) => setImmediate(resolve))
    }
    const stats = slow.stats()
    expect(stats.maxQueued).toBeLessThanOrEqual(capacity)
    expect(stats.queued).toBeLessThanOrEqual(capacity)
    expect(stats.dropped).toBeGreaterThan(total - 20 * capacity)
    expect(stats.delivered + stats.dropped + stats.queued).toBe(total)
    expect(fast).toHaveLength(total)
    fast.length = 0
    if (gc !== undefined) {
      gc()
      const grown = process.memoryUsage().heapUsed - heapBefore
      expect(grown).toBeLessThan(16 * 1024 * 1024)
    }
    await bus.drain()
    const done = slow.stats()
    expect(done.delivered + done.dropped).toBe(total)
    expect(handled).toBe(done.delivered)
    expect(bus.counters().dropped).toBe(done.dropped)
  })

  it("'drop-oldest' keeps the newest events and reports one overflow per episode", async () => {
    const bus = createBus()
    const overflows: BusErrorEvent[] = []
    bus.subscribe('bus:error', (e) => void overflows.push(e.payload), { delivery: 'sync' })
    const slow = gate()
    const sub = bus.subscribe('t', slow.handler, { queue: { capacity: 2 }, name: 'slow' })
    bus.publish('t', 0)
    await microtasks() // 0 is now running and blocks the subscriber
    for (let i = 1; i <= 5; i++) expect(bus.publish('t', i)).toBe(true)
    expect(sub.stats()).toMatchObject({ queued: 2, dropped: 3, running: 1 })
    expect(overflows).toHaveLength(1)
    expect(overflows[0]).toMatchObject({ kind: 'overflow', subscription: 'slow', topic: 't' })
    expect(QueueFullError.isInstance(overflows[0]?.error)).toBe(true)
    for (let i = 0; i < 3; i++) {
      slow.release()
      await microtasks(3)
    }
    expect(slow.seen).toEqual([0, 4, 5])
    // The queue emptied, so the next overflow is a new episode.
    for (let i = 6; i <= 9; i++) bus.publish('t', i)
    expect(overflows).toHaveLength(2)
    slow.release()
    bus.close()
  })

  it("'reject' refuses new events when full and publish says so", async () => {
    const bus = createBus()
    const slow = gate()
    const sub = bus.subscribe('t', slow.handler, { queue: { capacity: 2, policy: 'reject' } })
    const other: unknown[] = []
    bus.subscribe('t', (e) => void other.push(e.payload), { delivery: 'sync' })
    const results = [0, 1, 2, 3, 4].map((i) => bus.publish('t', i))
    expect(results).toEqual([true, true, false, false, false])
    expect(other).toEqual([0, 1, 2, 3, 4]) // the others still got every event
    await expect(bus.publishAsync('t', 5)).rejects.toSatisfy((err) => QueueFullError.isInstance(err))
    expect(sub.stats()).toMatchObject({ rejected: 4, queued: 1, running: 1 })
    slow.release()
    await microtasks(3)
    slow.release()
    await bus.drain()
    expect(slow.seen).toEqual([0, 1])
  })

  it("'wait' makes publishAsync wait for room, in order, and bounds the waiters", async () => {
    const bus = createBus()
    const slow = gate()
    const sub = bus.subscribe('t', slow.handler, { queue: { capacity: 2, policy: 'wait' } })
    bus.publish('t', 0)
    await microtasks()
    await bus.publishAsync('t', 1)
    await bus.publishAsync('t', 2) // queue now full: [1, 2]
    let third = false
    const p3 = bus.publishAsync('t', 3).then(() => {
      third = true
    })
    const p4 = bus.publishAsync('t', 4)
    // Waiters are bounded by the capacity too.
    await expect(bus.publishAsync('t', 5)).rejects.toSatisfy((err) => QueueFullError.isInstance(err))
    // A plain publish cannot wait, so it is refused rather than jumping the queue.
    expect(bus.publish('t', 6)).toBe(false)
    await microtasks(5)
    expect(third).toBe(false)
    slow.release() // 0 done -> 1 runs, 3 gets its place
    await p3
    expect(sub.stats().queued).toBeLessThanOrEqual(2)
    for (let i = 0; i < 4; i++) {
      slow.release()
      await microtasks(5)
    }
    await p4
    slow.release()
    await bus.drain()
    expect(slow.seen).toEqual([0, 1, 2, 3, 4])
  })

  it('an aborted publishAsync withdraws its event from the subscribers it was waiting for', async () => {
    const bus = createBus()
    const slow = gate()
    bus.subscribe('t', slow.handler, { queue: { capacity: 1, policy: 'wait' } })
    const quick: unknown[] = []
    bus.subscribe('t', (e) => void quick.push(e.payload))
    bus.publish('t', 0)
    await microtasks()
    bus.publish('t', 1)
    const controller = new AbortController()
    const waiting = bus.publishAsync('t', 2, { signal: controller.signal })
    controller.abort(new Error('give up'))
    await expect(waiting).rejects.toSatisfy((err) => AbortedError.isInstance(err))
    for (let i = 0; i < 3; i++) {
      slow.release()
      await microtasks(3)
    }
    await bus.drain()
    expect(slow.seen).toEqual([0, 1])
    expect(quick).toEqual([0, 1, 2])
    await expect(bus.publishAsync('t', 3, { signal: controller.signal })).rejects.toSatisfy((err) =>
      AbortedError.isInstance(err)
    )
  })

  it('unsubscribing releases waiting publishers', async () => {
    const bus = createBus()
    const slow = gate()
    const sub = bus.subscribe('t', slow.handler, { queue: { capacity: 1, policy: 'wait' } })
    bus.publish('t', 0)
    await microtasks()
    bus.publish('t', 1)
    const waiting = bus.publishAsync('t', 2)
    sub()
    await expect(waiting).resolves.toBeUndefined()
    slow.release()
  })

  it('drain can be aborted', async () => {
    const bus = createBus()
    const slow = gate()
    bus.subscribe('t', slow.handler)
    bus.publish('t', 0)
    const controller = new AbortController()
    const draining = bus.drain({ signal: controller.signal })
    controller.abort()
    await expect(draining).rejects.toSatisfy((err) => AbortedError.isInstance(err))
    slow.release()
    await bus.drain()
  })
})
