/**
 * QEMU's pc-testdev (hw/misc/pc-testdev.c), the device kvm-unit-tests drive:
 *
 * - 0xE0–0xE3: a 32-bit scratch register; an aligned access of 1, 2 or 4 bytes at 0xE0+k reads or
 *   writes bytes k.. of it.
 * - 0xE4: "flush page" (dword writes only): QEMU re-protects the host mapping of that guest page;
 *   there is no host mapping to drop here, so only the access is checked.
 * - 0xE8–0xEB: the same scratch register, byte-accessed (wider accesses are split into bytes).
 * - 0x2000–0x2017: IRQ line n = port − 0x2000 is set to (value != 0) by a byte write.
 * - 0xFF000000, 64 KiB: scratch memory, little-endian, any size.
 *
 * Accesses QEMU's region rules reject (unaligned, or a size the region does not take) are dropped
 * and read as 0, as QEMU's unassigned-access handler answers them.
 * Port 0xE9 is also the debug console's: whichever device is created first keeps it.
 */
import type { AccessSize, IoBus, PortHandler } from '../bus/io.js';
import type { MmioHandler, PhysicalMemory } from '../bus/memory.js';
import { GuestLog } from '../bus/pci/guest-log.js';

export const TESTDEV_IOMEM_BASE = 0xff000000;
export const TESTDEV_IOMEM_LEN = 0x10000;
export const TESTDEV_IRQ_PORT = 0x2000;
export const TESTDEV_IRQ_LINES = 24;

export class PcTestdev {
  /** The scratch register behind 0xE0 and 0xE8. */
  ioportData = 0;
  readonly iomem = new Uint8Array(TESTDEV_IOMEM_LEN);
  private readonly log: GuestLog;

  constructor(io: IoBus, mem: PhysicalMemory, private readonly setIrq: (irq: number, level: boolean) => void, opts: { log?: (line: string) => void } = {}) {
    this.log = new GuestLog('pc-testdev', opts.log);
    const reg: PortHandler = {
      read: (port, size) => this.valid(port, size) ? this.regRead(port, size) : 0,
      write: (port, size, v) => { if (this.valid(port, size)) this.regWrite(port, size, v); },
    };
    const flush: PortHandler = {
      read: () => 0,
      write: (port, size) => { if (port !== 0xe4 || size !== 4) this.log.warn(`flush-page access of ${size} bytes at 0x${port.toString(16)} ignored`); },
    };
    // Split into byte cycles, so only alignment within the window matters.
    const byteReg: PortHandler = {
      read: (port, size) => {
        if (!this.valid(port, size)) return 0;
        let v = 0;
        for (let i = 0; i < size; i++) v |= this.regRead(port + i, 1) << (i * 8);
        return v >>> 0;
      },
      write: (port, size, v) => {
        if (!this.valid(port, size)) return;
        for (let i = 0; i < size; i++) this.regWrite(port + i, 1, v >>> (i * 8));
      },
    };
    const irq: PortHandler = {
      read: () => 0,
      write: (port, size, v) => {
        if (size !== 1) { this.log.warn(`IRQ port 0x${port.toString(16)} takes byte writes only`); return; }
        this.setIrq(port - TESTDEV_IRQ_PORT, (v & 0xff) !== 0);
      },
    };
    io.register(0xe0, 4, reg, 'pc-testdev-ioport');
    io.register(0xe4, 4, flush, 'pc-testdev-flush-page');
    for (let p = 0xe8; p < 0xec; p++) if (io.ownerName(p) === undefined) io.register(p, 1, byteReg, 'pc-testdev-ioport-byte');
    io.register(TESTDEV_IRQ_PORT, TESTDEV_IRQ_LINES, irq, 'pc-testdev-irq-line');
    const iomem: MmioHandler = {
      read: (off, size) => {
        let v = 0;
        for (let i = 0; i < size; i++) v |= this.iomem[off + i]! << (i * 8);
        return v >>> 0;
      },
      write: (off, size, v) => { for (let i = 0; i < size; i++) this.iomem[off + i] = v >>> (i * 8); },
    };
    mem.mapMmio(TESTDEV_IOMEM_BASE, TESTDEV_IOMEM_LEN, iomem, 'pc-testdev-iomem');
  }

  /** Aligned and inside the 4-port window, as QEMU's access rules demand. */
  private valid(port: number, size: AccessSize): boolean {
    const off = port & 3;
    if ((off & (size - 1)) === 0 && off + size <= 4) return true;
    this.log.warn(`unaligned ${size}-byte access at 0x${port.toString(16)} ignored`);
    return false;
  }

  private regRead(port: number, size: AccessSize): number {
    const shift = (port & 3) * 8;
    return size === 4 ? this.ioportData >>> 0 : (this.ioportData >>> shift) & (size === 1 ? 0xff : 0xffff);
  }

  private regWrite(port: number, size: AccessSize, v: number): void {
    const shift = (port & 3) * 8;
    const mask = (size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff) << shift;
    this.ioportData = ((this.ioportData & ~mask) | ((v << shift) & mask)) >>> 0;
  }
}
