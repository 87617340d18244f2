import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateIdentity } from '@araliya/identity'
import { build } from 'esbuild'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium } from '@araliya/test-support/browser'
import { createDhtNode, type DhtNode } from '../../src/node.ts'
import { randomNetworkName, waitFor, waitForOwnPresence } from '../../src/testing.ts'

const here = dirname(fileURLToPath(import.meta.url))

interface PageApi {
  start(bootstrap: string, network: string): Promise<string>
  findAgent(address: string): Promise<{ address: string; multiaddrs: string[] }>
  received(): string[]
  meshPeers(topic: string): string[]
  publish(topic: string, text: string): Promise<number>
  multiaddrs(): string[]
  dialWebRTC(addr: string, attempts: number): Promise<{ remoteAddr: string; attempt: number }>
  connections(): Array<{ peer: string; remoteAddr: string; limited: boolean }>
  stop(): Promise<void>
}

/** Calls `window.araliya[method](...args)` in the page. */
function call<K extends keyof PageApi>(
  page: Page,
  method: K,
  ...args: Parameters<PageApi[K]>
): Promise<Awaited<ReturnType<PageApi[K]>>> {
  return page.evaluate(
    ([m, a]) =>
      (globalThis as unknown as { araliya: Record<string, (...x: unknown[]) => unknown> }).araliya[
        m as string
      ]!(...(a as unknown[])),
    [method, args] as const
  ) as Promise<Awaited<ReturnType<PageApi[K]>>>
}

describe('real browser (headless Chromium): light nodes over WebSockets and WebRTC', () => {
  const network = randomNetworkName()
  let server: Server
  let baseUrl: string
  let browser: Browser
  const pages: Page[] = []
  let bootstrap: DhtNode
  let agent: DhtNode
  let bootstrapWs: string

  beforeAll(async () => {
    const bundle = await build({
      entryPoints: [join(here, 'page.ts')],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      target: 'es2022',
      conditions: ['@araliya/source', 'browser'],
      write: false,
      logLevel: 'error',
      outfile: 'page.js'
    })
    const script = bundle.outputFiles[0]!.contents
    const html =
      '<!doctype html><meta charset="utf-8"><title>araliya</title><script type="module" src="/page.js"></script>'
    server = createServer((req, res) => {
      if (req.url === '/page.js') {
        res.writeHead(200, { 'content-type': 'text/javascript' }).end(script)
      } else {
        res.writeHead(200, { 'content-type': 'text/html' }).end(html)
      }
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`

    bootstrap = await createDhtNode({
      identity: await generateIdentity(),
      role: 'bootstrap',
      network,
      listen: ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws'],
      statusIntervalMs: 0
    })
    await bootstrap.start()
    bootstrapWs = bootstrap
      .getMultiaddrs()
      .find((ma) => ma.toString().includes('/ws'))!
      .toString()
    const bootstrapTcp = bootstrap
      .getMultiaddrs()
      .find((ma) => !ma.toString().includes('/ws'))!
      .toString()
    agent = await createDhtNode({
      identity: await generateIdentity(),
      role: 'full',
      network,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      bootstrap: [bootstrapTcp],
      statusIntervalMs: 0
    })
    await agent.start()
    await waitForOwnPresence(agent, 30_000)

    browser = await launchChromium()
  }, 120_000)

  afterAll(async () => {
    for (const page of pages) await call(page, 'stop').catch(() => {})
    await browser?.close()
    await Promise.allSettled([agent?.stop(), bootstrap?.stop()])
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()))
  }, 60_000)

  async function openPage(): Promise<Page> {
    const context = await browser.newContext()
    const page = await context.newPage()
    pages.push(page)
    page.on('pageerror', (err) => console.error('[page error]', err.message))
    await page.goto(baseUrl)
    await page.waitForFunction(
      () => (globalThis as unknown as { araliyaReady?: boolean }).araliyaReady === true
    )
    return page
  }

  it('joins through a Node bootstrap over WebSockets, finds an agent and receives gossip', async () => {
    const page = await openPage()
    const address = await call(page, 'start', bootstrapWs, network)
    expect(address).toMatch(/^12D3KooW/)
    const found = await call(page, 'findAgent', agent.address)
    expect(found.address).toBe(agent.address)
    expect(found.multiaddrs.length).toBeGreaterThan(0)
    await waitFor(
      async () => bootstrap.gossip.getMeshPeers('agent-messages').includes(address),
      60_000,
      'the browser in the mesh'
    )
    await waitFor(
      async () => {
        await agent.gossip.publish('agent-messages', new TextEncoder().encode('hello browser'))
        return (await call(page, 'received')).includes('hello browser')
      },
      60_000,
      'gossip in the browser'
    )
    // And the other way round.
    const fromBrowser = new Promise<string>((resolve) => {
      agent.gossip.addEventListener('gossip:message', (event) => {
        const text = new TextDecoder().decode(event.detail.data)
        if (text === 'hello node') resolve(event.detail.from)
      })
    })
    await waitFor(
      async () => {
        await call(page, 'publish', 'agent-messages', 'hello node')
        return Promise.race([
          fromBrowser.then(() => true),
          new Promise<boolean>((r) => setTimeout(() => r(false), 500))
        ])
      },
      60_000,
      'gossip from the browser'
    )
    expect(await fromBrowser).toBe(address)
  })

  it('connects two pages over WebRTC signalled through the circuit relay', async () => {
    const [first, second] = [await openPage(), await openPage()]
    const firstAddress = await call(first, 'start', bootstrapWs, network)
    await call(second, 'start', bootstrapWs, network)
    let webrtcAddr: string | undefined
    await waitFor(
      async () => {
        webrtcAddr = (await call(first, 'multiaddrs')).find((ma) => ma.includes('/p2p-circuit/webrtc/'))
        return webrtcAddr !== undefined
      },
      60_000,
      'a relayed WebRTC address on the first page'
    )
    // The first WebRTC attempt fails about one time in five: dial with retries.
    const result = await call(second, 'dialWebRTC', webrtcAddr!, 5)
    expect(result.remoteAddr).toContain('/webrtc')
    const direct = (await call(second, 'connections')).filter((c) => c.peer === firstAddress && !c.limited)
    expect(direct.some((c) => c.remoteAddr.includes('/webrtc'))).toBe(true)
  })
})
