/**
 * libp2p 3 calls `Promise.withResolvers`, which Node only has from version 22. This module installs a
 * spec-compatible fallback and must be evaluated before libp2p loads: the package entry points import it
 * first, and package.json lists it under `sideEffects` so bundlers keep it.
 *
 * @module
 */

interface PromiseWithResolversShape<T> {
  promise: Promise<T>
  resolve: (value: T | PromiseLike<T>) => void
  reject: (reason?: unknown) => void
}

const PromiseConstructor = Promise as unknown as {
  withResolvers?: <T>() => PromiseWithResolversShape<T>
}

if (typeof PromiseConstructor.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    enumerable: false,
    value: function withResolvers<T>(this: PromiseConstructor): PromiseWithResolversShape<T> {
      let resolve!: (value: T | PromiseLike<T>) => void
      let reject!: (reason?: unknown) => void
      const promise = new this<T>((res, rej) => {
        resolve = res
        reject = rej
      })
      return { promise, resolve, reject }
    }
  })
}

export {}
