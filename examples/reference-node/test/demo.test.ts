import { execFile } from 'node:child_process'
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'

const run = promisify(execFile)
let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'araliya-demo-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function demo(): Promise<Record<string, unknown>> {
  const { stdout } = await run(
    process.execPath,
    ['--conditions=@araliya/source', '--import', 'tsx', 'src/cli.ts', 'demo', '--data-dir', dir],
    { cwd: join(import.meta.dirname, '..') }
  )
  const last = stdout.trim().split('\n').at(-1) as string
  return JSON.parse(last) as Record<string, unknown>
}

describe('pnpm demo (smoke)', () => {
  it('creates an identity on the first run and loads the same one afterwards', async () => {
    const first = await demo()
    expect(first).toMatchObject({ demo: 'ok', created: true, crossContextRejected: true })
    const second = await demo()
    expect(second).toMatchObject({
      demo: 'ok',
      created: false,
      address: first.address,
      shortId: first.shortId
    })
  })

  it('refuses a key file others can read, with a message that says what to do, and exit code 1', async () => {
    await demo()
    await chmod(join(dir, 'identity', 'identity.key'), 0o644)
    const failure = await demo().catch((err: { code: number; stderr: string }) => err)
    expect((failure as { code: number }).code).toBe(1)
    expect((failure as { stderr: string }).stderr).toContain('chmod 600')
  })
})
