import { defineConfig } from 'tsup'

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    testing: 'src/testing.ts',
    'store/level': 'src/store/level.ts',
    'store/level-node': 'src/store/level-node.ts',
    'store/level-browser': 'src/store/level-browser.ts'
  },
  format: ['esm'],
  target: 'es2022',
  dts: { entry: { index: 'src/index.ts', testing: 'src/testing.ts', 'store/level': 'src/store/level.ts' } },
  sourcemap: true,
  clean: true,
  // Resolved at run time through package.json "imports", so Node and browsers each load their own backend.
  external: ['#level-backend']
})
