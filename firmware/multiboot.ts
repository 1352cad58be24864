/**
 * Multiboot 0.6.96 loader for bare-metal test kernels: ELF32 or the a.out kludge, modules, and
 * the boot information structure (memory sizes, command line, modules, memory map, loader name).
 */
import type { PhysicalMemory } from '../bus/memory.js';
import { type BootState, flatBootState, writeBootGdt } from './boot-state.js';
import { e820Map, EBDA_START, E820_RAM, HIGH_MEMORY } from './e820.js';
import { isElf, parseElf32 } from './elf.js';

export const MULTIBOOT_HEADER_MAGIC = 0x1badb002;
export const MULTIBOOT_BOOTLOADER_MAGIC = 0x2badb002;
/** The header must lie, 32-bit aligned, within the first 8192 bytes of the image. */
export const MULTIBOOT_SEARCH = 8192;

const FLAG_PAGE_ALIGN = 1 << 0;
const FLAG_MEMORY_INFO = 1 << 1;
const FLAG_VIDEO_MODE = 1 << 2;
const FLAG_AOUT_KLUDGE = 1 << 16;
/** Header flags ts86 honours; any other bit in 0-15 is a requirement it cannot meet. */
const SUPPORTED_REQUIRED = FLAG_PAGE_ALIGN | FLAG_MEMORY_INFO;

/** Info structure `flags` bits (which fields are valid). */
export const MBI = {
  MEMORY: 1 << 0,
  CMDLINE: 1 << 2,
  MODS: 1 << 3,
  MMAP: 1 << 6,
  LOADER_NAME: 1 << 9,
} as const;

export const LOADER_NAME = 'ts86';

export interface MultibootHeader {
  /** File offset of the header. */
  offset: number;
  flags: number;
  /** Present when flag 16 (a.out kludge) is set. */
  aout?: { headerAddr: number; loadAddr: number; loadEndAddr: number; bssEndAddr: number; entryAddr: number };
}

export function findMultibootHeader(image: Uint8Array): MultibootHeader | null {
  const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const end = Math.min(MULTIBOOT_SEARCH, image.length) - 12;
  for (let off = 0; off <= end; off += 4) {
    if (dv.getUint32(off, true) !== MULTIBOOT_HEADER_MAGIC) continue;
    const flags = dv.getUint32(off + 4, true);
    if (((MULTIBOOT_HEADER_MAGIC + flags + dv.getUint32(off + 8, true)) >>> 0) !== 0) continue;
    const hdr: MultibootHeader = { offset: off, flags };
    if (flags & FLAG_AOUT_KLUDGE) {
      if (off + 32 > image.length) throw new Error('Multiboot header truncated: the a.out kludge fields are missing');
      hdr.aout = {
        headerAddr: dv.getUint32(off + 12, true),
        loadAddr: dv.getUint32(off + 16, true),
        loadEndAddr: dv.getUint32(off + 20, true),
        bssEndAddr: dv.getUint32(off + 24, true),
        entryAddr: dv.getUint32(off + 28, true),
      };
    }
    return hdr;
  }
  return null;
}

export interface MultibootModule { data: Uint8Array; cmdline?: string }

export interface MultibootOptions {
  kernel: Uint8Array;
  cmdline?: string;
  modules?: MultibootModule[];
}

interface Segment { addr: number; data: Uint8Array; memSize: number }

const hex = (n: number) => `0x${n.toString(16)}`;

/** Page 0 holds the real-mode IVT and BIOS data area: never loaded over or handed out. */
const FIRST_FREE = 0x1000;

