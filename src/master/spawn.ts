// Workers are this same program re-run with a role marker in the environment: under the
// single executable, argv of a forked child is not ours to use, the environment is.
import { fork, type ChildProcess } from 'node:child_process';
import { ROLE_ENV } from '../ipc/messages.js';
import { isSingleExecutable } from '../util/runtime.js';

/**
 * V8 flags of every worker. A worker's young generation otherwise grows to 16 MB semi-spaces
 * under an accept burst and is seldom given back: RSS that idle connections did not need. The
 * flags travel in NODE_OPTIONS, which the single executable honours (execArgv it would not).
 */
export const WORKER_NODE_OPTIONS = '--max-semi-space-size=2';
/** NODE_OPTIONS as the user set it, restored in the worker (unset: this holds ''). */
const USER_NODE_OPTIONS_ENV = 'LOOM_USER_NODE_OPTIONS';

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

/** The user's NODE_OPTIONS with Loom's worker flags after them, unless the user set the same flag. */
export function workerNodeOptions(user: string | undefined): Record<string, string> {
  const own = WORKER_NODE_OPTIONS.split(' ').filter((flag) => !(user ?? '').includes(flag.split('=')[0]));
  if (own.length === 0) return {};
  return { NODE_OPTIONS: [user, ...own].filter(Boolean).join(' '), [USER_NODE_OPTIONS_ENV]: user ?? '' };
}

/**
 * In a worker, at start: NODE_OPTIONS back to the user's, so that programs a handler runs do
 * not inherit Loom's flags (V8 has read them already).
 */
export function restoreNodeOptions(env: NodeJS.ProcessEnv = process.env): void {
  const user = env[USER_NODE_OPTIONS_ENV];
  if (user === undefined) return;
  if (user) env.NODE_OPTIONS = user;
  else delete env.NODE_OPTIONS;
  delete env[USER_NODE_OPTIONS_ENV];
}
