/**
 * PVH direct boot (the x86/HVM direct boot ABI, Xen's docs/misc/pvh.pandoc; Linux's
 * arch/x86/platform/pvh/): an uncompressed ELF kernel (vmlinux) names its 32-bit entry in the ELF
 * note XEN_ELFNOTE_PHYS32_ENTRY; the loader puts the PT_LOAD segments at their physical
 * addresses and enters in flat protected mode with EBX = a `struct hvm_start_info`
 * (include/xen/interface/hvm/start_info.h) giving the command line, the memory map and the
 * modules (for Linux the first module is the initrd). Nothing is decompressed by the guest.
 */
import type { PhysicalMemory } from '../bus/memory.js';
import { BOOT_CMDLINE_ADDR, BOOT_GDT_ADDR, BOOT_INFO_ADDR, type BootState, flatBootState, writeBootGdt } from './boot-state.js';
import { e820Map, HIGH_MEMORY } from './e820.js';
import { isElf, parseElf32, type ElfNote } from './elf.js';
import { DEFAULT_APPEND } from './linux.js';

export const XEN_ELFNOTE_PHYS32_ENTRY = 18;
export const XEN_HVM_START_MAGIC_VALUE = 0x336ec578;
/** Version 1 adds the memory map (memmap_paddr, memmap_entries); Linux needs it on non-Xen hosts. */
export const HVM_START_INFO_VERSION = 1;

/** Byte offsets in struct hvm_start_info (56 bytes), hvm_modlist_entry (32), hvm_memmap_table_entry (24). */
export const START_INFO = {
  magic: 0, version: 4, flags: 8, nrModules: 12, modlistPaddr: 16, cmdlinePaddr: 24, rsdpPaddr: 32,
  memmapPaddr: 40, memmapEntries: 48, size: 56,
} as const;
export const MODLIST_ENTRY_SIZE = 32;
export const MEMMAP_ENTRY_SIZE = 24;

/** Linux's COMMAND_LINE_SIZE on x86, terminating NUL included. */
export const PVH_CMDLINE_MAX = 2048;
/** Highest byte the initrd may occupy, as the i386 bzImage header's initrd_addr_max says. */
const INITRD_ADDR_MAX = 0x7fffffff;
const PAGE = 4096;

/** The note's entry point (a physical address), or null when `image` is no ELF with that note. */
export function findPvhEntry(image: Uint8Array): number | null {
  if (!isElf(image)) return null;
  let notes: ElfNote[];
  try { notes = parseElf32(image, 'kernel').notes; } catch { return null; }
  const note = notes.find((n) => n.name === 'Xen' && n.type === XEN_ELFNOTE_PHYS32_ENTRY);
  // The note holds a pointer-sized value (4 bytes in a 32-bit kernel); 64-bit kernels never get here.
  if (!note || note.desc.length < 4) return null;
  return new DataView(note.desc.buffer, note.desc.byteOffset, 4).getUint32(0, true);
}

export interface PvhBootOptions {
  kernel: Uint8Array;
  initrd?: Uint8Array;
  cmdline?: string;
}

/** Where loadPvh put things. */
export interface PvhLayout {
  entry: number;
  startInfo: number;
  cmdline: number;
  modlist: number;
  memmap: number;
  /** Lowest and highest-plus-one physical address of the kernel's segments (bss included). */
  kernel: { addr: number; end: number };
  initrd?: { addr: number; size: number };
}

/**
 * Loads a PVH ELF kernel (and optional initrd) and returns the entry state: flat 32-bit protected
 * mode, paging off, EBX = start info. Throws an Error with a user-facing message when it cannot.
 */
