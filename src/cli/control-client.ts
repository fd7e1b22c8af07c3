import { connect } from 'node:net';
import { LoomError } from '../core/errors.js';
import type { ControlReply } from '../master/control.js';

/** Sends one request to the master's control socket and returns its answer. */
export function askMaster(path: string, cmd: string, timeoutMs = 5000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    let buf = '';
    const fail = (msg: string) => { socket.destroy(); reject(new LoomError('LOOM_ERR_CONTROL', msg)); };
    socket.setTimeout(timeoutMs, () => fail(`no answer from the control socket ${path} within ${timeoutMs} ms`));
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(JSON.stringify({ cmd }) + '\n'));
    socket.on('data', (c: string) => { buf += c; });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'EACCES' ? 'permission denied (only the user who started loom may use it)'
        : err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? 'loom is not running' : err.message;
      fail(`control socket ${path}: ${why}`);
    });
    socket.on('end', () => {
      try {
        const reply = JSON.parse(buf) as ControlReply;
        if (reply.ok) resolve(reply.data);
        else reject(new LoomError('LOOM_ERR_CONTROL', reply.error));
      } catch {
        reject(new LoomError('LOOM_ERR_CONTROL', `bad answer from the control socket ${path}`));
      }
    });
  });
}
