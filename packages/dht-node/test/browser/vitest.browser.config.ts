import { defineConfig } from 'vitest/config'
import shared from '../../../../vitest.shared.ts'

/** The real-browser suite only: Node-side vitest that drives headless Chromium (see run.mjs). */
export default defineConfig({
  resolve: shared.resolve,
  ssr: shared.ssr,
  test: {
    ...shared.test,
    include: ['test/browser/**/*.spec.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000
  }
})
