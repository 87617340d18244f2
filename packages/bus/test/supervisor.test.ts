import { AbortedError } from '@araliya/interface'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import {
  type Bus,
  type BusEvent,
  type EventMap,
  createBus,
  createSupervisor,
  type Subsystem,
  type SubsystemContext,
  SubsystemConfigError,
  SubsystemFailedError,
  SubsystemStartError,
  SubsystemTimeoutError
} from '../src/index.js'

beforeEach(() => {
  vi.useFakeTimers()
})
afterEach(() => {
  vi.useRealTimers()
})

/** A subsystem that records its lifecycle calls into a shared journal. */
function fake(
  name: string,
  journal: string[],
  extra: Partial<Subsystem> & { failStarts?: number } = {}
): Subsystem & { context?: SubsystemContext } {
  let failuresLeft = extra.failStarts ?? 0
  const subsystem: Subsystem & { context?: SubsystemContext } = {
    name,
    start(context) {
      journal.push(`start ${name}`)
      subsystem.context = context
      if (failuresLeft > 0) {
        failuresLeft--
        throw new Error(`${name} cannot start`)
      }
    },
    stop() {
      journal.push(`stop ${name}`)
    },
    ...extra
  }
  return subsystem
}

function systemEvents<Events extends EventMap>(bus: Bus<Events>): string[] {
  const events: string[] = []
  bus.subscribe(
    'subsystem:*',
    (e: BusEvent) => {
      const payload = e.payload as { name: string; restartInMs?: number }
      events.push(
        `${e.topic.slice('subsystem:'.length)} ${payload.name}${payload.restartInMs === undefined ? '' : ` +${payload.restartInMs}`}`
      )
    },
    { delivery: 'sync' }
  )
  return events
}

