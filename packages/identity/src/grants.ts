import { type AbortOptions, isByteString, isPlainMap, isSafeUint } from '@araliya/interface'
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex } from '@noble/hashes/utils.js'
import { type CanonicalValue, decodeCanonical, encodeCanonical } from './encoding.js'
import {
  EncodingError,
  GrantError,
  GrantExpiredError,
  GrantRevokedError,
  GrantScopeError,
  GrantSignatureError
} from './errors.js'
import { type Identity, isAddress, verify } from './identity.js'

/** The signature context of grants. */
export const GRANT_CONTEXT = 'araliya/grant/v1'
/** The signature context of grant revocations. */
export const REVOCATION_CONTEXT = 'araliya/grant-revocation/v1'
/** Largest encoded grant or revocation accepted by the decoders. */
export const MAX_GRANT_BYTES = 4096

/** What a grant lets its subject do inside the scope. */
export type GrantRight = 'write' | 'delete' | 'grant'
const RIGHTS: readonly GrantRight[] = ['delete', 'grant', 'write']

/** The part of the issuer's space a grant covers, and what the subject may do there. */
export interface GrantScope {
  /**
   * A path prefix inside the issuer's space (the part of a soul after `<issuerAddress>/`). `''` covers
   * the whole space. `'notes'` covers `notes` and `notes/…` but not `notesX`; a prefix ending in `/`
   * covers only paths below it.
   */
  readonly pathPrefix: string
  /** The rights granted. */
  readonly rights: readonly GrantRight[]
}

/** A signed certificate by which `issuer` lets `subject` act on part of the issuer's space. */
export interface Grant {
  readonly v: 1
  /** The address that signed the grant (the owner of the space). */
  readonly issuer: string
  /** The address allowed to act (a device key, a peer). */
  readonly subject: string
  readonly scope: GrantScope
  /** Start of validity, milliseconds since the epoch (inclusive). */
  readonly notBefore: number
  /** End of validity, milliseconds since the epoch (exclusive). */
  readonly expiresAt: number
  /** 16 random bytes so two otherwise equal grants have distinct ids. */
  readonly nonce: Uint8Array
  /** ed25519 signature by the issuer under {@link GRANT_CONTEXT}. */
  readonly signature: Uint8Array
}

/** A signed statement by a grant's issuer that the grant is void from `revokedAt` on. */
export interface Revocation {
  readonly v: 1
  readonly issuer: string
  /** The id of the revoked grant ({@link grantId}). */
  readonly grantId: string
  /** From when on the grant is void, milliseconds since the epoch. */
  readonly revokedAt: number
  /** ed25519 signature by the issuer under the context `araliya/grant-revocation/v1`. */
  readonly signature: Uint8Array
}

/** What {@link issueGrant} needs. */
export interface GrantInit {
  subject: string
  scope: GrantScope
  /** Default: now. */
  notBefore?: number
  expiresAt: number
}

/** The result of {@link verifyGrant}: `valid`, or the reason and a typed error you may throw. */
export type GrantVerdict =
  | { readonly valid: true; readonly grantId: string }
  | {
      readonly valid: false
      readonly reason:
        | 'malformed'
        | 'signature'
        | 'not-yet-valid'
        | 'expired'
        | 'scope'
        | 'subject'
        | 'revoked'
      readonly error: GrantSignatureError | GrantExpiredError | GrantScopeError | GrantRevokedError
    }

/** What to check a grant against. Every field but `at` is optional. */
export interface GrantCheck {
  /** The moment to judge validity at (ms since the epoch), e.g. the op's clock. */
  at: number
  /** A path inside the issuer's space that must be covered. */
  path?: string
  /** A right that must be granted. */
  right?: GrantRight
  /** The address that must be the grant's subject. */
  subject?: string
  /** Revocations known to the caller; a valid one for this grant with `revokedAt <= at` voids it. */
  revocations?: readonly Revocation[]
}

/**
 * Issues a grant signed by `issuer`.
 *
 * @example
 * ```ts
 * const grant = await issueGrant(owner, {
 *   subject: phone.address,
 *   scope: { pathPrefix: 'memory/', rights: ['write'] },
 *   expiresAt: Date.now() + 30 * 86_400_000
 * })
 * ```
 * @throws {GrantError} for a malformed subject, scope or time window.
 */
export async function issueGrant(issuer: Identity, init: GrantInit, options?: AbortOptions): Promise<Grant> {
  const nonce = new Uint8Array(16)
  globalThis.crypto.getRandomValues(nonce)
  const body = grantBody({
    issuer: issuer.address,
    subject: init.subject,
    scope: { pathPrefix: init.scope.pathPrefix, rights: normaliseRights(init.scope.rights) },
    notBefore: init.notBefore ?? Date.now(),
    expiresAt: init.expiresAt,
    nonce
  })
  const problem = checkGrantShape(body)
  if (problem !== undefined) throw new GrantError(problem)
  const signature = await issuer.sign(GRANT_CONTEXT, encodeCanonical(body), options)
  return { ...(body as unknown as Omit<Grant, 'signature'>), signature }
}

