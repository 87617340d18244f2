import type { GraphStore } from '../store/types.js'

/** What one test of `storeAcceptance` runs against. */
export interface StoreFixture {
  /** A fresh, empty store (not opened yet). */
  readonly store: GraphStore
  /** A new handle onto the same data, as after a process restart. */
  readonly reopen: () => GraphStore
  /** Removes what the store left behind (a directory, a database). Runs after every test, passed or failed. */
  readonly teardown?: () => void | Promise<void>
}

/**
 * Runs one test on a fresh fixture. Every handle the test got (the store, and each `reopen()`) is closed
 * afterwards and the fixture torn down, also when an assertion failed, so a failing test leaves no lock
 * or directory behind; a failure to clean up is reported after the test's own failure, never instead of it.
 */
export async function runWithFixture(
  setup: () => StoreFixture | Promise<StoreFixture>,
  test: (fixture: StoreFixture) => Promise<void>
): Promise<void> {
  const fixture = await setup()
  const handles: GraphStore[] = [fixture.store]
  const tracked: StoreFixture = {
    ...fixture,
    reopen: () => {
      const handle = fixture.reopen()
      handles.push(handle)
      return handle
    }
  }
  let failure: unknown
  try {
    await test(tracked)
  } catch (err) {
    failure = err
  }
  // Handles first (closing twice is safe), then what they stood on.
  const closed = await Promise.allSettled(handles.map((handle) => handle.close()))
  const removed = await Promise.allSettled([Promise.resolve().then(() => fixture.teardown?.())])
  if (failure !== undefined) throw failure
  for (const result of [...closed, ...removed]) if (result.status === 'rejected') throw result.reason
}