describe('supervisor', () => {
  it('starts in dependency order, stops in reverse, and both are safe to call twice', async () => {
    const bus = createBus()
    const events = systemEvents(bus)
    const journal: string[] = []
    const supervisor = createSupervisor({ bus })
    supervisor.register(fake('agents', journal, { dependsOn: ['llm', 'memory'] }))
    supervisor.register(fake('comms', journal))
    supervisor.register(fake('memory', journal))
    supervisor.register(fake('llm', journal, { dependsOn: ['memory'] }))
    await Promise.all([supervisor.start(), supervisor.start()])
    await supervisor.start()
    expect(journal).toEqual(['start comms', 'start memory', 'start llm', 'start agents'])
    expect(supervisor.status().map((s) => `${s.name}:${s.state}`)).toEqual([
      'comms:running',
      'memory:running',
      'llm:running',
      'agents:running'
    ])
    journal.length = 0
    await Promise.all([supervisor.stop(), supervisor.stop()])
    await supervisor.stop()
    expect(journal).toEqual(['stop agents', 'stop llm', 'stop memory', 'stop comms'])
    expect(events).toEqual([
      'started comms',
      'started memory',
      'started llm',
      'started agents',
      'stopped agents',
      'stopped llm',
      'stopped memory',
      'stopped comms'
    ])
    // Restartable after a stop.
    await supervisor.start()
    expect(supervisor.status().every((s) => s.state === 'running')).toBe(true)
    await supervisor.stop()
  })

  it('rejects unknown dependencies, cycles, duplicates and registering while running', async () => {
    const journal: string[] = []
    const unknown = createSupervisor()
    unknown.register(fake('a', journal, { dependsOn: ['ghost'] }))
    await expect(unknown.start()).rejects.toThrow(SubsystemConfigError)

    const cycle = createSupervisor()
    cycle.register(fake('a', journal, { dependsOn: ['b'] }))
    cycle.register(fake('b', journal, { dependsOn: ['a'] }))
    await expect(cycle.start()).rejects.toThrow(/cycle/)
    expect(journal).toEqual([])

    const supervisor = createSupervisor()
    supervisor.register(fake('a', journal))
    expect(() => supervisor.register(fake('a', journal))).toThrow(SubsystemConfigError)
    await supervisor.start()
    expect(() => supervisor.register(fake('b', journal))).toThrow(/stop\(\) first/)
    await supervisor.stop()
    const remove = supervisor.register(fake('b', journal))
    remove()
    expect(supervisor.status().map((s) => s.name)).toEqual(['a'])
  })

  it('retries a failing start with exponential backoff before starting its dependents', async () => {
    const bus = createBus()
    const events = systemEvents(bus)
    const journal: string[] = []
    const supervisor = createSupervisor({ bus, restart: { initialDelayMs: 100, factor: 2 } })
    supervisor.register(fake('llm', journal, { failStarts: 2 }))
    supervisor.register(fake('agents', journal, { dependsOn: ['llm'] }))
    const started = supervisor.start()
    await vi.advanceTimersByTimeAsync(0)
    expect(journal).toEqual(['start llm'])
    await vi.advanceTimersByTimeAsync(99)
    expect(journal).toEqual(['start llm'])
    await vi.advanceTimersByTimeAsync(1)
    expect(journal).toEqual(['start llm', 'start llm'])
    await vi.advanceTimersByTimeAsync(199)
    expect(journal).toHaveLength(2)
    await vi.advanceTimersByTimeAsync(1)
    await started
    expect(journal).toEqual(['start llm', 'start llm', 'start llm', 'start agents'])
    expect(events).toEqual(['failed llm +100', 'failed llm +200', 'started llm', 'started agents'])
    await supervisor.stop()
  })

  it('restarts a running subsystem that reports a failure; the bus keeps working meanwhile', async () => {
    const bus = createBus<{ ping: number }>()
    const events = systemEvents(bus)
    const journal: string[] = []
    const supervisor = createSupervisor({ bus, restart: { initialDelayMs: 1_000 } })
    const llm = fake('llm', journal)
    supervisor.register(llm)
    supervisor.register(fake('agents', journal, { dependsOn: ['llm'] }))
    await supervisor.start()
    const firstRun = llm.context as SubsystemContext
    firstRun.fail(new Error('model crashed'))
    await vi.advanceTimersByTimeAsync(0)
    expect(firstRun.signal.aborted).toBe(true)
    expect(supervisor.status().find((s) => s.name === 'llm')?.state).toBe('backoff')
    const pings: number[] = []
    bus.subscribe('ping', (e) => void pings.push(e.payload), { delivery: 'sync' })
    bus.publish('ping', 1)
    expect(pings).toEqual([1])
    await vi.advanceTimersByTimeAsync(1_000)
    expect(journal).toEqual(['start llm', 'start agents', 'stop llm', 'start llm'])
    const status = supervisor.status().find((s) => s.name === 'llm')
    expect(status).toMatchObject({ state: 'running', restarts: 1 })
    expect(SubsystemFailedError.isInstance(status?.lastError)).toBe(true)
    expect(status?.lastError?.cause).toMatchObject({ message: 'model crashed' })
    // A late fail() from the old run is ignored.
    firstRun.fail(new Error('stale'))
    await vi.advanceTimersByTimeAsync(5_000)
    expect(supervisor.status().find((s) => s.name === 'llm')?.state).toBe('running')
    expect(events.slice(-2)).toEqual(['failed llm +1000', 'started llm'])
    await supervisor.stop()
  })

  it('gives up after maxRestarts within the window, and the window slides', async () => {
    const bus = createBus()
    const events = systemEvents(bus)
    const journal: string[] = []
    const supervisor = createSupervisor({
      bus,
      restart: { maxRestarts: 2, windowMs: 10_000, initialDelayMs: 100, factor: 2 }
    })
    const tools = fake('tools', journal)
    supervisor.register(tools)
    await supervisor.start()
    tools.context?.fail(new Error('1'))
    await vi.advanceTimersByTimeAsync(100)
    tools.context?.fail(new Error('2'))
    await vi.advanceTimersByTimeAsync(200)
    expect(supervisor.status()[0]).toMatchObject({ state: 'running', restarts: 2 })
    tools.context?.fail(new Error('3'))
    await vi.advanceTimersByTimeAsync(10_000)
    expect(supervisor.status()[0]?.state).toBe('failed')
    expect(events.filter((e) => e.startsWith('failed'))).toEqual([
      'failed tools +100',
      'failed tools +200',
      'failed tools'
    ])

    // A subsystem whose failures are spread wider than the window is restarted each time.
    const journal2: string[] = []
    const spread = createSupervisor({ restart: { maxRestarts: 1, windowMs: 1_000, initialDelayMs: 10 } })
    const memory = fake('memory', journal2)
    spread.register(memory)
    await spread.start()
    for (let i = 0; i < 3; i++) {
      memory.context?.fail(new Error(`fail ${i}`))
      await vi.advanceTimersByTimeAsync(1_500)
      expect(spread.status()[0]?.state).toBe('running')
    }
    await spread.stop()
    await supervisor.stop()
  })

  it('reports subsystems that never start and blocks their dependents; the rest keeps running', async () => {
    const journal: string[] = []
    const bus = createBus()
    const supervisor = createSupervisor({ bus, restart: { maxRestarts: 1, initialDelayMs: 10 } })
    supervisor.register(fake('llm', journal, { failStarts: 99 }))
    supervisor.register(fake('agents', journal, { dependsOn: ['llm'] }))
    supervisor.register(fake('comms', journal))
    const started = supervisor.start().catch((e: unknown) => e)
    await vi.advanceTimersByTimeAsync(100)
    const err = await started
    expect(SubsystemStartError.isInstance(err)).toBe(true)
    expect((err as SubsystemStartError).failures.map((f) => f.name)).toEqual(['llm', 'agents'])
    expect(supervisor.status().map((s) => `${s.name}:${s.state}`)).toEqual([
      'llm:failed',
      'agents:blocked',
      'comms:running'
    ])
    const health = await supervisor.health()
    expect(health.status).toBe('unhealthy')
    journal.length = 0
    await supervisor.stop()
    expect(journal).toEqual(['stop comms'])
  })

  it('polls health, restarts an unhealthy subsystem and reports degraded ones', async () => {
    const journal: string[] = []
    let llmStatus: 'healthy' | 'degraded' | 'unhealthy' = 'healthy'
    const supervisor = createSupervisor({ healthCheckIntervalMs: 1_000, restart: { initialDelayMs: 10 } })
    supervisor.register(fake('llm', journal, { health: () => ({ status: llmStatus, detail: 'gpu' }) }))
    supervisor.register(fake('memory', journal))
    await supervisor.start()
    expect((await supervisor.health()).status).toBe('healthy')
    llmStatus = 'degraded'
    const degraded = await supervisor.health()
    expect(degraded.status).toBe('degraded')
    expect(degraded.subsystems[0]?.health).toEqual({ status: 'degraded', detail: 'gpu' })
    await vi.advanceTimersByTimeAsync(1_000)
    expect(journal).toEqual(['start llm', 'start memory'])
    llmStatus = 'unhealthy'
    await vi.advanceTimersByTimeAsync(1_000)
    llmStatus = 'healthy'
    await vi.advanceTimersByTimeAsync(10)
    expect(journal).toEqual(['start llm', 'start memory', 'stop llm', 'start llm'])
    expect(supervisor.status()[0]?.lastError?.cause).toMatchObject({ message: 'gpu' })
    await supervisor.stop()
    expect(vi.getTimerCount()).toBe(0)
  })

  it('times out a hanging start (aborting its signal) and a hanging stop', async () => {
    const bus = createBus()
    const stopped: unknown[] = []
    bus.subscribe('subsystem:stopped', (e) => void stopped.push(e.payload), { delivery: 'sync' })
    let startSignal: AbortSignal | undefined
    const supervisor = createSupervisor({
      bus,
      startTimeoutMs: 500,
      stopTimeoutMs: 300,
      restart: { maxRestarts: 0 }
    })
    supervisor.register({
      name: 'stuck',
      start: ({ signal }) => {
        startSignal = signal
        return new Promise(() => {})
      },
      stop: () => {}
    })
    supervisor.register({ name: 'slow-stop', start: () => {}, stop: () => new Promise(() => {}) })
    const started = supervisor.start().catch((e: unknown) => e)
    await vi.advanceTimersByTimeAsync(500)
    const err = (await started) as SubsystemStartError
    expect(SubsystemTimeoutError.isInstance(err.failures[0]?.error.cause)).toBe(true)
    expect(startSignal?.aborted).toBe(true)
    const stopping = supervisor.stop()
    await vi.advanceTimersByTimeAsync(300)
    await stopping
    expect(stopped).toHaveLength(1)
    expect(SubsystemFailedError.isInstance((stopped[0] as { error: Error }).error)).toBe(true)
  })

  it('stop() during start() ends the start with AbortedError and stops what had started', async () => {
    const journal: string[] = []
    const supervisor = createSupervisor()
    supervisor.register(fake('a', journal))
    supervisor.register({
      name: 'b',
      start: ({ signal }) =>
        new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true })),
      stop: () => void journal.push('stop b')
    })
    supervisor.register(fake('c', journal, { dependsOn: ['b'] }))
    const started = supervisor.start().catch((e: unknown) => e)
    await vi.advanceTimersByTimeAsync(0)
    await supervisor.stop()
    expect(AbortedError.isInstance(await started)).toBe(true)
    expect(journal).toEqual(['start a', 'stop b', 'stop a'])
    expect(supervisor.status().every((s) => s.state === 'stopped')).toBe(true)

    const controller = new AbortController()
    controller.abort()
    await expect(supervisor.start({ signal: controller.signal })).rejects.toSatisfy((e) =>
      AbortedError.isInstance(e)
    )
  })

  it('keeps shutting down when the bus was closed first', async () => {
    const bus = createBus()
    const journal: string[] = []
    const supervisor = createSupervisor({ bus })
    supervisor.register(fake('a', journal))
    await supervisor.start()
    bus.close()
    await supervisor.stop()
    expect(journal).toEqual(['start a', 'stop a'])
  })
})

