/**
 * A Map that holds at most `limit` entries, forgetting the oldest inserted first. For caches of derived
 * values (parsed keys, key objects) whose size must stay bounded however many peers we meet.
 */
export class BoundedMap<K, V> extends Map<K, V> {
  readonly limit: number

  constructor(limit: number) {
    super()
    this.limit = limit
  }

  override set(key: K, value: V): this {
    if (!this.has(key) && this.size >= this.limit) {
      const oldest = this.keys().next()
      if (oldest.done !== true) this.delete(oldest.value)
    }
    return super.set(key, value)
  }
}
