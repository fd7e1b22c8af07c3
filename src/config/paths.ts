// Files the daemon itself creates, derived from [loom]; here so that config validation can
// keep listeners off them and the master, which imports config, uses the same derivation.

/** The control socket lives beside the pidfile: /var/run/loom.pid → /var/run/loom.sock. */
export function controlSocketPath(pidFile: string): string {
  return pidFile.replace(/\.pid$/, '') + '.sock';
}

/** The master's identity record beside the pidfile: /var/run/loom.pid → /var/run/loom.start. */
export function identityPath(pidFile: string): string {
  return pidFile.replace(/\.pid$/, '') + '.start';
}

/** The local bus's directory, beside the pidfile: /var/run/loom.pid → /var/run/loom.bus/. */
export function busDirPath(pidFile: string): string {
  return pidFile.replace(/\.pid$/, '') + '.bus';
}
