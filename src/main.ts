// One program, three roles: the command line, the detached master of `start -d`, and a worker.
// The role travels in the environment because a forked single executable ignores argv.
import { ROLE_ENV } from './ipc/messages.js';
import { runCli } from './cli/main.js';
import { runDaemonMaster } from './cli/start.js';
import { runWorker } from './worker/main.js';

const role = process.env[ROLE_ENV];
delete process.env[ROLE_ENV];
if (role === 'worker') runWorker();
else if (role === 'master') void runDaemonMaster();
else void runCli(process.argv.slice(2));
