// systemd/loom.service passes `systemd-analyze verify`, and agrees with Loom's defaults.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers/loom';

const UNIT = join(ROOT, 'systemd', 'loom.service');
const hasSystemd = spawnSync('systemd-analyze', ['--version']).status === 0;

t.test('the unit agrees with the defaults and the CLI', async (t) => {
  const unit = readFileSync(UNIT, 'utf8');
  const schema = readFileSync(join(ROOT, 'src', 'config', 'schema.ts'), 'utf8');
  const pidDefault = /key: 'pid_file'[^}]*default: '([^']+)'/.exec(schema)?.[1];
  t.equal(/^PIDFile=(.*)$/m.exec(unit)?.[1], pidDefault, 'PIDFile is the default pid_file');
  t.match(unit, /^ExecReload=.*kill -HUP \$MAINPID$/m, 'reload sends SIGHUP');
  t.match(unit, /^ExecStart=\/usr\/local\/bin\/loom start -d -c \/etc\/loom\/config\.ini$/m);
  t.match(unit, /^Type=forking$/m, 'start -d returns once serving');
  t.match(unit, /^Restart=on-failure$/m);
  t.match(unit, /^LimitNOFILE=\d{5,}$/m);
  t.match(unit, /^After=.*network-online\.target/m);
});

t.test('systemd-analyze verify is clean', { skip: !hasSystemd && 'systemd-analyze is not installed' }, async (t) => {
  // verify also checks that each Exec program exists: point them at a stand-in executable,
  // leaving every other line of the unit as shipped.
  const dir = mkdtempSync(join(tmpdir(), 'loom-unit-'));
  const exe = join(dir, 'loom');
  writeFileSync(exe, '#!/bin/sh\nexit 0\n');
  chmodSync(exe, 0o755);
  const unit = join(dir, 'loom.service');
  writeFileSync(unit, readFileSync(UNIT, 'utf8').replaceAll('/usr/local/bin/loom', exe));
  const r = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
  const complaints = (r.stderr + r.stdout).split('\n').filter((l) => l.includes('loom.service'));
  t.same(complaints, [], 'no complaint about loom.service');
  t.equal(r.status, 0, r.stderr);
});
