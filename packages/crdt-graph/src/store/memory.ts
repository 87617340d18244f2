import { type AbortOptions, throwIfAborted } from '@araliya/interface'
import { equalBytes } from '@araliya/identity'
import { StoreClosedError } from '../errors.js'
import type { GraphStore, StoreState, StoredCommit } from './types.js'

/**
 * An in-memory {@link GraphStore} for tests and light clients. Its contents outlive `close()`, so a
 * graph can be stopped and started again on the same store (as a process restart would on disk).
 */
export class MemoryGraphStore implements GraphStore {
  readonly #log: Uint8Array[] = []
  /** Chain key -> envelopes by position (several at a position where the author's key forked). */
  readonly #chains = new Map<string, Array<Uint8Array | Uint8Array[]>>()
  #state: StoreState | undefined
  #open = false

  /** {@inheritDoc GraphStore.open} */
  async open(options?: AbortOptions): Promise<void> {
    throwIfAborted(options?.signal)
    if (this.#open) return
    this.#open = true
  }

  /** {@inheritDoc GraphStore.close} */
  async close(): Promise<void> {
    this.#open = false
  }

  /** {@inheritDoc GraphStore.append} */
  append(commits: readonly StoredCommit[], state: StoreState, options?: AbortOptions): Promise<void> {
    if (!this.#open)
      return Promise.reject(new StoreClosedError('the memory store is closed; start the graph first'))
    if (options?.signal?.aborted === true) return Promise.reject(options.signal.reason)
    for (const commit of commits) {
      this.#log.push(commit.envelope)
      const key = `${commit.space}\n${commit.author}`
      let chain = this.#chains.get(key)
      if (chain === undefined) {
        chain = []
        this.#chains.set(key, chain)
      }
      const slot = chain[commit.seq - 1]
      if (slot === undefined) chain[commit.seq - 1] = commit.envelope
      else if (!Array.isArray(slot)) {
        if (!equalBytes(slot, commit.envelope)) chain[commit.seq - 1] = [slot, commit.envelope]
      } else if (!slot.some((kept) => equalBytes(kept, commit.envelope))) slot.push(commit.envelope)
    }
    this.#state = { clock: Math.max(state.clock, this.#state?.clock ?? 0) }
    return Promise.resolve()
  }

  /** {@inheritDoc GraphStore.readState} */
  async readState(options?: AbortOptions): Promise<StoreState | undefined> {
    throwIfAborted(options?.signal)
    if (!this.#open) throw new StoreClosedError('the memory store is closed; start the graph first')
    return this.#state
  }

  /** {@inheritDoc GraphStore.replay} */
  async *replay(options?: AbortOptions): AsyncIterable<Uint8Array[]> {
    if (!this.#open) throw new StoreClosedError('the memory store is closed; start the graph first')
    const size = this.#log.length
    for (let i = 0; i < size; i += 4096) {
      throwIfAborted(options?.signal)
      yield this.#log.slice(i, Math.min(size, i + 4096))
    }
  }

  /** {@inheritDoc GraphStore.readChain} */
  async readChain(
    space: string,
    author: string,
    fromSeq: number,
    toSeq: number,
    options?: AbortOptions
  ): Promise<Uint8Array[]> {
    throwIfAborted(options?.signal)
    if (!this.#open) throw new StoreClosedError('the memory store is closed; start the graph first')
    const chain = this.#chains.get(`${space}\n${author}`) ?? []
    const out: Uint8Array[] = []
    for (let seq = Math.max(1, fromSeq); seq <= toSeq && seq <= chain.length; seq++) {
      const slot = chain[seq - 1]
      if (Array.isArray(slot)) out.push(...slot)
      else if (slot !== undefined) out.push(slot)
    }
    return out
  }

  /** Number of stored commits (for tests and diagnostics). */
  get size(): number {
    return this.#log.length
  }
}

/** Creates an in-memory store. */
export function memoryStore(): MemoryGraphStore {
  return new MemoryGraphStore()
}
