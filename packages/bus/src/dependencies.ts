import { SubsystemConfigError } from './errors.js'
import type { Subsystem } from './supervisor-types.js'

/**
 * Orders subsystems so each comes after its dependencies; ties keep registration (Map insertion) order.
 *
 * @throws SubsystemConfigError for an unknown dependency or a cycle.
 */
export function sortByDependencies<T extends { readonly subsystem: Subsystem }>(
  registered: ReadonlyMap<string, T>
): T[] {
  const entries = [...registered.values()]
  for (const entry of entries) {
    for (const dependency of entry.subsystem.dependsOn ?? []) {
      if (!registered.has(dependency)) {
        throw new SubsystemConfigError(
          `Subsystem "${entry.subsystem.name}" depends on "${dependency}", which is not registered; register it or fix dependsOn`
        )
      }
    }
  }
  const sorted: T[] = []
  const done = new Set<string>()
  while (sorted.length < entries.length) {
    const next = entries.find(
      (entry) =>
        !done.has(entry.subsystem.name) && (entry.subsystem.dependsOn ?? []).every((name) => done.has(name))
    )
    if (next === undefined) {
      const stuck = entries.filter((entry) => !done.has(entry.subsystem.name)).map((e) => e.subsystem.name)
      throw new SubsystemConfigError(
        `The dependencies of ${stuck.join(', ')} form a cycle; remove one of the dependsOn links`
      )
    }
    done.add(next.subsystem.name)
    sorted.push(next)
  }
  return sorted
}
