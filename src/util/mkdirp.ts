import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * mkdir -p that gives up instead of looping: Node 20's recursive mkdirSync spins forever
 * on file systems that answer ENOENT for every create (/proc, say).
 */
export function mkdirp(dir: string): void {
  try {
    if (statSync(dir).isDirectory()) return;
  } catch { /* create it below */ }
  const parent = dirname(dir);
  if (parent !== dir) mkdirp(parent);
  try {
    mkdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}
