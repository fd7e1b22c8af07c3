// Facts about the runtime Loom runs on.

/** Running as the single executable (dist/loom), not as node dist/loom.cjs. */
export function isSingleExecutable(): boolean {
  try {
    // node:sea exists from Node 20.12; older builds cannot be a single executable anyway.
    return (require('node:sea') as { isSea(): boolean }).isSea();
  } catch {
    return false;
  }
}
