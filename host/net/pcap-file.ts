/**
 * The pcap file sink: every record is written to the file before the frame moves on (synchronous
 * write, no user-space buffer), so nothing is lost when the process exits, by Ctrl-A X, Ctrl-C or
 * a crash.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { NetBackend } from '../../devices/net-backend.js';
import { PcapBackend } from './pcap.js';

export function captureToFile(inner: NetBackend, path: string): NetBackend {
  let fd: number;
  try { fd = openSync(path, 'w'); } catch (e) { throw new Error(`--pcap ${path}: ${(e as Error).message}`); }
  return new PcapBackend(inner, {
    write: (bytes) => { if (fd >= 0) writeSync(fd, bytes); },
    close: () => { if (fd >= 0) { closeSync(fd); fd = -1; } },
  });
}
