import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestNetwork, type TestNetwork } from '../src/testing.ts'

describe('smoke', () => {
  let net: TestNetwork
  beforeAll(async () => {
    net = await createTestNetwork({ nodes: 5, lightNodes: 1 })
  })
  afterAll(async () => {
    await net?.stop()
  })

  it('finds an agent by address', async () => {
    const [a, b] = net.full
    const info = await a!.findAgent(b!.address)

    expect(info.address).toBe(b!.address)
    expect(info.multiaddrs.length).toBeGreaterThan(0)
    const light = net.light[0]!
    const info2 = await light.findAgent(a!.address)
    expect(info2.address).toBe(a!.address)
    expect(light.presence).toBeDefined()
  })
})
