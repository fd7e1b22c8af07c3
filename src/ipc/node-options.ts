// The V8 flags Loom gives its workers, and how they travel: in NODE_OPTIONS, which the master
// sets when it spawns a worker and the worker puts back as the user had it. Shared by both
// sides (like ROLE_ENV), so the worker does not reach into the master's code.

/**
 * V8 flags of every worker. A worker's young generation otherwise grows to 16 MB semi-spaces
 * under an accept burst and is seldom given back: RSS that idle connections did not need. The
 * flags travel in NODE_OPTIONS, which the single executable honours (execArgv it would not).
 */
export const WORKER_NODE_OPTIONS = '--max-semi-space-size=2';
/** NODE_OPTIONS as the user set it, restored in the worker (unset: this holds ''). */
const USER_NODE_OPTIONS_ENV = 'LOOM_USER_NODE_OPTIONS';

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
