/** Counts the frames between the network card and its backend, for the page's status line. */
import type { NetBackend } from '../../devices/net-backend.js';

export class PacketCounter implements NetBackend {
  onReceive: ((frame: Uint8Array) => void) | null = null;
  /** Frames delivered to the guest. */
  framesIn = 0;
  /** Frames the guest sent. */
  framesOut = 0;

  constructor(private readonly inner: NetBackend) {
    inner.onReceive = (frame) => { this.framesIn++; this.onReceive?.(frame); };
  }

  send(frame: Uint8Array): void { this.framesOut++; this.inner.send(frame); }
  close(): void { this.inner.close(); }
}
