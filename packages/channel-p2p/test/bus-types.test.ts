import { type Bus, createBus } from '@araliya/bus'
import { generateIdentity } from '@araliya/identity'
import type { SwarmGossip } from '@araliya/interface'
import { expect, it } from 'vitest'
import { createChannel } from '../src/index.js'

/** A typed topic map, as an app declares one. */
interface AppEvents {
  'agents/hello': { text: string }
  'direct/note': { text: string; urgent?: boolean }
}

const gossip: SwarmGossip = {
  network: 'types',
  subscribe: () => undefined,
  unsubscribe: () => undefined,
  publish: async () => ({ recipients: 0 }),
  addValidator: () => () => undefined
}

it('a typed Bus<Events> is accepted as it is; a non-bus is a type error', async () => {
  const identity = await generateIdentity()
  const bus: Bus<AppEvents> = createBus<AppEvents>()
  // No cast: the typecheck of this file is the test.
  const channel = createChannel({ identity, bus, gossip })
  expect(channel.bus).toBe(bus)
  const notABus = () =>
    // @ts-expect-error a bus must subscribe as well as publish
    createChannel({ identity, bus: { publish: () => undefined }, gossip })
  expect(typeof notABus).toBe('function')
  bus.close()
})
