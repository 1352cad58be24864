/**
 * Interrupts per source for the page's status line. It sits between the CPU and its interrupt
 * controller and counts acknowledged vectors (what the guest's handlers run, as /proc/interrupts
 * counts them); a report names each vector from the guest's own programming of the local APIC
 * timer, the IO-APIC redirection entries and the network card's MSI-X table, so no device or irqchip needs a hook.
 */
import type { InterruptController } from '../../cpu/index.js';
import type { Machine } from '../machine.js';
import { IOAPIC_BASE, IOAPIC_PINS, LAPIC_BASE } from '../../irqchip/index.js';
import type { InterruptRate } from './messages.js';

/** What sits on each ISA IRQ / IO-APIC pin of this board (design.md §2). */
const PIN_NAMES: Record<number, string> = { 1: 'keyboard', 2: 'PIT', 4: 'serial', 8: 'RTC', 12: 'mouse', 13: 'FPU' };
const pinName = (pin: number): string => PIN_NAMES[pin] ?? (pin >= 16 ? `PCI INTx ${pin}` : `IRQ ${pin}`);

export class InterruptStats implements InterruptController {
  private readonly counts = new Uint32Array(256);

  constructor(private readonly machine: Machine, private readonly inner: InterruptController) {}

  /** Puts the counter between `machine`'s CPU and its interrupt controller. */
  static attach(machine: Machine): InterruptStats {
    const stats = new InterruptStats(machine, machine.cpu.interrupts ?? machine.chips.lapic);
    machine.cpu.interrupts = stats;
    return stats;
  }

  hasInterrupt(): boolean { return this.inner.hasInterrupt(); }

  acknowledge(): number {
    const v = this.inner.acknowledge();
    this.counts[v & 0xff]!++;
    return v;
  }

  /** Counts since the last call, by source, and resets them. Runs between run slices. */
  take(): InterruptRate[] {
    const names = this.vectorNames();
    const bySource = new Map<string, number>();
    for (let v = 0; v < 256; v++) {
      const n = this.counts[v]!;
      if (n === 0) continue;
      const source = names.get(v) ?? `vector ${v}`;
      bySource.set(source, (bySource.get(source) ?? 0) + n);
    }
    this.counts.fill(0);
    return [...bySource].map(([source, count]) => ({ source, count }));
  }

  /** The vectors the guest gave its interrupt sources, read as the guest would read them. */
  private vectorNames(): Map<number, string> {
    const mem = this.machine.mem;
    const names = new Map<number, string>();
    const lvtTimer = mem.read(LAPIC_BASE + 0x320, 4);
    if ((lvtTimer & (1 << 16)) === 0) names.set(lvtTimer & 0xff, 'LAPIC timer');
    // IOREGSEL is saved and put back, so the guest never sees these reads.
    const regsel = mem.read(IOAPIC_BASE, 4);
    for (let pin = 0; pin < IOAPIC_PINS; pin++) {
      mem.write(IOAPIC_BASE, 4, 0x10 + 2 * pin);
      const low = mem.read(IOAPIC_BASE + 0x10, 4);
      if ((low & (1 << 16)) === 0 && (low & 0xff) >= 0x10 && !names.has(low & 0xff)) names.set(low & 0xff, pinName(pin));
    }
    mem.write(IOAPIC_BASE, 4, regsel);
    // The network card's MSI-X table holds the vectors its messages carry.
    const nic = this.machine.virtioNet?.pci;
    if (nic?.msixEnabled) {
      for (let v = 0; v < nic.msixVectors; v++) {
        const vector = nic.msixVector(v).data & 0xff;
        if (vector >= 0x10 && !names.has(vector)) names.set(vector, 'net (MSI-X)');
      }
    }
    return names;
  }
}
