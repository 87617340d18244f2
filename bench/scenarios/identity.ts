// identity: sign and verify throughput of @araliya/identity against raw node:crypto ed25519 on the same
// 256-byte payload, alternating rounds in one process (BENCHMARKS.md). Target: >= 0.9x raw for both.
import { createPrivateKey, createPublicKey, randomBytes, sign, verify as rawVerify } from 'node:crypto'
import { generateIdentity, verify } from '@araliya/identity'
import { alternate, FULL, median, now, report } from '../lib/report.ts'

const OPS = FULL ? 20_000 : 4_000
const ROUNDS = FULL ? 15 : 7
const CONTEXT = 'araliya/bench/v1'

const identity = await generateIdentity()
const payload = new Uint8Array(randomBytes(256))
const seed = identity.exportSeed()
const privateKey = createPrivateKey({
  key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]),
  format: 'der',
  type: 'pkcs8'
})
const publicKey = createPublicKey({
  key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), identity.publicKey]),
  format: 'der',
  type: 'spki'
})
const ourSignature = await identity.sign(CONTEXT, payload)
const rawSignature = sign(null, payload, privateKey)
if (!(await verify(identity.address, CONTEXT, payload, ourSignature)))
  throw new Error('our signature did not verify')
if (!rawVerify(null, payload, publicKey, rawSignature)) throw new Error('raw signature did not verify')

async function oursSign(): Promise<number> {
  const start = now()
  for (let i = 0; i < OPS; i++) await identity.sign(CONTEXT, payload)
  return OPS / ((now() - start) / 1000)
}
function rawSign(): number {
  const start = now()
  for (let i = 0; i < OPS; i++) sign(null, payload, privateKey)
  return OPS / ((now() - start) / 1000)
}
async function oursVerify(): Promise<number> {
  const start = now()
  for (let i = 0; i < OPS; i++) {
    if (!(await verify(identity.address, CONTEXT, payload, ourSignature))) throw new Error('verify failed')
  }
  return OPS / ((now() - start) / 1000)
}
function rawVerifyLoop(): number {
  const start = now()
  for (let i = 0; i < OPS; i++) {
    if (!rawVerify(null, payload, publicKey, rawSignature)) throw new Error('verify failed')
  }
  return OPS / ((now() - start) / 1000)
}

const signing = await alternate(ROUNDS, 2, oursSign, rawSign)
const verifying = await alternate(ROUNDS, 2, oursVerify, rawVerifyLoop)
const unit = 'ops/s'
const peer = 'node:crypto ed25519 (raw, cached KeyObject)'
report(
  'identity',
  [
    {
      metric: 'sign',
      unit,
      ours: Math.round(median(signing.ours)),
      peer,
      peerValue: Math.round(median(signing.peer)),
      better: 'higher',
      target: 0.9
    },
    {
      metric: 'verify',
      unit,
      ours: Math.round(median(verifying.ours)),
      peer,
      peerValue: Math.round(median(verifying.peer)),
      better: 'higher',
      target: 0.9
    }
  ],
  { payloadBytes: payload.byteLength, opsPerRound: OPS, rounds: ROUNDS }
)
