// The runtime's stream handle of a TCP connection (what net.Socket wraps), used on its own: an
// idle connection that holds only its handle costs some 1-2 KB instead of a Socket's 4-7 KB
// with its streams' state. Reading, writing and taking the handle out of a Socket here go
// through the stream binding as net itself does; the pinned runtime (package.json) keeps these
// internals fixed for a built binary, and test/worker/idle-connections.ts checks them on every
// upgrade. Where the runtime does not expose them, `bareHandles` is false and connections keep
// their Socket.
import { Socket, type Server } from 'node:net';
import { getSystemErrorName } from 'node:util';
import type { SocketFigures } from './connection.js';

export interface StreamHandle {
  readStart(): number;
  readStop(): number;
  close(callback?: () => void): void;
  writeBuffer?(req: WriteRequest | null, data: Uint8Array): unknown;
  writeUtf8String?(req: WriteRequest | null, data: string): unknown;
  shutdown?(req: ShutdownRequest): number;
  setNoDelay?(on: boolean): number;
  getpeername?(out: { address?: string; port?: number }): number;
  getsockname?(out: { address?: string; port?: number }): number;
  readonly bytesRead: number;
  readonly bytesWritten: number;
  /** Whether the handle reads: net's own flag, which a Socket made around it trusts. */
  reading?: boolean;
  onread: ((this: StreamHandle, buf?: ArrayBuffer) => void) | null;
}

/** A write in flight on a bare handle (the binding's WriteWrap). */
interface WriteRequest {
  handle: StreamHandle;
  oncomplete: ((this: WriteRequest, status: number) => void) | null;
  async: boolean;
  buffer: Uint8Array | null;
  owner: HandleWriter | null;
  /** The bytes libuv holds for this write (a queued one). */
  bytes: number;
}

/** A shutdown (FIN after what is queued) in flight on a bare handle (the binding's ShutdownWrap). */
interface ShutdownRequest {
  handle: StreamHandle;
  oncomplete: ((this: ShutdownRequest, status: number) => void) | null;
  done: (() => void) | null;
}

/**
 * Who is told when a queued write to a bare handle is done (status < 0: it failed), with the
 * bytes it held. libuv completes a handle's writes in the order they were made.
 */
export interface HandleWriter { handleWritten(status: number, bytes: number): void }

interface StreamBinding {
  streamBaseState: Int32Array;
  kReadBytesOrError: number;
  kArrayBufferOffset: number;
  kLastWriteWasAsync: number;
  /** The lazy request form's error of a dispatched write (Node 26). */
  kLastWriteErr?: number;
  WriteWrap: new () => WriteRequest;
  ShutdownWrap: new () => ShutdownRequest;
}

const binding: StreamBinding | null = (() => {
  // Forces every connection onto net.Socket, as on a runtime without the binding (tests).
  if (process.env.LOOM_BARE_HANDLES === 'off') return null;
  try {
    const b = (process as unknown as { binding(name: string): Partial<StreamBinding> }).binding('stream_wrap');
    if (b.streamBaseState instanceof Int32Array && typeof b.kReadBytesOrError === 'number' && typeof b.kArrayBufferOffset === 'number' &&
      typeof b.kLastWriteWasAsync === 'number' && typeof b.WriteWrap === 'function' && typeof b.ShutdownWrap === 'function') {
      return b as StreamBinding;
    }
  } catch { /* not exposed */ }
  return null;
})();

/** Whether this runtime lets connections live on a bare handle. */
export const bareHandles = binding !== null;

/** libuv's end of stream (the peer sent FIN). */
export const UV_EOF = -4095;
/** libuv: a request cancelled (a write still queued when its handle was closed). */
export const UV_ECANCELED = -125;

type ErrnoError = Error & { errno: number; code: string; syscall: string };

/** An error of the handle as net reports it (e.g. ECONNRESET, syscall read). */
export function handleError(code: number, syscall: 'read' | 'write'): ErrnoError {
  const name = getSystemErrorName(code);
  return Object.assign(new Error(`${syscall} ${name}`), { errno: code, code: name, syscall });
}

