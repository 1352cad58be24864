/** Reading boot files in Node, with errors fit for the CLI. Not part of the browser surface. */
import { readFileSync, statSync } from 'node:fs';

/** Read `path` as the `what` (e.g. "kernel", "initrd"); throws an Error with one clear message. */
export function readBootFile(path: string, what: string, maxBytes = 0xc0000000): Uint8Array {
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new Error(`${what} ${path} is not a regular file`);
    size = st.size;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (!err.code) throw err;
    throw new Error(`cannot read ${what} ${path}: ${err.code === 'ENOENT' ? 'no such file' : err.code === 'EACCES' ? 'permission denied' : err.message}`);
  }
  if (size > maxBytes) throw new Error(`${what} ${path} is ${size} bytes, larger than RAM`);
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new Error(`cannot read ${what} ${path}: ${(e as Error).message}`);
  }
}
