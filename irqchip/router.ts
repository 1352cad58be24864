/**
 * GSI router, modelled on KVM_SET_GSI_ROUTING. Devices raise GSIs; the routing table says whether
 * a GSI is irqchip pins (8259 IRQ and/or IOAPIC pin) or an MSI message.
 *
 * Default table (as QEMU sets it up for KVM): GSI 0-15 are the ISA IRQs, each wired to the 8259 and
 * to the same-numbered IOAPIC pin, except ISA IRQ 0 (PIT), which reaches IOAPIC pin 2 (the MP
 * table's interrupt source override), and GSI 2, which has no route (pin 2 of the 8259 is the
 * cascade). GSI 16-23 are IOAPIC-only (PCI INTx). IOAPIC pin 0 carries the 8259's INT output for
 * the ExtINT through-the-IOAPIC mode. GSIs beyond 23 start unrouted and are meant for MSI.
 *
 * Levels of GSIs that share a pin are ORed, as on a wired-OR (shared) interrupt line.
 */
import type { DualPic } from './pic.js';
import type { IoApic } from './ioapic.js';
import { IOAPIC_PINS } from './ioapic.js';
import type { LocalApic } from './lapic.js';

export const MAX_GSI = 1024;

export type GsiRoute =
  | { kind: 'irqchip'; pic: number | null; ioapic: number | null }
  | { kind: 'msi'; address: number; data: number }
  | null;

export interface MsiMessage {
  dest: number;
  logical: boolean;
  mode: number;
  vector: number;
  levelTriggered: boolean;
  /** Level-triggered messages carry assert (1) or deassert (0). */
  assert: boolean;
}

/** Decode an MSI address/data pair (Intel SDM vol. 3, 10.11.1); null if it does not target the APIC. */
export function decodeMsi(address: number, data: number): MsiMessage | null {
  if ((address >>> 20) !== 0xfee) return null;
  return {
    dest: (address >>> 12) & 0xff,
    logical: (address & 0x4) !== 0,
    mode: (data >>> 8) & 7,
    vector: data & 0xff,
    levelTriggered: (data & 0x8000) !== 0,
    assert: (data & 0x4000) !== 0,
  };
}

export class GsiRouter {
  private readonly routes: GsiRoute[] = [];
  private readonly levels = new Uint8Array(MAX_GSI);
  /** Reverse maps, rebuilt when the table changes: GSIs feeding each 8259 IRQ / IOAPIC pin. */
  private picSources: number[][] = [];
  private ioapicSources: number[][] = [];
  private readonly eoiListeners = new Map<number, Array<() => void>>();
  private picIntr = false;

  constructor(private readonly pic: DualPic, private readonly ioapic: IoApic, private readonly lapic: LocalApic) {
    for (let gsi = 0; gsi < MAX_GSI; gsi++) this.routes.push(GsiRouter.defaultRoute(gsi));
    this.rebuild();
  }

  static defaultRoute(gsi: number): GsiRoute {
    if (gsi === 2) return null;
    if (gsi < 16) return { kind: 'irqchip', pic: gsi, ioapic: gsi === 0 ? 2 : gsi };
    if (gsi < IOAPIC_PINS) return { kind: 'irqchip', pic: null, ioapic: gsi };
    return null;
  }

  /** Assert or deassert a GSI. On an MSI route, an assertion sends the message (edge). */
  setLevel(gsi: number, level: boolean): void {
    this.checkGsi(gsi);
    const route = this.routes[gsi];
    if (!route) { this.levels[gsi] = level ? 1 : 0; return; }
    if (route.kind === 'msi') {
      if (level) this.sendMsi(route.address, route.data);
      return;
    }
    if (((this.levels[gsi] ?? 0) !== 0) === level) return;
    this.levels[gsi] = level ? 1 : 0;
    if (route.pic !== null) this.pic.setIrq(route.pic, this.picLine(route.pic));
    if (route.ioapic !== null) this.ioapic.setPin(route.ioapic, this.ioapicLine(route.ioapic));
  }

  /** An edge: assert then deassert (what a non-resampling irqfd does). */
  pulse(gsi: number): void {
    this.setLevel(gsi, true);
    this.setLevel(gsi, false);
  }

