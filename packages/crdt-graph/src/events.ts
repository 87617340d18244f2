import type { Logger } from '@libp2p/logger'

/** A listener of one event type. */
export type Listener<T> = (detail: T) => void

/**
 * A small typed event emitter. A throwing listener is logged and never stops the others or the graph.
 */
export class TypedEmitter<Events extends { [K in keyof Events]: unknown }> {
  readonly #listeners = new Map<keyof Events, Set<Listener<never>>>()
  readonly #log: Logger

  constructor(log: Logger) {
    this.#log = log
  }

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Events>(type: K, listener: Listener<Events[K]>): () => void {
    let set = this.#listeners.get(type)
    if (set === undefined) {
      set = new Set()
      this.#listeners.set(type, set)
    }
    set.add(listener as Listener<never>)
    return () => this.off(type, listener)
  }

  /** Removes a listener. */
  off<K extends keyof Events>(type: K, listener: Listener<Events[K]>): void {
    this.#listeners.get(type)?.delete(listener as Listener<never>)
  }

  /** True when someone listens to `type` (lets hot paths skip building event objects). */
  has<K extends keyof Events>(type: K): boolean {
    const set = this.#listeners.get(type)
    return set !== undefined && set.size > 0
  }

  /** Calls every listener of `type`. */
  emit<K extends keyof Events>(type: K, detail: Events[K]): void {
    const set = this.#listeners.get(type)
    if (set === undefined) return
    for (const listener of set) {
      try {
        ;(listener as Listener<Events[K]>)(detail)
      } catch (err) {
        this.#log.error('listener of %s threw: %e', String(type), err)
      }
    }
  }
}
