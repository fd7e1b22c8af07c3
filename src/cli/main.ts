import { EXIT_CONFIG, EXIT_FAILURE, LoomError } from '../core/errors.js';
import { VERSION } from '../util/version.js';
import { parseArgs, USAGE } from './args.js';
import { check } from './check.js';
import { ConfigError, configFor } from './config.js';
import { startDaemon, startForeground } from './start.js';
import { connections, reload, status } from './status.js';
import { kill, stop } from './stop.js';
import { runningPid } from '../master/pidfile.js';

/**
 * A reader that leaves early (`loom restart -d | head -1`) closes the pipe under us. Nothing
 * can be told to it any more, so the write error is dropped and the command ends with its
 * own status; unhandled, it would end in a stack trace.
 */
function tolerateClosedOutput(stream: NodeJS.WriteStream): void {
  stream.on('error', () => undefined);
}

/** One line, code first: `loom: LOOM_ERR_NOT_RUNNING loom is not running (…)`. */
function printError(err: LoomError): void {
  // A worker's fatal message reaches us as text that leads with its own, more precise code.
  const text = /^LOOM_ERR_[A-Z_]+ /.test(err.message) ? err.message : `${err.code} ${err.message}`;
  process.stderr.write(`loom: ${text}\n`);
}

export async function runCli(argv: string[]): Promise<void> {
  tolerateClosedOutput(process.stdout);
  tolerateClosedOutput(process.stderr);
  try {
    const args = parseArgs(argv);
    switch (args.command) {
      case 'help':
        process.stdout.write(USAGE + '\n');
        return;
      case 'version':
        process.stdout.write(`loom ${VERSION}\nNode.js ${process.version}\n`);
        return;
      case 'check': {
        const problems = await check(args.config);
        if (problems.length > 0) {
          for (const p of problems) process.stderr.write(p + '\n');
          process.exitCode = EXIT_CONFIG;
        } else {
          process.stdout.write('configuration and handlers OK\n');
        }
        return;
      }
    }
    const config = configFor(args.config);
    // `return await`: a rejection must land in the catch below (one clear line, exit code),
    // not escape as an unhandled rejection with a stack trace.
    switch (args.command) {
      case 'start':
        return await (args.daemon ? startDaemon(config) : startForeground(config));
      case 'stop':
        return await stop(config);
      case 'kill':
        return await kill(config);
      case 'restart':
        if ((await runningPid(config.pidFile)) !== null) await stop(config);
        return await (args.daemon ? startDaemon(config) : startForeground(config));
      case 'reload':
        return await reload(config);
      case 'status':
        return await status(config, args.json, args.watch);
      case 'connections':
        return await connections(config, args.json);
    }
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(err.message + '\n');
      process.exitCode = EXIT_CONFIG;
    } else if (err instanceof LoomError) {
      printError(err);
      process.exitCode = err.code === 'LOOM_ERR_USAGE' || err.code === 'LOOM_ERR_CONFIG' ? EXIT_CONFIG : EXIT_FAILURE;
      if (err.code === 'LOOM_ERR_USAGE') process.stderr.write(USAGE + '\n');
    } else {
      printError(new LoomError('LOOM_ERR_INTERNAL', (err as Error)?.message ?? String(err)));
      process.exitCode = EXIT_FAILURE;
    }
  }
}
