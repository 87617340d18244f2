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
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks'
  }
})
