import { describe, expect, it } from 'vitest'
import { type BusErrorEvent, createBus, SubscriberFailedError } from '../src/index.js'
import { recordingLogger } from './helpers.js'

describe('error isolation', () => {
  it('a throwing sync subscriber does not stop the others; the failure surfaces on bus:error and in logs', () => {
    const { logger, errors } = recordingLogger()
    const bus = createBus({ logger })
    const seen: string[] = []
    const failures: BusErrorEvent[] = []
    bus.subscribe('bus:error', (e) => void failures.push(e.payload), { delivery: 'sync' })
    bus.subscribe(
      't',
      () => {
        throw new Error('boom')
      },
      { delivery: 'sync', name: 'bad' }
    )
    bus.subscribe('t', (e) => void seen.push(String(e.payload)), { delivery: 'sync' })
    expect(bus.publish('t', 1)).toBe(true)
    bus.publish('t', 2)
    expect(seen).toEqual(['1', '2'])
    expect(failures).toHaveLength(2)
    const failure = failures[0] as BusErrorEvent
    expect(failure).toMatchObject({ kind: 'subscriber', topic: 't', subscription: 'bad' })
    expect(SubscriberFailedError.isInstance(failure.error)).toBe(true)
    expect((failure.error.cause as Error).message).toBe('boom')
    expect(failure.error.message).toMatch(/fix the handler/)
    expect(errors.some((line) => line.includes('bad') && line.includes('boom'))).toBe(true)
    expect(bus.counters().failed).toBe(2)
  })

  it('a rejecting async subscriber keeps getting later events and does not affect others', async () => {
    const bus = createBus()
    const failures: BusErrorEvent[] = []
    const seen: unknown[] = []
    bus.subscribe('bus:error', (e) => void failures.push(e.payload))
    const flaky = bus.subscribe('t', async (e) => {
      seen.push(e.payload)
      if (e.payload === 1) throw new Error('async boom')
    })
    const other: unknown[] = []
    bus.subscribe('t', (e) => void other.push(e.payload))
    bus.publish('t', 1)
    bus.publish('t', 2)
    await bus.drain()
    expect(seen).toEqual([1, 2])
    expect(other).toEqual([1, 2])
    expect(flaky.stats()).toMatchObject({ delivered: 2, failed: 1 })
    expect(failures.map((f) => (f.error.cause as Error).message)).toEqual(['async boom'])
  })

  it('a sync subscriber that returns a rejected promise is reported too', async () => {
    const bus = createBus()
    const failures: BusErrorEvent[] = []
    bus.subscribe('bus:error', (e) => void failures.push(e.payload), { delivery: 'sync' })
    bus.subscribe(
      't',
      async () => {
        throw new Error('late')
      },
      { delivery: 'sync' }
    )
    bus.publish('t', 1)
    await new Promise((resolve) => setTimeout(resolve, 0))
    expect(failures).toHaveLength(1)
  })

  it('a subscriber that fails on bus:error itself is logged, not re-published (no loop)', async () => {
    const { logger, errors } = recordingLogger()
    const bus = createBus({ logger })
    bus.subscribe(
      '*',
      () => {
        throw new Error('observer broke')
      },
      { delivery: 'sync', name: 'observer' }
    )
    bus.subscribe(
      '*',
      async () => {
        throw new Error('async observer broke')
      },
      { name: 'async-observer' }
    )
    bus.publish('t', 1)
    await bus.drain()
    await bus.drain()
    // t, then one bus:error per failing observer on t; failures on those bus:error events are only logged.
    expect(bus.counters().published).toBe(3)
    expect(errors.filter((line) => line.includes('bus:error')).length).toBeGreaterThan(0)
  })

  it('a throwing tap is reported and does not stop delivery', () => {
    const bus = createBus()
    const seen: unknown[] = []
    const failures: BusErrorEvent[] = []
    bus.tap((e) => {
      if (e.topic === 't') throw new Error('tap broke')
    })
    bus.subscribe('t', (e) => void seen.push(e.payload), { delivery: 'sync' })
    bus.subscribe('bus:error', (e) => void failures.push(e.payload), { delivery: 'sync' })
    bus.publish('t', 1)
    expect(seen).toEqual([1])
    expect(failures.map((f) => f.kind)).toEqual(['tap'])
  })
})
