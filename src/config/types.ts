// The loaded configuration. Its fields are the schema's keys in camelCase with the types the
// schema gives them (Settings); only what the loader turns into something richer is written
// out here: resolved paths, the TLS files as one field, the account behind user/group.
import type { Settings } from './schema.js';

export type { ConfigProblem } from './problems.js';
export { formatProblem } from './problems.js';

export interface GroupConfig extends Omit<Settings<'group'>, 'handler' | 'sslCert' | 'sslKey' | 'sslCa' | 'root'> {
  name: string;
  /** Line of the section header, for messages. */
  line: number;
  /** Absolute path of the handler file, or null for a group without one. */
  handler: string | null;
  /** TLS files (absolute paths), or null for a plain listener. */
  tls: { cert: string; key: string; ca: string | null } | null;
  /** http: static files directory (absolute), or null. */
  root: string | null;
}

/** pidFile, logFile, stdoutFile and handlersDir are absolute. */
export interface LoomConfig extends Omit<Settings<'global'>, 'user' | 'group'> {
  /** Absolute path of config.ini. */
  file: string;
  /** Account the workers run as; null: the master's own. */
  user: { name: string; uid: number; gid: number } | null;
  groups: GroupConfig[];
}
