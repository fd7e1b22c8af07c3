// The types a handler author sees. Handler files need no import at run time; TypeScript
// handlers may `import type { Handler } from 'loom'` for checking.

export type Message = string | Buffer | unknown;

export interface Timers {
  /** Runs fn every `seconds` (or once when persistent is false); returns an id for del(). */
  add(seconds: number, fn: (...args: unknown[]) => unknown, args?: unknown[], persistent?: boolean): number;
  del(id: number): boolean;
  delAll(): void;
  readonly count: number;
}

export interface Worker {
  /** 0..count-1, stable across restarts of this process. */
  readonly id: number;
  /** The group (config.ini section) name. */
  readonly name: string;
  readonly count: number;
  readonly pid: number;
  /** Live server connections of this process, by connection id. */
  readonly connections: Map<number, Connection>;
  readonly timers: Timers;
}

export interface Connection {
  readonly id: number;
  readonly protocol: string;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly worker: Worker;
  /** A free object for the handler's own per-connection state. */
  data: Record<string, unknown>;
  maxSendBufferSize: number;
  maxPackageSize: number;
  /** true: handed to the kernel; null: queued in the send buffer; false: not sent (closed or buffer full). */
  send(data: unknown, raw?: boolean): boolean | null;
  close(data?: unknown, raw?: boolean): void;
  destroy(): void;
  pauseRecv(): void;
  resumeRecv(): void;
  pipe(dest: Connection): void;
  onMessage?: (conn: Connection, data: Message) => unknown;
  onClose?: (conn: Connection) => unknown;
  onError?: (conn: Connection, err: Error) => unknown;
  onBufferFull?: (conn: Connection) => unknown;
  onBufferDrain?: (conn: Connection) => unknown;
}

export interface Handler {
  onWorkerStart?(worker: Worker): unknown;
  onWorkerStop?(worker: Worker): unknown;
  onWorkerReload?(worker: Worker): unknown;
  onConnect?(conn: Connection): unknown;
  onMessage?(conn: Connection, data: Message): unknown;
  onClose?(conn: Connection): unknown;
  onError?(conn: Connection, err: Error): unknown;
  onBufferFull?(conn: Connection): unknown;
  onBufferDrain?(conn: Connection): unknown;
}

/** A custom protocol module (handlers_dir/protocols/NAME.js): Workerman's contract. */
export interface ProtocolModule {
  /** 0: need more bytes; n > 0: the first n bytes are one packet; -1: bad packet, close. */
  input(buffer: Buffer, conn: Connection): number;
  decode(buffer: Buffer, conn: Connection): unknown;
  encode(data: unknown, conn: Connection): Buffer | string;
}
