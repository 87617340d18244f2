/** Tests whether a topic matches a subscription pattern. */
export type TopicMatcher = (topic: string) => boolean

/** True when `pattern` contains a wildcard (otherwise it is an exact topic). */
export function isPattern(pattern: string): boolean {
  return pattern.includes('*')
}

/**
 * Compiles a pattern. A trailing `*` matches the non-empty rest of a topic; any other `*` matches one
 * non-empty run of characters without a `/`. Patterns are compiled once per subscription and matched once
 * per distinct topic (the bus caches the result), so this is off the publish hot path.
 */
export function compilePattern(pattern: string): TopicMatcher {
  if (pattern === '*') return matchAll
  const first = pattern.indexOf('*')
  if (first === -1) return (topic) => topic === pattern
  if (first === pattern.length - 1) {
    // A plain prefix such as `agents/*`: cheaper than a regular expression.
    const prefix = pattern.slice(0, -1)
    return (topic) => topic.length > prefix.length && topic.startsWith(prefix)
  }
  const parts = pattern.split('*').map(escapeRegExp)
  const last = parts.pop() ?? ''
  const source = last === '' ? `${parts.join('[^/]+')}.+` : `${parts.join('[^/]+')}[^/]+${last}`
  const regex = new RegExp(`^${source}$`)
  return (topic) => regex.test(topic)
}

function matchAll(): boolean {
  return true
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
