/**
 * Guest physical address space: RAM, ROM and MMIO regions with 4 KiB granularity.
 *
 * RAM is one flat Uint8Array so the CPU's TLB fast path can index it directly. Every other page
 * kind goes through `read`/`write`. The page-kind table and the code-page bitmap are shared with
 * the CPU, which tracks which RAM pages hold decoded instructions.
 *
 * RAM, the code-page bitmap and an area for the CPU core's own tables (`CORE_AREA_BYTES` at
 * `coreBase`) share one buffer, a WebAssembly.Memory where the engine has one: compiled code then
 * reaches all of them at fixed offsets of a single memory.
 */
import type { AccessSize } from './io.js';
import { IoEventFdTable, type IoEventFdOptions } from '../channels/ioeventfd.js';

export interface MmioHandler {
  /** `offset` is relative to the region base. */
  read(offset: number, size: AccessSize): number;
  write(offset: number, size: AccessSize, value: number): void;
}

export const enum PageKind { Unmapped = 0, Ram = 1, Rom = 2, Mmio = 3 }
const PAGE_KINDS = [PageKind.Unmapped, PageKind.Ram, PageKind.Rom, PageKind.Mmio];

const PAGE_SHIFT = 12;
const PAGES = 1 << 20;
/** Bytes after the code-page bitmap reserved for the CPU core (its TLB and register file). */
export const CORE_AREA_BYTES = (4 << 20) + 0x90000;
const WASM_PAGE = 0x10000;

interface Region { base: number; length: number; handler: MmioHandler; name: string }

export class PhysicalMemory {
  readonly ram: Uint8Array;
  readonly ramSize: number;
  /** PageKind per 4 KiB physical page. */
  readonly pageKind = new Uint8Array(PAGES);
  /** Region index per MMIO/ROM page. */
  private readonly pageRegion = new Uint16Array(PAGES);
  private readonly regions: (Region | undefined)[] = [undefined];
  /** Non-zero for RAM pages that hold decoded code; writes to them call `onCodeWrite`. */
  readonly codePages: Uint8Array;
  /** The buffer's WebAssembly.Memory, or null where the engine has no WebAssembly. */
  readonly memory: WebAssembly.Memory | null;
  /** RAM is in a SharedArrayBuffer (device models in workers can reach it). */
  readonly shared: boolean;
  /** Byte offset of the CPU core's area (CORE_AREA_BYTES) in `ram.buffer`; the bitmap sits just before it. */
  readonly coreBase: number;
  /** Set by the CPU: called before RAM in a code page is modified through this object. */
  onCodeWrite: (physAddr: number, length: number) => void = () => {};
  private readonly eventFds = new IoEventFdTable(0x100000000);

  constructor(ramSize: number, opts: { shared?: boolean } = {}) {
    if (ramSize <= 0 || ramSize % 4096 !== 0 || ramSize > 0x80000000) throw new RangeError(`RAM size ${ramSize} must be a positive multiple of 4 KiB, at most 2 GiB`);
    this.ramSize = ramSize;
    const total = Math.ceil((ramSize + PAGES + CORE_AREA_BYTES) / WASM_PAGE) * WASM_PAGE;
    this.shared = opts.shared === true;
    this.memory = wasmMemory(total, this.shared);
    const buf = this.memory?.buffer ?? (opts.shared ? new SharedArrayBuffer(total) : new ArrayBuffer(total));
    this.ram = new Uint8Array(buf, 0, ramSize);
    this.codePages = new Uint8Array(buf, ramSize, PAGES);
    this.coreBase = ramSize + PAGES;
    this.pageKind.fill(PageKind.Ram, 0, ramSize >>> PAGE_SHIFT);
  }

  /** Map an MMIO region (page aligned). The region overrides whatever was there (e.g. RAM holes). */
  mapMmio(base: number, length: number, handler: MmioHandler, name: string): void {
    this.mapRegion(base, length, handler, name, PageKind.Mmio);
  }

  /** Map a read-only image at `base`; writes are ignored. */
  mapRom(base: number, data: Uint8Array, name: string): void {
    const rom = data.slice();
    const handler: MmioHandler = {
      read: (off, size) => {
        let v = 0;
        for (let i = size - 1; i >= 0; i--) v = (v << 8) | (off + i < rom.length ? rom[off + i]! : 0xff);
        return v >>> 0;
      },
      write: () => {},
    };
    this.mapRegion(base, (rom.length + 4095) & ~4095, handler, name, PageKind.Rom);
  }

  /**
   * MMIO ioeventfd: a write matching `o` to an MMIO page signals its channel instead of reaching
   * the region's handler (RAM and ROM pages are not affected). Returns the remover.
   */
  addIoEventFd(o: IoEventFdOptions): () => void { return this.eventFds.add(o); }

  /** Return pages to unmapped (reads all ones), e.g. the VGA hole. */
  unmap(base: number, length: number): void {
    const first = base >>> PAGE_SHIFT, end = (base + length + 4095) >>> PAGE_SHIFT;
    this.pageKind.fill(PageKind.Unmapped, first, end);
    this.pageRegion.fill(0, first, end);
  }