/** The grant's id: hex sha256 of its canonical unsigned body. */
export function grantId(grant: Omit<Grant, 'signature'>): string {
  return bytesToHex(sha256(encodeCanonical(grantBody(grant))))
}

/** True when `scope.pathPrefix` covers `path` (see {@link GrantScope.pathPrefix}). */
export function scopeCoversPath(scope: GrantScope, path: string): boolean {
  const prefix = scope.pathPrefix
  if (prefix === '') return true
  if (prefix.endsWith('/')) return path.startsWith(prefix)
  return path === prefix || path.startsWith(`${prefix}/`)
}

/**
 * Checks a grant: its shape, the issuer's signature, validity at `check.at`, and (when given) that it
 * covers `path`, `right` and `subject` and is not revoked. Never throws for a bad grant: it returns the
 * reason and a typed error.
 */
export async function verifyGrant(grant: Grant, check: GrantCheck): Promise<GrantVerdict> {
  const problem = checkGrantShape(grant)
  if (problem !== undefined) return fail('malformed', new GrantSignatureError(`malformed grant: ${problem}`))
  const body = encodeCanonical(grantBody(grant))
  if (!(await verify(grant.issuer, GRANT_CONTEXT, body, grant.signature))) {
    return fail('signature', new GrantSignatureError(`grant signature by ${grant.issuer} does not verify`))
  }
  const id = bytesToHex(sha256(body))
  if (check.at < grant.notBefore) {
    return fail(
      'not-yet-valid',
      new GrantExpiredError(`grant ${id} is not valid before ${iso(grant.notBefore)}`)
    )
  }
  if (check.at >= grant.expiresAt) {
    return fail(
      'expired',
      new GrantExpiredError(`grant ${id} expired at ${iso(grant.expiresAt)}; ask for a new one`)
    )
  }
  if (check.subject !== undefined && check.subject !== grant.subject) {
    return fail('subject', new GrantScopeError(`grant ${id} is for ${grant.subject}, not ${check.subject}`))
  }
  if (check.path !== undefined && !scopeCoversPath(grant.scope, check.path)) {
    return fail(
      'scope',
      new GrantScopeError(`grant ${id} covers "${grant.scope.pathPrefix}", not the path "${check.path}"`)
    )
  }
  if (check.right !== undefined && !grant.scope.rights.includes(check.right)) {
    return fail('scope', new GrantScopeError(`grant ${id} does not give the right "${check.right}"`))
  }
  for (const revocation of check.revocations ?? []) {
    if (revocation.grantId !== id || revocation.issuer !== grant.issuer || revocation.revokedAt > check.at)
      continue
    if (await verifyRevocation(revocation)) {
      return fail('revoked', new GrantRevokedError(`grant ${id} was revoked at ${iso(revocation.revokedAt)}`))
    }
  }
  return { valid: true, grantId: id }
}

/** Signs a revocation of `grant` (or a grant id) by its issuer, effective from `revokedAt` (default now). */
export async function revokeGrant(
  issuer: Identity,
  grant: Grant | string,
  options: AbortOptions & { revokedAt?: number } = {}
): Promise<Revocation> {
  const id = typeof grant === 'string' ? grant : grantId(grant)
  if (typeof grant !== 'string' && grant.issuer !== issuer.address) {
    throw new GrantError(`only the issuer ${grant.issuer} can revoke this grant`)
  }
  if (!/^[0-9a-f]{64}$/.test(id)) throw new GrantError('a grant id is 64 lowercase hex characters')
  const body = revocationBody({
    issuer: issuer.address,
    grantId: id,
    revokedAt: options.revokedAt ?? Date.now()
  })
  const signature = await issuer.sign(REVOCATION_CONTEXT, encodeCanonical(body), options)
  return { ...(body as unknown as Omit<Revocation, 'signature'>), signature }
}

/** True when the revocation is well formed and signed by its issuer. */
export async function verifyRevocation(revocation: Revocation): Promise<boolean> {
  if (checkRevocationShape(revocation) !== undefined) return false
  return verify(
    revocation.issuer,
    REVOCATION_CONTEXT,
    encodeCanonical(revocationBody(revocation)),
    revocation.signature
  )
}

/** Canonical CBOR of a grant, for storage or the wire. */
export function encodeGrant(grant: Grant): Uint8Array {
  return encodeCanonical({ ...grantBody(grant), signature: grant.signature })
}

