/**
 * ioeventfd (KVM_IOEVENTFD): a guest write to a registered port or MMIO address, optionally only
 * of a given length and value, signals a channel and completes at once; the device's handler is
 * not called. The port bus and physical memory each hold one table and consult it on their slow
 * paths (port writes, MMIO page writes) before dispatching to the owner.
 */
import type { AccessSize } from '../bus/io.js';
import type { EventChannel } from './event-channel.js';

export interface IoEventFdOptions {
  /** Port (0 – 0xFFFF) or physical address; a write must start exactly here. */
  addr: number;
  /** Match only accesses of this size; 0 or absent: any size. */
  length?: 0 | AccessSize;
  /** Match only this value (needs `length`); absent: any value. */
  data?: number;
  channel: EventChannel;
}

interface Entry { length: number; data: number; matchData: boolean; channel: EventChannel }

const MASK = [0, 0xff, 0xffff, 0, 0xffffffff] as const;

export class IoEventFdTable {
  private readonly byAddr = new Map<number, Entry[]>();
  /** Registered entries; the buses skip the lookup while it is 0. */
  count = 0;

  constructor(private readonly limit: number) {}

  /** Register; returns the function that removes exactly this registration. */
  add(o: IoEventFdOptions): () => void {
    const length = o.length ?? 0;
    if (!Number.isInteger(o.addr) || o.addr < 0 || o.addr + Math.max(length, 1) > this.limit) throw new RangeError(`ioeventfd address 0x${o.addr.toString(16)} out of range`);
    if (![0, 1, 2, 4].includes(length)) throw new RangeError(`ioeventfd length ${length} must be 0, 1, 2 or 4`);
    if (o.data !== undefined && length === 0) throw new RangeError('ioeventfd data match needs a length');
    const e: Entry = { length, data: o.data === undefined ? 0 : (o.data & MASK[length as AccessSize]) >>> 0, matchData: o.data !== undefined, channel: o.channel };
    for (const x of this.byAddr.get(o.addr) ?? []) {
      // KVM refuses overlapping registrations the same way (EEXIST): a write must have one meaning.
      const sameSize = x.length === 0 || e.length === 0 || x.length === e.length;
      if (sameSize && (!x.matchData || !e.matchData || x.data === e.data)) throw new Error(`ioeventfd at 0x${o.addr.toString(16)} overlaps an existing one`);
    }
    let list = this.byAddr.get(o.addr);
    if (!list) { list = []; this.byAddr.set(o.addr, list); }
    list.push(e);
    this.count++;
    return () => {
      const l = this.byAddr.get(o.addr);
      const i = l ? l.indexOf(e) : -1;
      if (i < 0) return;
      l!.splice(i, 1);
      if (!l!.length) this.byAddr.delete(o.addr);
      this.count--;
    };
  }

  /** A write of `size` bytes of `value` at `addr`: signal a matching channel and return true. */
  write(addr: number, size: AccessSize, value: number): boolean {
    const list = this.byAddr.get(addr);
    if (!list) return false;
    for (let i = 0; i < list.length; i++) {
      const e = list[i]!;
      if (e.length !== 0 && e.length !== size) continue;
      if (e.matchData && ((value & MASK[size]) >>> 0) !== e.data) continue;
      e.channel.signal();
      return true;
    }
    return false;
  }
}
