// user/group names are resolved the way the system resolves them (getent: NSS, so LDAP and
// sssd users too), falling back to /etc/passwd and /etc/group where getent is missing.
import t from 'tap';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lookupGroup, lookupUser } from '../../src/config/accounts.js';

const DIR = mkdtempSync(join(tmpdir(), 'loom-config-accounts-'));
t.teardown(() => rmSync(DIR, { recursive: true, force: true }));

/** Runs fn with PATH holding only a `getent` that runs this shell script body (none: no getent at all). */
function withGetent<T>(script: string | null, fn: () => T): T {
  const bin = mkdtempSync(join(DIR, 'bin-'));
  if (script !== null) {
    writeFileSync(join(bin, 'getent'), `#!/bin/sh\n${script}\n`);
    chmodSync(join(bin, 'getent'), 0o755);
  }
  const path = process.env.PATH;
  process.env.PATH = bin;
  try {
    return fn();
  } finally {
    process.env.PATH = path;
  }
}

t.test('names and ids the system knows', async (t) => {
  t.same(lookupUser('root'), { name: 'root', uid: 0, gid: 0 });
  t.same(lookupUser('0'), { name: 'root', uid: 0, gid: 0 }, 'a uid gives the account behind it');
  t.equal(lookupGroup('root'), 0);
  t.equal(lookupUser('no-such-user-here'), null);
  t.equal(lookupGroup('no-such-group-here'), null);
});

t.test('an id the system does not know is taken as it is', async (t) => {
  t.same(lookupUser('54321'), { name: '54321', uid: 54321, gid: 54321 });
  t.equal(lookupGroup('54321'), 54321);
});

t.test('a user known only to NSS (as from LDAP) is found through getent', async (t) => {
  const args = join(DIR, 'args');
  const user = withGetent(`echo "$@" >> ${args}\n[ "$1 $2" = "passwd ldapuser" ] && echo 'ldapuser:*:4242:4343:LDAP user:/home/l:/bin/sh' && exit 0\nexit 2`,
    () => lookupUser('ldapuser'));
  t.same(user, { name: 'ldapuser', uid: 4242, gid: 4343 });
  const gid = withGetent(`echo "$@" >> ${args}\necho 'ldapgroup:*:4343:ldapuser'`, () => lookupGroup('ldapgroup'));
  t.equal(gid, 4343);
  t.equal(readFileSync(args, 'utf8'), 'passwd ldapuser\ngroup ldapgroup\n', 'getent DATABASE NAME, nothing else');
});

t.test('getent says "not found" (exit 2): no such account', async (t) => {
  t.equal(withGetent('exit 2', () => lookupUser('ghost')), null);
  t.equal(withGetent('exit 2', () => lookupGroup('ghost')), null);
});

t.test('getent fails otherwise: the lookup fails, it is not taken for "no such user"', async (t) => {
  t.throws(() => withGetent('exit 3', () => lookupUser('someone')), { message: 'cannot look up user "someone" (getent passwd: exit 3)' });
  t.throws(() => withGetent('exit 1', () => lookupGroup('staff')), { message: 'cannot look up group "staff" (getent group: exit 1)' });
});

t.test('without getent, /etc/passwd and /etc/group are read', async (t) => {
  t.same(withGetent(null, () => lookupUser('root')), { name: 'root', uid: 0, gid: 0 });
  t.same(withGetent(null, () => lookupUser('0')), { name: 'root', uid: 0, gid: 0 });
  t.equal(withGetent(null, () => lookupGroup('root')), 0);
  t.equal(withGetent(null, () => lookupUser('no-such-user-here')), null);
});
