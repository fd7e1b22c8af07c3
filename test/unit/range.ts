// Range headers of static files (RFC 9110 §14): one range served, several or bad ones ignored
// (the whole file), one beyond the end unsatisfiable.
import t from 'tap';
import { parseRange } from '../../src/http/static';

t.test('ranges', async (t) => {
  t.same(parseRange('bytes=0-9', 100), [0, 9]);
  t.same(parseRange('bytes=90-', 100), [90, 99]);
  t.same(parseRange('bytes=-10', 100), [90, 99], 'a suffix');
  t.same(parseRange('bytes=-200', 100), [0, 99], 'a suffix longer than the file');
  t.same(parseRange('bytes=50-500', 100), [50, 99], 'an end past the file is clamped');
  t.equal(parseRange('bytes=100-', 100), 'unsatisfiable');
  t.equal(parseRange('bytes=-0', 100), 'unsatisfiable');
  t.equal(parseRange('bytes=-5', 0), 'unsatisfiable', 'no suffix of an empty file');
  t.equal(parseRange(undefined, 100), null);
  t.equal(parseRange('bytes=5-2', 100), null, 'end before start: invalid, ignored');
  t.equal(parseRange('bytes=0-1,5-6', 100), null, 'several ranges: the whole file');
  t.equal(parseRange('items=0-1', 100), null);
  t.equal(parseRange('bytes=-', 100), null);
  t.equal(parseRange(' bytes=1-2 ', 100)?.toString(), '1,2', 'surrounding spaces');
});
