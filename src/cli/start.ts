// `loom start` in the foreground (this process becomes the master) or with -d (a detached
// master is spawned and this process returns once every listener is bound, or fails).
import { closeSync } from 'node:fs';
import type { ConfigProblem, LoomConfig } from '../config/types.js';
import { isLoomErrorCode, LoomError, type LoomErrorCode } from '../core/errors.js';
import { openFailure, openLogFile } from '../log/logger.js';
import { Master } from '../master/master.js';
import { runningPid } from '../master/pidfile.js';
import { spawnSelf } from '../master/spawn.js';
import { ConfigError, configFor } from './config.js';

const START_TIMEOUT_MS = 120000;

/** What the detached master tells `start -d`: the error keeps its code across the process gap. */
type DaemonMessage =
  | { t: 'started'; table: string }
  | { t: 'failed'; code: LoomErrorCode; message: string; problems?: readonly ConfigProblem[] };

export async function startForeground(config: LoomConfig): Promise<void> {
  const master = new Master(config, true);
  await master.start();
  process.stdout.write(`${config.name} started, master pid ${process.pid}\n${master.listenersTable()}\nPress Ctrl+C to stop.\n`);
}

export async function startDaemon(config: LoomConfig): Promise<void> {
  const other = await runningPid(config.pidFile);
  if (other !== null) throw new LoomError('LOOM_ERR_ALREADY_RUNNING', `loom is already running, pid ${other} (pid file ${config.pidFile})`);
  let out: number;
  try {
    out = openLogFile(config.stdoutFile);
  } catch (err) {
    throw new LoomError('LOOM_ERR_LOG_FILE', `stdout_file ${config.stdoutFile} ${openFailure(err)}; set stdout_file in [loom] to a writable file`);
  }
  const child = spawnSelf('master', { LOOM_CONFIG: config.file, LOOM_DAEMON: '1' }, out);
  closeSync(out);
  return new Promise((resolve, reject) => {
    // Binding is instant; a handler's onWorkerStart may not be. Past this, give up loudly.
    const timer = setTimeout(() => {
      try { process.kill(child.pid!, 'SIGQUIT'); } catch { /* gone */ }
      reject(new LoomError('LOOM_ERR_WORKER_START', `the daemon did not report ready within ${START_TIMEOUT_MS / 1000} s and was stopped; see ${config.logFile}`));
    }, START_TIMEOUT_MS);
    child.once('exit', () => clearTimeout(timer));
    child.once('message', (msg: DaemonMessage) => {
      clearTimeout(timer);
      if (msg.t === 'started') {
        process.stdout.write(`${config.name} started as a daemon, master pid ${child.pid}\n${msg.table}\n`);
        child.disconnect();
        child.unref();
        resolve();
      } else if (msg.problems) {
        reject(new ConfigError(msg.problems));
      } else {
        reject(new LoomError(isLoomErrorCode(msg.code) ? msg.code : 'LOOM_ERR_INTERNAL', msg.message));
      }
    });
    child.once('exit', (code, signal) => reject(new LoomError('LOOM_ERR_WORKER_START', `the daemon exited with ${signal ?? code} while starting; see ${config.logFile}`)));
  });
}

/** Body of the detached master spawned by `start -d`. */
export async function runDaemonMaster(): Promise<void> {
  const send = (m: DaemonMessage) => process.send?.(m);
  try {
    const config = configFor(process.env.LOOM_CONFIG);
    const master = new Master(config, false);
    await master.start();
    send({ t: 'started', table: master.listenersTable() });
    process.disconnect?.();
  } catch (err) {
    if (err instanceof ConfigError) send({ t: 'failed', code: 'LOOM_ERR_CONFIG', message: err.message, problems: err.problems });
    else if (err instanceof LoomError) send({ t: 'failed', code: err.code, message: err.message });
    else send({ t: 'failed', code: 'LOOM_ERR_INTERNAL', message: (err as Error)?.message ?? String(err) });
    process.exitCode = 1;
    process.disconnect?.();
  }
}
