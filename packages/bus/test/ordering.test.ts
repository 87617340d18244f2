import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createBus } from '../src/index.js'
import { microtasks } from './helpers.js'

type Mode = 'sync' | 'async' | 'async-promise'

describe('ordering guarantees', () => {
  it('every subscriber sees each topic in publish order, whatever its mode (property)', async () => {
    const topics = ['a/1', 'a/2', 'b/1'] as const
    const patterns = ['a/1', 'a/2', 'b/1', 'a/*', '*'] as const
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            pattern: fc.constantFrom(...patterns),
            mode: fc.constantFrom<Mode>('sync', 'async', 'async-promise'),
            delay: fc.nat(3)
          }),
          { minLength: 1, maxLength: 6 }
        ),
        fc.array(fc.record({ topic: fc.constantFrom(...topics), pause: fc.boolean() }), {
          minLength: 1,
          maxLength: 60
        }),
        async (subscribers, publishes) => {
          const bus = createBus()
          const seen = subscribers.map(() => [] as Array<{ topic: string; n: number; seq: number }>)
          subscribers.forEach((s, i) => {
            bus.subscribe(
              s.pattern,
              (e) => {
                seen[i]?.push({ topic: e.topic, n: e.payload as number, seq: e.seq })
                return s.mode === 'async-promise' ? microtasks(s.delay) : undefined
              },
              { delivery: s.mode === 'sync' ? 'sync' : 'async', queue: { capacity: 1000 } }
            )
          })
          let n = 0
          for (const p of publishes) {
            bus.publish(p.topic, n++)
            if (p.pause) await microtasks(2)
          }
          await bus.drain()
          subscribers.forEach((s, i) => {
            const expected = publishes
              .map((p, index) => ({ topic: p.topic, n: index }))
              .filter(
                (p) =>
                  s.pattern === '*' ||
                  s.pattern === p.topic ||
                  (s.pattern === 'a/*' && p.topic.startsWith('a/'))
              )
            // Nothing lost (queues are large enough), nothing duplicated, and the global order is kept.
            expect(seen[i]?.map((e) => e.n)).toEqual(expected.map((e) => e.n))
            const seqs = seen[i]?.map((e) => e.seq) ?? []
            expect(seqs).toEqual([...seqs].sort((x, y) => x - y))
          })
          bus.close()
        }
      ),
      { numRuns: 150 }
    )
  })

  it('unsubscribing another subscriber during dispatch stops it for the current event', () => {
    const bus = createBus()
    const seen: string[] = []
    let b: (() => void) | undefined
    bus.subscribe(
      't',
      (e) => {
        seen.push(`a${e.payload}`)
        b?.()
      },
      { delivery: 'sync' }
    )
    b = bus.subscribe('t', (e) => void seen.push(`b${e.payload}`), { delivery: 'sync' })
    bus.publish('t', 1)
    bus.publish('t', 2)
    expect(seen).toEqual(['a1', 'a2'])
  })

  it('unsubscribing an async subscriber discards what it had queued', async () => {
    const bus = createBus()
    const seen: unknown[] = []
    const sub = bus.subscribe('t', (e) => void seen.push(e.payload))
    bus.subscribe('t', () => sub(), { delivery: 'sync' })
    bus.publish('t', 1)
    await bus.drain()
    expect(seen).toEqual([])
    expect(sub.stats().queued).toBe(0)
  })

  it('a subscriber may unsubscribe itself while handling', () => {
    const bus = createBus()
    const seen: unknown[] = []
    const once = bus.subscribe(
      't',
      (e) => {
        seen.push(e.payload)
        once()
      },
      { delivery: 'sync' }
    )
    bus.publish('t', 1)
    bus.publish('t', 2)
    expect(seen).toEqual([1])
  })

  it('a subscriber added during dispatch does not get the current event, only later ones', () => {
    const bus = createBus()
    const seen: string[] = []
    bus.subscribe(
      't',
      (e) => {
        if (e.payload === 1)
          bus.subscribe('t', (l) => void seen.push(`late${l.payload}`), { delivery: 'sync' })
      },
      { delivery: 'sync' }
    )
    bus.publish('t', 1)
    bus.publish('t', 2)
    expect(seen).toEqual(['late2'])
  })

  it('a publish from inside a handler is delivered after the current event reached everyone', () => {
    const bus = createBus()
    const seen: string[] = []
    bus.subscribe(
      't',
      (e) => {
        seen.push(`a${e.payload}`)
        if (e.payload === 1) {
          bus.publish('t', 2)
          seen.push('a:published2')
        }
      },
      { delivery: 'sync' }
    )
    bus.subscribe('t', (e) => void seen.push(`b${e.payload}`), { delivery: 'sync' })
    bus.publish('t', 1)
    // With EventEmitter-style nesting b would see 2 before 1.
    expect(seen).toEqual(['a1', 'a:published2', 'b1', 'a2', 'b2'])
  })

  it('deep chains of re-entrant publishes do not grow the stack', () => {
    const bus = createBus<{ t: number }>()
    let last = 0
    bus.subscribe(
      't',
      (e) => {
        last = e.payload
        if (e.payload < 100_000) bus.publish('t', e.payload + 1)
      },
      { delivery: 'sync' }
    )
    expect(() => bus.publish('t', 0)).not.toThrow()
    expect(last).toBe(100_000)
  })

  it('an async subscriber with concurrency 1 runs one handler at a time, in order', async () => {
    const bus = createBus()
    let running = 0
    let maxRunning = 0
    const seen: unknown[] = []
    bus.subscribe('t', async (e) => {
      running++
      maxRunning = Math.max(maxRunning, running)
      await microtasks(3)
      seen.push(e.payload)
      running--
    })
    for (let i = 0; i < 20; i++) bus.publish('t', i)
    await bus.drain()
    expect(maxRunning).toBe(1)
    expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => i))
  })

  it('concurrency > 1 runs up to that many handlers at once, started in order', async () => {
    const bus = createBus()
    let running = 0
    let maxRunning = 0
    const started: unknown[] = []
    bus.subscribe(
      't',
      async (e) => {
        started.push(e.payload)
        running++
        maxRunning = Math.max(maxRunning, running)
        await microtasks(5)
        running--
      },
      { concurrency: 4 }
    )
    for (let i = 0; i < 20; i++) bus.publish('t', i)
    await bus.drain()
    expect(maxRunning).toBe(4)
    expect(started).toEqual(Array.from({ length: 20 }, (_, i) => i))
  })
})
