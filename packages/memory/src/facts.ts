import type { MemoryAccess, Write } from './access.js'
import { InvalidMemoryError } from './errors.js'
import { checkScope, PRIVATE_SCOPE } from './keys.js'
import { type FactMemory, type FactObject, factObjectText, type MemoryItem, type MetaValue } from './model.js'

/** Options of `memory.relate`. */
export interface RelateOptions {
  /**
   * One current object per subject and relation (e.g. "lives in"). Default false: a relation that can
   * hold many objects (e.g. "likes"), where each (subject, relation, object) is one fact.
   */
  single?: boolean
  /** From when the fact holds (ms since the epoch). */
  validFrom?: number
  /** Until when it holds, exclusive. */
  validTo?: number
  /** How sure, 0 to 1. */
  confidence?: number
  /** The memory (usually a turn) it was learnt from. */
  source?: string
  scope?: string
  meta?: Readonly<Record<string, MetaValue>>
}

/** A query of `memory.facts`. */
export interface FactQuery {
  subject?: string
  relation?: string
  /** Valid time: only facts that hold at this instant (ms since the epoch). */
  validAt?: number
  /** Transaction time: the facts as this memory held them at this instant ("what did I believe then"). */
  knownAt?: number
  limit?: number
}

const norm = (text: string) => text.trim().toLowerCase()

function checkTerm(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.trim().length === 0 || value.length > 1024) {
    throw new InvalidMemoryError(`a fact's ${what} is a non-empty string of at most 1024 characters`)
  }
  return value.trim()
}

function checkObject(object: unknown): FactObject {
  if (typeof object === 'string' && object.length > 0 && object.length <= 4096) return object
  if (typeof object === 'boolean') return object
  if (typeof object === 'number' && Number.isFinite(object)) return object
  if (
    typeof object === 'object' &&
    object !== null &&
    typeof (object as { ref?: unknown }).ref === 'string'
  ) {
    return { ref: checkTerm((object as { ref: string }).ref, 'object reference') }
  }
  throw new InvalidMemoryError("a fact's object is a string, a finite number, a boolean or { ref: 'entity' }")
}

function checkTime(value: number | undefined, what: string): void {
  if (value !== undefined && !Number.isFinite(value))
    throw new InvalidMemoryError(`${what} is milliseconds since the epoch`)
}

function sameObject(a: FactObject, b: FactObject): boolean {
  return typeof a === 'object' && typeof b === 'object' ? a.ref === b.ref : a === b
}

/** Records a fact (see `Memory.relate`). */
export async function relate(
  access: MemoryAccess,
  subjectIn: string,
  relationIn: string,
  objectIn: FactObject,
  options: RelateOptions
): Promise<FactMemory> {
  const subject = checkTerm(subjectIn, 'subject')
  const relation = checkTerm(relationIn, 'relation')
  const object = checkObject(objectIn)
  const scope = checkScope(options.scope ?? PRIVATE_SCOPE)
  const single = options.single ?? false
  checkTime(options.validFrom, 'validFrom')
  checkTime(options.validTo, 'validTo')
  if (
    options.validFrom !== undefined &&
    options.validTo !== undefined &&
    options.validTo <= options.validFrom
  ) {
    throw new InvalidMemoryError('validTo must be after validFrom')
  }
  if (options.confidence !== undefined && !(options.confidence >= 0 && options.confidence <= 1)) {
    throw new InvalidMemoryError('confidence is between 0 and 1')
  }
  const key = single
    ? JSON.stringify([norm(subject), norm(relation)])
    : JSON.stringify([norm(subject), norm(relation), norm(factObjectText(object))])
  const id = access.keyedId('fact', key, scope)
  const writes: Write[] = []
  const current = access.item(id)
  if (
    single &&
    current?.kind === 'fact' &&
    !sameObject(current.object, object) &&
    current.validTo === undefined
  ) {
    // The world changed: the old object held until the new one did. Keep it, with its valid time closed.
    const closedAt = options.validFrom ?? access.now()
    const archiveKey = JSON.stringify([
      norm(subject),
      norm(relation),
      factObjectText(current.object),
      current.validFrom ?? null
    ])
    writes.push({
      id: access.keyedId('fact-archive', archiveKey, scope),
      kind: 'fact',
      scope,
      supersedes: [],
      body: {
        subject: current.subject,
        relation: current.relation,
        object: current.object as never,
        single: false,
        validFrom: current.validFrom,
        validTo: Math.max(closedAt, (current.validFrom ?? Number.NEGATIVE_INFINITY) + 1),
        confidence: current.confidence
      },
      ...(current.source === undefined ? {} : { source: current.source })
    })
  }
  writes.push({
    id,
    kind: 'fact',
    scope,
    body: {
      subject,
      relation,
      object: object as never,
      single,
      validFrom: options.validFrom,
      validTo: options.validTo,
      confidence: options.confidence
    },
    ...(options.source === undefined ? {} : { source: options.source }),
    ...(options.meta === undefined ? {} : { meta: options.meta })
  })
  await access.write(writes)
  const written = access.item(id)
  if (written?.kind !== 'fact')
    throw new InvalidMemoryError(`the fact ${id} was written but cannot be read back`)
  return written
}

/** Facts matching a query (see `Memory.facts`), newest first. */
export function facts(
  access: MemoryAccess,
  query: FactQuery,
  knownAt: (id: string, at: number) => MemoryItem | undefined
): FactMemory[] {
  const subject = query.subject === undefined ? undefined : norm(query.subject)
  const relation = query.relation === undefined ? undefined : norm(query.relation)
  const out: FactMemory[] = []
  for (const entry of access.entries('fact')) {
    // Subject and relation are in the catalog only for live facts; a knownAt query also looks at forgotten ones.
    if (query.knownAt === undefined) {
      if (!entry.live) continue
      if (subject !== undefined && entry.subject !== subject) continue
      if (relation !== undefined && entry.relation !== relation) continue
    }
    const item = query.knownAt === undefined ? access.item(entry.id) : knownAt(entry.id, query.knownAt)
    if (item?.kind !== 'fact') continue
    if (subject !== undefined && norm(item.subject) !== subject) continue
    if (relation !== undefined && norm(item.relation) !== relation) continue
    if (query.validAt !== undefined) {
      if (item.validFrom !== undefined && query.validAt < item.validFrom) continue
      if (item.validTo !== undefined && query.validAt >= item.validTo) continue
    }
    out.push(item)
  }
  out.sort((a, b) => b.hlc - a.hlc)
  return query.limit === undefined ? out : out.slice(0, query.limit)
}
