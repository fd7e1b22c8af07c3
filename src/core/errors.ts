// One catalog of every error Loom reports, each with a stable code, in the manner of
// ws (WS_ERR_*) and undici (UND_ERR_*). Operators grep logs for the code; tests assert on it.
export const codes = {
  LOOM_ERR_CONFIG: 'invalid configuration',
  LOOM_ERR_USAGE: 'invalid command line',
  LOOM_ERR_BIND: 'cannot bind a listener',
  LOOM_ERR_PIDFILE: 'cannot use the pid file',
  LOOM_ERR_LOG_FILE: 'cannot write a log file',
  LOOM_ERR_ALREADY_RUNNING: 'loom is already running',
  LOOM_ERR_NOT_RUNNING: 'loom is not running',
  LOOM_ERR_PERMISSION: 'not allowed to act on the running loom',
  LOOM_ERR_HANDLER_LOAD: 'cannot load a handler',
  LOOM_ERR_HANDLER: 'a handler callback threw',
  LOOM_ERR_BAD_PACKET: 'bad inbound packet',
  LOOM_ERR_SEND_BUFFER_FULL: 'send buffer full, data dropped',
  LOOM_ERR_PROTOCOL: 'bad protocol module',
  LOOM_ERR_HTTP_HEADER: 'a handler gave an HTTP response header with characters HTTP does not allow',
  LOOM_ERR_WORKER_START: 'a worker failed to start',
  LOOM_ERR_WORKER_HUNG: 'a worker does not answer the master (its event loop is blocked)',
  LOOM_ERR_ACCEPT: 'connections could not be accepted (out of file descriptors)',
  LOOM_ERR_STOP_TIMEOUT: 'stop timed out',
  LOOM_ERR_CONTROL: 'control socket failure',
  LOOM_ERR_RELOAD: 'a reload failed',
  LOOM_ERR_INTERNAL: 'unexpected error (a bug in loom)',
  LOOM_ERR_BUS: 'cannot set up the bus between gateways and business processes',
  LOOM_ERR_GATEWAY: 'a gateway group could not deliver (business process gone, bad API call)',
  LOOM_ERR_CONNECT_URL: 'worker.connect(): bad URL or protocol',
  LOOM_ERR_CONNECT_FAILED: 'worker.connect(): the connection could not be made',
  LOOM_ERR_CONNECT_TIMEOUT: 'worker.connect(): no connection within the timeout',
} as const;

export type LoomErrorCode = keyof typeof codes;

export function isLoomErrorCode(x: unknown): x is LoomErrorCode {
  return typeof x === 'string' && Object.hasOwn(codes, x);
}

export class LoomError extends Error {
  readonly code: LoomErrorCode;
  constructor(code: LoomErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LoomError';
    this.code = code;
  }
}

/** Exit codes of the command line, fixed by DESIGN.md. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_CONFIG = 2;

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
