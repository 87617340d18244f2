/**
 * The marker under which every Araliya error records the codes of its class chain. It is a
 * `Symbol.for` key so `isInstance` checks keep working when two copies of a package are installed.
 */
const MARKER = Symbol.for('@araliya/error')

interface ErrorClass {
  readonly code: string
  readonly prototype: unknown
}

/**
 * Base class of every error an Araliya package throws.
 *
 * Each subclass declares a static, unique `code` (`ERR_…`) and a `name`. Use the static
 * `isInstance` rather than `instanceof`: it survives duplicate installs of a package.
 *
 * @example
 * ```ts
 * class DiskFullError extends AraliyaError<'ERR_DISK_FULL'> {
 *   static override readonly code = 'ERR_DISK_FULL'
 *   override name = 'DiskFullError'
 * }
 * try { throw new DiskFullError('free some space, then retry') }
 * catch (err) { if (DiskFullError.isInstance(err)) console.log(err.code) }
 * ```
 */
export class AraliyaError<Code extends string = string> extends Error {
  /** The code shared by every instance of this class. Subclasses override it. */
  static readonly code: string = 'ERR_ARALIYA'
  /**
   * A stable, machine-readable code such as `ERR_KEYSTORE_LOCKED`. Its type is the literal code of the
   * class, so `switch (err.code)` over a package's error union narrows.
   */
  readonly code: Code
  override name = 'AraliyaError'
  declare readonly [MARKER]: readonly string[]

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    const codes: string[] = []
    let ctor: ErrorClass | null = new.target as unknown as ErrorClass
    while (ctor !== null && typeof ctor.code === 'string') {
      codes.push(ctor.code)
      const parent: unknown = Object.getPrototypeOf(ctor)
      ctor = typeof parent === 'function' ? (parent as unknown as ErrorClass) : null
    }
    this.code = (codes[0] ?? AraliyaError.code) as Code
    Object.defineProperty(this, MARKER, { value: codes, enumerable: false })
  }

  /**
   * True when `error` is an instance of this class or one of its subclasses, even if it was created by
   * another installed copy of the package.
   */
  static isInstance<T extends AraliyaError<string>>(
    this: { readonly code: string; readonly prototype: T },
    error: unknown
  ): error is T {
    if (typeof error !== 'object' || error === null) return false
    const codes = (error as { [MARKER]?: unknown })[MARKER]
    return Array.isArray(codes) && codes.includes(this.code)
  }
}

/** An operation was cancelled through its `AbortSignal`. */
export class AbortedError extends AraliyaError<'ERR_ABORTED'> {
  static override readonly code: string = 'ERR_ABORTED'
  override name = 'AbortedError'
  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super(message, options)
  }
}

/** Input bytes could not be decoded, were too large, or broke a format rule. */
export class InvalidInputError<Code extends string = 'ERR_INVALID_INPUT'> extends AraliyaError<Code> {
  static override readonly code: string = 'ERR_INVALID_INPUT'
  override name = 'InvalidInputError'
}

/** Input was larger than the configured limit; it was rejected before any parsing. */
export class TooLargeError extends InvalidInputError<'ERR_TOO_LARGE'> {
  static override readonly code: string = 'ERR_TOO_LARGE'
  override name = 'TooLargeError'
  /** The size that was seen, in bytes (or items). */
  readonly size: number
  /** The configured limit. */
  readonly limit: number
  constructor(what: string, size: number, limit: number) {
    super(`${what} is ${size} bytes, over the limit of ${limit}; send less, or raise the limit option`)
    this.size = size
    this.limit = limit
  }
}

/**
 * A method that needs a running component was called before `start()` or after `stop()`. Every Araliya
 * component throws this one class (packages may subclass it to name the component).
 */
export class NotStartedError<Code extends string = 'ERR_NOT_STARTED'> extends AraliyaError<Code> {
  static override readonly code: string = 'ERR_NOT_STARTED'
  override name = 'NotStartedError'
  constructor(component: string, options?: { cause?: unknown }) {
    super(`${component} is not started; call start() first (and do not use it after stop())`, options)
  }
}

/** Throws an {@link AbortedError} if the signal has fired. */
export function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted === true) {
    throw new AbortedError('The operation was aborted', { cause: signal.reason })
  }
}
