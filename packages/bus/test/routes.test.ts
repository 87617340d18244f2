import { describe, expect, it } from 'vitest'
import { createBus } from '../src/index.js'

/**
 * The bus remembers the route of the last topic published and serves all-sync, unfiltered routes with a
 * shorter loop. These tests change subscriptions between and during publishes on one topic, so a stale
 * remembered route or a wrongly chosen loop would show.
 */
describe('routes stay right while subscriptions change', () => {
  it('a subscriber added or removed between publishes on the same topic is seen at the next publish', () => {
    const bus = createBus()
    const seen: string[] = []
    bus.subscribe('t', (e) => void seen.push(`a${e.payload}`), { delivery: 'sync' })
    bus.publish('t', 1)
    const b = bus.subscribe('t', (e) => void seen.push(`b${e.payload}`), { delivery: 'sync' })
    bus.publish('t', 2)
    const pattern = bus.subscribe('*', (e) => void seen.push(`p${e.payload}`), { delivery: 'sync' })
    bus.publish('t', 3)
    b.unsubscribe()
    bus.publish('t', 4)
    pattern.unsubscribe()
    bus.publish('t', 5)
    expect(seen).toEqual(['a1', 'a2', 'b2', 'a3', 'b3', 'p3', 'a4', 'p4', 'a5'])
  })

  it('alternating topics each reach their own subscribers', () => {
    const bus = createBus()
    const seen: string[] = []
    bus.subscribe('x', (e) => void seen.push(`x${e.payload}`), { delivery: 'sync' })
    bus.subscribe('y', (e) => void seen.push(`y${e.payload}`), { delivery: 'sync' })
    for (let i = 0; i < 3; i++) {
      bus.publish('x', i)
      bus.publish('y', i)
      bus.publish('z', i)
    }
    expect(seen).toEqual(['x0', 'y0', 'x1', 'y1', 'x2', 'y2'])
  })

  it('on an all-sync route a throwing subscriber does not stop the later ones, and order holds', () => {
    const bus = createBus()
    const seen: number[] = []
    const failures: unknown[] = []
    bus.subscribe('bus:error', (e) => void failures.push(e.payload), { delivery: 'sync' })
    for (let i = 0; i < 5; i++) {
      bus.subscribe(
        't',
        () => {
          seen.push(i)
          if (i === 1) throw new Error('boom')
        },
        { delivery: 'sync' }
      )
    }
    bus.publish('t', 0)
    bus.publish('t', 1)
    expect(seen).toEqual([0, 1, 2, 3, 4, 0, 1, 2, 3, 4])
    expect(failures).toHaveLength(2)
    // Ten on `t` and one per failure on `bus:error`.
    expect(bus.counters().delivered).toBe(10 + failures.length)
  })

  it('a subscriber removed by an earlier one during a dispatch gets nothing more, on an all-sync route', () => {
    const bus = createBus()
    const seen: string[] = []
    let second: (() => void) | undefined
    bus.subscribe(
      't',
      (e) => {
        seen.push(`first${e.payload}`)
        second?.()
      },
      { delivery: 'sync' }
    )
    second = bus.subscribe('t', (e) => void seen.push(`second${e.payload}`), { delivery: 'sync' })
    bus.publish('t', 1)
    bus.publish('t', 2)
    expect(seen).toEqual(['first1', 'first2'])
  })

  it('a route mixing sync, async and origin-filtered subscribers still honours each one', async () => {
    const bus = createBus()
    const seen: string[] = []
    bus.subscribe('t', (e) => void seen.push(`sync${e.payload}`), { delivery: 'sync' })
    bus.subscribe('t', (e) => void seen.push(`local${e.payload}`), { delivery: 'sync', from: 'local' })
    bus.subscribe('t', (e) => void seen.push(`remote${e.payload}`), { delivery: 'sync', from: 'remote' })
    bus.subscribe('t', (e) => void seen.push(`async${e.payload}`))
    bus.publish('t', 1)
    bus.publish('t', 2, { origin: { kind: 'remote', peer: 'p' } })
    await bus.drain()
    expect(seen).toEqual(['sync1', 'local1', 'sync2', 'remote2', 'async1', 'async2'])
  })
})
