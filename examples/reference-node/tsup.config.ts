import { defineConfig } from 'tsup'

// The `araliya` bin: one ES module for plain `node` (no tsx, no source condition). The Araliya packages
// and every other dependency stay imports, resolved from node_modules like any installed package's.
export default defineConfig({
  entry: ['src/cli.ts'],
  format: ['esm'],
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  clean: true
})
