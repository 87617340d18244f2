import { defineConfig } from 'vitest/config'

/**
 * Shared vitest settings for every workspace package. The `@araliya/source` condition makes imports of
 * workspace packages resolve to their `src/` so tests never need a build first.
 */
export default defineConfig({
  resolve: { conditions: ['@araliya/source', 'module', 'import', 'default'] },
  ssr: { resolve: { conditions: ['@araliya/source', 'module', 'import', 'node', 'default'] } },
  test: {
    include: ['test/**/*.test.ts'],
    // Sized for a loaded 2-core CI machine: a deadline only decides how long a real failure takes to
    // report, so it is generous; tests wait on events, never on fixed sleeps.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks'
  }
})