/** A read's error as net reports it; null at the end of stream (the peer's FIN). */
export function readError(code: number): ErrnoError | null {
  return code === UV_EOF ? null : handleError(code, 'read');
}

/**
 * What a bare handle's onread(buf) got: the bytes read (a view of buf), or a negative libuv
 * error code (UV_EOF at the end), or 0 for nothing.
 */
export function readResult(buf: ArrayBuffer | undefined): Buffer | number {
  const state = binding!.streamBaseState;
  const n = state[binding!.kReadBytesOrError];
  if (n > 0 && buf) return Buffer.from(buf, state[binding!.kArrayBufferOffset], n);
  return n < 0 ? n : 0;
}

/**
 * Writes bytes to a bare handle. Returns how many of them libuv holds until the socket can take
 * them (the owner is told, with the same count, when they are written): 0 when the kernel took
 * them at once (the usual case for a small frame); or a negative libuv error code.
 */
export function writeToHandle(handle: StreamHandle, data: string | Uint8Array, owner: HandleWriter): number {
  if (lazyRequests) return writeLazily(handle, data, owner);
  const req = new binding!.WriteWrap();
  req.handle = handle;
  req.oncomplete = onWriteComplete;
  req.async = false;
  // The binding does not hold the bytes of a queued write: the request keeps them alive.
  req.buffer = typeof data === 'string' ? null : data;
  req.owner = owner;
  const err: unknown = typeof data === 'string' ? handle.writeUtf8String!(req, data) : handle.writeBuffer!(req, data);
  // Not a number: a runtime whose binding writes another way (test/worker/bare-connections.ts
  // fails then); the write is reported failed rather than misread.
  if (typeof err !== 'number') return UV_EINVAL;
  if (err === 0 && binding!.streamBaseState[binding!.kLastWriteWasAsync] !== 0) return (req.bytes = byteLength(data));
  req.buffer = null;
  req.owner = null;
  return err;
}

function byteLength(data: string | Uint8Array): number {
  return typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
}

/**
 * Whether the binding makes a write's request itself, only when the write has to wait (as net
 * writes on Node 26: `writeBuffer(null, data)`): no request object for a write the kernel
 * takes at once. Older runtimes take a request made beforehand (the form above).
 */
const lazyRequests = binding !== null && typeof binding.kLastWriteErr === 'number';

/** A dispatched write's request, as the binding makes it in the lazy form. */
type LazyRequest = WriteRequest & { writeStatus?: number | null };

function writeLazily(handle: StreamHandle, data: string | Uint8Array, owner: HandleWriter): number {
  const ret: unknown = typeof data === 'string' ? handle.writeUtf8String!(null, data) : handle.writeBuffer!(null, data);
  // A number: done (or failed) at once, no request made.
  if (typeof ret === 'number') return ret;
  if (typeof ret !== 'object' || ret === null) return UV_EINVAL;
  const err = binding!.streamBaseState[binding!.kLastWriteErr!];
  if (err !== 0) return err;
  const req = ret as LazyRequest;
  // Finished inside the call after all, before a completion could be attached: its status.
  const status = req.writeStatus;
  if (status !== null && status !== undefined) {
    req.writeStatus = null;
    return status;
  }
  req.handle = handle;
  req.oncomplete = onWriteComplete;
  req.async = true;
  // The binding does not hold the bytes of a queued write: the request keeps them alive.
  req.buffer = typeof data === 'string' ? null : data;
  req.owner = owner;
  return (req.bytes = byteLength(data));
}

function onWriteComplete(this: WriteRequest, status: number): void {
  const owner = this.owner;
  this.buffer = null;
  this.owner = null;
  owner?.handleWritten(status, this.bytes);
}

