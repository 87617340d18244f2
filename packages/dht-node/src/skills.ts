import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { InvalidSkillNameError } from './errors.js'

/** Longest skill name accepted, in characters. */
export const MAX_SKILL_NAME_LENGTH = 64
/** The prefix hashed in front of a skill name to derive its DHT provider key. */
export const SKILL_KEY_PREFIX = 'araliya/skill/v1/'

const SKILL_PATTERN = /^[a-z0-9][a-z0-9._:/-]*$/
const textEncoder = new TextEncoder()

/**
 * The canonical form of a skill name: Unicode NFC, trimmed, lower case; 1–64 characters from
 * `a-z 0-9 . _ : / -`, starting with a letter or digit. `"Code-Review "` and `"code-review"` are one skill.
 *
 * @throws {InvalidSkillNameError} when the name is empty, too long or uses other characters.
 */
export function normalizeSkillName(name: string): string {
  if (typeof name !== 'string') throw new InvalidSkillNameError('a skill name must be a string')
  const normalised = name.normalize('NFC').trim().toLowerCase()
  if (normalised.length === 0 || normalised.length > MAX_SKILL_NAME_LENGTH) {
    throw new InvalidSkillNameError(
      `a skill name has 1-${MAX_SKILL_NAME_LENGTH} characters; got ${normalised.length}`
    )
  }
  if (!SKILL_PATTERN.test(normalised)) {
    throw new InvalidSkillNameError(
      `skill name ${JSON.stringify(normalised)} may only use a-z, 0-9 and . _ : / - (starting with a letter or digit)`
    )
  }
  return normalised
}

/**
 * The DHT provider key of a skill: a CIDv1 (raw codec) of sha256(`"araliya/skill/v1/" + normalised name`).
 * Every implementation derives the same key from the same name.
 *
 * @throws {InvalidSkillNameError} when the name is not valid.
 */
export async function skillKey(name: string): Promise<CID> {
  const digest = await sha256.digest(textEncoder.encode(SKILL_KEY_PREFIX + normalizeSkillName(name)))
  return CID.createV1(raw.code, digest)
}
