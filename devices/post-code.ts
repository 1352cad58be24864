/**
 * POST-code port: firmware and test kernels write progress bytes to port 0x80 (and some boards
 * to a second port). Each byte written is reported to a callback; reads float high, as QEMU's
 * port 0x80 does. Port 0x80 doubles as Linux's I/O delay port (`outb %al, $0x80`), so the
 * callback must be cheap or absent when nobody listens.
 */
import type { AccessSize, IoBus, PortHandler } from '../bus/io.js';

export interface PostCodeOptions {
  /** Ports to decode; default [0x80]. */
  ports?: number[];
}

export class PostCode implements PortHandler {
  /** Last byte written to any POST port. */
  last = 0;

  constructor(io: IoBus, private readonly onCode: (code: number, port: number) => void = () => {}, opts: PostCodeOptions = {}) {
    for (const p of opts.ports ?? [0x80]) io.register(p, 1, this, `post-code@${p.toString(16)}`);
  }

  read(_port: number, size: AccessSize): number {
    return size === 4 ? 0xffffffff : (1 << (size * 8)) - 1;
  }

  write(port: number, _size: AccessSize, value: number): void {
    // Only the first byte lands on this port; the others belong to the ports after it.
    this.last = value & 0xff;
    this.onCode(this.last, port);
  }
}
