import { describe, expect, expectTypeOf, it } from 'vitest'
import {
  type AbortedError,
  BusClosedError,
  type BusErrorCode,
  createBus,
  type HandlerExistsError,
  type HandlerFailedError,
  NoHandlerError,
  QueueFullError,
  RequestTimeoutError,
  type SubscriberFailedError,
  SubsystemConfigError,
  type SubsystemFailedError,
  type SubsystemStartError,
  type SubsystemTimeoutError
} from '../src/index.js'

/** Every error class the bus and the supervisor throw or report. */
type BusError =
  | NoHandlerError
  | RequestTimeoutError
  | HandlerFailedError
  | HandlerExistsError
  | QueueFullError
  | SubscriberFailedError
  | BusClosedError
  | SubsystemFailedError
  | SubsystemStartError
  | SubsystemConfigError
  | SubsystemTimeoutError
  | AbortedError

/** What a caller does with a failed request: a switch TypeScript checks for exhaustiveness. */
function advice(err: BusError): string {
  switch (err.code) {
    case 'ERR_NO_HANDLER':
      expectTypeOf(err).toEqualTypeOf<NoHandlerError>()
      return `start the subsystem that answers ${err.topic}`
    case 'ERR_REQUEST_TIMEOUT':
      expectTypeOf(err).toEqualTypeOf<RequestTimeoutError>()
      return `retry ${err.topic} with more than ${err.timeoutMs} ms`
    case 'ERR_SUBSYSTEM_START':
      expectTypeOf(err).toEqualTypeOf<SubsystemStartError>()
      return `${err.failures.length} failed`
    case 'ERR_HANDLER_FAILED':
    case 'ERR_HANDLER_EXISTS':
    case 'ERR_QUEUE_FULL':
    case 'ERR_SUBSCRIBER_FAILED':
    case 'ERR_BUS_CLOSED':
    case 'ERR_SUBSYSTEM_FAILED':
    case 'ERR_SUBSYSTEM_CONFIG':
    case 'ERR_SUBSYSTEM_TIMEOUT':
    case 'ERR_ABORTED':
      return err.code
    default: {
      const unreachable: never = err
      return unreachable
    }
  }
}

describe('error codes', () => {
  it('each class carries its code as a literal type, and BusErrorCode is their union', () => {
    expectTypeOf(new NoHandlerError('a').code).toEqualTypeOf<'ERR_NO_HANDLER'>()
    expectTypeOf(new QueueFullError('s', 1).code).toEqualTypeOf<'ERR_QUEUE_FULL'>()
    expectTypeOf(new SubsystemConfigError('x').code).toEqualTypeOf<'ERR_SUBSYSTEM_CONFIG'>()
    expectTypeOf<BusError['code']>().toEqualTypeOf<BusErrorCode>()
  })

  it('switch (err.code) narrows a failed request to its class', async () => {
    interface Requests {
      'llm/complete': (prompt: string) => string
    }
    const bus = createBus<Record<string, never>, Requests>()
    const failure = await bus.request('llm/complete', 'hi', { timeoutMs: 1_000 }).then(
      () => undefined,
      (err: unknown) => err
    )
    expect(NoHandlerError.isInstance(failure)).toBe(true)
    expect(advice(failure as NoHandlerError)).toBe('start the subsystem that answers llm/complete')
    expect(advice(new RequestTimeoutError('llm/complete', 50))).toBe(
      'retry llm/complete with more than 50 ms'
    )
    expect(advice(new BusClosedError())).toBe('ERR_BUS_CLOSED')
    bus.close()
  })
})
