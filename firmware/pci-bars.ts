/**
 * BAR assignment, as a PC BIOS does before the OS starts: every memory BAR gets a naturally
 * aligned place in the PCI memory window, every I/O BAR one from 0xC000 up, largest first.
 * Linux keeps what it finds assigned; left to itself (no BIOS, no ACPI) it would place BARs in the
 * e820 gap right above RAM, outside the window the bus decodes. Decoding stays off: the OS
 * enables the command bits of the devices it drives.
 */
import { PCI, PCI_MMIO_WINDOW, type PciBus } from '../bus/pci/index.js';

const IO_BASE = 0xc000, IO_END = 0x10000;

export function assignPciBars(pci: PciBus, window: { base: number; size: number } = PCI_MMIO_WINDOW): void {
  const bars: { dev: number; fn: number; bar: number; kind: 'io' | 'mem'; size: number }[] = [];
  for (let dev = 0; dev < 32; dev++) {
    for (let fn = 0; fn < 8; fn++) {
      const f = pci.function(dev, fn);
      f?.bars.forEach((b, bar) => { if (b) bars.push({ dev, fn, bar, kind: b.kind, size: b.size }); });
    }
  }
  bars.sort((a, b) => b.size - a.size);
  let mem = window.base, io = IO_BASE;
  for (const b of bars) {
    const at = b.kind === 'mem' ? mem : io;
    const addr = Math.ceil(at / b.size) * b.size;
    if (addr + b.size > (b.kind === 'mem' ? window.base + window.size : IO_END)) throw new Error(`no room for BAR ${b.bar} of 00:${b.dev}.${b.fn}`);
    pci.configWrite(0, b.dev, b.fn, PCI.BAR0 + 4 * b.bar, 4, addr);
    if (b.kind === 'mem') mem = addr + b.size; else io = addr + b.size;
  }
}
