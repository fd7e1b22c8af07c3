// The listening sockets of one group, held by the master for as long as the group listens
// there, so that no reload, restart or crash of a worker ever closes one (connections waiting
// in its accept queue would be reset). Two models:
// - shared: one socket; every worker accepts on it (and hands connections on, worker/balance.ts);
// - per worker: one SO_REUSEPORT socket per worker id, the kernel spreading connections over
//   them; a reloaded worker's successor takes over the same socket and its queue.
import type { ListenSpec } from '../config/listen.js';
import { bindListener, type BoundHandle } from './listeners.js';

export type AcceptModel = 'shared' | 'per-worker';

/**
 * The model of a listener: per worker for TCP when LOOM_ACCEPT=per-worker (a switch to measure
 * with), else shared; unix sockets have no SO_REUSEPORT, and a udp socket per worker would
 * have the master's copy read datagrams.
 */
export function acceptModel(spec: ListenSpec): AcceptModel {
  return spec.transport === 'tcp' && process.env.LOOM_ACCEPT === 'per-worker' ? 'per-worker' : 'shared';
}

export class ListenSockets {
  private closed = false;

  private constructor(
    readonly spec: ListenSpec,
    readonly model: AcceptModel,
    private readonly handles: BoundHandle[],
  ) {}

  /** Binds the group's sockets; a bind error (EADDRINUSE…) rejects before any worker starts. */
  static async bind(spec: ListenSpec, count: number): Promise<ListenSockets> {
    const model = acceptModel(spec);
    if (model === 'shared') return new ListenSockets(spec, model, [await bindListener(spec)]);
    // A plain bind first: a port some other program (or another Loom) holds, even with
    // SO_REUSEPORT, refuses it, where a SO_REUSEPORT bind would silently share the port.
    (await bindListener(spec)).close();
    const sockets = new ListenSockets(spec, model, []);
    try {
      await sockets.resize(count);
    } catch (err) {
      sockets.close();
      throw err;
    }
    return sockets;
  }

  /** The socket worker `id` accepts on. */
  forWorker(id: number): BoundHandle {
    return this.model === 'shared' ? this.handles[0] : this.handles[id];
  }

  /**
   * Per worker: binds sockets for new worker ids, closes those of removed ones (the retiring
   * worker keeps its copy open until it stops, accepting what is queued meanwhile).
   */
  async resize(count: number): Promise<void> {
    if (this.model === 'shared') return;
    while (this.handles.length > count) this.handles.pop()!.close();
    while (this.handles.length < count) this.handles.push(await bindListener(this.spec, true));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const h of this.handles) h.close();
  }
}
