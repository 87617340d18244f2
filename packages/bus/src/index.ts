/**
 * The in-process nervous system of an Araliya node: a typed event bus with request/reply, bounded async
 * delivery with backpressure, origin tags so bridges never echo events back, a tap and counters for the
 * dashboard, and a supervisor that starts, watches and restarts the node's subsystems.
 *
 * @example
 * ```ts
 * import { createBus, createSupervisor } from '@araliya/bus'
 *
 * interface Events {
 *   'agents/message': { from: string; text: string }
 * }
 * interface Requests {
 *   'llm/complete': (prompt: string) => string
 * }
 *
 * const bus = createBus<Events, Requests>()
 * bus.subscribe('agents/*', (event) => console.log(event.topic, event.payload.text))
 * bus.handle('llm/complete', async (prompt) => `echo: ${prompt}`)
 *
 * bus.publish('agents/message', { from: 'ada', text: 'hello' })
 * console.log(await bus.request('llm/complete', 'hi', { timeoutMs: 1_000 })) // 'echo: hi'
 *
 * const supervisor = createSupervisor({ bus })
 * supervisor.register({ name: 'llm', start: () => {}, stop: () => {} })
 * await supervisor.start()
 * ```
 *
 * @packageDocumentation
 */
export { AbortedError, LOCAL_ORIGIN, type Origin } from '@araliya/interface'
export { createBus } from './bus.js'
// The pattern matcher the bus uses; @araliya/channel-p2p matches its bridge routes with it.
export { compilePattern, type TopicMatcher } from './pattern.js'
export {
  BusClosedError,
  type BusErrorCode,
  HandlerExistsError,
  HandlerFailedError,
  NoHandlerError,
  QueueFullError,
  RequestTimeoutError,
  SubscriberFailedError,
  SubsystemConfigError,
  SubsystemFailedError,
  SubsystemStartError,
  SubsystemTimeoutError
} from './errors.js'
export { createSupervisor } from './supervisor.js'
export type {
  HealthReport,
  HealthStatus,
  RestartPolicy,
  Subsystem,
  SubsystemContext,
  SubsystemState,
  SubsystemStatus,
  Supervisor,
  SupervisorHealth,
  SupervisorInit,
  SystemEventSink
} from './supervisor-types.js'
export type * from './types.js'
