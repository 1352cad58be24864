/**
 * The platform memory map (design.md §2) as the BIOS E820 call would report it. Linux reads it
 * from the zero page, Multiboot kernels from the mmap in the info structure.
 */
export const E820_RAM = 1;
export const E820_RESERVED = 2;

export interface E820Entry { addr: number; size: number; type: number }

/** Usable low memory ends where the (reserved) EBDA starts, as on a PC with 639 KiB base memory. */
export const EBDA_START = 0x9fc00;
export const FIRMWARE_AREA = 0xf0000;
export const HIGH_MEMORY = 0x100000;
export const IOAPIC_BASE = 0xfec00000;
export const LAPIC_BASE = 0xfee00000;

/** Entries sorted by address, non-overlapping. `ramSize` is the top of RAM (at least 2 MiB). */
export function e820Map(ramSize: number): E820Entry[] {
  if (ramSize < 2 * HIGH_MEMORY || ramSize > IOAPIC_BASE) throw new RangeError(`RAM size ${ramSize} must be between 2 MiB and 0x${IOAPIC_BASE.toString(16)}`);
  return [
    { addr: 0, size: EBDA_START, type: E820_RAM },
    { addr: EBDA_START, size: 0xa0000 - EBDA_START, type: E820_RESERVED },
    { addr: FIRMWARE_AREA, size: HIGH_MEMORY - FIRMWARE_AREA, type: E820_RESERVED },
    { addr: HIGH_MEMORY, size: ramSize - HIGH_MEMORY, type: E820_RAM },
    { addr: IOAPIC_BASE, size: 0x1000, type: E820_RESERVED },
    { addr: LAPIC_BASE, size: 0x1000, type: E820_RESERVED },
  ];
}
