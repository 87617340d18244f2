import type { Origin } from './types.js'

/**
 * One event as a bus delivers it: the structural shape every Araliya bus event has, whatever its
 * typed topic map.
 */
export interface BusEventLike {
  /** The exact topic it was published on. */
  readonly topic: string
  /** What the publisher sent. */
  readonly payload: unknown
  /** Where it came from: this process, or the remote peer a bridge received it from. */
  readonly origin: Origin
}

/**
 * The part of a bus that a bridge (channel-p2p, an agent runtime) needs: publish with an origin, and
 * subscribe to a pattern. It is structural and untyped on purpose, so any `Bus<Events, Requests>` from
 * `@araliya/bus` — whatever its topic map — is accepted where a `BusLike` is asked for, without a cast.
 *
 * @example
 * ```ts
 * import type { BusLike } from '@araliya/interface'
 *
 * function mirror(bus: BusLike): () => void {
 *   const subscription = bus.subscribe('tasks/*', (event) => console.log(event.topic, event.payload))
 *   return () => subscription.unsubscribe()
 * }
 * ```
 */
export interface BusLike {
  /** Publishes `payload` on `topic`; a bridge sets `options.origin` to the remote peer. */
  publish(topic: string, payload: unknown, options?: { origin?: Origin }): unknown
  /** Subscribes to a topic or pattern; the returned subscription stops delivery when unsubscribed. */
  subscribe(pattern: string, handler: (event: BusEventLike) => unknown): { unsubscribe(): void }
}
