import { describe, expect, it } from 'vitest'
import { memoryStore } from '../src/index.js'
import type { GraphStore } from '../src/store/types.js'
import { runWithFixture } from '../src/testing/fixture.js'

describe('storeAcceptance fixtures', () => {
  it('closes every handle and tears down when an assertion fails, and reports that failure', async () => {
    const closed: string[] = []
    const handle = (label: string): GraphStore => {
      const store = memoryStore()
      const close = store.close.bind(store)
      store.close = async () => {
        closed.push(label)
        await close()
      }
      return store
    }
    let tornDown = false
    const failure = await runWithFixture(
      () => ({
        store: handle('first'),
        reopen: () => handle('reopened'),
        teardown: () => {
          tornDown = true
        }
      }),
      async ({ store, reopen }) => {
        await store.open()
        await reopen().open()
        expect(1).toBe(2)
      }
    ).catch((err: unknown) => err)
    expect((failure as Error).message).toMatch(/expected 1 to be 2/)
    expect(closed.sort()).toEqual(['first', 'reopened'])
    expect(tornDown).toBe(true)
  })

  it('reports a failed teardown after a passing test', async () => {
    const failure = await runWithFixture(
      () => {
        const store = memoryStore()
        return {
          store,
          reopen: () => store,
          teardown: () => {
            throw new Error('could not remove the directory')
          }
        }
      },
      async () => {}
    ).catch((err: unknown) => err)
    expect((failure as Error).message).toBe('could not remove the directory')
  })
})
