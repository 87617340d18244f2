import { AbortedError, type Origin } from '@araliya/interface'
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  BusClosedError,
  createBus,
  HandlerExistsError,
  HandlerFailedError,
  NoHandlerError,
  QueueFullError,
  type RequestContext,
  RequestTimeoutError
} from '../src/index.js'

interface Requests {
  'math/add': (input: { a: number; b: number }) => number
  'llm/complete': (prompt: string) => string
}

afterEach(() => {
  vi.useRealTimers()
})

describe('request / reply', () => {
  it('answers with the one registered handler, sync or async, with the origin', async () => {
    const bus = createBus<object, Requests>()
    let context: RequestContext | undefined
    bus.handle('math/add', ({ a, b }, ctx) => {
      context = ctx
      return a + b
    })
    bus.handle('llm/complete', async (prompt) => `echo ${prompt}`)
    const origin: Origin = { kind: 'remote', peer: 'peerQ' }
    expect(await bus.request('math/add', { a: 2, b: 3 }, { origin })).toBe(5)
    expect(await bus.request('llm/complete', 'hi')).toBe('echo hi')
    expect(context).toMatchObject({ topic: 'math/add', origin })
    expect(bus.counters()).toMatchObject({ requests: 2, replies: 2, pendingRequests: 0, handlers: 2 })
  })

  it('refuses a second handler and rejects requests nobody handles', async () => {
    const bus = createBus<object, Requests>()
    const off = bus.handle('math/add', () => 0)
    expect(() => bus.handle('math/add', () => 1)).toThrow(HandlerExistsError)
    off()
    off()
    const err = await bus.request('math/add', { a: 1, b: 1 }).catch((e: unknown) => e)
    expect(NoHandlerError.isInstance(err)).toBe(true)
    expect((err as Error).message).toMatch(/bus.handle\("math\/add"/)
    bus.handle('math/add', () => 7)
    expect(await bus.request('math/add', { a: 0, b: 0 })).toBe(7)
  })

  it('wraps a handler failure with its cause, for throws and rejections', async () => {
    const bus = createBus<object, Requests>()
    const boom = new Error('no GPU')
    bus.handle('llm/complete', async () => {
      throw boom
    })
    bus.handle('math/add', () => {
      throw new RangeError('too big')
    })
    const a = await bus.request('llm/complete', 'x').catch((e: unknown) => e)
    expect(HandlerFailedError.isInstance(a)).toBe(true)
    expect((a as Error).cause).toBe(boom)
    const b = await bus.request('math/add', { a: 1, b: 2 }).catch((e: unknown) => e)
    expect(((b as Error).cause as Error).message).toBe('too big')
    expect(bus.counters().handlerFailures).toBe(2)
  })

  it('times out, and tells the handler to stop through its signal', async () => {
    vi.useFakeTimers()
    const bus = createBus<object, Requests>({ requestTimeoutMs: 5_000 })
    let handlerSignal: AbortSignal | undefined
    bus.handle('llm/complete', (_prompt, { signal }) => {
      handlerSignal = signal
      return new Promise<string>(() => {})
    })
    const pending = bus.request('llm/complete', 'slow', { timeoutMs: 1_000 }).catch((e: unknown) => e)
    await vi.advanceTimersByTimeAsync(999)
    expect(handlerSignal?.aborted).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    const err = await pending
    expect(RequestTimeoutError.isInstance(err)).toBe(true)
    expect(err).toMatchObject({ topic: 'llm/complete', timeoutMs: 1_000 })
    expect(handlerSignal?.aborted).toBe(true)
    // The default timeout applies when none is given.
    const second = bus.request('llm/complete', 'slow').catch((e: unknown) => e)
    await vi.advanceTimersByTimeAsync(5_000)
    expect(RequestTimeoutError.isInstance(await second)).toBe(true)
    expect(bus.counters()).toMatchObject({ timeouts: 2, pendingRequests: 0 })
    expect(vi.getTimerCount()).toBe(0)
  })

  it('aborts through the caller signal, before or during the request', async () => {
    const bus = createBus<object, Requests>()
    let handlerSignal: AbortSignal | undefined
    bus.handle('llm/complete', (_prompt, { signal }) => {
      handlerSignal = signal
      return new Promise<string>(() => {})
    })
    const controller = new AbortController()
    const pending = bus.request('llm/complete', 'x', { signal: controller.signal })
    controller.abort(new Error('user left'))
    const err = await pending.catch((e: unknown) => e)
    expect(AbortedError.isInstance(err)).toBe(true)
    expect(((err as Error).cause as Error).message).toBe('user left')
    expect(handlerSignal?.aborted).toBe(true)
    await expect(bus.request('llm/complete', 'y', { signal: controller.signal })).rejects.toSatisfy((e) =>
      AbortedError.isInstance(e)
    )
    expect(bus.counters()).toMatchObject({ aborted: 2, pendingRequests: 0 })
  })

  it('a reply that arrives after the timeout is ignored', async () => {
    vi.useFakeTimers()
    const bus = createBus<object, Requests>()
    bus.handle(
      'math/add',
      ({ a, b }) => new Promise<number>((resolve) => setTimeout(() => resolve(a + b), 50))
    )
    const pending = bus.request('math/add', { a: 1, b: 1 }, { timeoutMs: 10 }).catch((e: unknown) => e)
    await vi.advanceTimersByTimeAsync(100)
    expect(RequestTimeoutError.isInstance(await pending)).toBe(true)
    expect(bus.counters().replies).toBe(0)
  })

  it('bounds concurrent requests per handler with maxConcurrent', async () => {
    const bus = createBus<object, Requests>()
    const releases: Array<() => void> = []
    bus.handle(
      'math/add',
      ({ a, b }) => new Promise<number>((resolve) => releases.push(() => resolve(a + b))),
      {
        maxConcurrent: 2
      }
    )
    const first = bus.request('math/add', { a: 1, b: 0 })
    const second = bus.request('math/add', { a: 2, b: 0 })
    await expect(bus.request('math/add', { a: 3, b: 0 })).rejects.toSatisfy((e) =>
      QueueFullError.isInstance(e)
    )
    releases[0]?.()
    expect(await first).toBe(1)
    const third = bus.request('math/add', { a: 3, b: 0 })
    releases[1]?.()
    releases[2]?.()
    expect(await Promise.all([second, third])).toEqual([2, 3])
  })

  it('unregisters a handler through its signal', async () => {
    const bus = createBus<object, Requests>()
    const controller = new AbortController()
    bus.handle('math/add', () => 1, { signal: controller.signal })
    controller.abort()
    await expect(bus.request('math/add', { a: 0, b: 0 })).rejects.toSatisfy((e) =>
      NoHandlerError.isInstance(e)
    )
  })

  it('close rejects pending requests and clears their timers', async () => {
    vi.useFakeTimers()
    const bus = createBus<object, Requests>()
    bus.handle('llm/complete', () => new Promise<string>(() => {}))
    const pending = bus.request('llm/complete', 'x').catch((e: unknown) => e)
    bus.close()
    expect(BusClosedError.isInstance(await pending)).toBe(true)
    expect(vi.getTimerCount()).toBe(0)
    expect(() => bus.handle('math/add', () => 1)).toThrow(BusClosedError)
  })
})
