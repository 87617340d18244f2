import { generateIdentity, identityFromSeed } from '@araliya/identity'
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import { createMemory, MEMORY_PATH, type Memory } from '../src/index.js'
import { syncPair } from './helpers.js'

const open: Memory[] = []
afterEach(async () => {
  for (const memory of open.splice(0)) await memory.stop()
})

const OPS = ['remember', 'rememberKeyed', 'correct', 'forget', 'relate', 'profile', 'append'] as const
type Op = { device: number; op: (typeof OPS)[number]; a: number; b: number }

const opArb = (devices: number): fc.Arbitrary<Op> =>
  fc.record({
    device: fc.nat(devices - 1),
    op: fc.constantFrom(...OPS),
    a: fc.nat(3),
    b: fc.nat(5)
  })
const pairArb = (devices: number): fc.Arbitrary<[number, number]> =>
  fc.tuple(fc.nat(devices - 1), fc.nat(devices - 1))

/** Creates the devices: one key on every device, or the owner plus device keys it added. */
async function devices(count: number, mode: 'shared' | 'granted'): Promise<Memory[]> {
  const out: Memory[] = []
  if (mode === 'shared') {
    const seed = globalThis.crypto.getRandomValues(new Uint8Array(32))
    for (let i = 0; i < count; i++) {
      out.push(createMemory({ identity: await identityFromSeed(seed), device: `d${i}` }))
    }
  } else {
    const owner = createMemory({ identity: await generateIdentity(), device: 'd0' })
    out.push(owner)
    for (let i = 1; i < count; i++) {
      out.push(createMemory({ identity: await generateIdentity(), owner: owner.owner, device: `d${i}` }))
    }
  }
  for (const memory of out) {
    await memory.start()
    open.push(memory)
  }
  if (mode === 'granted') {
    const owner = out[0] as Memory
    for (const device of out.slice(1)) {
      const address = device.graph.address
      await owner.addDevice(address, { expiresAt: Date.now() + 86_400_000 })
    }
  }
  // a shared starting point: a few memories every device knows
  const first = out[0] as Memory
  await first.remember('base note', { key: 'k0' })
  await first.relate('user', 'city', 'Colombo', { single: true })
  await first.profile.set('persona', 'base persona')
  await first.session('s0').append({ role: 'user', content: 'base turn' })
  await quiesce(out)
  return out
}

async function apply(memory: Memory, step: Op): Promise<void> {
  const live = memory.list()
  const pick = live.length === 0 ? undefined : live[step.b % live.length]
  switch (step.op) {
    case 'remember':
      await memory.remember(`note ${step.a}.${step.b}`)
      return
    case 'rememberKeyed':
      await memory.remember(`keyed ${step.b}`, { key: `k${step.a}` })
      return
    case 'correct':
      if (pick?.kind === 'note') await memory.correct(pick.id, { text: `corrected ${step.a}` })
      else if (pick?.kind === 'turn') await memory.correct(pick.id, { content: `corrected ${step.a}` })
      else if (pick?.kind === 'fact') await memory.correct(pick.id, { object: `corrected ${step.a}` })
      else if (pick?.kind === 'profile') await memory.correct(pick.id, { value: `corrected ${step.a}` })
      return
    case 'forget':
      if (pick !== undefined && pick.kind !== 'session') await memory.forget(pick.id)
      return
    case 'relate':
      await memory.relate(`subject${step.a % 2}`, 'city', `City${step.b}`, { single: true })
      return
    case 'profile':
      await memory.profile.set(`block${step.a % 2}`, `value ${step.b}`)
      return
    case 'append':
      await memory
        .session(`s${step.a % 2}`)
        .append({ role: step.b % 2 === 0 ? 'user' : 'assistant', content: `turn ${step.b}` })
      return
  }
}

/** Every (memory id, version) a device's graph holds. */
function versions(memory: Memory): Set<string> {
  const out = new Set<string>()
  const prefix = `${memory.owner}/${MEMORY_PATH}`
  for (const soul of memory.graph.souls(memory.owner)) {
    if (!soul.startsWith(prefix)) continue
    const id = soul.slice(prefix.length)
    for (const version of memory.why(id).history) out.add(`${id}@${version.version}`)
  }
  return out
}

function fingerprint(memory: Memory): string {
  return [...versions(memory)].sort().join(',')
}

