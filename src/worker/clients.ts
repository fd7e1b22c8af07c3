// The async clients a worker's handler made with worker.connect(), remembered so that a
// graceful stop can end them and `loom connections` can list them.
import { connect, type ClientDeps } from '../clients/connect.js';
import type { ConnectionInfo } from '../core/connection.js';
import type { AsyncConnection, ConnectOptions } from '../types/handler.js';

/** What the registry needs of a client beyond the handler API. */
interface ClientEntry extends AsyncConnection {
  cycle: { retire(): void };
  describe(now: number): ConnectionInfo | null;
}

export class WorkerClients {
  private readonly all = new Set<ClientEntry>();
  /** Closed clients are dropped when the set grows past this. */
  private pruneAt = 64;

  constructor(private readonly deps: ClientDeps) {}

  connect(url: string, opts: ConnectOptions | undefined): AsyncConnection {
    const client = connect(url, opts ?? {}, this.deps) as ClientEntry;
    if (this.all.size >= this.pruneAt) {
      for (const c of this.all) if (c.state === 'closed') this.all.delete(c);
      this.pruneAt = Math.max(64, this.all.size * 2);
    }
    this.all.add(client);
    return client;
  }

  /** A graceful stop began: no client retries any more (a pending retry is not work in flight). */
  retire(): void {
    for (const c of this.all) c.cycle.retire();
  }

  /** Closes every client (their send buffers flush, their onClose runs). */
  closeAll(): void {
    for (const c of this.all) if (c.state !== 'closed') c.close();
  }

  get open(): boolean {
    for (const c of this.all) if (c.state !== 'closed') return true;
    return false;
  }

  describe(now: number): ConnectionInfo[] {
    const out: ConnectionInfo[] = [];
    for (const c of this.all) {
      const row = c.describe(now);
      if (row) out.push(row);
    }
    return out;
  }
}
