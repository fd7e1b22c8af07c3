import type { ListenSpec } from './listen.js';

export interface GroupConfig {
  name: string;
  /** Line of the section header, for messages. */
  line: number;
  listen: ListenSpec | null;
  count: number;
  /** Absolute path of the handler file, or null for a group without one. */
  handler: string | null;
  reloadable: boolean;
  maxPackageSize: number;
  maxSendBufferSize: number;
  /** TLS files (absolute paths), or null for a plain listener. */
  tls: { cert: string; key: string; ca: string | null } | null;
  /** http: static files directory (absolute), or null. */
  root: string | null;
  headerTimeout: number;
  idleTimeout: number;
  permessageDeflate: boolean;
}

export interface LoomConfig {
  /** Absolute path of config.ini. */
  file: string;
  name: string;
  pidFile: string;
  logFile: string;
  stdoutFile: string;
  handlersDir: string;
  watch: boolean;
  /** Account the workers run as; null: the master's own. */
  user: { name: string; uid: number; gid: number } | null;
  stopTimeout: number;
  reloadTimeout: number;
  /** Seconds before an unresponsive worker is killed; 0: never. */
  hangTimeout: number;
  groups: GroupConfig[];
}

/** One thing wrong with the configuration, printed as `file:line [section] key: message`. */
export interface ConfigProblem {
  file: string;
  line: number;
  section: string;
  key: string;
  message: string;
}

export function formatProblem(p: ConfigProblem): string {
  const where = p.line > 0 ? `${p.file}:${p.line}` : p.file;
  const section = p.section ? ` [${p.section}]` : '';
  const key = p.key ? ` ${p.key}` : '';
  return `${where}${section}${key}: ${p.message}`;
}
