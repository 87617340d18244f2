import { createGraph, type Graph, graphSyncEndpoint } from '@araliya/crdt-graph'
import { generateIdentity } from '@araliya/identity'
import type { SyncSession } from '@araliya/interface'
import { afterEach, expect, it } from 'vitest'
import { SpacesEndpoint } from '../src/replication/endpoint.js'
import { syncPair } from './helpers.js'
import { holdsSpace, whenGraph } from './swarm.js'

const graphs: Graph[] = []
const sessions: SyncSession[] = []
afterEach(async () => {
  for (const session of sessions.splice(0)) session.stop()
  for (const graph of graphs.splice(0)) await graph.stop()
})

async function graph(): Promise<Graph> {
  const g = createGraph({ identity: await generateIdentity() })
  await g.start()
  graphs.push(g)
  return g
}

/** Wires a plain endpoint on `a` and a spaces endpoint on `b` back to back. */
async function wire(a: Graph, b: SpacesEndpoint): Promise<void> {
  const toB: SyncSession = graphSyncEndpoint(a).open({ peer: 'b', send: (bytes) => fromA.receive(bytes) })
  const fromA: SyncSession = b.open({ peer: 'a', send: (bytes) => toB.receive(bytes) })
  sessions.push(toB, fromA)
  await toB.start()
  await fromA.start()
}

it('asks for, accepts and serves only its spaces, and takes a new space when the set grows', async () => {
  const x = await graph()
  const y = await graph()
  await x.put(`${x.address}/note`, { text: 'x' })
  await y.put(`${y.address}/note`, { text: 'y' })
  await syncPair(x, y) // x now holds both spaces
  const b = await graph()
  await b.put(`${b.address}/own`, { text: 'b' })
  const endpoint = new SpacesEndpoint(b, [x.address])
  await wire(x, endpoint)
  await whenGraph(b, () => holdsSpace(b, x, x.address))
  expect(b.get(`${y.address}/note`)).toBeUndefined()
  // b's own space is not in its set: not served
  expect(x.get(`${b.address}/own`)).toBeUndefined()

  endpoint.setSpaces([x.address, y.address])
  await whenGraph(b, () => holdsSpace(b, x, y.address))
  expect(b.get(`${y.address}/note`)).toEqual({ text: 'y' })
})

it('a restricted space is asked only of the peers allowed for it', async () => {
  const x = await graph()
  await x.put(`${x.address}/note`, { text: 'x' })
  const b = await graph()
  const endpoint = new SpacesEndpoint(b, [x.address])
  endpoint.restrict(x.address, new Set(['someone-else']))
  expect(endpoint.spacesFor('a').has(x.address)).toBe(false)
  expect(endpoint.spacesFor('someone-else').has(x.address)).toBe(true)
  await wire(x, endpoint)
  endpoint.restrict(x.address, new Set(['a']))
  await whenGraph(b, () => holdsSpace(b, x, x.address))
  expect(b.get(`${x.address}/note`)).toEqual({ text: 'x' })
  endpoint.restrict(x.address, undefined)
  expect(endpoint.spacesFor('a').has(x.address)).toBe(true)
})

it('after its spaces change, a session still forwards new commits to the peer live', async () => {
  const x = await graph()
  await x.put(`${x.address}/note`, { text: 'x' })
  const b = await graph()
  const endpoint = new SpacesEndpoint(b, [x.address])
  await wire(x, endpoint)
  await whenGraph(b, () => holdsSpace(b, x, x.address))
  // The set changes moments after the peer's hello (which it may not repeat for a while).
  endpoint.setSpaces([x.address, b.address])
  await b.put(`${b.address}/later`, { text: 'live' })
  await whenGraph(x, () => x.get(`${b.address}/later`) !== undefined, 10_000)
  expect(x.get(`${b.address}/later`)).toEqual({ text: 'live' })
})
