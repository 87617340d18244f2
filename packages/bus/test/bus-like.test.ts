import type { BusLike } from '@araliya/interface'
import { describe, expect, expectTypeOf, it } from 'vitest'
import { type Bus, createBus } from '../src/index.js'

interface Events {
  'tasks/created': { id: string; title: string }
  'tasks/done': { id: string }
}
interface Requests {
  'tasks/count': (filter: string) => number
}

/** A function asking for the structural bus, as a bridge does. */
function bridge(bus: BusLike): { topics: string[]; stop: () => void } {
  const topics: string[] = []
  const subscription = bus.subscribe('tasks/*', (event) => {
    topics.push(`${event.topic}:${event.origin.kind}`)
  })
  bus.publish('tasks/done', { id: 'a' }, { origin: { kind: 'remote', peer: 'peer-1' } })
  return { topics, stop: () => subscription.unsubscribe() }
}

describe('Bus and BusLike', () => {
  it('a typed Bus<Events, Requests> is a BusLike without a cast', async () => {
    expectTypeOf<Bus<Events, Requests>>().toExtend<BusLike>()
    expectTypeOf<Bus<Events>>().toExtend<BusLike>()
    expectTypeOf<Bus>().toExtend<BusLike>()

    const bus = createBus<Events, Requests>()
    const seen: string[] = []
    bus.subscribe('tasks/*', (event) => seen.push(event.topic), { delivery: 'sync' })
    // Passed as it is: this line is the compile-time check.
    const link = bridge(bus)
    await bus.drain()
    expect(seen).toEqual(['tasks/done'])
    expect(link.topics).toEqual(['tasks/done:remote'])
    link.stop()
    bus.publish('tasks/created', { id: 'b', title: 'after stop' })
    await bus.drain()
    expect(link.topics).toEqual(['tasks/done:remote'])
    bus.close()
  })

  it('something that is not a bus is not a BusLike', () => {
    expectTypeOf<{ publish(topic: string): void }>().not.toExtend<BusLike>()
    expectTypeOf<{ subscribe(pattern: string, handler: () => void): void }>().not.toExtend<BusLike>()
    expectTypeOf<Map<string, unknown>>().not.toExtend<BusLike>()
    expectTypeOf<string>().not.toExtend<BusLike>()
  })
})
