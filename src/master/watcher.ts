// watch = true: chokidar watches handlers_dir; a burst of events (an editor's write + rename)
// is debounced into one reload of just the groups whose handler or protocol file changed.
import { resolve } from 'node:path';
import type { Logger } from '../log/logger.js';

const DEBOUNCE_MS = 300;

export interface HandlerWatcher { close(): Promise<void> }

export async function watchHandlers(dir: string, log: Logger, onChange: (files: Set<string>) => void): Promise<HandlerWatcher> {
  const { watch } = await import('chokidar');
  const changed = new Set<string>();
  let timer: NodeJS.Timeout | null = null;
  const watcher = watch(dir, {
    ignoreInitial: true,
    ignored: (p: string) => /(^|\/)(node_modules|\.git)(\/|$)|(~|\.swp|\.swx|\.tmp)$/.test(p),
    awaitWriteFinish: false,
  });
  const note = (file: string) => {
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
