// user/group names → ids, resolved the way the system resolves them (NSS: files, LDAP, sssd,
// systemd-homed…) through getent, since Node has no getpwnam. Without getent (a minimal
// container), /etc/passwd and /etc/group are read. Numeric ids are accepted as they are.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface Account { uid: number; gid: number; name: string }

/** An NSS source that answers slowly (LDAP down) must not hang `check` or a start. */
const GETENT_TIMEOUT_MS = 10_000;
const NUMERIC = /^\d+$/;

/**
 * The fields of a passwd or group entry (`name:x:id:…`) for `name` (a name or a numeric id,
 * already restricted by the schema to letters, digits, `.`, `_`, `-`, not starting with `-`,
 * so it cannot pass for an option), or null when there is none. Throws when the lookup itself
 * fails.
 */
function entry(database: 'passwd' | 'group', name: string): string[] | null {
  let out: string;
  try {
    out = execFileSync('getent', [database, name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: GETENT_TIMEOUT_MS });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { status?: number | null };
    if (e.code === 'ENOENT') return fromFile(database, name);
    if (e.status === 2) return null; // getent: key not found
    const why = e.code === 'ETIMEDOUT' ? `no answer within ${GETENT_TIMEOUT_MS / 1000} s`
      : typeof e.status === 'number' ? `exit ${e.status}` : (e.code ?? e.message);
    throw new Error(`cannot look up ${database === 'passwd' ? 'user' : 'group'} "${name}" (getent ${database}: ${why})`);
  }
  const fields = out.split('\n')[0].split(':');
  return fields.length >= 4 && NUMERIC.test(fields[2]) ? fields : null;
}

function fromFile(database: 'passwd' | 'group', name: string): string[] | null {
  let text: string;
  try {
    text = readFileSync(`/etc/${database}`, 'utf8');
  } catch {
    return null;
  }
  const rows = text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(':'));
  return rows.find((r) => r[0] === name) ?? (NUMERIC.test(name) ? rows.find((r) => r[2] === name) : undefined) ?? null;
}

/** The account of a user name or uid, or null when the system knows none; throws when the lookup fails. */
export function lookupUser(name: string): Account | null {
  const row = entry('passwd', name);
  if (row) return { name: row[0], uid: Number(row[2]), gid: Number(row[3]) };
  return NUMERIC.test(name) ? { name, uid: Number(name), gid: Number(name) } : null;
}

/** The gid of a group name or gid, or null when the system knows none; throws when the lookup fails. */
export function lookupGroup(name: string): number | null {
  const row = entry('group', name);
  if (row) return Number(row[2]);
  return NUMERIC.test(name) ? Number(name) : null;
}
