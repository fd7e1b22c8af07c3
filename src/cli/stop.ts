// stop, kill and restart act on the master the pidfile names, once it is proven to be this
// daemon's master (master/pidfile.ts): a stale pidfile never gets anyone signalled.
import { unlinkSync } from 'node:fs';
import type { LoomConfig } from '../config/types.js';
import { LoomError } from '../core/errors.js';
import { controlSocketPath, findMaster, notRunningMessage, removePid } from '../master/pidfile.js';
import { childrenOf, isAlive } from '../util/proc.js';

async function requireRunning(config: LoomConfig): Promise<number> {
  const found = await findMaster(config.pidFile);
  if (found.state !== 'running') throw new LoomError('LOOM_ERR_NOT_RUNNING', notRunningMessage(config.pidFile, found));
  return found.pid;
}

/** Signals the master; a master we may not signal is an error, never a silent success. */
function signalMaster(config: LoomConfig, pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EPERM') {
      throw new LoomError('LOOM_ERR_PERMISSION', `permission denied: may not signal the master, pid ${pid} (pid file ${config.pidFile}); run as the user who started loom`);
    }
    if (code === 'ESRCH') throw new LoomError('LOOM_ERR_NOT_RUNNING', `loom is not running (master pid ${pid} exited just now; pid file ${config.pidFile})`);
    throw err;
  }
}

async function waitGone(pids: number[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!pids.some(isAlive)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !pids.some(isAlive);
}

export async function stop(config: LoomConfig): Promise<void> {
  const pid = await requireRunning(config);
  signalMaster(config, pid, 'SIGTERM');
  // The master kills stragglers at stop_timeout; allow it a little more to finish that.
  if (!(await waitGone([pid], config.stopTimeout * 1000 + 5000))) {
    throw new LoomError('LOOM_ERR_STOP_TIMEOUT', `master pid ${pid} is still running after ${config.stopTimeout + 5} s; use loom kill`);
  }
  process.stdout.write(`${config.name} stopped\n`);
}

export async function kill(config: LoomConfig): Promise<void> {
  const pid = await requireRunning(config);
  // Its children are known only while it lives: once it is gone they belong to init.
  const workers = childrenOf(pid);
  // The master first: it would replace killed workers, and if it may not be signalled,
  // nothing is.
  signalMaster(config, pid, 'SIGKILL');
  for (const p of workers) {
    try { process.kill(p, 'SIGKILL'); } catch { /* exited meanwhile */ }
  }
  const pids = [pid, ...workers];
  if (!(await waitGone(pids, 10000))) {
    throw new LoomError('LOOM_ERR_STOP_TIMEOUT', `SIGKILL sent, but pid(s) ${pids.filter(isAlive).join(' ')} still run after 10 s`);
  }
  removePid(config.pidFile, pid);
  try { unlinkSync(controlSocketPath(config.pidFile)); } catch { /* none */ }
  process.stdout.write(`${config.name} killed (${pids.length} process(es))\n`);
}
