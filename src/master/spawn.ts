// Workers are this same program re-run with a role marker in the environment: under the
// single executable, argv of a forked child is not ours to use, the environment is.
import { fork, type ChildProcess } from 'node:child_process';
import { ROLE_ENV } from '../ipc/messages.js';
import { workerNodeOptions } from '../ipc/node-options.js';
import { isSingleExecutable } from '../util/runtime.js';

/** The file to re-run: the executable itself, or the bundled script. */
export function selfModule(): string {
  return isSingleExecutable() ? process.execPath : process.argv[1];
}

/**
 * Re-runs this program in a role. A worker's stdout/stderr are pipes read by the master, so
 * the master can reopen stdout_file (SIGUSR2) under every worker; the detached master of
 * `start -d` writes to the fd it is given.
 */
export function spawnSelf(role: 'worker' | 'master', extraEnv: Record<string, string> = {}, out: 'pipe' | number = 'pipe'): ChildProcess {
  return fork(selfModule(), role === 'master' ? ['start'] : [], {
    env: { ...process.env, [ROLE_ENV]: role, ...(role === 'worker' ? workerNodeOptions(process.env.NODE_OPTIONS) : {}), ...extraEnv },
    execArgv: [],
    stdio: ['ignore', out, out, 'ipc'],
    detached: role === 'master',
  });
}
