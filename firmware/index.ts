/** Firmware: boot loaders (Linux boot protocol, Multiboot) and the platform tables they rely on. */
import type { PhysicalMemory } from '../bus/memory.js';
import type { BootState } from './boot-state.js';
import { loadLinux } from './linux.js';
import { findMultibootHeader, loadMultiboot, type MultibootModule } from './multiboot.js';
import { isElf } from './elf.js';
import { findPvhEntry, loadPvh } from './pvh.js';

export { BOOT_CS, BOOT_DS, BOOT_GDT_ADDR, BOOT_INFO_ADDR, BOOT_CMDLINE_ADDR, type BootState } from './boot-state.js';
export { e820Map, E820_RAM, E820_RESERVED, EBDA_START, IOAPIC_BASE, LAPIC_BASE, type E820Entry } from './e820.js';
export {
  buildMpTable, writeMpTable, pciIntxGsi, MP_TABLE_BASE, DEFAULT_IOAPIC_ID, MP_ISA_BUS, MP_PCI_BUS,
  type MpTableOptions, type MpPciDevice,
} from './mptable.js';
export { buildPirTable, writePirTable, PIR_TABLE_BASE, PIR_HEADER_SIZE } from './pir-table.js';
export { DEFAULT_APPEND, loadLinux, parseBzImage, type LinuxBootOptions, type LinuxLayout, type SetupHeader } from './linux.js';
export {
  findPvhEntry, loadPvh, XEN_ELFNOTE_PHYS32_ENTRY, XEN_HVM_START_MAGIC_VALUE, START_INFO, MODLIST_ENTRY_SIZE, MEMMAP_ENTRY_SIZE,
  PVH_CMDLINE_MAX, type PvhBootOptions, type PvhLayout,
} from './pvh.js';
export {
  findMultibootHeader, loadMultiboot, MULTIBOOT_BOOTLOADER_MAGIC, type MultibootOptions, type MultibootModule,
} from './multiboot.js';

export type KernelKind = 'bzimage' | 'pvh' | 'multiboot';

/**
 * Say which loader can boot `image`; throws an Error naming what it is not. As in QEMU, a
 * Multiboot header wins over a PVH note (an ELF file may carry both).
 */
export function detectKernel(image: Uint8Array): KernelKind {
  if (image.length >= 0x206 && new DataView(image.buffer, image.byteOffset, image.byteLength).getUint32(0x202, true) === 0x53726448) return 'bzimage';
  if (findMultibootHeader(image)) return 'multiboot';
  if (findPvhEntry(image) !== null) return 'pvh';
  if (isElf(image) && image[4] === 2) throw new Error('kernel is a 64-bit ELF file (an x86-64 kernel?); ts86 is a 32-bit (i686) machine');
  throw new Error(isElf(image)
    ? 'kernel is an ELF file without a Multiboot header or a PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY); ts86 boots Linux bzImages, PVH ELF kernels (vmlinux) and Multiboot kernels'
    : 'kernel is neither a Linux bzImage nor a Multiboot kernel');
}

export interface BootOptions {
  cmdline?: string;
  /** Linux (bzImage or PVH): the initrd. */
  initrd?: Uint8Array;
  /** Multiboot: modules. */
  modules?: MultibootModule[];
}

/** Detect the kernel format and load it; the returned state is what the CPU starts in. */
export function bootKernel(mem: PhysicalMemory, kernel: Uint8Array, opts: BootOptions = {}): BootState {
  const kind = detectKernel(kernel);
  if (kind !== 'multiboot') {
    if (opts.modules?.length) throw new Error(`Multiboot modules were given, but the kernel is a Linux ${kind === 'pvh' ? 'PVH ELF kernel' : 'bzImage'} (use an initrd)`);
    const load = kind === 'pvh' ? loadPvh : loadLinux;
    return load(mem, { kernel, initrd: opts.initrd, cmdline: opts.cmdline });
  }
  if (opts.initrd) throw new Error('an initrd was given, but the kernel is a Multiboot kernel (pass it as a module)');
  return loadMultiboot(mem, { kernel, cmdline: opts.cmdline, modules: opts.modules });
}
