// Bundles src/ into dist/loom.cjs: one CommonJS file, the input of the single executable.
import { build } from 'esbuild';
await build({
  entryPoints: ['src/main.ts'],
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  outfile: 'dist/loom.cjs',
  banner: { js: '#!/usr/bin/env node' },
  logLevel: 'warning',
});