/**
 * Decodes a grant, checking size (before parsing) and shape. The signature is NOT checked here: call
 * {@link verifyGrant}.
 *
 * @throws {EncodingError} or `TooLargeError` for bytes that are not a well-formed grant.
 */
export function decodeGrant(bytes: Uint8Array): Grant {
  const value = decodeCanonical(bytes, { maxBytes: MAX_GRANT_BYTES, maxDepth: 4 }) as Record<string, unknown>
  const problem = checkGrantShape(value)
  if (problem !== undefined) throw new EncodingError(`not a grant: ${problem}`)
  return value as unknown as Grant
}

/** Canonical CBOR of a revocation. */
export function encodeRevocation(revocation: Revocation): Uint8Array {
  return encodeCanonical({ ...revocationBody(revocation), signature: revocation.signature })
}

/** Decodes a revocation (size and shape only; see {@link verifyRevocation}). */
export function decodeRevocation(bytes: Uint8Array): Revocation {
  const value = decodeCanonical(bytes, { maxBytes: MAX_GRANT_BYTES, maxDepth: 2 }) as Record<string, unknown>
  const problem = checkRevocationShape(value)
  if (problem !== undefined) throw new EncodingError(`not a revocation: ${problem}`)
  return value as unknown as Revocation
}

function grantBody(g: Omit<Grant, 'v' | 'signature'>): { [key: string]: CanonicalValue } {
  return {
    v: 1,
    kind: 'grant',
    issuer: g.issuer,
    subject: g.subject,
    scope: { pathPrefix: g.scope?.pathPrefix, rights: g.scope?.rights as CanonicalValue },
    notBefore: g.notBefore,
    expiresAt: g.expiresAt,
    nonce: g.nonce
  } as { [key: string]: CanonicalValue }
}

function revocationBody(r: Omit<Revocation, 'v' | 'signature'>): { [key: string]: CanonicalValue } {
  return { v: 1, kind: 'grant-revocation', issuer: r.issuer, grantId: r.grantId, revokedAt: r.revokedAt }
}

function normaliseRights(rights: readonly GrantRight[]): GrantRight[] {
  return [...new Set(rights)].sort()
}

function checkGrantShape(g: unknown): string | undefined {
  if (!isPlainMap(g)) return 'not an object'
  if (g.v !== 1) return `unsupported version ${String(g.v)}`
  if ('kind' in g && g.kind !== 'grant') return 'not a grant'
  if (!isAddress(g.issuer)) return 'issuer is not an ed25519 address'
  if (!isAddress(g.subject)) return 'subject is not an ed25519 address'
  const scope = g.scope
  if (!isPlainMap(scope)) return 'no scope'
  if (typeof scope.pathPrefix !== 'string' || scope.pathPrefix.length > 1024) return 'bad path prefix'
  const rights = scope.rights
  if (!Array.isArray(rights) || rights.length === 0) return 'no rights'
  for (let i = 0; i < rights.length; i++) {
    if (!RIGHTS.includes(rights[i])) return `unknown right ${JSON.stringify(rights[i])}`
    if (i > 0 && rights[i] <= rights[i - 1]) return 'rights must be sorted and unique'
  }
  // Times are signed safe integers (ms since the epoch); only their order is checked here.
  if (
    !isSafeUint(g.notBefore, -Number.MAX_SAFE_INTEGER) ||
    !isSafeUint(g.expiresAt, -Number.MAX_SAFE_INTEGER)
  ) {
    return 'bad time window'
  }
  if (g.notBefore >= g.expiresAt) return 'expiresAt must be after notBefore'
  if (!isByteString(g.nonce, 16)) return 'nonce must be 16 bytes'
  if ('signature' in g && !isByteString(g.signature)) return 'signature must be bytes'
  return undefined
}

function checkRevocationShape(r: unknown): string | undefined {
  if (!isPlainMap(r)) return 'not an object'
  if (r.v !== 1) return `unsupported version ${String(r.v)}`
  if ('kind' in r && r.kind !== 'grant-revocation') return 'not a revocation'
  if (!isAddress(r.issuer)) return 'issuer is not an ed25519 address'
  if (typeof r.grantId !== 'string' || !/^[0-9a-f]{64}$/.test(r.grantId)) return 'bad grant id'
  if (!isSafeUint(r.revokedAt, -Number.MAX_SAFE_INTEGER)) return 'bad revokedAt'
  if (!isByteString(r.signature)) return 'signature must be bytes'
  return undefined
}

type GrantFailure = Extract<GrantVerdict, { valid: false }>

function fail(reason: GrantFailure['reason'], error: GrantFailure['error']): GrantVerdict {
  return { valid: false, reason, error }
}

function iso(ms: number): string {
  return new Date(ms).toISOString()
}
