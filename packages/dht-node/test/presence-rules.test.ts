import { encodeCanonical, type Identity, identityFromSeed } from '@araliya/identity'
import { InvalidInputError } from '@araliya/interface'
import { describe, expect, it } from 'vitest'
import { lookAlikeAddresses, secondSpellings } from '@araliya/test-support/addresses'
import { InvalidRecordError } from '../src/errors.ts'
import { PRESENCE_CONTEXT, presenceKey, validatePresenceRecord } from '../src/presence.ts'
import { checkNodeStatus, encodeNodeStatus, type NodeStatus } from '../src/status.ts'
import { createMemoryNode, randomNetworkName } from '../src/testing.ts'

const NOW = 1_750_000_000_000
const HOUR = 3_600_000
const alice = await identityFromSeed(new Uint8Array(32).fill(11))

interface Body {
  v: number
  address: string
  multiaddrs: string[]
  skills: string[]
  seq: number
  expires: number
}

function body(overrides: Partial<Body> = {}): Body {
  return {
    v: 1,
    address: alice.address,
    multiaddrs: ['/ip4/192.0.2.1/tcp/4001'],
    skills: ['code-review', 'translate'],
    seq: 1,
    expires: NOW + HOUR,
    ...overrides
  }
}

/** Signs any body as-is (no normalising), the way a hostile or careless implementation could. */
async function signed(signer: Identity, b: Body): Promise<Uint8Array> {
  const sig = await signer.sign(PRESENCE_CONTEXT, encodeCanonical({ ...b }))
  return encodeCanonical({ ...b, sig })
}

async function verdict(b: Body, key = presenceKey(b.address)): Promise<string> {
  try {
    await validatePresenceRecord(key, await signed(alice, b), { now: NOW })
    return 'valid'
  } catch (err) {
    if (InvalidRecordError.isInstance(err)) return err.reason
    throw err
  }
}

describe('presence record rules the docs state', () => {
  it('accepts the documented shape', async () => {
    expect(await verdict(body())).toBe('valid')
  })

  it('skills must be sorted and unique', async () => {
    expect(await verdict(body({ skills: ['b', 'a'] }))).toBe('malformed')
    expect(await verdict(body({ skills: ['a', 'a'] }))).toBe('malformed')
    expect(await verdict(body({ skills: ['a', 'b'] }))).toBe('valid')
  })

  it('multiaddrs have the documented syntax and no /p2p/<id> suffix', async () => {
    const bad = [
      `/ip4/192.0.2.1/tcp/4001/p2p/${alice.address}`,
      '/ip4/192.0.2.1/tcp/4001/ipfs/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N',
      'ip4/192.0.2.1/tcp/4001',
      '/ip4/192.0.2.1//tcp/4001',
      '/ip4/192.0.2.1/tcp/4001/',
      '/dns4/exam ple.com/tcp/1',
      '/dns4/ex\u0430mple.com/tcp/1',
      `/dns4/${'a'.repeat(600)}/tcp/1`,
      '/'
    ]
    for (const ma of bad) expect(await verdict(body({ multiaddrs: [ma] })), ma).toBe('malformed')
    const good = [
      '/ip6/::1/udp/4001/quic-v1',
      `/ip4/192.0.2.9/tcp/4001/p2p/${alice.address}/p2p-circuit`,
      '/memory/node-1',
      '/dns4/example.com/tcp/443/wss'
    ]
    expect(await verdict(body({ multiaddrs: good }))).toBe('valid')
  })

  it('the address must be canonical: a second spelling of the key is refused even when signed', async () => {
    for (const [name, spelling] of Object.entries(secondSpellings(alice.publicKey))) {
      expect(await verdict(body({ address: spelling })), name).toBe('malformed')
    }
  })

  it('integers above 2^53-1 and negative integers are malformed', async () => {
    expect(await verdict(body({ seq: 2 ** 53 - 1 }))).toBe('valid')
    expect(await verdict(body({ seq: 2 ** 53 }))).toBe('malformed')
    expect(await verdict(body({ expires: 2 ** 64 }))).toBe('malformed')
    expect(await verdict(body({ seq: -1 }))).toBe('malformed')
  })
})

describe('node-status heartbeat rules the docs state', () => {
  const status: NodeStatus = {
    v: 1,
    address: alice.address,
    role: 'full',
    peers: 3,
    mesh: { 'agent-announcements': 2, 'agent-messages': 2, 'node-status': 2 },
    dht: { mode: 'server', routingTable: 3 },
    memory: 1_000_000,
    uptimeMs: 60_000,
    timestamp: NOW
  }
  const check = (s: unknown, signer = alice.address) =>
    checkNodeStatus(encodeNodeStatus(s as NodeStatus), signer)

  it('accepts a heartbeat signed (StrictSign) by its address', () => {
    expect(check(status).action).toBe('accept')
  })

  it('refuses a heartbeat whose address is not the gossip signer', async () => {
    const bob = await identityFromSeed(new Uint8Array(32).fill(12))
    expect(check(status, bob.address)).toMatchObject({ action: 'reject', reason: 'signer-mismatch' })
  })

  it('role, dht mode, field set and address are closed', () => {
    for (const bad of [
      { ...status, role: 'admin' },
      { ...status, dht: { ...status.dht, mode: 'both' } },
      { ...status, dht: { ...status.dht, extra: 1 } },
      { ...status, extra: 1 },
      { ...status, address: Object.values(lookAlikeAddresses(alice.address))[0] },
      { ...status, address: Object.values(secondSpellings(alice.publicKey))[0] },
      { ...status, mesh: { 'agent-messages': -1 } }
    ]) {
      expect(check(bad), JSON.stringify(bad).slice(0, 120)).toMatchObject({
        action: 'foreign',
        reason: 'malformed'
      })
    }
  })
})

describe('addresses from callers', () => {
  it('findAgent and dialAgent refuse look-alikes and second spellings before any query or dial', async () => {
    const node = await createMemoryNode({ network: randomNetworkName(), role: 'bootstrap', identity: alice })
    await node.start()
    try {
      const bob = await identityFromSeed(new Uint8Array(32).fill(12))
      for (const bad of [
        ...Object.values(lookAlikeAddresses(bob.address)),
        ...Object.values(secondSpellings(bob.publicKey))
      ]) {
        await expect(node.findAgent(bad), bad).rejects.toThrowError(InvalidInputError)
        await expect(node.dialAgent(bad), bad).rejects.toThrowError(InvalidInputError)
      }
    } finally {
      await node.stop()
    }
  })
})
