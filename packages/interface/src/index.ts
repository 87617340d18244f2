/**
 * The contracts Araliya packages share (types, event maps, error classes, the sync-endpoint, swarm
 * gossip, agent locator and structural bus contracts) and the few mechanisms they must share: one capped
 * exponential backoff, the hybrid logical clock and the record-shape checks.
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
export * from './rate-limit.js'
export * from './shape.js'
export type * from './swarm.js'
export type * from './sync.js'
export * from './types.js'