  getRoute(gsi: number): GsiRoute {
    this.checkGsi(gsi);
    const r = this.routes[gsi];
    return r ? { ...r } : null;
  }

  /** Replace one GSI's route. Pins it leaves are re-evaluated, pins it joins get its level. */
  setRoute(gsi: number, route: GsiRoute): void {
    this.checkGsi(gsi);
    if (route?.kind === 'irqchip') {
      if (route.pic !== null && (!Number.isInteger(route.pic) || route.pic < 0 || route.pic > 15 || route.pic === 2)) throw new RangeError(`bad 8259 IRQ ${route.pic}`);
      if (route.ioapic !== null && (!Number.isInteger(route.ioapic) || route.ioapic < 0 || route.ioapic >= IOAPIC_PINS)) throw new RangeError(`bad IOAPIC pin ${route.ioapic}`);
    }
    const old = this.routes[gsi];
    this.routes[gsi] = route && (route.kind === 'msi' ? { kind: 'msi', address: route.address >>> 0, data: route.data >>> 0 } : { ...route });
    this.rebuild();
    for (const r of [old, route]) {
      if (r?.kind !== 'irqchip') continue;
      if (r.pic !== null) this.pic.setIrq(r.pic, this.picLine(r.pic));
      if (r.ioapic !== null) this.ioapic.setPin(r.ioapic, this.ioapicLine(r.ioapic));
    }
  }

  /** Deliver an MSI write (address/data as the device would write them). */
  sendMsi(address: number, data: number): void {
    const m = decodeMsi(address >>> 0, data >>> 0);
    // A deasserting level message has no effect on the local APIC.
    if (!m || (m.levelTriggered && !m.assert)) return;
    this.lapic.deliver(m.dest, m.logical, m.mode, m.vector, m.levelTriggered);
  }

  /**
   * Call `cb` when the guest EOIs an interrupt that came through this GSI's irqchip pins (8259 EOI
   * of its IRQ, or an IOAPIC EOI broadcast matching its pin's vector). Returns an unsubscribe.
   */
  addEoiListener(gsi: number, cb: () => void): () => void {
    this.checkGsi(gsi);
    let list = this.eoiListeners.get(gsi);
    if (!list) { list = []; this.eoiListeners.set(gsi, list); }
    list.push(cb);
    return () => {
      const l = this.eoiListeners.get(gsi);
      const i = l ? l.indexOf(cb) : -1;
      if (i >= 0) l!.splice(i, 1);
    };
  }

  /** Wire the 8259 INT output (IOAPIC pin 0, for ExtINT through the IOAPIC). */
  setPicOutput(level: boolean): void {
    this.picIntr = level;
    this.ioapic.setPin(0, this.ioapicLine(0));
  }

  /** From the 8259: EOI of ISA IRQ `irq`. */
  picEoi(irq: number): void { this.notify(this.picSources[irq]); }

  /** From the IOAPIC: EOI broadcast matched pin `pin`. */
  ioapicEoi(pin: number): void { this.notify(this.ioapicSources[pin]); }

  private notify(gsis: number[] | undefined): void {
    if (!gsis) return;
    for (const gsi of gsis) {
      const list = this.eoiListeners.get(gsi);
      if (list) for (const cb of [...list]) cb();
    }
  }

  private picLine(irq: number): boolean {
    return this.picSources[irq]!.some((g) => this.levels[g] !== 0);
  }

  private ioapicLine(pin: number): boolean {
    return (pin === 0 && this.picIntr) || this.ioapicSources[pin]!.some((g) => this.levels[g] !== 0);
  }

  private rebuild(): void {
    this.picSources = Array.from({ length: 16 }, () => []);
    this.ioapicSources = Array.from({ length: IOAPIC_PINS }, () => []);
    this.routes.forEach((r, gsi) => {
      if (r?.kind !== 'irqchip') return;
      if (r.pic !== null) this.picSources[r.pic]!.push(gsi);
      if (r.ioapic !== null) this.ioapicSources[r.ioapic]!.push(gsi);
    });
  }

  private checkGsi(gsi: number): void {
    if (!Number.isInteger(gsi) || gsi < 0 || gsi >= MAX_GSI) throw new RangeError(`GSI ${gsi} out of range`);
  }
}
