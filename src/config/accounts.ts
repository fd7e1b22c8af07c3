// user/group names → ids, from /etc/passwd and /etc/group (Node has no getpwnam). Numeric
// ids are accepted as they are.
import { readFileSync } from 'node:fs';

export interface Account { uid: number; gid: number; name: string }

function table(file: string): string[][] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(':'));
  } catch {
    return [];
  }
}

export function lookupUser(name: string): Account | null {
  const row = table('/etc/passwd').find((r) => r[0] === name || (/^\d+$/.test(name) && r[2] === name));
  if (row) return { name: row[0], uid: Number(row[2]), gid: Number(row[3]) };
  return /^\d+$/.test(name) ? { name, uid: Number(name), gid: Number(name) } : null;
}

export function lookupGroup(name: string): number | null {
  const row = table('/etc/group').find((r) => r[0] === name || (/^\d+$/.test(name) && r[2] === name));
  if (row) return Number(row[2]);
  return /^\d+$/.test(name) ? Number(name) : null;
}
