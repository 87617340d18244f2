import {
  decodeGrant,
  decodeRevocation,
  type Grant,
  type Revocation,
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

/**
 * The rest of a commit's check once its own signature has a verdict (see `VerifyPool`): a bad signature
 * throws; otherwise the grants and revocations it carries are decoded and, if there are any, verified
 * (asynchronously; a commit without them is ready at once).
 */
export function prepareVerified(commit: Commit, signatureValid: boolean): Prepared | Promise<Prepared> {
  if (!signatureValid) throw badSignature(commit)
  const prepared = decodeAuthority(commit)
  if (prepared.grants.length === 0 && prepared.revocations.length === 0) return prepared
  return verifyAuthority(prepared)
}

/** Checks a commit's signature and the grants and revocations it carries, one commit at a time. */
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
