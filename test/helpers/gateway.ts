// WebSocket clients of a gateway group for tests, and a business handler that does whatever
// a client asks of the gateway API: `{"op": "sendToUid", "args": [...]}` is answered with
// `{"t": "result", "op": ..., "r": ...}`; anything else a client receives is a delivery.
import { WebSocket } from 'ws';
import { MessageQueue } from './clients';

export interface GwClient {
  ws: WebSocket;
  /** The client id, from the welcome. */
  id: string;
  /** Deliveries (anything that is not an API result). */
  messages: MessageQueue<string>;
  results: MessageQueue<{ op: string; r: unknown }>;
  closed: Promise<number>;
  /** Calls the gateway API through the handler; resolves with the result. */
  call(op: string, ...args: unknown[]): Promise<unknown>;
}

/** The business handler the helpers talk to. */
export const API_HANDLER = `module.exports = {
  onConnect(client) { client.send(JSON.stringify({ t: 'welcome', id: client.id })); },
  async onMessage(client, text) {
    let m;
    try { m = JSON.parse(text); } catch { return; }
    if (m.op === 'session') {
      Object.assign(client.session, m.set || {});
      client.send(JSON.stringify({ t: 'result', op: 'session', r: client.session }));
      return;
    }
    const r = await client.gateway[m.op](...(m.args || []));
    client.send(JSON.stringify({ t: 'result', op: m.op, r: r === undefined ? null : r }));
  },
};
`;

export function gwClient(port: number, path = '/'): Promise<GwClient> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
    const messages = new MessageQueue<string>();
    const results = new MessageQueue<{ op: string; r: unknown }>();
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    let settled = false;
    ws.on('message', (data) => {
      const text = data.toString();
      type Parsed = { t?: string; id?: string; op?: string; r?: unknown };
      let m: Parsed | null = null;
      try { m = JSON.parse(text) as Parsed; } catch { /* a plain delivery */ }
      if (m?.t === 'welcome' && !settled) {
        settled = true;
        const client: GwClient = {
          ws, id: m.id!, messages, results, closed,
          call: (op, ...args) => {
            ws.send(JSON.stringify({ op, args }));
            return results.next(10000).then((res) => res.r);
          },
        };
        resolve(client);
      } else if (m?.t === 'result') results.push({ op: m.op!, r: m.r });
      else messages.push(text);
    });
    ws.once('error', (err) => { if (!settled) reject(err); });
  });
}

/** The gateway (its key) that holds a client. */
export const gatewayOf = (c: GwClient) => c.id.slice(0, 10);

/** Opens clients until every one of `gateways` gateways holds at least one; returns them all. */
export async function spreadClients(port: number, gateways: number, max = 40): Promise<GwClient[]> {
  const all: GwClient[] = [];
  while (all.length < max) {
    all.push(await gwClient(port));
    if (new Set(all.map(gatewayOf)).size >= gateways && all.length >= gateways * 2) return all;
  }
  throw new Error(`${max} clients all landed on ${new Set(all.map(gatewayOf)).size} gateway(s)`);
}
