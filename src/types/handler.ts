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
  /**
   * An async client: 'tcp://', 'text://', 'frame://', 'tls://' (tcp over TLS), 'ws://', 'wss://',
   * 'udp://', 'NAME://' (custom protocol from handlers_dir/protocols), 'text+unix:///path'.
   * Returns at once; connecting starts on the next turn of the event loop, so set the
   * callbacks first. A bad URL or an unknown protocol throws (LOOM_ERR_CONNECT_URL).
   */
  connect(url: string, opts?: ConnectOptions): AsyncConnection;
  /** In a business process of a gateway group (model = gateway): the gateway API. */
  readonly gateway?: GatewayApi;
}

type Id = string;

/**
 * The gateway API (model = gateway), argument order as Workerman's GatewayWorker. A message is
 * a string (a text frame, a line), a Buffer (binary) or any other JSON value (sent as its JSON
 * text). Sends return false when no gateway holds the client; questions return Promises.
 */
export interface GatewayApi {
  sendToClient(clientId: Id, message: unknown): boolean;
  sendToAll(message: unknown, onlyClientIds?: Id[] | null, excludeClientIds?: Id[] | null): boolean;
  sendToUid(uid: Id | Id[], message: unknown): boolean;
  sendToGroup(group: Id | Id[], message: unknown, excludeClientIds?: Id[] | null): boolean;
  closeClient(clientId: Id, message?: unknown): boolean;
  isOnline(clientId: Id): Promise<boolean>;
  isUidOnline(uid: Id): Promise<boolean>;
  bindUid(clientId: Id, uid: Id): boolean;
  unbindUid(clientId: Id, uid: Id): boolean;
  joinGroup(clientId: Id, group: Id): boolean;
  leaveGroup(clientId: Id, group: Id): boolean;
  ungroup(group: Id): boolean;
  getAllClientCount(): Promise<number>;
  getClientCountByGroup(group: Id): Promise<number>;
  getClientIdsByGroup(group: Id): Promise<string[]>;
  getUidsByGroup(group: Id): Promise<string[]>;
  getClientIdsByUid(uid: Id): Promise<string[]>;
  setSession(clientId: Id, session: Record<string, unknown>): boolean;
  updateSession(clientId: Id, partial: Record<string, unknown>): boolean;
  getSession(clientId: Id): Promise<Record<string, unknown> | null>;
}

/** A client of a gateway group, as the business handler's callbacks get it. */
export interface GatewayClient {
  readonly id: string;
  /** Changes made during a callback are stored on the gateway when it returns (or settles). */
  session: Record<string, unknown>;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly gateway: GatewayApi;
  /** gateway.sendToClient(client.id, message). */
  send(message: unknown): boolean;
}

export interface ConnectOptions {
  /** Seconds between reconnect attempts after a failed connect or a passive close; 0: never. */
  reconnectInterval?: number;
  /** Seconds a connect may take before it fails (onError, then reconnect if set). */
  timeout?: number;
  /** TLS for stream protocols (tls:// is tcp over TLS): true, or tls.connect options. */
  tls?: boolean | Record<string, unknown>;
}

/**
 * A client connection: the Connection API plus its own state and callbacks. A failed connect
 * calls onError (LOOM_ERR_CONNECT_FAILED or LOOM_ERR_CONNECT_TIMEOUT), then onClose. send()
 * before the connection is up (or while a reconnect is due) queues and returns null, up to
 * maxSendBufferSize bytes (then false); the queue goes out before onConnect runs. close() and
 * destroy() never reconnect.
 */
export interface AsyncConnection extends Connection {
  readonly state: 'connecting' | 'established' | 'closing' | 'closed';
  onConnect?: (conn: AsyncConnection) => unknown;
  /** Reconnect now, or after `afterSeconds`; on a live connection, drops it first. Undoes close(). */
  reconnect(afterSeconds?: number): void;
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
  /** websocket listeners: the handshake request (path, query, headers); throw or return false to refuse. */
  onWebSocketConnect?(conn: Connection, request: unknown): unknown;
}

/** A custom protocol module (handlers_dir/protocols/NAME.js): Workerman's contract. */
export interface ProtocolModule {
  /** 0: need more bytes; n > 0: the first n bytes are one packet; -1: bad packet, close. */
  input(buffer: Buffer, conn: Connection): number;
  decode(buffer: Buffer, conn: Connection): unknown;
  encode(data: unknown, conn: Connection): Buffer | string;
}