function aoutSegments(image: Uint8Array, hdr: MultibootHeader): { segments: Segment[]; entry: number } {
  const a = hdr.aout!;
  if (a.loadAddr > a.headerAddr) throw new Error(`Multiboot a.out kludge: load_addr ${hex(a.loadAddr)} is above header_addr ${hex(a.headerAddr)}`);
  const fileStart = hdr.offset - (a.headerAddr - a.loadAddr);
  if (fileStart < 0) throw new Error('Multiboot a.out kludge: header_addr - load_addr points before the start of the file');
  const loadSize = a.loadEndAddr ? a.loadEndAddr - a.loadAddr : image.length - fileStart;
  if (loadSize < 0 || fileStart + loadSize > image.length) throw new Error('Multiboot a.out kludge: load_end_addr is beyond the end of the file');
  const memSize = a.bssEndAddr ? a.bssEndAddr - a.loadAddr : loadSize;
  if (memSize < loadSize) throw new Error('Multiboot a.out kludge: bss_end_addr is below load_end_addr');
  return { segments: [{ addr: a.loadAddr, data: image.subarray(fileStart, fileStart + loadSize), memSize }], entry: a.entryAddr };
}

function elfSegments(image: Uint8Array): { segments: Segment[]; entry: number } {
  if (!isElf(image)) throw new Error('Multiboot kernel is not ELF and its header does not set the a.out kludge (flag 16)');
  return parseElf32(image, 'Multiboot kernel');
}

/**
 * Free guest RAM for the loader's placements: the e820 RAM ranges from FIRST_FREE on, less what
 * is already taken.
 */
class FreeRam {
  private ranges: { start: number; end: number }[];
  constructor(ramTop: number) {
    this.ranges = e820Map(ramTop).filter((e) => e.type === E820_RAM).map((e) => ({ start: Math.max(e.addr, FIRST_FREE), end: e.addr + e.size }));
  }
  /** Is [addr, addr+size) inside usable RAM that nothing took yet? */
  fits(addr: number, size: number): boolean {
    return this.ranges.some((r) => addr >= r.start && addr + size <= r.end);
  }
  take(addr: number, size: number): void {
    this.ranges = this.ranges.flatMap((r) => {
      if (addr + size <= r.start || addr >= r.end) return [r];
      return [{ start: r.start, end: addr }, { start: addr + size, end: r.end }].filter((x) => x.end > x.start);
    });
  }
  /** Lowest `align`-aligned free block of `size` bytes at or above `from`, taken; -1 if none. */
  alloc(size: number, align: number, from = 0): number {
    for (const r of this.ranges) {
      const addr = Math.ceil(Math.max(r.start, from) / align) * align;
      if (addr + size <= r.end) { this.take(addr, size); return addr; }
    }
    return -1;
  }
}

/**
 * Load a Multiboot kernel and its modules, build the info structure, return the entry state. The
 * kernel may sit anywhere in the RAM the memory map offers (below 1 MiB too, as QEMU allows);
 * modules go page-aligned above it, and the loader's own structures (boot GDT, info block,
 * command lines, module list, memory map) into the lowest RAM nothing else uses.
 */
