// watch = true: chokidar watches handlers_dir; a burst of events (an editor's write + rename)
// is debounced into one reload of just the groups whose handler or protocol file changed.
import { relative, resolve } from 'node:path';
import type { Logger } from '../log/logger.js';

const DEBOUNCE_MS = 300;
const CODE_FILE = /\.(js|cjs|mjs|ts|json)$/;

export interface HandlerWatcher { close(): Promise<void> }

export async function watchHandlers(dir: string, log: Logger, onChange: (files: Set<string>) => void): Promise<HandlerWatcher> {
  const { watch } = await import('chokidar');
  const changed = new Set<string>();
  let timer: NodeJS.Timeout | null = null;
  const watcher = watch(dir, {
    ignoreInitial: true,
    // node_modules, dot-files and dot-directories (editor temp files, .git) are not handler code.
    ignored: (p: string) => /(^|\/)(node_modules|\.[^/]+)(\/|$)/.test(relative(dir, p)),
  });
  const note = (file: string) => {
    // Editors' temp, swap and backup files come and go around every save: only code counts.
    if (!CODE_FILE.test(file)) return;
    changed.add(resolve(file));
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      const files = new Set(changed);
      changed.clear();
      onChange(files);
    }, DEBOUNCE_MS);
  };
  watcher.on('add', note).on('change', note).on('unlink', note);
  watcher.on('error', (err) => log.warn(`watching ${dir}: ${(err as Error).message}`));
  await new Promise<void>((r) => watcher.once('ready', () => r()));
  return {
    close: async () => {
      if (timer) clearTimeout(timer);
      await watcher.close();
    },
  };
}
