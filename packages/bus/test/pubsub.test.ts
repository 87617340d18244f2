import { LOCAL_ORIGIN, type Origin } from '@araliya/interface'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { BusClosedError, type BusEvent, createBus } from '../src/index.js'
import { compilePattern } from '../src/pattern.js'

const remote = (peer: string): Origin => ({ kind: 'remote', peer })

describe('publish / subscribe', () => {
  it('delivers an event object with topic, payload, origin, seq and timestamp', async () => {
    const bus = createBus<{ 'a/b': number }>()
    const seen: BusEvent[] = []
    bus.subscribe('a/b', (event) => {
      seen.push(event)
    })
    const before = Date.now()
    bus.publish('a/b', 1)
    bus.publish('a/b', 2, { origin: remote('peerX') })
    expect(seen).toEqual([]) // async delivery is the default: nothing yet
    await bus.drain()
    expect(seen.map((e) => e.payload)).toEqual([1, 2])
    expect(seen[0]).toMatchObject({ topic: 'a/b', origin: LOCAL_ORIGIN, seq: 1 })
    expect(seen[1]).toMatchObject({ origin: { kind: 'remote', peer: 'peerX' }, seq: 2 })
    expect(seen[0]?.timestamp).toBeGreaterThanOrEqual(before)
  })

  it('calls sync subscribers before publish returns', () => {
    const bus = createBus<{ t: string }>()
    const seen: string[] = []
    bus.subscribe('t', (event) => seen.push(event.payload), { delivery: 'sync' })
    bus.publish('t', 'x')
    expect(seen).toEqual(['x'])
  })

  it('routes prefix and wildcard patterns', () => {
    const bus = createBus()
    const got: Record<string, string[]> = { agents: [], all: [], middle: [], exact: [], prefix: [] }
    bus.subscribe('agents/*', (e) => void got.agents?.push(e.topic), { delivery: 'sync' })
    bus.subscribe('*', (e) => void got.all?.push(e.topic), { delivery: 'sync' })
    bus.subscribe('agents/*/reply', (e) => void got.middle?.push(e.topic), { delivery: 'sync' })
    bus.subscribe('llm/token', (e) => void got.exact?.push(e.topic), { delivery: 'sync' })
    bus.subscribe('subsystem:*', (e) => void got.prefix?.push(e.topic), { delivery: 'sync' })
    for (const topic of [
      'agents',
      'agents/a',
      'agents/a/reply',
      'agents/a/b/reply',
      'llm/token',
      'subsystem:failed'
    ]) {
      bus.publish(topic, null)
    }
    expect(got.agents).toEqual(['agents/a', 'agents/a/reply', 'agents/a/b/reply'])
    expect(got.all).toHaveLength(6)
    expect(got.middle).toEqual(['agents/a/reply'])
    expect(got.exact).toEqual(['llm/token'])
    expect(got.prefix).toEqual(['subsystem:failed'])
  })

  it('matches patterns like a reference implementation (property)', () => {
    const segment = fc.constantFrom('a', 'b', 'ab', 'x:y')
    const topic = fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => s.join('/'))
    const pattern = fc
      .array(fc.oneof(segment, fc.constant('*')), { minLength: 1, maxLength: 4 })
      .map((s) => s.join('/'))
    // Reference: segment-wise, `*` = one segment, a final `*` = one or more segments.
    const reference = (p: string, t: string): boolean => {
      const ps = p.split('/')
      const ts = t.split('/')
      for (let i = 0; i < ps.length; i++) {
        if (ps[i] === '*' && i === ps.length - 1) return ts.length > i
        if (i >= ts.length || (ps[i] !== '*' && ps[i] !== ts[i])) return false
      }
      return ps.length === ts.length
    }
    fc.assert(
      fc.property(pattern, topic, (p, t) => {
        expect(compilePattern(p)(t)).toBe(reference(p, t))
      }),
      { numRuns: 2000 }
    )
  })

  it('calls the subscribers of one event in subscription order, exact and pattern alike', () => {
    const bus = createBus()
    const order: string[] = []
    bus.subscribe('x/*', () => void order.push('p1'), { delivery: 'sync' })
    bus.subscribe('x/y', () => void order.push('e1'), { delivery: 'sync' })
    bus.subscribe('*', () => void order.push('p2'), { delivery: 'sync' })
    bus.subscribe('x/y', () => void order.push('e2'), { delivery: 'sync' })
    bus.publish('x/y', null)
    expect(order).toEqual(['p1', 'e1', 'p2', 'e2'])
  })

  it('unsubscribes (twice is safe), by signal too, and updates cached routes', () => {
    const bus = createBus()
    const seen: string[] = []
    const a = bus.subscribe('t', () => void seen.push('a'), { delivery: 'sync' })
    const controller = new AbortController()
    bus.subscribe('*', () => void seen.push('b'), { delivery: 'sync', signal: controller.signal })
    bus.publish('t', 1)
    a()
    a.unsubscribe()
    bus.publish('t', 2)
    controller.abort()
    bus.publish('t', 3)
    expect(seen).toEqual(['a', 'b', 'b'])
    expect(bus.hasSubscribers('t')).toBe(false)
    expect(bus.counters().subscriptions).toBe(0)
  })

  it('filters by origin so a bridge never echoes remote events back out', async () => {
    const bus = createBus<{ 'agents/msg': string }>()
    const toSwarm: string[] = []
    const toPeerA: string[] = []
    const everything: string[] = []
    // A gossip bridge forwards only what was produced here...
    bus.subscribe('agents/*', (e) => void toSwarm.push(e.payload), { from: 'local' })
    // ...a per-peer link skips what came from that very peer...
    bus.subscribe('agents/*', (e) => void toPeerA.push(e.payload), { skipPeer: 'peerA' })
    bus.subscribe('agents/*', (e) => void everything.push(e.payload))
    bus.publish('agents/msg', 'local')
    bus.publish('agents/msg', 'fromA', { origin: remote('peerA') })
    bus.publish('agents/msg', 'fromB', { origin: remote('peerB') })
    await bus.drain()
    expect(toSwarm).toEqual(['local'])
    expect(toPeerA).toEqual(['local', 'fromB'])
    expect(everything).toEqual(['local', 'fromA', 'fromB'])

    const remoteOnly: string[] = []
    bus.subscribe('agents/msg', (e) => void remoteOnly.push(e.payload), { from: 'remote', delivery: 'sync' })
    bus.publish('agents/msg', 'local2')
    bus.publish('agents/msg', 'fromC', { origin: remote('peerC') })
    expect(remoteOnly).toEqual(['fromC'])
  })

  it('two bridged buses do not ping-pong an event', async () => {
    // Two nodes, each with a bridge that forwards local events to the other as remote ones.
    const a = createBus<{ 'agents/msg': string }>()
    const b = createBus<{ 'agents/msg': string }>()
    const link = (from: typeof a, to: typeof b, peer: string): void => {
      from.subscribe('agents/*', (e) => void to.publish(e.topic, e.payload, { origin: remote(peer) }), {
        from: 'local'
      })
    }
    link(a, b, 'A')
    link(b, a, 'B')
    const onA: BusEvent[] = []
    const onB: BusEvent[] = []
    a.subscribe('agents/msg', (e) => void onA.push(e))
    b.subscribe('agents/msg', (e) => void onB.push(e))
    a.publish('agents/msg', 'hi')
    for (let i = 0; i < 5; i++) {
      await a.drain()
      await b.drain()
    }
    expect(onA.map((e) => e.payload)).toEqual(['hi'])
    expect(onB.map((e) => [e.payload, e.origin])).toEqual([['hi', remote('A')]])
    expect(a.counters().published).toBe(1)
    expect(b.counters().published).toBe(1)
  })

  it('taps see every event, before subscribers, and can be removed', () => {
    const seen: string[] = []
    const bus = createBus({ tap: (e) => void seen.push(`tap1:${e.topic}`) })
    bus.subscribe('x', () => void seen.push('sub'), { delivery: 'sync' })
    const remove = bus.tap((e) => void seen.push(`tap2:${e.topic}`))
    bus.publish('x', 1)
    bus.publish('nobody-listens', 2)
    remove()
    bus.publish('x', 3)
    expect(seen).toEqual([
      'tap1:x',
      'tap2:x',
      'sub',
      'tap1:nobody-listens',
      'tap2:nobody-listens',
      'tap1:x',
      'sub'
    ])
  })

  it('counts published and delivered events, including removed subscriptions', async () => {
    const bus = createBus()
    const s1 = bus.subscribe('x', () => {})
    bus.subscribe('x', () => {}, { delivery: 'sync' })
    bus.publish('x', 1)
    bus.publish('y', 1)
    await bus.drain()
    expect(s1.stats()).toMatchObject({ delivered: 1, queued: 0, dropped: 0 })
    s1()
    bus.publish('x', 2)
    expect(bus.counters()).toMatchObject({ published: 3, delivered: 3, subscriptions: 1 })
  })

  it('keeps the topic cache bounded', () => {
    const bus = createBus({ maxCachedTopics: 8 })
    const seen: string[] = []
    bus.subscribe('t/*', (e) => void seen.push(e.topic), { delivery: 'sync' })
    for (let i = 0; i < 100; i++) bus.publish(`t/${i}`, i)
    expect(seen).toHaveLength(100)
    // The cache is private; a publish to an old topic still routes correctly after resets.
    bus.publish('t/0', 0)
    expect(seen).toHaveLength(101)
  })

  it('rejects bad arguments and use after close', async () => {
    const bus = createBus()
    expect(() => bus.subscribe('', () => {})).toThrow(TypeError)
    expect(() => bus.subscribe('x', () => {}, { queue: { capacity: 0 } })).toThrow(RangeError)
    expect(() => bus.subscribe('x', () => {}, { queue: { capacity: 1.5 } })).toThrow(RangeError)
    expect(() => bus.subscribe('x', () => {}, { queue: { policy: 'drop-newest' as 'reject' } })).toThrow(
      /queue policy/
    )
    expect(() => bus.subscribe('x', () => {}, { delivery: 'later' as 'sync' })).toThrow(TypeError)
    const seen: unknown[] = []
    bus.subscribe('x', (e) => void seen.push(e.payload))
    bus.publish('x', 1)
    bus.close()
    bus.close()
    await Promise.resolve()
    expect(seen).toEqual([]) // queued events are discarded on close
    expect(() => bus.publish('x', 2)).toThrow(BusClosedError)
    expect(() => bus.subscribe('x', () => {})).toThrow(BusClosedError)
    await expect(bus.publishAsync('x', 2)).rejects.toThrow(BusClosedError)
    await expect(bus.request('x', 2)).rejects.toThrow(BusClosedError)
  })
})
