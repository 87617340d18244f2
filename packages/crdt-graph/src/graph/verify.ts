import {
  decodeGrant,
  decodeRevocation,
  type Ed25519Backend,
  type Grant,
  publicKeyFromAddress,
  type Revocation,
  signedBytes,
  verify,
  verifyGrant,
  verifyRevocation
} from '@araliya/identity'
import { COMMIT_CONTEXT, type Commit } from '../commit.js'
import { CommitFormatError, InvalidSignatureError } from '../errors.js'
import { toHex } from '../hash.js'

/** A commit whose signature (and the grants and revocations it carries) verified, with those decoded. */
export interface Prepared {
  readonly commit: Commit
  readonly grants: readonly Grant[]
  readonly revocations: readonly Revocation[]
}

const EMPTY_GRANTS: readonly Grant[] = []
const EMPTY_REVOCATIONS: readonly Revocation[] = []
/** The fixed prefix `signedBytes(COMMIT_CONTEXT, body)` puts in front of a body (see @araliya/identity). */
const COMMIT_SIGNING_HEADER = signedBytes(COMMIT_CONTEXT, new Uint8Array(0))
let signingScratch = new Uint8Array(4096)

/**
 * `signedBytes(COMMIT_CONTEXT, body)` built in a reused buffer (no allocation per verified commit). The
 * result is only valid until the next call; the synchronous verify that uses it finishes before that.
 */
function commitSignedBytes(body: Uint8Array): Uint8Array {
  const size = COMMIT_SIGNING_HEADER.byteLength + body.byteLength
  if (size > signingScratch.byteLength)
    signingScratch = new Uint8Array(Math.max(size, signingScratch.byteLength * 2))
  signingScratch.set(COMMIT_SIGNING_HEADER)
  signingScratch.set(body, COMMIT_SIGNING_HEADER.byteLength)
  return signingScratch.subarray(0, size)
}

/**
 * Checks a decoded commit's signature and the grants and revocations it carries. Commits without grants
 * verify synchronously where the platform allows (`node:crypto`: no promise per commit).
 */
export function verifyCommit(
  commit: Commit,
  backend: Ed25519Backend | undefined
): Prepared | Promise<Prepared> {
  // Only node:crypto verifies synchronously; the others go through identity's (async) verify.
  if (backend === undefined || backend.name !== 'node:crypto') return verifyCommitAsync(commit)
  const ok = backend.verify(
    publicKeyFromAddress(commit.author),
    commitSignedBytes(commit.body),
    commit.signature
  )
  if (ok !== true) throw badSignature(commit)
  const prepared = decodeAuthority(commit)
  if (prepared.grants.length === 0 && prepared.revocations.length === 0) return prepared
  return verifyAuthority(prepared)
}

/** {@link verifyCommit} through identity's asynchronous `verify` (every backend). */
export async function verifyCommitAsync(commit: Commit): Promise<Prepared> {
  if (!(await verify(commit.author, COMMIT_CONTEXT, commit.body, commit.signature))) {
    throw badSignature(commit)
  }
  return verifyAuthority(decodeAuthority(commit))
}

function badSignature(commit: Commit): InvalidSignatureError {
  return new InvalidSignatureError(
    `the signature of commit ${toHex(commit.id).slice(0, 16)} does not verify against its author ${commit.author}`
  )
}

async function verifyAuthority(prepared: Prepared): Promise<Prepared> {
  for (const grant of prepared.grants) {
    const verdict = await verifyGrant(grant, { at: grant.notBefore })
    if (!verdict.valid)
      throw new InvalidSignatureError(`commit carries an invalid grant: ${verdict.error.message}`)
  }
  for (const revocation of prepared.revocations) {
    if (!(await verifyRevocation(revocation)))
      throw new InvalidSignatureError('commit carries an invalid revocation')
  }
  return prepared
}

/** Decodes the grants and revocations a commit carries (their signatures are not checked here). */
export function decodeAuthority(commit: Commit): Prepared {
  if (commit.grants.length === 0 && commit.revocations.length === 0) {
    return { commit, grants: EMPTY_GRANTS, revocations: EMPTY_REVOCATIONS }
  }
  const grants = commit.grants.map((bytes) => decodeGrant(bytes))
  const revocations = commit.revocations.map((bytes) => decodeRevocation(bytes))
  for (const item of [...grants, ...revocations]) {
    if (item.issuer !== commit.space) {
      throw new CommitFormatError(
        `a grant or revocation by ${item.issuer} cannot live in the chain of ${commit.space}`
      )
    }
  }
  return { commit, grants, revocations }
}