  /**
   * The runs [from, to) of pages of `want` in pages first..end-1. Searched with the typed array's
   * own indexOf per page kind: page-by-page loops over the 256 k pages of the PCI window and the
   * 32 k of a 128 MiB guest's RAM took ~5 and ~2 ms of every start, run before the engine has
   * optimized anything.
   */
  runsOf(want: PageKind, first: number, end: number): [number, number][] {
    // A view ending at `end`, so no search runs past it.
    const kind = this.pageKind.subarray(0, end), runs: [number, number][] = [];
    const next = (k: PageKind, from: number) => { const i = kind.indexOf(k, from); return i < 0 ? end : i; };
    for (let p = next(want, first); p < end;) {
      // A run ends at the first page of any other kind.
      let q = end;
      for (const k of PAGE_KINDS) if (k !== want) q = Math.min(q, next(k, p));
      runs.push([p, q]);
      p = next(want, q);
    }
    return runs;
  }

  private mapRegion(base: number, length: number, handler: MmioHandler, name: string, kind: PageKind): void {
    if (base % 4096 !== 0 || length <= 0 || base + length > 0x100000000) throw new RangeError(`${name}: bad region 0x${base.toString(16)}+0x${length.toString(16)}`);
    const idx = this.regions.length;
    if (idx > 0xffff) throw new Error('too many MMIO regions');
    this.regions.push({ base, length, handler, name });
    const first = base >>> PAGE_SHIFT, end = (base + length + 4095) / 4096;
    this.pageKind.fill(kind, first, end);
    this.pageRegion.fill(idx, first, end);
  }

  /** Slow-path physical read of 1, 2 or 4 bytes (may cross a page). */
  read(addr: number, size: AccessSize): number {
    addr >>>= 0;
    if (((addr & 0xfff) + size) > 0x1000) {
      let v = 0;
      for (let i = size - 1; i >= 0; i--) v = (v << 8) | this.read((addr + i) >>> 0, 1);
      return v >>> 0;
    }
    const page = addr >>> PAGE_SHIFT;
    switch (this.pageKind[page]) {
      case PageKind.Ram: {
        const r = this.ram;
        if (size === 1) return r[addr]!;
        if (size === 2) return r[addr]! | (r[addr + 1]! << 8);
        return (r[addr]! | (r[addr + 1]! << 8) | (r[addr + 2]! << 16) | (r[addr + 3]! << 24)) >>> 0;
      }
      case PageKind.Rom:
      case PageKind.Mmio: {
        const reg = this.regions[this.pageRegion[page]!]!;
        return reg.handler.read(addr - reg.base, size);
      }
      default:
        return size === 4 ? 0xffffffff : (1 << (size * 8)) - 1;
    }
  }

  write(addr: number, size: AccessSize, value: number): void {
    addr >>>= 0;
    if (((addr & 0xfff) + size) > 0x1000) {
      for (let i = 0; i < size; i++) this.write((addr + i) >>> 0, 1, value >>> (i * 8));
      return;
    }
    const page = addr >>> PAGE_SHIFT;
    switch (this.pageKind[page]) {
      case PageKind.Ram: {
        if (this.codePages[page]) this.onCodeWrite(addr, size);
        const r = this.ram;
        r[addr] = value;
        if (size >= 2) r[addr + 1] = value >>> 8;
        if (size === 4) { r[addr + 2] = value >>> 16; r[addr + 3] = value >>> 24; }
        return;
      }
      case PageKind.Mmio: {
        if (this.eventFds.count !== 0 && this.eventFds.write(addr, size, value)) return;
        const reg = this.regions[this.pageRegion[page]!]!;
        reg.handler.write(addr - reg.base, size, value);
        return;
      }
      default:
        return;
    }
  }

  /** Is [addr, addr+length) plain RAM? Device models validate guest-supplied buffers with this. */
  isRam(addr: number, length: number): boolean {
    if (addr < 0 || length < 0 || addr + length > this.ramSize) return false;
    for (let p = addr >>> PAGE_SHIFT; p <= (addr + Math.max(length, 1) - 1) >>> PAGE_SHIFT; p++) {
      if (this.pageKind[p] !== PageKind.Ram) return false;
    }
    return true;
  }

  /** Bulk copy into RAM (loaders, DMA). Throws RangeError if the range is not RAM. */
  writeBytes(addr: number, data: Uint8Array): void {
    if (!this.isRam(addr, data.length)) throw new RangeError(`write of ${data.length} bytes at 0x${addr.toString(16)} is outside RAM`);
    this.invalidateCode(addr, data.length);
    this.ram.set(data, addr);
  }

  readBytes(addr: number, length: number): Uint8Array {
    if (!this.isRam(addr, length)) throw new RangeError(`read of ${length} bytes at 0x${addr.toString(16)} is outside RAM`);
    return this.ram.subarray(addr, addr + length);
  }

  /** Tell the CPU that RAM in [addr, addr+length) is about to change behind its back. */
  invalidateCode(addr: number, length: number): void {
    if (length <= 0) return;
    for (let p = addr >>> PAGE_SHIFT; p <= (addr + length - 1) >>> PAGE_SHIFT; p++) {
      if (this.codePages[p]) this.onCodeWrite(p << PAGE_SHIFT, 4096);
    }
  }

  regionName(addr: number): string | undefined {
    return this.regions[this.pageRegion[addr >>> PAGE_SHIFT]!]?.name;
  }
}

/** A fixed-size WebAssembly.Memory of `bytes`, or null where WebAssembly is missing or refuses it. */
function wasmMemory(bytes: number, shared: boolean): WebAssembly.Memory | null {
  if (typeof WebAssembly !== 'object') return null;
  const pages = bytes / WASM_PAGE;
  try { return new WebAssembly.Memory({ initial: pages, maximum: pages, shared }); } catch { return null; }
}