export function loadPvh(mem: PhysicalMemory, opts: PvhBootOptions): BootState & { layout: PvhLayout } {
  const entry = findPvhEntry(opts.kernel);
  if (entry === null) throw new Error('not a PVH kernel: no ELF note XEN_ELFNOTE_PHYS32_ENTRY (Xen, type 18)');
  const { segments } = parseElf32(opts.kernel, 'PVH kernel');
  const ramTop = mem.ramSize;
  const hex = (n: number) => `0x${n.toString(16)}`;
  const mib = (n: number) => `${(n / 0x100000).toFixed(1)} MiB`;

  const cmdBytes = new TextEncoder().encode(opts.cmdline ?? DEFAULT_APPEND);
  if (cmdBytes.length >= PVH_CMDLINE_MAX) throw new Error(`kernel command line is ${cmdBytes.length} bytes; a PVH Linux kernel accepts at most ${PVH_CMDLINE_MAX - 1}`);

  // Linux kernels load at or above 1 MiB; below it lie the loader's own structures.
  let start = Infinity, end = 0;
  for (const s of segments) {
    if (s.memSize === 0) continue;
    if (s.addr < HIGH_MEMORY || s.addr + s.memSize > ramTop) {
      throw new Error(`PVH kernel segment ${hex(s.addr)}-${hex(s.addr + s.memSize)} is not in RAM between 1 MiB and ${mib(ramTop)}`);
    }
    start = Math.min(start, s.addr);
    end = Math.max(end, s.addr + s.memSize);
  }
  if (!segments.some((s) => entry >= s.addr && entry < s.addr + s.data.length)) {
    throw new Error(`PVH entry point ${hex(entry)} is not inside the kernel's loaded code`);
  }

  let initrd: PvhLayout['initrd'];
  if (opts.initrd) {
    const size = opts.initrd.length;
    const limit = Math.min(INITRD_ADDR_MAX + 1, ramTop);
    const addr = Math.floor((limit - size) / PAGE) * PAGE;
    const floor = Math.ceil(end / PAGE) * PAGE;
    if (addr < floor) throw new Error(`initrd of ${mib(size)} does not fit in RAM above the kernel (${mib(Math.max(0, limit - floor))} free below ${mib(limit)})`);
    mem.writeBytes(addr, opts.initrd);
    initrd = { addr, size };
  }
  for (const s of segments) {
    mem.writeBytes(s.addr, s.data);
    mem.writeBytes(s.addr + s.data.length, new Uint8Array(s.memSize - s.data.length));
  }

  const cmdZ = new Uint8Array(cmdBytes.length + 1);
  cmdZ.set(cmdBytes);
  mem.writeBytes(BOOT_CMDLINE_ADDR, cmdZ);

  // start info, module list and memory map in one page at BOOT_INFO_ADDR.
  const map = e820Map(ramTop);
  const startInfo = BOOT_INFO_ADDR;
  const modlist = startInfo + 64;
  const memmap = modlist + MODLIST_ENTRY_SIZE;
  if (memmap - startInfo + map.length * MEMMAP_ENTRY_SIZE > PAGE) throw new Error('memory map too long for the PVH start info page');
  const page = new Uint8Array(PAGE);
  const dv = new DataView(page.buffer);
  const u64 = (off: number, v: number) => dv.setBigUint64(off, BigInt(v), true);
  dv.setUint32(START_INFO.magic, XEN_HVM_START_MAGIC_VALUE, true);
  dv.setUint32(START_INFO.version, HVM_START_INFO_VERSION, true);
  dv.setUint32(START_INFO.nrModules, initrd ? 1 : 0, true);
  u64(START_INFO.modlistPaddr, initrd ? modlist : 0);
  u64(START_INFO.cmdlinePaddr, BOOT_CMDLINE_ADDR);
  // No ACPI tables: the kernel finds the platform through the MP table.
  u64(START_INFO.rsdpPaddr, 0);
  u64(START_INFO.memmapPaddr, memmap);
  dv.setUint32(START_INFO.memmapEntries, map.length, true);
  if (initrd) {
    u64(modlist - startInfo, initrd.addr);
    u64(modlist - startInfo + 8, initrd.size);
  }
  map.forEach((e, i) => {
    const off = memmap - startInfo + i * MEMMAP_ENTRY_SIZE;
    u64(off, e.addr);
    u64(off + 8, e.size);
    // The memmap types are the E820 ones.
    dv.setUint32(off + 16, e.type, true);
  });
  mem.writeBytes(startInfo, page);

  // The ABI only needs flat CS/DS; the selectors are the loader's choice.
  const gdt = writeBootGdt(mem, BOOT_GDT_ADDR);
  return {
    ...flatBootState(entry, gdt, { ebx: startInfo }),
    layout: { entry, startInfo, cmdline: BOOT_CMDLINE_ADDR, modlist, memmap, kernel: { addr: start, end }, initrd },
  };
}
