/**
 * Bochs/QEMU debug console ("port E9", QEMU's isa-debugcon): a byte written to the port goes to
 * the host output; a read returns the readback value (0xE9 by default) so a guest can probe for
 * the port. Like QEMU's, it takes byte accesses only: a wider read returns 0, a wider write is
 * dropped.
 */
import type { AccessSize, IoBus, PortHandler } from '../bus/io.js';

export interface DebugconOptions {
  iobase?: number;
  readback?: number;
}

export class Debugcon implements PortHandler {
  readonly iobase: number;
  private readonly readback: number;

  constructor(io: IoBus, private readonly output: (byte: number) => void, opts: DebugconOptions = {}) {
    this.iobase = opts.iobase ?? 0xe9;
    this.readback = (opts.readback ?? 0xe9) & 0xff;
    io.register(this.iobase, 1, this, 'isa-debugcon');
  }

  read(_port: number, size: AccessSize): number {
    return size === 1 ? this.readback : 0;
  }

  write(_port: number, size: AccessSize, value: number): void {
    if (size === 1) this.output(value & 0xff);
  }
}
