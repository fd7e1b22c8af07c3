// stop, kill and restart act on the daemon named by the pidfile.
import { unlinkSync } from 'node:fs';
import type { LoomConfig } from '../config/types.js';
import { LoomError } from '../core/errors.js';
import { controlSocketPath, removePid, runningPid } from '../master/pidfile.js';
import { childrenOf, isAlive } from '../util/proc.js';

function requireRunning(config: LoomConfig): number {
  const pid = runningPid(config.pidFile);
  if (pid === null) throw new LoomError('LOOM_ERR_NOT_RUNNING', `loom is not running (no live master in pid file ${config.pidFile})`);
  return pid;
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
  const pid = requireRunning(config);
  process.kill(pid, 'SIGTERM');
  // The master kills stragglers at stop_timeout; allow it a little more to finish that.
  if (!(await waitGone([pid], config.stopTimeout * 1000 + 5000))) {
    throw new LoomError('LOOM_ERR_STOP_TIMEOUT', `master pid ${pid} is still running after ${config.stopTimeout + 5} s; use loom kill`);
  }
  process.stdout.write(`${config.name} stopped\n`);
}

export async function kill(config: LoomConfig): Promise<void> {
  const pid = requireRunning(config);
  const pids = [pid, ...childrenOf(pid)];
  for (const p of pids) {
    try { process.kill(p, 'SIGKILL'); } catch { /* already gone */ }
  }
  await waitGone(pids, 5000);
  removePid(config.pidFile, pid);
  try { unlinkSync(controlSocketPath(config.pidFile)); } catch { /* none */ }
  process.stdout.write(`${config.name} killed (${pids.length} process(es))\n`);
}
