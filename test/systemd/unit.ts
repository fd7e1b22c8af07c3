// systemd/loom.service passes `systemd-analyze verify`, and agrees with Loom's defaults, with
// systemd/config.ini (the installed config.ini) and with README's install step.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, loom } from '../helpers/loom';

const UNIT = join(ROOT, 'systemd', 'loom.service');
const INSTALLED_CONFIG = join(ROOT, 'systemd', 'config.ini');
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

/** The [loom] value of key in an ini text. */
function globalKey(ini: string, key: string): string | undefined {
  const loom = /^\[loom\]$([\s\S]*?)(?=^\[|(?![\s\S]))/m.exec(ini)?.[1] ?? '';
  return new RegExp(`^${key}\\s*=\\s*(\\S+)`, 'm').exec(loom)?.[1];
}

const groups = (ini: string) => [...ini.matchAll(/^\[([^\]]+)\]$/gm)].map((m) => m[1]).filter((g) => g !== 'loom');

t.test('README installs systemd/config.ini where the unit reads it, and they agree', async (t) => {
  const unit = readFileSync(UNIT, 'utf8');
  const ini = readFileSync(INSTALLED_CONFIG, 'utf8');
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const install = /## Running as a service[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  const copied = (from: string) => new RegExp(`\\bcp (?:-r )?${from.replace('.', '\\.')} (\\S+)`).exec(install)?.[1];

  t.equal(globalKey(ini, 'pid_file'), /^PIDFile=(.*)$/m.exec(unit)?.[1], 'its pid_file is the unit\'s PIDFile (else systemd waits forever)');
  const configs = [...unit.matchAll(/^Exec\w+=.*\bloom \w+.* -c (\S+)$/gm)].map((m) => m[1]);
  t.ok(configs.length >= 3, 'check, start and stop name their config');
  t.same([...new Set(configs)], [copied('systemd/config.ini')], 'every config the unit names is the one README installs');
  t.equal(copied('handlers'), globalKey(ini, 'handlers_dir'), 'handlers_dir is where README installs the handlers');
  t.match(copied('systemd/loom.service') ?? '', /^\/etc\/systemd\/system\/?$/, 'README installs the unit');
  t.same(groups(ini), groups(readFileSync(join(ROOT, 'config.ini'), 'utf8')), 'the example groups of config.ini');
});

t.test('loom check accepts systemd/config.ini', async (t) => {
  // Installed, the handlers are under /etc/loom/handlers: point it at the repository's.
  const dir = mkdtempSync(join(tmpdir(), 'loom-installed-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let ini = readFileSync(INSTALLED_CONFIG, 'utf8').replaceAll('/etc/loom/handlers', join(ROOT, 'handlers'));
  // Dropping to `user` needs root; the rest is the same either way.
  if (process.getuid?.() !== 0) ini = ini.replace(/^user = .*$/m, '');
  writeFileSync(join(dir, 'config.ini'), ini);
  const r = await loom(['check', '-c', join(dir, 'config.ini')]);
  t.equal(r.stderr, '', 'no problem reported');
  t.equal(r.code, 0);
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
