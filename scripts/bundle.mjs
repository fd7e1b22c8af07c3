// Bundles src/ into dist/loom.cjs: one CommonJS file, the input of the single executable.
import { build } from 'esbuild';

// ws tries require('bufferutil') and require('utf-8-validate') (optional native speed-ups) and
// falls back to JavaScript when they throw. Left as runtime requires, the single executable
// warns on every start that its require() loads built-in modules only; resolved here to a
// module that throws, ws takes its fallback silently.
const absentOptional = {
  name: 'absent-optional',
  setup(b) {
    b.onResolve({ filter: /^(bufferutil|utf-8-validate)$/ }, (a) => ({ path: a.path, namespace: 'absent' }));
    b.onLoad({ filter: /.*/, namespace: 'absent' }, (a) => ({
      contents: `throw Object.assign(new Error(${JSON.stringify(`${a.path} is not bundled`)}), { code: 'MODULE_NOT_FOUND' });`,
    }));
  },
};

await build({
  entryPoints: ['src/main.ts'],
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  outfile: 'dist/loom.cjs',
  banner: { js: '#!/usr/bin/env node' },
  logLevel: 'warning',
  plugins: [absentOptional],
});
