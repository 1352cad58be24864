/**
 * A split virtqueue (virtio 1.2, 2.7) as the device sees it: descriptor table, driver (avail)
 * ring and device (used) ring in guest RAM, with INDIRECT_DESC and EVENT_IDX.
 *
 * Everything read from the rings is guest data and is checked before use: ring placement at
 * configuration, the avail index on every pop (a driver can never be more than `size` ahead),
 * every head and next index, every buffer range (must be RAM), chains no longer than the queue
 * (which also ends loops), no zero-length buffers, no nested or chained indirect tables, and no
 * device-readable buffer after a device-writable one. A bad chain is returned to the driver
 * unused (used length 0); a broken ring (wild avail index or head) stops the queue and asks for
 * DEVICE_NEEDS_RESET. Nothing here allocates after construction.
 */
import type { GuestLog } from '../../bus/pci/guest-log.js';
import type { DmaRam } from './dma.js';

export const VRING_DESC_F_NEXT = 1;
export const VRING_DESC_F_WRITE = 2;
export const VRING_DESC_F_INDIRECT = 4;
export const VRING_AVAIL_F_NO_INTERRUPT = 1;
/** Largest queue the device offers (and the longest chain it accepts). */
export const QUEUE_MAX_SIZE = 256;

/** pop() results besides a head index. */
export const POP_EMPTY = -1;
/** The ring is unusable until the driver resets the device. */
export const POP_BROKEN = -2;
/** The chain at `badHead` was malformed; the caller returns it with used length 0. */
export const POP_BAD = -3;

/** Why a ring layout is unusable, or null. `ok(addr, len)`: is the range RAM? */
export function ringLayoutProblem(size: number, desc: number, avail: number, used: number, ok: (addr: number, len: number) => boolean): string | null {
  if (!(size >= 1 && size <= QUEUE_MAX_SIZE) || (size & (size - 1)) !== 0) return `queue size ${size} is not a power of two up to ${QUEUE_MAX_SIZE}`;
  if (desc % 16 || avail % 2 || used % 4) return `ring addresses desc 0x${desc.toString(16)} avail 0x${avail.toString(16)} used 0x${used.toString(16)} are misaligned`;
  // avail: flags, idx, ring[size], used_event; used: flags, idx, ring[size] (8 bytes each), avail_event.
  if (!ok(desc, 16 * size) || !ok(avail, 6 + 2 * size) || !ok(used, 6 + 8 * size)) return `ring at desc 0x${desc.toString(16)} avail 0x${avail.toString(16)} used 0x${used.toString(16)} is not in RAM`;
  return null;
}

/** Buffers of popped chains, appended in order: flat arrays, reused for every packet. */
export class Segments {
  readonly addr: Uint32Array;
  readonly len: Uint32Array;
  readonly writable: Uint8Array;
  count = 0;
  constructor(readonly capacity: number) {
    this.addr = new Uint32Array(capacity);
    this.len = new Uint32Array(capacity);
    this.writable = new Uint8Array(capacity);
  }
}

export class SplitQueue {
  size = 0;
  desc = 0;
  avail = 0;
  used = 0;
  ready = false;
  /** Set when the ring is broken; the device raises DEVICE_NEEDS_RESET. */
  broken = false;
  lastAvail = 0;
  usedIdx = 0;
  /** Used index at the last interrupt decision (EVENT_IDX). */
  private signalledUsed = 0;
  /** Used elements written but not yet published. */
  private unpublished = 0;
  eventIdx = false;
  indirect = false;
  /** Head of the last chain pop() rejected with POP_BAD. */
  badHead = 0;
  /** Bytes the device may read / write in the chains popped by the last pop(). */
  readLen = 0;
  writeLen = 0;

  constructor(private readonly ram: DmaRam, private readonly log: GuestLog, readonly name: string) {}

  /** Start a queue the driver enabled; false (and logged) when its layout is unusable. */
  configure(size: number, desc: number, avail: number, used: number, features: { eventIdx: boolean; indirect: boolean }): boolean {
    this.reset();
    const problem = ringLayoutProblem(size, desc, avail, used, (a, l) => this.ram.ok(a, l));
    if (problem) { this.log.warn(`${this.name}: ${problem}`); this.broken = true; return false; }
    this.size = size; this.desc = desc; this.avail = avail; this.used = used;
    this.eventIdx = features.eventIdx; this.indirect = features.indirect;
    this.ready = true;
    return true;
  }

  reset(): void {
    this.ready = false; this.broken = false;
    this.size = this.desc = this.avail = this.used = 0;
    this.lastAvail = this.usedIdx = this.signalledUsed = this.unpublished = 0;
  }

  private fail(msg: string): number {
    this.log.warn(`${this.name}: ${msg}; the queue stops until the device is reset`);
    this.broken = true;
    this.ready = false;
    return POP_BROKEN;
  }

  private bad(head: number, msg: string): number {
    this.log.warn(`${this.name}: chain at head ${head}: ${msg}; returned unused`);
    this.badHead = head;
    return POP_BAD;
  }

  /** Chains the driver made available and the device has not taken yet (POP_BROKEN if wild). */
  pending(): number {
    if (!this.ready) return 0;
    const idx = Atomics.load(this.ram.u16, (this.avail + 2) >>> 1);
    const n = (idx - this.lastAvail) & 0xffff;
    if (n > this.size) { this.fail(`avail index ${idx} is ${n} ahead of the device (queue size ${this.size})`); return POP_BROKEN; }
    return n;
  }

