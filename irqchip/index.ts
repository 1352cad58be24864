/**
 * The in-kernel irqchip of ts86: 8259 pair, IOAPIC, local APIC and the GSI router, wired as on a
 * PC. The returned `lapic` is the CPU's interrupt controller (`cpu.interrupts = chips.lapic`).
 */
import type { IoBus } from '../bus/io.js';
import type { PhysicalMemory } from '../bus/memory.js';
import type { Clock } from '../bus/clock.js';
import { DualPic } from './pic.js';
import { IoApic } from './ioapic.js';
import { LocalApic } from './lapic.js';
import { GsiRouter } from './router.js';

export { DualPic } from './pic.js';
export { IoApic, IOAPIC_BASE, IOAPIC_PINS } from './ioapic.js';
export { LocalApic, LAPIC_BASE, DeliveryMode } from './lapic.js';
export { GsiRouter, decodeMsi, MAX_GSI, type GsiRoute, type MsiMessage } from './router.js';

export interface InterruptControllers {
  pic: DualPic;
  ioapic: IoApic;
  lapic: LocalApic;
  router: GsiRouter;
}

export function createInterruptControllers(opts: {
  io: IoBus;
  mem: PhysicalMemory;
  clock: Clock;
  /** `() => cpu.requestInterruptCheck()` */
  onIntrChange: () => void;
  /** `() => cpu.nmi()` */
  onNmi: () => void;
  ioapicId?: number;
  lapicTimerHz?: number;
}): InterruptControllers {
  // Built in dependency order; the 8259's callbacks reach objects created after it.
  let lapic: LocalApic | undefined;
  let router: GsiRouter | undefined;
  const pic = new DualPic(opts.io, {
    onIntrChange: (level) => { lapic?.setLint(0, level); router?.setPicOutput(level); },
    onEoi: (irq) => router?.picEoi(irq),
  });
  lapic = new LocalApic({ mem: opts.mem, clock: opts.clock, pic, onIntrChange: opts.onIntrChange, onNmi: opts.onNmi, timerHz: opts.lapicTimerHz });
  const ioapic = new IoApic({ mem: opts.mem, lapic, id: opts.ioapicId, onEoi: (pin) => router?.ioapicEoi(pin) });
  lapic.onEoiBroadcast = (vector) => ioapic.eoi(vector);
  router = new GsiRouter(pic, ioapic, lapic);
  return { pic, ioapic, lapic, router };
}
