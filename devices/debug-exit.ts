/**
 * QEMU's isa-debug-exit: any write to its ports ends the machine with exit status (value << 1) | 1,
 * so a test kernel can report pass/fail to the host and status 0 (a clean shutdown) stays distinct.
 * Reads return 0.
 *
 * QEMU's own defaults are iobase 0x501, iosize 2; test suites (kvm-unit-tests, most bare-metal
 * kernels) pass `-device isa-debug-exit,iobase=0xf4,iosize=0x4`, which is the default here.
 */
import type { AccessSize, IoBus, PortHandler } from '../bus/io.js';

export interface DebugExitOptions {
  iobase?: number;
  iosize?: number;
}

export class DebugExit implements PortHandler {
  readonly iobase: number;
  readonly iosize: number;

  /** `onExit` receives (value << 1) | 1, with `value` the whole 1-, 2- or 4-byte write. */
  constructor(io: IoBus, private readonly onExit: (status: number) => void, opts: DebugExitOptions = {}) {
    this.iobase = opts.iobase ?? 0xf4;
    this.iosize = opts.iosize ?? 4;
    io.register(this.iobase, this.iosize, this, 'isa-debug-exit');
  }

  read(_port: number, _size: AccessSize): number { return 0; }

  write(_port: number, _size: AccessSize, value: number): void {
    // 33-bit result for a dword write: keep it exact as a double rather than wrapping to 32 bits.
    this.onExit((value >>> 0) * 2 + 1);
  }
}
