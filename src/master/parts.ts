// The worker groups the master runs for the groups of config.ini. An ordinary group is one; a
// gateway group (model = gateway) is two: its gateway processes, which hold the clients on the
// listener and run no user code, and its business processes, which run the handler (and serve
// the push API). Each part gets only the settings that concern it, so that changing one part's
// settings reloads that part alone: a new handler never restarts a gateway.
import type { GroupConfig } from '../config/types.js';
import type { GatewayPart } from '../ipc/messages.js';

export interface Part {
  config: GroupConfig;
  gateway: GatewayPart | null;
}

export function partsOf(g: GroupConfig, busDir: string): Part[] {
  if (g.model !== 'gateway') return [{ config: g, gateway: null }];
  const common = { section: g.name, gateways: g.count, businesses: g.businessCount, busDir };
  const gateway: GroupConfig = {
    ...g,
    name: `${g.name}/gateway`,
    handler: null,
    // The business part's settings: not the gateways' concern (the counts travel apart).
    businessCount: 1, pushListen: null, pushToken: '',
  };
  const business: GroupConfig = {
    ...g,
    name: `${g.name}/business`,
    // Its only listener is the push API's.
    listen: g.pushListen,
    count: g.businessCount,
    tls: null,
    root: null,
    // The gateways' settings.
    pingInterval: 0, pingNotResponseLimit: 0, pingData: '', permessageDeflate: false,
  };
  return [
    { config: gateway, gateway: { role: 'gateway', ...common } },
    { config: business, gateway: { role: 'business', ...common } },
  ];
}
