// The folders of src/ form layers: no folder imports one that (directly or not) imports it,
// so a reader can learn the code bottom-up, and README's Layout lists every folder.
import t from 'tap';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const SRC = resolve(__dirname, '..', '..', 'src');

function files(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir)) {
    const f = join(dir, e);
    if (statSync(f).isDirectory()) files(f, out);
    else if (f.endsWith('.ts')) out.push(f);
  }
  return out;
}

/** Folder of a file under src/ ('.' for src/main.ts and its siblings). */
function folderOf(file: string): string {
  const rel = relative(SRC, file);
  return rel.includes('/') ? rel.split('/')[0] : '.';
}

/** folder → folders it imports (type-only imports included: they couple the code as much). */
export function folderGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const f of files(SRC)) {
    const from = folderOf(f);
    const edges = graph.get(from) ?? new Set<string>();
    graph.set(from, edges);
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(/(?:from\s+|import\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g)) {
      const to = folderOf(resolve(dirname(f), m[1]));
      if (to !== from) edges.add(to);
    }
  }
  return graph;
}

/** One cycle of the graph as a path, or null. */
function findCycle(graph: Map<string, Set<string>>): string[] | null {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string): string[] | null => {
    if (state.get(n) === 'done') return null;
    if (state.get(n) === 'open') return [...stack.slice(stack.indexOf(n)), n];
    state.set(n, 'open');
    stack.push(n);
    for (const m of graph.get(n) ?? []) {
      const c = visit(m);
      if (c) return c;
    }
    stack.pop();
    state.set(n, 'done');
    return null;
  };
  for (const n of graph.keys()) {
    const c = visit(n);
    if (c) return c;
  }
  return null;
}

t.test('no import cycle between the folders of src/', async (t) => {
  const graph = folderGraph();
  const cycle = findCycle(graph);
  t.equal(cycle, null, cycle ? `cycle: ${cycle.join(' -> ')}` : 'acyclic', {
    graph: Object.fromEntries([...graph].map(([k, v]) => [k, [...v].sort()])),
  });
});

t.test("README's Layout section names every folder of src/", async (t) => {
  const readme = readFileSync(resolve(SRC, '..', 'README.md'), 'utf8');
  const layout = readme.slice(readme.indexOf('## Layout'));
  for (const e of readdirSync(SRC)) {
    if (!statSync(join(SRC, e)).isDirectory()) continue;
    t.match(layout, `\`src/${e}/\``, `src/${e}/ is described`);
  }
});
