import { defaultLogger } from '@libp2p/logger'
import { webSockets } from '@libp2p/websockets'
import { multiaddr } from '@multiformats/multiaddr'
import { TypedEventEmitter } from 'main-event'
import { describe, expect, it } from 'vitest'
import { platform } from '../src/platform/node.ts'

const ADDRS = [
  '/ip4/127.0.0.1/tcp/4001',
  '/ip4/127.0.0.1/tcp/4001/ws',
  '/ip4/127.0.0.1/tcp/4001/wss',
  '/ip4/127.0.0.1/tcp/4001/tls/ws',
  '/ip6/::1/tcp/4001/ws/p2p/12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5',
  '/dns4/example.com/tcp/443/wss',
  '/dns/example.com/tcp/443/tls/sni/example.com/ws',
  '/ip4/127.0.0.1/tcp/4001/ws/p2p/12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5/p2p-circuit',
  '/ip4/127.0.0.1/udp/4001/quic-v1',
  '/memory/x'
].map((text) => multiaddr(text))

function components(): Record<string, unknown> {
  return { logger: defaultLogger(), events: new TypedEventEmitter() }
}

describe('the WebSockets transport, loaded on first use', () => {
  const lazy = platform.transports()[1] as unknown as (c: unknown) => {
    listenFilter(m: typeof ADDRS): typeof ADDRS
    dialFilter(m: typeof ADDRS): typeof ADDRS
    createListener(o: unknown): EventTarget & { getAddrs(): unknown[]; close(): Promise<void> }
    [Symbol.toStringTag]: string
  }

  it('takes exactly the addresses @libp2p/websockets takes, for listening and dialling', () => {
    const real = webSockets()(components() as never)
    const stand = lazy(components())
    expect(stand[Symbol.toStringTag]).toBe(real[Symbol.toStringTag])
    expect(stand.listenFilter(ADDRS).map(String)).toEqual(real.listenFilter(ADDRS).map(String))
    expect(stand.dialFilter(ADDRS).map(String)).toEqual(real.dialFilter(ADDRS).map(String))
    expect(stand.dialFilter(ADDRS).length).toBeGreaterThan(3)
  })

  it('a listener closed before it listened reports close and holds no addresses', async () => {
    const listener = lazy(components()).createListener({ upgrader: {} })
    let closed = 0
    listener.addEventListener('close', () => closed++)
    expect(listener.getAddrs()).toEqual([])
    await listener.close()
    expect(closed).toBe(1)
  })
})
