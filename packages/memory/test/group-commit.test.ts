import { generateIdentity } from '@araliya/identity'
import { afterEach, expect, it } from 'vitest'
import { createMemory, type Memory } from '../src/index.js'

const open: Memory[] = []
afterEach(async () => {
  for (const memory of open.splice(0)) await memory.stop()
})
async function start(): Promise<Memory> {
  const memory = createMemory({ identity: await generateIdentity() })
  await memory.start()
  open.push(memory)
  return memory
}

it('writes issued together become one signed commit, each acknowledged and readable', async () => {
  const memory = await start()
  const before = memory.graph.chainLength(memory.owner, memory.owner)
  const notes = await Promise.all(Array.from({ length: 100 }, (_, i) => memory.remember(`note ${i}`)))
  expect(memory.graph.chainLength(memory.owner, memory.owner) - before).toBe(1)
  expect(notes.map((n) => memory.get(n.id)).map((item) => item?.kind === 'note' && item.text)).toEqual(
    Array.from({ length: 100 }, (_, i) => `note ${i}`)
  )
  // more than a commit holds: split at write boundaries, still few commits
  const many = await Promise.all(Array.from({ length: 600 }, (_, i) => memory.remember(`more ${i}`)))
  expect(many).toHaveLength(600)
  expect(memory.graph.chainLength(memory.owner, memory.owner) - before).toBe(1 + 3)
})

it('writes of one memory queued together supersede each other in order: no conflict, the last wins', async () => {
  const memory = await start()
  const [, , last] = await Promise.all([
    memory.remember('first', { key: 'k' }),
    memory.remember('second', { key: 'k' }),
    memory.remember('third', { key: 'k' })
  ])
  expect(memory.get(last.id)).toMatchObject({ text: 'third' })
  expect(memory.conflicts()).toEqual([])
  const history = memory.why(last.id).history
  expect(history.map((v) => v.item?.kind === 'note' && v.item.text)).toEqual(['third', 'second', 'first'])
  expect(history[0]?.supersedes).toContain(history[1]?.version)

  // a session's first turns appended together: one header version wins, none is a conflict
  const chat = memory.session('chat')
  await Promise.all([
    chat.append({ role: 'user', content: 'a' }),
    chat.append({ role: 'user', content: 'b' })
  ])
  expect(memory.conflicts()).toEqual([])
  expect(chat.turns()).toHaveLength(2)
})

it('a write that fails to commit rejects, and later writes still go through', async () => {
  const memory = await start()
  await memory.graph.stop()
  await expect(memory.remember('lost')).rejects.toThrow()
  await memory.graph.start()
  const note = await memory.remember('kept')
  expect(memory.get(note.id)).toMatchObject({ text: 'kept' })
})