/** Syncs every pair until a full pass changes nothing anywhere. */
async function quiesce(memories: readonly Memory[]): Promise<void> {
  for (let pass = 0; pass < 5; pass++) {
    const before = memories.map(fingerprint)
    for (let i = 0; i < memories.length; i++) {
      for (let j = i + 1; j < memories.length; j++) {
        await syncPair((memories[i] as Memory).graph, (memories[j] as Memory).graph)
      }
    }
    const after = memories.map(fingerprint)
    if (after.every((f, i) => f === before[i]) && after.every((f) => f === after[0])) return
  }
  throw new Error('the devices did not quiesce')
}

function content(memory: Memory): unknown[] {
  return [...memory.list()].sort((a, b) => (a.id < b.id ? -1 : 1))
}

async function property(
  count: number,
  mode: 'shared' | 'granted',
  ops: Op[][],
  pairs: Array<[number, number]>
) {
  const memories = await devices(count, mode)
  const written = new Set<string>()
  try {
    for (const round of ops) {
      for (const step of round) await apply(memories[step.device] as Memory, step)
      for (const memory of memories) for (const v of versions(memory)) written.add(v)
      // random pairwise syncs first, then every pair until nothing moves
      for (const [i, j] of pairs) {
        if (i !== j) await syncPair((memories[i] as Memory).graph, (memories[j] as Memory).graph)
      }
    }
    await quiesce(memories)
    const [first, ...rest] = memories as [Memory, ...Memory[]]
    seen.runs++
    seen.versions += written.size
    if (first.conflicts().length > 0) seen.withConflicts++
    for (const other of rest) {
      expect(content(other)).toEqual(content(first))
      expect(other.conflicts()).toEqual(first.conflicts())
    }
    for (const memory of memories) {
      const held = versions(memory)
      for (const version of written) expect(held.has(version), `${version} on ${memory.owner}`).toBe(true)
    }
  } finally {
    for (const memory of memories) {
      await memory.stop()
      open.splice(open.indexOf(memory), 1)
    }
  }
}

/** What the generated runs reached (so a property that tests nothing is noticed). */
const seen = { runs: 0, versions: 0, withConflicts: 0 }
const RUNS = Number(process.env.ARALIYA_PROPERTY_RUNS ?? 20)

describe('devices editing offline, then syncing in random orders', () => {
  for (const [count, mode, seed] of [
    [2, 'shared', 11],
    [3, 'shared', 12],
    [2, 'granted', 13],
    [3, 'granted', 14]
  ] as const) {
    it(`${count} devices (${mode === 'shared' ? 'one key' : 'owner and device keys'}): same content, same conflicts, nothing lost`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.array(opArb(count), { maxLength: 10 }), { minLength: 1, maxLength: 2 }),
          fc.array(pairArb(count), { maxLength: 4 }),
          (ops, pairs) => property(count, mode, ops, pairs)
        ),
        { numRuns: RUNS, seed }
      )
      expect(seen.withConflicts).toBeGreaterThan(0)
      expect(seen.versions / seen.runs).toBeGreaterThan(8)
    }, 120_000)
  }

  it('concurrent edits of one single-valued fact on every device end in one listed conflict', async () => {
    const memories = await devices(3, 'shared')
    const id = (memories[0] as Memory).facts({ subject: 'user' })[0]?.id as string
    for (const [i, memory] of memories.entries()) await memory.correct(id, { object: `city ${i}` })
    await quiesce(memories)
    const conflicts = (memories[0] as Memory).conflicts()
    expect(conflicts).toHaveLength(1)
    expect(conflicts[0]?.losers).toHaveLength(2)
    for (const memory of memories) expect(memory.conflicts()).toEqual(conflicts)
  })
})

describe('the hot cache', () => {
  it('stays within cacheSize under a large workload, and everything stays readable', async () => {
    const memory = createMemory({ identity: await generateIdentity(), cacheSize: 64, prefetchTurns: 200 })
    await memory.start()
    open.push(memory)
    const session = memory.session('long')
    for (let i = 0; i < 300; i++) {
      await session.append({ role: i % 2 === 0 ? 'user' : 'assistant', content: `turn ${i}`, time: i })
      expect(memory.cached).toBeLessThanOrEqual(64)
    }
    for (let i = 0; i < 200; i++) await memory.remember(`note ${i}`, { key: `n${i % 150}` })
    expect(memory.cached).toBeLessThanOrEqual(64)
    expect(memory.list()).toHaveLength(300 + 1 + 150)
    expect(memory.cached).toBeLessThanOrEqual(64)
    expect(
      memory
        .session('long')
        .turns()
        .map((t) => t.content)
    ).toEqual(Array.from({ length: 300 }, (_, i) => `turn ${i}`))
    expect(memory.cached).toBeLessThanOrEqual(64)
    expect(memory.cached).toBeGreaterThan(0)
  })
})