/**
 * Takes connections from a plain TCP listener as bare handles instead of net.Socket objects
 * (TCP_NODELAY set); accept errors go through net as before. False (nothing changed) when the
 * runtime does not expose what this needs. Call once the server listens.
 */
export function acceptHandles(server: Server, accept: (handle: StreamHandle) => void): boolean {
  type Onconnection = (this: unknown, err: number, handle: StreamHandle | undefined) => void;
  const listener = (server as unknown as { _handle?: { onconnection?: Onconnection } | null })._handle;
  const netOnconnection = listener?.onconnection;
  if (!bareHandles || !listener || typeof netOnconnection !== 'function') return false;
  listener.onconnection = function onconnection(err, handle) {
    if (err || !handle || typeof handle.readStart !== 'function') return netOnconnection.call(this, err, handle);
    handle.setNoDelay?.(true);
    accept(handle);
  };
  return true;
}

/** libuv: the socket is not connected (a shutdown then has nothing to do). */
const UV_ENOTCONN = -107;
/** libuv: invalid argument. */
const UV_EINVAL = -22;

/**
 * Sends FIN once every queued write is out (as socket.end() does), then calls done, also when
 * the shutdown could not be made: the caller closes the handle either way.
 */
export function shutdownHandle(handle: StreamHandle, done: () => void): void {
  const req = new binding!.ShutdownWrap();
  req.handle = handle;
  req.oncomplete = onShutdownComplete;
  req.done = done;
  const err = handle.shutdown!(req);
  // 1: done at once (libuv had nothing queued and the binding finished it).
  if (err === 1 || err === UV_ENOTCONN || err < 0) {
    req.done = null;
    done();
  }
}

function onShutdownComplete(this: ShutdownRequest): void {
  const done = this.done;
  this.done = null;
  done?.();
}

/** net's symbol on a handle that points back to its Socket (found once, by its description). */
let ownerSymbol: symbol | null | undefined;

/**
 * Takes the handle out of an open Socket that has nothing queued either way, and lets the
 * Socket go (its listeners removed, destroyed without closing the handle): the handle still
 * reads, into onread. Null, with the Socket untouched, when the
 * Socket is not in that state or the runtime does not allow it.
 */
export function detachHandle(socket: Socket, onread: NonNullable<StreamHandle['onread']>): StreamHandle | null {
  const s = socket as Socket & { _handle: StreamHandle | null };
  const handle = s._handle;
  if (!binding || !handle || typeof handle.writeBuffer !== 'function' || handle.reading === false || s.destroyed || s.connecting || s.writableLength > 0 || s.readableLength > 0 || s.writableCorked > 0) return null;
  if (ownerSymbol === undefined) ownerSymbol = Object.getOwnPropertySymbols(handle).find((x) => x.description === 'owner_symbol') ?? null;
  if (ownerSymbol === null) return null;
  socket.removeAllListeners();
  s._handle = null;
  (handle as unknown as Record<symbol, unknown>)[ownerSymbol] = null;
  // A function: the binding refuses anything else.
  handle.onread = onread;
  // With no handle, destroy() only settles net's own state (the server's connection count).
  socket.destroy();
  return handle;
}

/**
 * A Socket around a bare handle, for a connection that needs one again. The handle reads
 * already (unless the connection is paused): net is told so and starts nothing (manualStart),
 * instead of a readStop and its own readStart: two epoll_ctl calls saved per wake-up.
 */
export function socketAround(handle: StreamHandle, reading: boolean, allowHalfOpen = false): Socket {
  handle.reading = reading;
  return new Socket({ handle, readable: true, writable: true, manualStart: true, allowHalfOpen } as unknown as ConstructorParameters<typeof Socket>[0]);
}

/** What a row of `loom connections` reads of a bare handle (as of a Socket). */
export function handleFigures(handle: StreamHandle): SocketFigures {
  const local: { address?: string; port?: number } = {};
  handle.getsockname?.(local);
  return { localAddress: local.address, localPort: local.port, bytesRead: handle.bytesRead, bytesWritten: handle.bytesWritten };
}
