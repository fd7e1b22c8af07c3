// Rewrites the README's config key table (between the config-table markers) from
// src/config/schema.ts, the one source of truth. test/unit/config-schema.ts fails while the
// two differ, and says to run this: node scripts/config-table.mjs
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { build } from 'esbuild';

const out = await build({ entryPoints: ['src/config/schema.ts'], bundle: true, platform: 'node', format: 'cjs', write: false });
const mod = { exports: {} };
new Function('module', 'exports', 'require', out.outputFiles[0].text)(mod, mod.exports, createRequire(import.meta.url));

const readme = readFileSync('README.md', 'utf8');
const region = /(<!-- config-table[^\n]*-->\n)[\s\S]*?(<!-- \/config-table -->)/;
if (!region.test(readme)) throw new Error('README.md has no <!-- config-table … --> … <!-- /config-table --> markers');
const updated = readme.replace(region, (_, open, close) => `${open}${mod.exports.keyTableMarkdown()}\n${close}`);
if (updated === readme) {
  process.stdout.write('README.md: the config table is up to date\n');
} else {
  writeFileSync('README.md', updated);
  process.stdout.write('README.md: config table rewritten\n');
}
