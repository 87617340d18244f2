/**
 * node-start: from process start to a ready node — libp2p started on loopback TCP, connected to its
 * bootstrap node, subscribed to the swarm topics. Each sample spawns a fresh Node process and the parent
 * measures spawn to "ready" on its own clock. The child is this file's `--child` mode bundled with esbuild
 * into one ES module (as an app ships it; native and lazily loaded packages stay external), so the figure
 * is the node's start, not TypeScript transpilation. The same child run through tsx from source (the dev
 * loop) is reported as `tsxSourceP50` for reference. There is no peer: the target is absolute
 * (<= 200 ms), expressed as ours / 200 ms <= 1.
 */
import { spawn } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createDhtNode } from '@araliya/dht-node'
import { generateIdentity } from '@araliya/identity'
import { FULL, now, percentile, report } from '../lib/report.ts'

const TARGET_MS = 200
const SAMPLES = FULL ? 30 : 10
const WARMUP = 2
const network = 'bench-node-start'

if (process.argv.includes('--child')) {
  const loadedAt = performance.now()
  const bootstrap = process.argv[process.argv.indexOf('--child') + 1]!
  const identity = await generateIdentity()
  const node = await createDhtNode({
    identity,
    network,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    bootstrap: [bootstrap],
    statusIntervalMs: 0
  })
  const createdAt = performance.now()
  await node.start()
  const startedAt = performance.now()
  await node.waitForBootstrap({ signal: AbortSignal.timeout(10_000) })
  if (process.env.ARALIYA_BENCH_TRACE === '1') {
    process.stderr.write(
      `loaded ${loadedAt} created ${createdAt} started ${startedAt} ready ${performance.now()}\n`
    )
  }
  const subscribed = node.gossip.getTopics().length
  process.stdout.write(`${JSON.stringify({ ready: performance.now(), subscribed })}\n`)
  await node.stop()
  process.exit(0)
}

const bootstrapNode = await createDhtNode({
  identity: await generateIdentity(),
  role: 'bootstrap',
  network,
  listen: ['/ip4/127.0.0.1/tcp/0'],
  statusIntervalMs: 0,
  connectionManager: { inboundConnectionThreshold: 10_000 }
})
await bootstrapNode.start()
const bootstrapAddr = bootstrapNode
  .getMultiaddrs()
  .find((ma) => ma.toString().includes('/tcp/'))!
  .toString()
const self = fileURLToPath(import.meta.url)
// The bundle lives next to the dht-node package's own node_modules so its externals resolve.
const bundleDir = join(dirname(self), '..', '..', 'packages', 'dht-node', 'node_modules', '.cache')
mkdirSync(bundleDir, { recursive: true })
const bundle = join(bundleDir, 'araliya-node-start-child.mjs')
// Loaded here, in the parent only: the child is this same file, and importing the bundler there (about
// 30 ms) would be counted as the node's start.
const { build } = await import('esbuild')
await build({
  entryPoints: [self],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  minify: true,
  outfile: bundle,
  conditions: ['@araliya/source'],
  external: ['datastore-level', 'level', 'classic-level', 'esbuild', 'node-datachannel'],
  banner: {
    js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);"
  },
  logLevel: 'error'
})

function sample(args: string[]): Promise<{ wallMs: number; inProcessMs: number }> {
  return new Promise((resolve, reject) => {
    const started = now()
    const child = spawn(process.execPath, [...args, '--child', bootstrapAddr], {
      stdio: ['ignore', 'pipe', 'inherit']
    })
    let out = ''
    let result: { wallMs: number; inProcessMs: number } | undefined
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      const line = out.split('\n').find((l) => l.startsWith('{'))
      if (line !== undefined && result === undefined) {
        const parsed = JSON.parse(line) as { ready: number; subscribed: number }
        if (parsed.subscribed !== 3) reject(new Error(`child subscribed to ${parsed.subscribed} topics`))
        result = { wallMs: now() - started, inProcessMs: parsed.ready }
      }
    })
    child.on('exit', (code) => {
      if (result !== undefined) resolve(result)
      else reject(new Error(`child exited with ${code} before it was ready`))
    })
  })
}

const wall: number[] = []
const inProcess: number[] = []
for (let i = 0; i < WARMUP + SAMPLES; i++) {
  const { wallMs, inProcessMs } = await sample([bundle])
  if (i >= WARMUP) {
    wall.push(wallMs)
    inProcess.push(inProcessMs)
  }
}
const tsx: number[] = []
for (let i = 0; i < 3; i++) {
  tsx.push((await sample(['--conditions=@araliya/source', '--import', 'tsx', self])).wallMs)
}
await bootstrapNode.stop()

const round = (v: number): number => Math.round(v * 10) / 10
report(
  'node-start',
  [
    {
      metric: 'process start to ready p50',
      unit: 'ms',
      ours: round(percentile(wall, 50)),
      peer: `target (${TARGET_MS} ms)`,
      peerValue: TARGET_MS,
      better: 'lower',
      target: 1
    }
  ],
  {
    samples: SAMPLES,
    p90: round(percentile(wall, 90)),
    inProcessP50: round(percentile(inProcess, 50)),
    tsxSourceP50: round(percentile(tsx, 50)),
    loader: 'esbuild bundle of the sources (one ES module); tsxSourceP50 = tsx from source',
    transport: 'tcp loopback+noise+yamux'
  }
)
