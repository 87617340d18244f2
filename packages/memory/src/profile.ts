import type { MemoryAccess } from './access.js'
import { InvalidMemoryError, ProfileBlockError } from './errors.js'
import { PRIVATE_SCOPE } from './keys.js'
import type { ProfileMemory } from './model.js'

/** Default largest profile block, in characters. */
export const DEFAULT_PROFILE_LIMIT = 2000
const NAME = /^[A-Za-z0-9_.-]{1,64}$/

/**
 * A validator in the Standard Schema shape (zod 4, valibot, arktype… implement it): a profile block
 * whose value fails it is refused with {@link ProfileBlockError}.
 */
export interface ProfileSchema {
  readonly '~standard': {
    validate(
      value: unknown
    ): { readonly issues?: ReadonlyArray<{ readonly message: string }> } | Promise<unknown>
  }
}

/** Options of {@link Profile.set}. */
export interface ProfileSetOptions {
  /** Largest value, in characters. Default: the block's current limit, else {@link DEFAULT_PROFILE_LIMIT}. */
  limit?: number
  /** Checked against the value parsed as JSON when it parses, else against the string. */
  schema?: ProfileSchema
}

/** Named working-memory blocks (the user's profile, preferences, the agent's persona), always in context. */
export class Profile {
  readonly #access: MemoryAccess

  constructor(access: MemoryAccess) {
    this.#access = access
  }

  #id(name: string): string {
    if (typeof name !== 'string' || !NAME.test(name)) {
      throw new InvalidMemoryError(
        `a profile block name is 1 to 64 characters A-Z, a-z, 0-9, "_", "." or "-"; got ${JSON.stringify(name)}`
      )
    }
    return this.#access.keyedId('profile', name.toLowerCase(), PRIVATE_SCOPE)
  }

  /** The block's value, or undefined. */
  get(name: string): string | undefined {
    return this.block(name)?.value
  }

  /** The block as a memory (with its limit and provenance), or undefined. */
  block(name: string): ProfileMemory | undefined {
    const item = this.#access.item(this.#id(name))
    return item?.kind === 'profile' ? item : undefined
  }

  /**
   * Sets a block. Refused with {@link ProfileBlockError} when the value is over the limit or fails the
   * schema: a block is always in the model's context, so it never grows without bound.
   */
  async set(name: string, value: string, options: ProfileSetOptions = {}): Promise<ProfileMemory> {
    const id = this.#id(name)
    if (typeof value !== 'string')
      throw new ProfileBlockError('a profile block value is a string (JSON.stringify structured values)')
    const limit = options.limit ?? this.block(name)?.limit ?? DEFAULT_PROFILE_LIMIT
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > 32_768) {
      throw new ProfileBlockError('a profile block limit is 1 to 32768 characters')
    }
    if (value.length > limit) {
      throw new ProfileBlockError(
        `profile block "${name}" is limited to ${limit} characters; this value has ${value.length}: shorten it or raise { limit }`
      )
    }
    if (options.schema !== undefined) {
      let parsed: unknown = value
      try {
        parsed = JSON.parse(value)
      } catch {
        parsed = value // not JSON: the schema sees the string
      }
      const result = await options.schema['~standard'].validate(parsed)
      const issues = (result as { issues?: ReadonlyArray<{ message: string }> }).issues
      if (issues !== undefined && issues.length > 0) {
        throw new ProfileBlockError(
          `profile block "${name}" fails its schema: ${issues.map((i) => i.message).join('; ')}`
        )
      }
    }
    await this.#access.write([{ id, kind: 'profile', scope: PRIVATE_SCOPE, body: { name, value, limit } }])
    const written = this.block(name)
    if (written === undefined)
      throw new ProfileBlockError(`profile block "${name}" was written but cannot be read back`)
    return written
  }

  /** Every block, by name. */
  list(): ProfileMemory[] {
    const out: ProfileMemory[] = []
    for (const entry of this.#access.entries('profile')) {
      if (!entry.live) continue
      const item = this.#access.item(entry.id)
      if (item?.kind === 'profile') out.push(item)
    }
    return out.sort((a, b) => (a.name.toLowerCase() < b.name.toLowerCase() ? -1 : 1))
  }
}
