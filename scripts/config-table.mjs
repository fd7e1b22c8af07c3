// Prints the README's config key table from src/config/schema.ts, the one source of truth.
// Usage: node scripts/config-table.mjs   (paste between the markers in README.md)
import { build } from 'esbuild';
const out = await build({ entryPoints: ['src/config/schema.ts'], bundle: true, platform: 'node', format: 'cjs', write: false });
const mod = { exports: {} };
new Function('module', 'exports', 'require', out.outputFiles[0].text)(mod, mod.exports, (await import('node:module')).createRequire(import.meta.url));
process.stdout.write(mod.exports.keyTableMarkdown() + '\n');
