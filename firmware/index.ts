/** Firmware: boot loaders (Linux boot protocol, Multiboot) and the platform tables they rely on. */
import type { PhysicalMemory } from '../bus/memory.js';
import type { BootState } from './boot-state.js';
import { loadLinux } from './linux.js';
import { findMultibootHeader, loadMultiboot, type MultibootModule } from './multiboot.js';

export { BOOT_CS, BOOT_DS, BOOT_GDT_ADDR, BOOT_INFO_ADDR, BOOT_CMDLINE_ADDR, type BootState } from './boot-state.js';
export { e820Map, E820_RAM, E820_RESERVED, EBDA_START, IOAPIC_BASE, LAPIC_BASE, type E820Entry } from './e820.js';
export {
  buildMpTable, writeMpTable, pciIntxGsi, MP_TABLE_BASE, DEFAULT_IOAPIC_ID, MP_ISA_BUS, MP_PCI_BUS,
  type MpTableOptions, type MpPciDevice,
} from './mptable.js';
export { DEFAULT_APPEND, loadLinux, parseBzImage, type LinuxBootOptions, type LinuxLayout, type SetupHeader } from './linux.js';
export {
  findMultibootHeader, loadMultiboot, MULTIBOOT_BOOTLOADER_MAGIC, type MultibootOptions, type MultibootModule,
} from './multiboot.js';

export type KernelKind = 'bzimage' | 'multiboot';

/** Say which loader can boot `image`; throws an Error naming what it is not. */
export function detectKernel(image: Uint8Array): KernelKind {
  if (image.length >= 0x206 && new DataView(image.buffer, image.byteOffset, image.byteLength).getUint32(0x202, true) === 0x53726448) return 'bzimage';
  if (findMultibootHeader(image)) return 'multiboot';
  const elf = image.length >= 4 && image[0] === 0x7f && image[1] === 0x45 && image[2] === 0x4c && image[3] === 0x46;
  throw new Error(elf
    ? 'kernel is an ELF file without a Multiboot header; ts86 boots Linux bzImages and Multiboot kernels'
    : 'kernel is neither a Linux bzImage nor a Multiboot kernel');
}

export interface BootOptions {
  cmdline?: string;
  /** Linux: the initrd. */
  initrd?: Uint8Array;
  /** Multiboot: modules. */
  modules?: MultibootModule[];
}

/** Detect the kernel format and load it; the returned state is what the CPU starts in. */
export function bootKernel(mem: PhysicalMemory, kernel: Uint8Array, opts: BootOptions = {}): BootState {
  if (detectKernel(kernel) === 'bzimage') {
    if (opts.modules?.length) throw new Error('Multiboot modules were given, but the kernel is a Linux bzImage (use an initrd)');
    return loadLinux(mem, { kernel, initrd: opts.initrd, cmdline: opts.cmdline });
  }
  if (opts.initrd) throw new Error('an initrd was given, but the kernel is a Multiboot kernel (pass it as a module)');
  return loadMultiboot(mem, { kernel, cmdline: opts.cmdline, modules: opts.modules });
}
