/**
 * The PCI IRQ Routing Table ("$PIR", Microsoft's PCI IRQ Routing Table Specification 1.0) that a PC
 * BIOS keeps in 0xF0000-0xFFFFF. ts86 routes PCI INTx through the IOAPIC as the MP table says and
 * has no PIRQ router, so the table names none and lists no slots. It is there because Linux i386
 * looks for one in every PCI boot (arch/x86/pci/irq.c pirq_find_routing_table): without it, after
 * the 16-byte scan for "$PIR", it scans the 64 KiB byte by byte for AMI's older "$IRT" format,
 * ~0.36 M guest instructions. With the IOAPIC in use Linux then drops the table again.
 */
import type { PhysicalMemory } from '../bus/memory.js';
import { FIRMWARE_AREA, HIGH_MEMORY } from './e820.js';
import { checksum, MP_TABLE_BASE, MP_TABLE_ROOM } from './mptable.js';

/** Header size; each slot entry would add 16 bytes. */
export const PIR_HEADER_SIZE = 32;
export const PIR_VERSION = 0x0100;
/** After the MP tables' room at the start of the area: Linux finds it after 64 of its 16-byte steps. */
export const PIR_TABLE_BASE = MP_TABLE_BASE + MP_TABLE_ROOM;

/** The table: no exclusive IRQs, no compatible router, no slots; the router the spec wants named is
 * the host bridge, 00:00.0 on bus 0 (bytes 8-9 left 0). */
export function buildPirTable(): Uint8Array {
  const t = new Uint8Array(PIR_HEADER_SIZE);
  t.set([0x24, 0x50, 0x49, 0x52], 0); // "$PIR"
  t[4] = PIR_VERSION & 0xff; t[5] = PIR_VERSION >>> 8;
  t[6] = PIR_HEADER_SIZE;
  // Bytes 10-11 exclusive IRQs, 12-15 router vendor/device, 16-19 miniport data, 20-30 reserved: 0.
  t[31] = checksum(t);
  return t;
}

/** Writes the table at `addr` (16-byte aligned, in the BIOS area the OS scans). */
export function writePirTable(mem: PhysicalMemory, addr = PIR_TABLE_BASE): void {
  if (addr % 16 !== 0 || addr < FIRMWARE_AREA || addr + PIR_HEADER_SIZE > HIGH_MEMORY) throw new RangeError(`$PIR table at 0x${addr.toString(16)}: not 16-byte aligned in 0xF0000-0xFFFFF`);
  mem.writeBytes(addr, buildPirTable());
}
