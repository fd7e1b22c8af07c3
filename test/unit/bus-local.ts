// The local bus's discovery: a business process links to every gateway socket of its group, and
// links again to one whose connect failed or whose link broke while its file is still there
// (the gateway still serves clients whose events wait for that process); a gateway whose file
// is gone is not tried.
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gatewaySocketPath, LocalBus } from '../../src/bus/local';
import type { BusLink } from '../../src/bus/bus';
import { waitFor } from '../helpers/loom';

function busDir(t: { teardown(fn: () => unknown): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'loom-bus-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A connect of this process is under way (discover() starts its connects at once). */
function connecting(): boolean {
  return process.getActiveResourcesInfo().includes('ConnectWrap');
}

t.test('a gateway socket whose connect failed is tried again once it answers', async (t) => {
  const dir = busDir(t);
  const bus = new LocalBus(dir);
  // Not a listening socket yet: the connect is refused.
  writeFileSync(gatewaySocketPath(dir, 'g', 0, process.pid), '');
  const business = bus.business('g');
  const businessLinks: BusLink[] = [];
  business.start((link) => businessLinks.push(link));
  t.teardown(() => business.stop());
  await waitFor(() => !connecting(), 'the first attempt to be refused');
  t.equal(businessLinks.length, 0, 'no link to a socket that refuses');

  const gatewayLinks: BusLink[] = [];
  const gateway = bus.gateway('g', 0);
  await gateway.listen((link) => gatewayLinks.push(link));
  t.teardown(() => gateway.close());
  business.discover();
  await waitFor(() => businessLinks.length === 1 && gatewayLinks.length === 1, 'the link after the refused attempt');
  t.pass('linked');
});

t.test('a link that broke while its gateway still listens is made again; a gateway that closed is not', async (t) => {
  const dir = busDir(t);
  const bus = new LocalBus(dir);
  const gatewayLinks: BusLink[] = [];
  const gateway = bus.gateway('g', 0);
  await gateway.listen((link) => gatewayLinks.push(link));
  const business = bus.business('g');
  const businessLinks: BusLink[] = [];
  business.start((link) => businessLinks.push(link));
  t.teardown(() => business.stop());
  await waitFor(() => businessLinks.length === 1 && gatewayLinks.length === 1, 'the first link');

  gatewayLinks[0].close();
  await waitFor(() => businessLinks[0].closed, 'the business side to see the link close');
  business.discover();
  await waitFor(() => businessLinks.length === 2 && gatewayLinks.length === 2, 'a second link to the same gateway');
  t.notOk(businessLinks[1].closed, 'the new link is open');

  // A gateway that stops closes its server, which removes its socket file: nothing to link to.
  gateway.close();
  gatewayLinks[1].close();
  await waitFor(() => businessLinks[1].closed, 'the second link to close');
  business.discover();
  t.notOk(connecting(), 'no attempt to link to a gateway that closed');
  t.equal(businessLinks.length, 2);
});
