import { describe, expect, expectTypeOf, it } from 'vitest'
import {
  AbortedError,
  AraliyaError,
  InvalidInputError,
  NotStartedError,
  TooLargeError,
  throwIfAborted
} from '../src/index.js'

describe('AraliyaError', () => {
  it('records the code chain so isInstance works across the hierarchy', () => {
    const err = new TooLargeError('frame', 10, 5)
    expect(err.code).toBe('ERR_TOO_LARGE')
    expect(err.name).toBe('TooLargeError')
    expect(TooLargeError.isInstance(err)).toBe(true)
    expect(InvalidInputError.isInstance(err)).toBe(true)
    expect(AraliyaError.isInstance(err)).toBe(true)
    expect(AbortedError.isInstance(err)).toBe(false)
    expect(err.message).toContain('raise the limit')
  })

  it('recognises an error made by another copy of the class (duplicate install)', () => {
    class OtherCopy extends Error {
      constructor() {
        super('from another copy')
        Object.defineProperty(this, Symbol.for('@araliya/error'), {
          value: ['ERR_TOO_LARGE', 'ERR_INVALID_INPUT', 'ERR_ARALIYA']
        })
      }
    }
    expect(InvalidInputError.isInstance(new OtherCopy())).toBe(true)
    expect(AbortedError.isInstance(new OtherCopy())).toBe(false)
    expect(AraliyaError.isInstance(new Error('plain'))).toBe(false)
    expect(AraliyaError.isInstance(null)).toBe(false)
  })

  it('keeps the cause', () => {
    const cause = new Error('root')
    expect(new InvalidInputError('bad', { cause }).cause).toBe(cause)
  })

  it('throwIfAborted throws AbortedError with the reason as cause', () => {
    const controller = new AbortController()
    expect(() => throwIfAborted(controller.signal)).not.toThrow()
    controller.abort(new Error('stop'))
    expect(() => throwIfAborted(controller.signal)).toThrowError(AbortedError)
  })

  it('throwIfAborted does nothing without a signal', () => {
    expect(() => throwIfAborted()).not.toThrow()
  })
})

describe('NotStartedError', () => {
  class GraphNotStartedError extends NotStartedError<'ERR_GRAPH_NOT_STARTED'> {
    static override readonly code: string = 'ERR_GRAPH_NOT_STARTED'
    override name = 'GraphNotStartedError'
  }

  it('names the component and says what to do', () => {
    const err = new NotStartedError('presence')
    expect(err.code).toBe('ERR_NOT_STARTED')
    expect(err.name).toBe('NotStartedError')
    expect(err.message).toContain('presence is not started')
    expect(err.message).toContain('call start() first')
    expect(NotStartedError.isInstance(err)).toBe(true)
    expect(AraliyaError.isInstance(err)).toBe(true)
    expect(AbortedError.isInstance(err)).toBe(false)
  })

  it('a subclass keeps its own code and is still a NotStartedError', () => {
    const cause = new Error('stopped')
    const err = new GraphNotStartedError('graph', { cause })
    expect(err.code).toBe('ERR_GRAPH_NOT_STARTED')
    expectTypeOf(err.code).toEqualTypeOf<'ERR_GRAPH_NOT_STARTED'>()
    expectTypeOf(new NotStartedError('x').code).toEqualTypeOf<'ERR_NOT_STARTED'>()
    expect(err.name).toBe('GraphNotStartedError')
    expect(err.cause).toBe(cause)
    expect(GraphNotStartedError.isInstance(err)).toBe(true)
    expect(NotStartedError.isInstance(err)).toBe(true)
    expect(AraliyaError.isInstance(err)).toBe(true)
    expect(GraphNotStartedError.isInstance(new NotStartedError('graph'))).toBe(false)
  })
})
