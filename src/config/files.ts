// Reading the files config.ini names (and config.ini itself) without trusting them: a path may
// name a device, a FIFO or a huge file, and none of those may hang or exhaust the reader.
// Problems are phrases without the path ("no such file"), for callers to say whose path.
import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';

/** Config files and PEM files are small; anything larger is not what the key meant. */
export const MAX_FILE_BYTES = 1024 * 1024;
export const NO_SUCH_FILE = 'no such file';

/** Why `path` is not a regular file that can be opened, or null when it is one. */
export function notAFile(path: string): string | null {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' ? NO_SUCH_FILE : `cannot read it (${code})`;
  }
  return st.isFile() ? null : `${kind(st)}, not a regular file`;
}

/**
 * The bytes of a regular file of at most `max` bytes; otherwise throws an Error saying why.
 * O_NONBLOCK: a FIFO swapped in after the stat must not make the open wait for a writer.
 */
export function readSmallFile(path: string, max = MAX_FILE_BYTES): Buffer {
  const why = notAFile(path);
  if (why) throw new Error(why);
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw new Error(`cannot read it (${(err as NodeJS.ErrnoException).code})`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new Error(`${kind(st)}, not a regular file`);
    const tooLarge = () => new Error(`too large: more than ${max} bytes`);
    if (st.size > max) throw tooLarge();
    // Room for one byte more than allowed: a file that grew since fstat is caught, not cut short.
    const buf = Buffer.allocUnsafe(max + 1);
    let length = 0;
    for (let n; length < buf.length && (n = readSync(fd, buf, length, buf.length - length, null)) > 0;) length += n;
    if (length > max) throw tooLarge();
    return buf.subarray(0, length);
  } finally {
    closeSync(fd);
  }
}

export function isFile(path: string): boolean {
  return notAFile(path) === null;
}

export function isDirectory(path: string): boolean {
  try { return statSync(path).isDirectory(); } catch { return false; }
}

function kind(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  return 'a special file';
}
