import { LoomError } from '../core/errors.js';

export const COMMANDS = ['start', 'stop', 'kill', 'restart', 'reload', 'status', 'connections', 'check', 'version', 'help'] as const;
export type Command = (typeof COMMANDS)[number];

export interface Args {
  command: Command;
  config?: string;
  daemon: boolean;
  json: boolean;
  watch: boolean;
}

export const USAGE = `usage: loom <command> [-c|--config FILE] [options]

commands:
  start [-d]            start in the foreground (Ctrl+C stops); -d: as a daemon
  stop                  graceful stop (in-flight work finishes, within stop_timeout)
  kill                  immediate stop of the master and every worker (SIGKILL)
  restart [-d]          stop, then start
  reload                graceful rolling reload; re-reads config.ini
  status [--json] [--watch]   global status and one row per process
  connections [--json]  one row per live connection
  check                 validate config.ini and load every handler; exit 0 or 2
  version               versions of Loom and Node.js

Without -c: ./config.ini, then /etc/loom/config.ini.`;

export function parseArgs(argv: string[]): Args {
  const args: Args = { command: 'help', daemon: false, json: false, watch: false };
  let command: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-c' || a === '--config') {
      const v = argv[++i];
      if (!v) throw new LoomError('LOOM_ERR_USAGE', `${a} needs a file name`);
      args.config = v;
    } else if (a.startsWith('--config=')) args.config = a.slice('--config='.length);
    else if (a === '-d' || a === '--daemon') args.daemon = true;
    else if (a === '--json') args.json = true;
    else if (a === '--watch' || a === '-w') args.watch = true;
    else if (a === '-h' || a === '--help') command = 'help';
    else if (a === '-v' || a === '--version') command = 'version';
    else if (a.startsWith('-')) throw new LoomError('LOOM_ERR_USAGE', `unknown option ${a}`);
    else if (command === undefined) command = a;
    else throw new LoomError('LOOM_ERR_USAGE', `unexpected argument "${a}"`);
  }
  if (command !== undefined) {
    if (!(COMMANDS as readonly string[]).includes(command)) throw new LoomError('LOOM_ERR_USAGE', `unknown command "${command}"`);
    args.command = command as Command;
  }
  return args;
}
