/**
 * Real-browser test support shared by the packages' browser suites: bundles a page entry with esbuild
 * (browser conditions, workspace sources), serves it on 127.0.0.1, and drives Debian's headless
 * Chromium through playwright-core. Never downloads a browser.
 */
import { existsSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { build } from 'esbuild'
import { type Browser, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe } from 'vitest'

/** The Chromium binary the suites use (`ARALIYA_CHROMIUM` overrides the Debian path). */
export const CHROMIUM_PATH = process.env.ARALIYA_CHROMIUM ?? '/usr/bin/chromium'

/** Flags for Debian's Chromium here: headless, and no background traffic to hosts this machine can't reach. */
export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync'
]

/** Launches headless Chromium (a fresh profile each time). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS] })
}

/**
 * Whether the browser suites can run here. Without a browser they are skipped with a loud notice, unless
 * `ARALIYA_REQUIRE_BROWSER=1` (CI), in which case this throws so the suite fails.
 */
export function browserAvailable(suite: string): boolean {
  if (existsSync(CHROMIUM_PATH)) return true
  const notice =
    `NOTICE: the real-browser suite of ${suite} did NOT run: ${CHROMIUM_PATH} is missing. ` +
    'Install it with "apt-get update && apt-get install -y chromium" (or set ARALIYA_CHROMIUM).'
  if (process.env.ARALIYA_REQUIRE_BROWSER === '1') {
    throw new Error(`${notice} ARALIYA_REQUIRE_BROWSER=1 is set, so this is a failure.`)
  }
  console.warn(notice)
  return false
}

/** A served test page in a running headless Chromium. Call `close()` to stop both. */
export interface BrowserPage {
  browser: Browser
  page: Page
  url: string
  /** Opens another page (tab) of the same browser profile on the same URL. */
  newPage(): Promise<Page>
  /** Reloads the main page and waits until its script is ready again. */
  reload(): Promise<void>
  close(): Promise<void>
}

/**
 * Bundles `entry` for the browser, serves it at `http://127.0.0.1:<port>/`, launches Chromium and opens it.
 * The page's script runs as a module; expose what the test calls through `globalThis`.
 */
export async function openTestPage(entry: string): Promise<BrowserPage> {
  const bundle = await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'chrome120',
    write: false,
    conditions: ['@araliya/source', 'browser', 'module', 'import'],
    logLevel: 'silent'
  })
  const script = bundle.outputFiles[0]?.text ?? ''
  const html =
    '<!doctype html><meta charset="utf-8"><title>araliya test</title><script type="module" src="/app.js"></script>'
  const server: Server = createServer((req, res) => {
    if (req.url === '/app.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' })
      res.end(script)
    } else {
      res.writeHead(200, { 'content-type': 'text/html' })
      res.end(html)
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
  let browser: Browser | undefined
  try {
    browser = await launchChromium()
    const context = await browser.newContext()
    const open = async (): Promise<Page> => {
      const page = await context.newPage()
      await page.goto(url)
      await page.waitForFunction(() => (globalThis as { ready?: boolean }).ready === true)
      return page
    }
    const page = await open()
    const opened = browser
    const ready = () => page.waitForFunction(() => (globalThis as { ready?: boolean }).ready === true)
    return {
      browser: opened,
      page,
      url,
      newPage: open,
      async reload() {
        await page.reload()
        await ready()
      },
      async close() {
        await opened.close()
        await new Promise<void>((resolve) => server.close(() => resolve()))
      }
    }
  } catch (err) {
    await browser?.close()
    server.close()
    throw err
  }
}

/**
 * A real-browser suite: serves and opens `pageEntry` once for all its tests (skipped with a notice when
 * Chromium is missing, failing under `ARALIYA_REQUIRE_BROWSER=1`), and closes everything afterwards.
 * `body` gets a function returning the open page.
 */
export function describeInBrowser(
  suite: string,
  pageEntry: string,
  body: (browser: () => BrowserPage) => void
): void {
  const run = browserAvailable(suite) ? describe : describe.skip
  run(`${suite} in a real browser (headless Chromium)`, () => {
    let browser: BrowserPage | undefined
    beforeAll(async () => {
      browser = await openTestPage(pageEntry)
    }, 60_000)
    afterAll(async () => {
      await browser?.close()
    })
    body(() => browser as BrowserPage)
  })
}
