import { describe, expectTypeOf, it } from 'vitest'
import { type BusErrorEvent, type BusEvent, createBus, createSupervisor } from '../src/index.js'

interface Events {
  'agents/message': { from: string; text: string }
  'agents/typing': { from: string }
  'llm/token': string
}

interface Requests {
  'llm/complete': (prompt: string) => Promise<{ text: string }>
  'math/add': (input: { a: number; b: number }) => number
}

// These checks run under `tsc` (pnpm typecheck); each @ts-expect-error fails the build if the line compiles.
describe('types', () => {
  it('types payloads per topic and rejects wrong payloads and unknown topics', () => {
    const bus = createBus<Events, Requests>()
    bus.publish('llm/token', 'hi')
    bus.publish('agents/message', { from: 'a', text: 'b' })
    // @ts-expect-error wrong payload type
    bus.publish('llm/token', 42)
    // @ts-expect-error missing field
    bus.publish('agents/message', { from: 'a' })
    // @ts-expect-error unknown topic
    bus.publish('llm/tokens', 'hi')
    // @ts-expect-error unknown topic in subscribe (not a pattern)
    bus.subscribe('agents/mesage', () => {})
    bus.close()
  })

  it('narrows events for exact topics and patterns', () => {
    const bus = createBus<Events, Requests>()
    bus.subscribe('llm/token', (event) => {
      expectTypeOf(event.payload).toEqualTypeOf<string>()
      expectTypeOf(event.topic).toEqualTypeOf<'llm/token'>()
    })
    bus.subscribe('agents/*', (event) => {
      expectTypeOf(event.topic).toEqualTypeOf<'agents/message' | 'agents/typing'>()
      if (event.topic === 'agents/message') expectTypeOf(event.payload.text).toEqualTypeOf<string>()
      // @ts-expect-error llm/token does not match agents/*
      if (event.topic === 'llm/token') return
    })
    bus.subscribe('bus:error', (event) => {
      expectTypeOf(event.payload).toEqualTypeOf<BusErrorEvent>()
    })
    bus.subscribe('*', (event) => {
      expectTypeOf(event).toMatchTypeOf<BusEvent>()
      expectTypeOf(event.topic).toEqualTypeOf<
        keyof Events | 'bus:error' | 'subsystem:started' | 'subsystem:stopped' | 'subsystem:failed'
      >()
    })
    bus.close()
  })

  it('types request payloads and replies', async () => {
    const bus = createBus<Events, Requests>()
    bus.handle('math/add', ({ a, b }) => a + b)
    // @ts-expect-error reply must be a number
    createBus<Events, Requests>().handle('math/add', () => 'three')
    bus.handle('llm/complete', async (prompt, context) => {
      expectTypeOf(context.signal).toEqualTypeOf<AbortSignal>()
      return { text: prompt }
    })
    const sum = await bus.request('math/add', { a: 1, b: 2 })
    expectTypeOf(sum).toEqualTypeOf<number>()
    const completion = await bus.request('llm/complete', 'hi')
    expectTypeOf(completion).toEqualTypeOf<{ text: string }>()
    // @ts-expect-error wrong request payload
    await bus.request('math/add', { a: 1 }).catch(() => {})
    bus.close()
  })

  it('lets an untyped bus carry anything and any bus feed a supervisor', () => {
    const untyped = createBus()
    untyped.publish('whatever', { x: 1 })
    untyped.subscribe('whatever', (event) => {
      expectTypeOf(event.payload).toEqualTypeOf<unknown>()
    })
    createSupervisor({ bus: untyped })
    createSupervisor({ bus: createBus<Events, Requests>() })
    untyped.close()
  })
})
