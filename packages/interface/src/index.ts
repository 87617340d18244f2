/**
 * Shared types, event maps and error classes used by every Araliya package, and the few helpers they
 * must share (one capped exponential backoff).
 *
 * @example
 * ```ts
 * import { AraliyaError, TooLargeError } from '@araliya/interface'
 *
 * try {
 *   throw new TooLargeError('envelope', 70_000, 65_536)
 * } catch (err) {
 *   if (AraliyaError.isInstance(err)) console.log(err.code) // 'ERR_TOO_LARGE'
 * }
 * ```
 *
 * @packageDocumentation
 */
export * from './backoff.js'
export type * from './bus.js'
export * from './errors.js'
export * from './hlc.js'
export type * from './sync.js'
export * from './types.js'
