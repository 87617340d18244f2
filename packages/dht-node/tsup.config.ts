import { defineConfig } from 'tsup'

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    testing: 'src/testing.ts',
    polyfill: 'src/polyfill.ts',
    'platform/node': 'src/platform/node.ts',
    'platform/browser': 'src/platform/browser.ts'
  },
  format: ['esm'],
  target: 'es2022',
  dts: { entry: { index: 'src/index.ts', testing: 'src/testing.ts' } },
  sourcemap: true,
  clean: true,
  // One self-contained file per entry, so each starts with the polyfill import (a shared chunk would load
  // libp2p first).
  splitting: false,
  // Resolved at run time through package.json "imports", so Node and browsers each load their own. The
  // polyfill stays a separate module so ES module order runs it before libp2p is evaluated.
  external: ['#platform', './polyfill.js']
})
