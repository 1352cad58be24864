/**
 * Intel MultiProcessor Specification 1.4 tables: how Linux i386 without ACPI finds the local APIC,
 * the IOAPIC and the interrupt routing of ISA and PCI devices (arch/x86/kernel/mpparse.c).
 */
import type { PhysicalMemory } from '../bus/memory.js';
import { FIRMWARE_AREA, IOAPIC_BASE, LAPIC_BASE } from './e820.js';

export interface MpPciDevice {
  /** PCI device (slot) number on bus 0. */
  device: number;
  /** Interrupt pin: 0 = INTA# … 3 = INTD#. */
  pin: number;
  /** IOAPIC input; defaults to `pciIntxGsi(device, pin)`. */
  gsi?: number;
}

export interface MpTableOptions {
  /** CPUID.1:EAX (family/model/stepping) of the boot processor. */
  cpuSignature: number;
  /** CPUID.1:EDX feature flags of the boot processor. */
  cpuFeatures: number;
  /** Describe PCI bus 0 and the INTx routing of `pciDevices`. */
  pci: boolean;
  pciDevices?: MpPciDevice[];
  ioapicId?: number;
  lapicId?: number;
}

export const MP_SPEC_REV = 0x04;
export const LAPIC_VERSION = 0x14;
export const IOAPIC_VERSION = 0x11;
/** Distinct from the BSP's local APIC id 0, as the spec wants for APICs sharing one bus. */
export const DEFAULT_IOAPIC_ID = 1;
/** PCI is bus 0 so that MP bus ids equal PCI bus numbers (Linux compares them directly). */
export const MP_PCI_BUS = 0;
export const MP_ISA_BUS = 1;
/** The floating pointer and the configuration table right after it, in 1 KiB (the $PIR table follows). */
export const MP_TABLE_BASE = FIRMWARE_AREA;
export const MP_TABLE_ROOM = 0x400;

/** The IOAPIC input that INTx `pin` (0 = A) of PCI device `device` on bus 0 drives: 16–23. */
export function pciIntxGsi(device: number, pin: number): number {
  return 16 + ((device + pin) & 7);
}

const MP_INT = 0, MP_NMI = 1, MP_EXTINT = 3;
const POLARITY_ACTIVE_LOW = 0x3, TRIGGER_LEVEL = 0xc;

/** Floating pointer at `base` (16-byte aligned) followed by the configuration table. */
export function buildMpTable(opts: MpTableOptions, base = MP_TABLE_BASE): Uint8Array {
  if (base % 16 !== 0) throw new RangeError('MP floating pointer must be 16-byte aligned');
  const ioapicId = opts.ioapicId ?? DEFAULT_IOAPIC_ID;
  const lapicId = opts.lapicId ?? 0;
  const isaBus = opts.pci ? MP_ISA_BUS : 0;
  const entries: number[][] = [];
  const u32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
  const ascii = (s: string, n: number) => Array.from(s.padEnd(n, ' ').slice(0, n), (c) => c.charCodeAt(0));

  // Processor: enabled (bit 0), bootstrap processor (bit 1).
  entries.push([0, lapicId, LAPIC_VERSION, 0x3, ...u32(opts.cpuSignature), ...u32(opts.cpuFeatures), ...new Array(8).fill(0)]);
  if (opts.pci) entries.push([1, MP_PCI_BUS, ...ascii('PCI', 6)]);
  entries.push([1, isaBus, ...ascii('ISA', 6)]);
  entries.push([2, ioapicId, IOAPIC_VERSION, 0x1, ...u32(IOAPIC_BASE)]);
  // ISA IRQs with conforming polarity/trigger (active high, edge); the PIT's IRQ 0 is wired to
  // pin 2, and IRQ 2 is the PIC cascade, which has no IOAPIC input.
  for (let irq = 0; irq < 16; irq++) {
    if (irq === 2) continue;
    entries.push([3, MP_INT, 0, 0, isaBus, irq, ioapicId, irq === 0 ? 2 : irq]);
  }
  if (opts.pci) {
    for (const d of opts.pciDevices ?? []) {
      if (d.device < 0 || d.device > 31 || d.pin < 0 || d.pin > 3) throw new RangeError(`bad PCI device ${d.device} pin ${d.pin}`);
      const gsi = d.gsi ?? pciIntxGsi(d.device, d.pin);
      entries.push([3, MP_INT, POLARITY_ACTIVE_LOW | TRIGGER_LEVEL, 0, MP_PCI_BUS, (d.device << 2) | d.pin, ioapicId, gsi]);
    }
  }
  // Virtual wire mode: the 8259 output reaches the BSP on LINT0; NMI goes to every LAPIC's LINT1.
  entries.push([4, MP_EXTINT, 0, 0, isaBus, 0, lapicId, 0]);
  entries.push([4, MP_NMI, 0, 0, isaBus, 0, 0xff, 1]);

  const body = entries.flat();
  const tableLength = 44 + body.length;
  const out = new Uint8Array(16 + tableLength);
  const tableAddr = base + 16;

  const fp = out.subarray(0, 16);
  fp.set(ascii('_MP_', 4), 0);
  fp.set(u32(tableAddr), 4);
  fp[8] = 1; // length in 16-byte paragraphs
  fp[9] = MP_SPEC_REV;
  // Feature byte 1 = 0: a configuration table is present. Byte 2 bit 7 (IMCRP) = 0: virtual wire
  // mode, so the OS does not need the IMCR at ports 0x22/0x23.
  fp[10] = checksum(fp);

  const t = out.subarray(16);
  t.set(ascii('PCMP', 4), 0);
  t[4] = tableLength & 0xff; t[5] = tableLength >>> 8;
  t[6] = MP_SPEC_REV;
  t.set(ascii('TS86', 8), 8);
  t.set(ascii('ts86 PC', 12), 16);
  t[34] = entries.length & 0xff; t[35] = entries.length >>> 8;
  t.set(u32(LAPIC_BASE), 36);
  t.set(body, 44);
  t[7] = checksum(t);
  return out;
}

/** Two's complement of the byte sum, so that all bytes add up to 0 modulo 256 (BIOS tables' rule). */
export function checksum(bytes: Uint8Array): number {
  let sum = 0;
  for (const b of bytes) sum += b;
  return (256 - (sum & 0xff)) & 0xff;
}

/** Build the tables and write them to RAM at `base` (in the e820-reserved firmware area). */
export function writeMpTable(mem: PhysicalMemory, opts: MpTableOptions, base = MP_TABLE_BASE): void {
  const bytes = buildMpTable(opts, base);
  if (bytes.length > MP_TABLE_ROOM) throw new Error(`MP table of ${bytes.length} bytes does not fit its ${MP_TABLE_ROOM} bytes`);
  if (!mem.isRam(base, bytes.length)) throw new Error(`MP table at 0x${base.toString(16)} is not in RAM`);
  mem.writeBytes(base, bytes);
}
