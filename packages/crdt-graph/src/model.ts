import { isAddress } from '@araliya/identity'
import { InvalidGraphInputError } from './errors.js'

/**
 * A soul is the name of a node: `<ownerAddress>/<path>`. The owner's address (a libp2p PeerId string of
 * an ed25519 key) names the space the node lives in; only that key, or a key it granted, may write it.
 */
export type Soul = string

/** An edge: a field whose value points at another soul. */
export interface Link {
  /** The soul linked to. */
  readonly '#': Soul
}

/** A value a field may hold: a JSON scalar, a byte array, or a link to another soul. */
export type GraphValue = null | boolean | number | string | Uint8Array | Link

/** Limits on the data model. */
export interface ModelLimits {
  /** Longest path (the part of a soul after `<owner>/`), in UTF-16 code units. Default 1024. */
  maxPathLength: number
  /** Longest field name. Default 256. */
  maxFieldLength: number
  /** Longest string or byte value, in code units or bytes. Default 65,536. */
  maxValueLength: number
}

/** Default {@link ModelLimits}. */
export const DEFAULT_MODEL_LIMITS: ModelLimits = Object.freeze({
  maxPathLength: 1024,
  maxFieldLength: 256,
  maxValueLength: 65_536
})

/** Creates a link value pointing at `soul`. */
export function link(soul: Soul): Link {
  return { '#': soul }
}

/** True when `value` is a {@link Link}. */
export function isLink(value: unknown): value is Link {
  return (
    typeof value === 'object' &&
    value !== null &&
    !(value instanceof Uint8Array) &&
    typeof (value as { '#'?: unknown })['#'] === 'string'
  )
}

/** Builds a soul from an owner address and a path. */
export function soulOf(owner: string, path: string): Soul {
  return `${owner}/${path}`
}

/** Splits a soul into its owner (space) and path, without validating either. */
export function splitSoul(soul: Soul): { owner: string; path: string } {
  const slash = soul.indexOf('/')
  if (slash < 0) return { owner: soul, path: '' }
  return { owner: soul.slice(0, slash), path: soul.slice(slash + 1) }
}

const validSpaces = new Set<string>()

/** True when `owner` is a valid space name (an ed25519 address); cached. */
export function isSpace(owner: string): boolean {
  if (validSpaces.has(owner)) return true
  if (!isAddress(owner)) return false
  if (validSpaces.size < 65_536) validSpaces.add(owner)
  return true
}

/**
 * Checks a soul and returns its parts.
 *
 * @throws {InvalidGraphInputError} when the owner is not an ed25519 address or the path is empty or too long.
 */
export function parseSoul(
  soul: unknown,
  limits: ModelLimits = DEFAULT_MODEL_LIMITS
): { owner: string; path: string } {
  if (typeof soul !== 'string')
    throw new InvalidGraphInputError(`a soul is a string "<ownerAddress>/<path>"; got ${typeof soul}`)
  const { owner, path } = splitSoul(soul)
  if (!isSpace(owner)) {
    throw new InvalidGraphInputError(
      `soul "${soul.slice(0, 120)}" does not start with an owner address; write "<ownerAddress>/<path>", e.g. \`\${identity.address}/notes/1\``
    )
  }
  checkPath(path, limits)
  return { owner, path }
}

/** @throws {InvalidGraphInputError} for an empty or too long path. */
export function checkPath(path: unknown, limits: ModelLimits = DEFAULT_MODEL_LIMITS): void {
  if (typeof path !== 'string' || path.length === 0 || path.length > limits.maxPathLength) {
    throw new InvalidGraphInputError(
      `a soul path is 1-${limits.maxPathLength} characters after "<owner>/"; got ${typeof path === 'string' ? `${path.length} characters` : typeof path}`
    )
  }
}

/** @throws {InvalidGraphInputError} for an empty or too long field name. */
export function checkField(field: unknown, limits: ModelLimits = DEFAULT_MODEL_LIMITS): void {
  if (typeof field !== 'string' || field.length === 0 || field.length > limits.maxFieldLength) {
    throw new InvalidGraphInputError(
      `a field name is 1-${limits.maxFieldLength} characters; got ${typeof field === 'string' ? `${field.length} characters` : typeof field}`
    )
  }
}

/** @throws {InvalidGraphInputError} for a value outside the data model. */
export function checkValue(
  value: unknown,
  limits: ModelLimits = DEFAULT_MODEL_LIMITS
): asserts value is GraphValue {
  switch (typeof value) {
    case 'boolean':
      return
    case 'number':
      if (!Number.isFinite(value))
        throw new InvalidGraphInputError('numbers must be finite (no NaN or Infinity)')
      return
    case 'string':
      if (value.length > limits.maxValueLength) {
        throw new InvalidGraphInputError(
          `string value of ${value.length} characters is over the limit of ${limits.maxValueLength}`
        )
      }
      return
    case 'object':
      if (value === null) return
      if (value instanceof Uint8Array) {
        if (value.byteLength > limits.maxValueLength) {
          throw new InvalidGraphInputError(
            `byte value of ${value.byteLength} bytes is over the limit of ${limits.maxValueLength}`
          )
        }
        return
      }
      if (isLink(value)) {
        parseSoul(value['#'], limits)
        return
      }
  }
  throw new InvalidGraphInputError(
    'a field value is null, a boolean, a finite number, a string, a Uint8Array or a link ({ "#": soul }); ' +
      'store objects as linked nodes or encode them yourself'
  )
}