export function loadMultiboot(mem: PhysicalMemory, opts: MultibootOptions): BootState & { info: number } {
  const hdr = findMultibootHeader(opts.kernel);
  if (!hdr) throw new Error(`not a Multiboot kernel: no valid header (magic ${hex(MULTIBOOT_HEADER_MAGIC)} with checksum) in the first ${MULTIBOOT_SEARCH} bytes`);
  const unsupported = hdr.flags & 0xffff & ~SUPPORTED_REQUIRED;
  if (unsupported) {
    throw new Error(unsupported & FLAG_VIDEO_MODE
      ? 'Multiboot kernel requires video mode information (flag 2); ts86 has no graphics adapter'
      : `Multiboot kernel requires features ts86 does not know (flags ${hex(unsupported)})`);
  }
  const { segments, entry } = hdr.aout ? aoutSegments(opts.kernel, hdr) : elfSegments(opts.kernel);
  const ramTop = mem.ramSize;
  const free = new FreeRam(ramTop);

  let kernelEnd = 0;
  for (const s of segments) {
    const end = s.addr + s.memSize;
    if (s.memSize > 0 && !free.fits(s.addr, s.memSize)) {
      throw new Error(`Multiboot kernel segment ${hex(s.addr)}-${hex(end)} is not in usable RAM (the first page, the EBDA at ${hex(EBDA_START)}, the legacy hole 0xa0000-0xfffff, above ${hex(ramTop)}) or overlaps another segment`);
    }
    free.take(s.addr, s.memSize);
    mem.writeBytes(s.addr, s.data);
    mem.writeBytes(s.addr + s.data.length, new Uint8Array(s.memSize - s.data.length));
    kernelEnd = Math.max(kernelEnd, end);
  }

  const modules = opts.modules ?? [];
  const moduleAddrs = modules.map((m, i) => {
    // Page-aligned above the kernel when there is room, else the lowest free pages anywhere.
    let addr = free.alloc(Math.max(m.data.length, 1), 4096, kernelEnd);
    if (addr < 0) addr = free.alloc(Math.max(m.data.length, 1), 4096);
    if (addr < 0) throw new Error(`Multiboot module ${i + 1} (${m.data.length} bytes) does not fit in free RAM`);
    mem.writeBytes(addr, m.data);
    return addr;
  });

  // The loader's structures, in one block: GDT, info, module list, memory map, strings.
  const map = e820Map(ramTop);
  const strings = [opts.cmdline ?? '', ...modules.map((m) => m.cmdline ?? ''), LOADER_NAME].map((t) => new TextEncoder().encode(`${t}\0`));
  const size = 32 + 88 + 16 * modules.length + 24 * map.length + strings.reduce((n, b) => n + b.length, 0);
  const block = free.alloc(size, 16);
  if (block < 0) throw new Error('no free RAM left for the Multiboot boot information');
  let next = block;
  const place = (n: number) => { const a = next; next += n; return a; };
  const gdtAddr = place(32), info = place(88), table = place(16 * modules.length), mmap = place(24 * map.length);
  const stringAddrs = strings.map((b) => { const a = place(b.length); mem.writeBytes(a, b); return a; });

  const mbi = new Uint8Array(88);
  const dv = new DataView(mbi.buffer);
  let flags = MBI.MEMORY | MBI.CMDLINE | MBI.MMAP | MBI.LOADER_NAME;
  dv.setUint32(4, EBDA_START / 1024, true); // mem_lower: KiB from 0
  dv.setUint32(8, (ramTop - HIGH_MEMORY) / 1024, true); // mem_upper: KiB from 1 MiB to the first hole
  dv.setUint32(16, stringAddrs[0]!, true);

  if (modules.length) {
    flags |= MBI.MODS;
    modules.forEach((m, i) => {
      const entry = new Uint8Array(16);
      const ev = new DataView(entry.buffer);
      ev.setUint32(0, moduleAddrs[i]!, true);
      ev.setUint32(4, moduleAddrs[i]! + m.data.length, true); // mod_end is exclusive, as GRUB does
      ev.setUint32(8, stringAddrs[i + 1]!, true);
      mem.writeBytes(table + 16 * i, entry);
    });
    dv.setUint32(20, modules.length, true);
    dv.setUint32(24, table, true);
  }

  const mm = new Uint8Array(24 * map.length);
  const mv = new DataView(mm.buffer);
  map.forEach((e, i) => {
    mv.setUint32(i * 24, 20, true); // size of the rest of the entry
    mv.setBigUint64(i * 24 + 4, BigInt(e.addr), true);
    mv.setBigUint64(i * 24 + 12, BigInt(e.size), true);
    mv.setUint32(i * 24 + 20, e.type === E820_RAM ? 1 : 2, true);
  });
  mem.writeBytes(mmap, mm);
  dv.setUint32(44, mm.length, true);
  dv.setUint32(48, mmap, true);
  dv.setUint32(64, stringAddrs[strings.length - 1]!, true);
  dv.setUint32(0, flags, true);
  mem.writeBytes(info, mbi);

  const gdt = writeBootGdt(mem, gdtAddr);
  return { ...flatBootState(entry, gdt, { eax: MULTIBOOT_BOOTLOADER_MAGIC, ebx: info }), info };
}
