import { type Identity, identityFromSeed } from '@araliya/identity'
import { COMMIT_CONTEXT, encodeCommitBody, makeEnvelope, type OpTuple } from '../src/commit.js'
import { createGraph, type Graph, type GraphInit, type GraphStore, memoryStore } from '../src/index.js'
import { seededRandom } from '@araliya/test-support/random'

const cache = new Map<number, Promise<Identity>>()

/** A deterministic identity for test `n`. */
export function testIdentity(n: number): Promise<Identity> {
  let identity = cache.get(n)
  if (identity === undefined) {
    const seed = new Uint8Array(32)
    seed[0] = n & 0xff
    seed[1] = (n >> 8) & 0xff
    seed[31] = 7
    identity = identityFromSeed(seed)
    cache.set(n, identity)
  }
  return identity
}

/** A manual wall clock. */
export class ManualClock {
  ms: number
  constructor(start = 1_750_000_000_000) {
    this.ms = start
  }
  now = (): number => this.ms
  advance(ms: number): void {
    this.ms += ms
  }
}

/** Creates and starts a graph. */
export async function startGraph(
  identity: Identity,
  options: Partial<GraphInit> & { store?: GraphStore } = {}
): Promise<Graph> {
  const graph = createGraph({ identity, store: options.store ?? memoryStore(), ...options })
  await graph.start()
  return graph
}

/** Every envelope a graph's store holds, in append order. */
export async function allEnvelopes(graph: Graph): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for await (const batch of graph.store.replay()) out.push(...batch)
  return out
}

/** A comparable snapshot of a graph's whole state (winners, with clocks and signers). */
export function snapshot(graph: Graph): string {
  const souls = [...graph.souls()].sort()
  const out: unknown[] = []
  for (const soul of souls) {
    const fields = graph.get(soul) ?? {}
    const names = Object.keys(fields).sort()
    for (const name of names) {
      const state = graph.getField(soul, name)
      out.push([soul, name, state?.hlc, state?.signer, serialise(state?.value)])
    }
  }
  return JSON.stringify(out)
}

function serialise(value: unknown): unknown {
  if (value instanceof Uint8Array) return { bytes: [...value] }
  return value
}

/** Wires two graphs back to back through sync peers with a controllable channel. */
export function shuffle<T>(items: T[], random: () => number): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[out[i], out[j]] = [out[j] as T, out[i] as T]
  }
  return out
}

/** A small seeded PRNG (mulberry32). */
export const seeded = seededRandom

/**
 * Signs a hand-made commit (what a hostile or buggy peer could send). A commit with `dep > 0` names the
 * owner commits it has seen in `seen` (ids, any order; sorted here as the format requires).
 */
export async function forge(
  signer: Identity,
  init: {
    space: string
    seq: number
    prev: Uint8Array | null
    clock: number
    dep?: number
    seen?: Uint8Array[]
    ops: OpTuple[]
  }
): Promise<Uint8Array> {
  const seen = [...(init.seen ?? [])].sort(compareBytes)
  if ((init.dep ?? 0) > 0 && seen.length === 0) {
    throw new Error('forge: a commit with dep > 0 names the owner commits it has seen; pass seen')
  }
  const body = encodeCommitBody({ author: signer.address, dep: 0, ...init, seen })
  return makeEnvelope(await signer.sign(COMMIT_CONTEXT, body), body)
}

/**
 * A stranger's first commit into `owner`'s space, with no grant: it sets `field` of `soul` to `value`,
 * stamped at `clock.ms` and naming the owner heads `graph` holds as seen. Every replica refuses it as
 * unauthorised.
 */
export function forgeUngranted(
  stranger: Identity,
  graph: Graph,
  owner: Identity,
  clock: ManualClock,
  [soul, field, value]: [string, string, string]
): Promise<Uint8Array> {
  return forge(stranger, {
    space: owner.address,
    seq: 1,
    prev: null,
    clock: clock.ms * 1024,
    dep: 1,
    seen: headIds(graph, owner.address, owner.address),
    ops: [[soul, field, 0, value]]
  })
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.byteLength, b.byteLength); i++) {
    const d = (a[i] as number) - (b[i] as number)
    if (d !== 0) return d
  }
  return a.byteLength - b.byteLength
}

/** The ids of the heads (branch tips) a graph holds of one chain, highest first. */
export function headIds(graph: Graph, space: string, author: string): Uint8Array[] {
  return graph
    .versionVector(new Set([space]))
    .filter((head) => head.author === author)
    .map((head) => head.head)
}

/** Hex to bytes. */
export function fromHex(hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex, 'hex'))
}
