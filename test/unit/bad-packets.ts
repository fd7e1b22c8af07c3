// The bad-packet log limiter: every packet counted, FULL_LINES logged per interval, the rest
// in one summary line naming some of the peers.
import t from 'tap';
import { BadPackets, FULL_LINES } from '../../src/core/bad-packets';
import { newStats } from '../../src/core/stats';
import type { Logger } from '../../src/log/logger';

function recorder(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const log = { warn: (m: string) => lines.push(m), info: () => undefined, error: () => undefined } as unknown as Logger;
  return { log, lines };
}

t.test('a burst: a few lines in full, then one summary', async (t) => {
  const stats = newStats();
  const { log, lines } = recorder();
  const bp = new BadPackets('text://127.0.0.1:1', stats, log);
  for (let i = 0; i < 100; i++) bp.report(`closed connection ${i}`, `from 10.0.0.${i % 7}:${1000 + i}`, 'too big');
  t.equal(stats.badPackets, 100, 'every bad packet counted');
  t.equal(lines.length, FULL_LINES, 'only the first lines are logged at once');
  t.match(lines[0], /^LOOM_ERR_BAD_PACKET closed connection 0 from 10\.0\.0\.0:1000 on text:\/\/127\.0\.0\.1:1: too big$/);
  bp.flush();
  t.equal(lines.length, FULL_LINES + 1, 'one summary line');
  t.match(lines[FULL_LINES], new RegExp(`^LOOM_ERR_BAD_PACKET ${100 - FULL_LINES} more bad packet\\(s\\) on text://127\\.0\\.0\\.1:1 in the last 1 s, ${100 - FULL_LINES} peer\\(s\\): 10\\.0\\.0\\.\\d:\\d+, `));
  bp.flush();
  t.equal(lines.length, FULL_LINES + 1, 'an empty interval adds nothing');
  bp.report('closed connection 200', 'from 10.0.0.1:2', 'bad');
  t.equal(lines.length, FULL_LINES + 2, 'a new interval logs in full again');
  bp.flush();
});

t.test('a client side packet names its peer with "to"', async (t) => {
  const { log, lines } = recorder();
  const bp = new BadPackets('frame://10.0.0.1:9', newStats(), log);
  for (let i = 0; i <= FULL_LINES; i++) bp.report('closed connection 1', 'to 10.0.0.1:9', 'bad frame');
  bp.flush();
  t.match(lines.at(-1), /1 more bad packet\(s\) .* 1 peer\(s\): 10\.0\.0\.1:9$/);
});
