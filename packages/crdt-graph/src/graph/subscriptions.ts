import type { Origin } from '@araliya/interface'
import type { Logger } from '@libp2p/logger'
import type { TypedEventEmitter } from 'main-event'
import type { Soul } from '../model.js'
import type { OpRecord } from './fields.js'
import type { GraphChange, GraphEvents, SubscribeFilter } from './types.js'

type Subscriber = (change: GraphChange) => void

/**
 * Who hears about changes of winning values: subscribers by soul, by space and of everything (see
 * `Graph.subscribe`), and listeners of the `field:changed` event. Nothing is built when nobody listens.
 */
export class Subscriptions {
  readonly #bySoul = new Map<Soul, Set<Subscriber>>()
  readonly #bySpace = new Map<string, Set<Subscriber>>()
  readonly #all = new Set<Subscriber>()
  readonly #events: TypedEventEmitter<GraphEvents>
  readonly #log: Logger

  constructor(events: TypedEventEmitter<GraphEvents>, log: Logger) {
    this.#events = events
    this.#log = log
  }

  /** See `Graph.subscribe`. */
  subscribe(filter: Soul | SubscribeFilter, listener: (change: GraphChange) => void): () => void {
    const f: SubscribeFilter = typeof filter === 'string' ? { soul: filter } : filter
    const fn: Subscriber =
      f.field === undefined
        ? listener
        : (change) => {
            if (change.field === f.field) listener(change)
          }
    let set: Set<Subscriber>
    let cleanup: () => void
    if (f.soul !== undefined) {
      const soul = f.soul
      set = this.#bySoul.get(soul) ?? new Set()
      this.#bySoul.set(soul, set)
      cleanup = () => {
        if (set.size === 0) this.#bySoul.delete(soul)
      }
    } else if (f.space !== undefined) {
      const space = f.space
      set = this.#bySpace.get(space) ?? new Set()
      this.#bySpace.set(space, set)
      cleanup = () => {
        if (set.size === 0) this.#bySpace.delete(space)
      }
    } else {
      set = this.#all
      cleanup = () => {}
    }
    set.add(fn)
    return () => {
      set.delete(fn)
      cleanup()
    }
  }

  /** A field's winner changed: tells the subscribers that match and the `field:changed` listeners. */
  notify(
    space: string,
    path: string,
    field: string,
    record: OpRecord,
    previous: OpRecord | undefined,
    origin: Origin
  ): void {
    const wantsEvent = this.#events.listenerCount('field:changed') > 0
    if (this.#bySoul.size === 0 && this.#bySpace.size === 0 && this.#all.size === 0 && !wantsEvent) {
      return
    }
    const soul = `${space}/${path}`
    const bySoul = this.#bySoul.get(soul)
    const bySpace = this.#bySpace.get(space)
    if (bySoul === undefined && bySpace === undefined && this.#all.size === 0 && !wantsEvent) return
    const change: GraphChange = {
      soul,
      field,
      value: record.value,
      deleted: record.wire === undefined,
      previous: previous?.value,
      hlc: record.hlc,
      signer: record.signer,
      origin
    }
    if (bySoul !== undefined) for (const fn of bySoul) this.#call(fn, change)
    if (bySpace !== undefined) for (const fn of bySpace) this.#call(fn, change)
    for (const fn of this.#all) this.#call(fn, change)
    if (wantsEvent) this.#events.safeDispatchEvent('field:changed', { detail: change })
  }

  #call(fn: Subscriber, change: GraphChange): void {
    try {
      fn(change)
    } catch (err) {
      this.#log.error('subscriber threw: %e', err)
    }
  }
}