describe('supervisor stop signal', () => {
  it('an aborted stop still stops everything, telling each subsystem to hurry', async () => {
    const signals: AbortSignal[] = []
    const supervisor = createSupervisor()
    for (const name of ['a', 'b']) {
      supervisor.register({ name, start: () => {}, stop: ({ signal }) => void signals.push(signal) })
    }
    await supervisor.start()
    const controller = new AbortController()
    controller.abort()
    await supervisor.stop({ signal: controller.signal })
    expect(signals.map((s) => s.aborted)).toEqual([true, true])
    expect(supervisor.status().map((s) => s.state)).toEqual(['stopped', 'stopped'])
  })
})

describe('supervisor failure during start', () => {
  it('a fail() reported while starting counts as a failed start', async () => {
    const journal: string[] = []
    let attempts = 0
    const supervisor = createSupervisor({ restart: { initialDelayMs: 50 } })
    supervisor.register({
      name: 'flaky',
      start: ({ fail }) => {
        attempts++
        journal.push('start')
        if (attempts === 1) fail(new Error('broke while starting'))
      },
      stop: () => void journal.push('stop')
    })
    const started = supervisor.start()
    await vi.advanceTimersByTimeAsync(50)
    await started
    expect(journal).toEqual(['start', 'start'])
    expect(supervisor.status()[0]?.lastError?.cause).toMatchObject({ message: 'broke while starting' })
    await supervisor.stop()
  })
})