  /**
   * Take the next available chain, appending its buffers to `segs`. Returns the head index, or
   * POP_EMPTY, POP_BROKEN, POP_BAD (chain consumed, head in `badHead`, segs left as they were).
   */
  pop(segs: Segments): number {
    const n = this.pending();
    if (n <= 0) return n === 0 ? POP_EMPTY : POP_BROKEN;
    const size = this.size, u16 = this.ram.u16;
    const head = u16[(this.avail + 4 + 2 * (this.lastAvail & (size - 1))) >>> 1]!;
    if (head >= size) return this.fail(`avail ring holds head ${head} beyond queue size ${size}`);
    this.lastAvail = (this.lastAvail + 1) & 0xffff;
    if (this.eventIdx) this.writeAvailEvent();

    const ram = this.ram, view = ram.view;
    const start = segs.count;
    let table = this.desc, tableSize = size, i = head, count = 0, inIndirect = false;
    this.readLen = 0; this.writeLen = 0;
    for (;;) {
      const d = table + 16 * i;
      const addr = view.getUint32(d, true), addrHi = view.getUint32(d + 4, true);
      const len = view.getUint32(d + 8, true), flags = view.getUint16(d + 12, true), next = view.getUint16(d + 14, true);
      if (flags & VRING_DESC_F_INDIRECT) {
        segs.count = start;
        if (!this.indirect) return this.bad(head, 'indirect descriptor without INDIRECT_DESC');
        if (inIndirect) return this.bad(head, 'nested indirect table');
        if (flags & VRING_DESC_F_NEXT) return this.bad(head, 'indirect descriptor with NEXT');
        if (len === 0 || len % 16 || addrHi !== 0 || !ram.ok(addr, len)) return this.bad(head, `indirect table 0x${addr.toString(16)}+${len} is not a RAM descriptor table`);
        table = addr; tableSize = len / 16; i = 0; inIndirect = true;
        continue;
      }
      if (++count > size) { segs.count = start; return this.bad(head, `chain longer than the queue (${size}) or looping`); }
      if (len === 0) { segs.count = start; return this.bad(head, 'zero-length buffer'); }
      if (addrHi !== 0 || !ram.ok(addr, len)) { segs.count = start; return this.bad(head, `buffer 0x${addrHi ? addrHi.toString(16) + '_' : ''}${addr.toString(16)}+${len} is not RAM`); }
      if (segs.count >= segs.capacity) { segs.count = start; return this.bad(head, 'more buffers than the device gathers at once'); }
      const w = flags & VRING_DESC_F_WRITE;
      if (w) this.writeLen += len;
      else if (this.writeLen > 0) { segs.count = start; return this.bad(head, 'device-readable buffer after a writable one'); }
      else this.readLen += len;
      const k = segs.count++;
      segs.addr[k] = addr; segs.len[k] = len; segs.writable[k] = w ? 1 : 0;
      if (!(flags & VRING_DESC_F_NEXT)) return head;
      i = next;
      if (i >= tableSize) { segs.count = start; return this.bad(head, `next index ${i} beyond its table (${tableSize})`); }
    }
  }

  /** Give back the last `n` chains taken by pop() (not yet used) for a later pop(). */
  unpop(n: number): void {
    this.lastAvail = (this.lastAvail - n) & 0xffff;
    if (this.eventIdx) this.writeAvailEvent();
  }

  /** Put a used element (not visible to the driver before publishUsed). */
  addUsed(head: number, len: number): void {
    const e = this.used + 4 + 8 * ((this.usedIdx + this.unpublished) & (this.size - 1));
    const u32 = this.ram.u32;
    u32[e >>> 2] = head;
    u32[(e >>> 2) + 1] = len;
    this.ram.sink.written(e, 8);
    this.unpublished++;
  }

  /**
   * Make the added used elements visible; returns whether the driver wants an interrupt for them
   * (VRING_AVAIL_F_NO_INTERRUPT, or used_event with EVENT_IDX).
   */
  publishUsed(): boolean {
    if (this.unpublished === 0 || !this.ready) { this.unpublished = 0; return false; }
    const old = this.usedIdx;
    const now = (old + this.unpublished) & 0xffff;
    this.unpublished = 0;
    this.usedIdx = now;
    Atomics.store(this.ram.u16, (this.used + 2) >>> 1, now);
    this.ram.sink.written(this.used + 2, 2);
    const u16 = this.ram.u16;
    if (this.eventIdx) {
      // vring_need_event: interrupt if used_event lies in [signalledUsed, now).
      const usedEvent = Atomics.load(u16, (this.avail + 4 + 2 * this.size) >>> 1);
      const need = ((now - usedEvent - 1) & 0xffff) < ((now - this.signalledUsed) & 0xffff);
      this.signalledUsed = now;
      return need;
    }
    return (Atomics.load(u16, this.avail >>> 1) & VRING_AVAIL_F_NO_INTERRUPT) === 0;
  }

  /** With EVENT_IDX the driver kicks when it passes avail_event: ask for a kick at the next chain. */
  private writeAvailEvent(): void {
    const a = this.used + 4 + 8 * this.size;
    Atomics.store(this.ram.u16, a >>> 1, this.lastAvail);
    this.ram.sink.written(a, 2);
  }
}
