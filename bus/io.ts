/** Port I/O bus: the 64 Ki x86 I/O port space, dispatched through a flat table. */
import { IoEventFdTable, type IoEventFdOptions } from '../channels/ioeventfd.js';

export type AccessSize = 1 | 2 | 4;

export interface PortHandler {
  /** Reads `size` bytes at `port`. Return value is masked by the bus. */
  read(port: number, size: AccessSize): number;
  write(port: number, size: AccessSize, value: number): void;
}

const ALL_ONES = [0, 0xff, 0xffff, 0, 0xffffffff] as const;

export class IoBus {
  /** handler index + 1 per port; 0 = unclaimed (reads float high, writes are dropped). */
  private readonly owner = new Uint16Array(0x10000);
  private readonly handlers: (PortHandler | undefined)[] = [];
  private readonly names: string[] = [];
  private readonly eventFds = new IoEventFdTable(0x10000);

  register(start: number, length: number, handler: PortHandler, name: string): void {
    if (start < 0 || length <= 0 || start + length > 0x10000) throw new RangeError(`${name}: port range ${start.toString(16)}+${length} out of bounds`);
    for (let p = start; p < start + length; p++) {
      const o = this.owner[p];
      if (o !== 0) throw new Error(`${name}: port 0x${p.toString(16)} already owned by ${this.names[o - 1]}`);
    }
    let idx = this.handlers.indexOf(handler);
    if (idx < 0) { idx = this.handlers.length; this.handlers.push(handler); this.names.push(name); }
    this.owner.fill(idx + 1, start, start + length);
  }

  unregister(start: number, length: number): void {
    this.owner.fill(0, start, start + length);
  }

  /** Accesses are dispatched to the owner of the first port; a handler sees multi-byte accesses whole. */
  read(port: number, size: AccessSize): number {
    port &= 0xffff;
    const o = this.owner[port];
    if (o === 0) return ALL_ONES[size];
    const v = this.handlers[o - 1]!.read(port, size);
    return size === 4 ? v >>> 0 : v & ALL_ONES[size];
  }

  write(port: number, size: AccessSize, value: number): void {
    port &= 0xffff;
    if (this.eventFds.count !== 0 && this.eventFds.write(port, size, value)) return;
    const o = this.owner[port];
    if (o === 0) return;
    this.handlers[o - 1]!.write(port, size, size === 4 ? value >>> 0 : value & ALL_ONES[size]);
  }

  /** A write matching `o` signals its channel instead of reaching the port's owner. Returns the remover. */
  addIoEventFd(o: IoEventFdOptions): () => void { return this.eventFds.add(o); }

  /** Name of the device owning `port`, for diagnostics. */
  ownerName(port: number): string | undefined {
    const o = this.owner[port & 0xffff];
    return o === 0 ? undefined : this.names[o - 1];
  }
}
