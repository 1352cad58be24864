/**
 * The CPU state a loader hands over: 32-bit flat protected mode, paging off, interrupts off, as
 * both the Linux 32-bit boot protocol and Multiboot require. The loader has already written a GDT
 * to guest memory whose `cs` and `ds` entries are flat 4 GiB ring-0 code (execute/read) and data
 * (read/write) descriptors, so a CPU can load the descriptor caches from memory.
 */
import type { PhysicalMemory } from '../bus/memory.js';
import type { BootStateLike } from '../cpu/index.js';

/** The CPU's boot entry state (type only: the firmware does not depend on the CPU at run time). */
export type BootState = BootStateLike;

/** Where the Linux loader puts its structures in low RAM (usable per the e820 map, below the EBDA). */
export const BOOT_GDT_ADDR = 0x1000;
export const BOOT_INFO_ADDR = 0x10000;
export const BOOT_CMDLINE_ADDR = 0x20000;

/** Selectors the Linux boot protocol names (__BOOT_CS / __BOOT_DS); Multiboot reuses them. */
export const BOOT_CS = 0x10;
export const BOOT_DS = 0x18;

/** GDT: two null entries, then flat code at 0x10 and flat data at 0x18 (accessed bits preset). */
export function writeBootGdt(mem: PhysicalMemory, base = BOOT_GDT_ADDR): { base: number; limit: number } {
  const gdt = new Uint8Array(32);
  const view = new DataView(gdt.buffer);
  // limit 0xFFFFF, G=1 (4 KiB units), D=1 (32-bit), P=1, DPL 0, S=1; type 0xB code / 0x3 data.
  view.setUint32(BOOT_CS, 0x0000ffff, true);
  view.setUint32(BOOT_CS + 4, 0x00cf9b00, true);
  view.setUint32(BOOT_DS, 0x0000ffff, true);
  view.setUint32(BOOT_DS + 4, 0x00cf9300, true);
  mem.writeBytes(base, gdt);
  return { base, limit: gdt.length - 1 };
}

export function flatBootState(eip: number, gdt: { base: number; limit: number }, regs: Partial<BootState['regs']>): BootState {
  return {
    eip,
    regs: { eax: 0, ecx: 0, edx: 0, ebx: 0, esp: 0, ebp: 0, esi: 0, edi: 0, ...regs },
    gdt,
    cs: BOOT_CS,
    ds: BOOT_DS,
    eflags: 0x2,
    cr0: 0x1,
  };
}
