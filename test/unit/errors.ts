// The LOOM_ERR_* catalog is the one list of codes: every code src/ writes (thrown, logged or
// printed) is in it, and every code in it is used somewhere.
import t from 'tap';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { codes } from '../../src/core/errors';

const SRC = resolve(__dirname, '..', '..', 'src');
function files(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir)) {
    const f = join(dir, e);
    if (statSync(f).isDirectory()) files(f, out);
    else if (f.endsWith('.ts') && !f.endsWith(join('core', 'errors.ts'))) out.push(f);
  }
  return out;
}

t.test('codes used and codes listed agree', async (t) => {
  const used = new Set<string>();
  for (const f of files(SRC)) for (const m of readFileSync(f, 'utf8').matchAll(/LOOM_ERR_[A-Z_]+/g)) used.add(m[0]);
  const listed = new Set(Object.keys(codes));
  t.same([...used].filter((c) => !listed.has(c)).sort(), [], 'every code written by src/ is in the catalog');
  t.same([...listed].filter((c) => !used.has(c)).sort(), [], 'every catalog code is used');
});
