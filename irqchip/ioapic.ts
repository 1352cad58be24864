/**
 * Intel 82093AA I/O APIC at 0xFEC00000: IOREGSEL at +0x00, IOWIN at +0x10, 24 redirection
 * entries, version 0x11. Messages go to the single local APIC.
 *
 * Pin levels are the asserted state of the line; the polarity bit is stored for the guest but the
 * board (MP table) already says which electrical level asserts, so it is not applied (as in KVM).
 */
import type { AccessSize } from '../bus/io.js';
import type { PhysicalMemory } from '../bus/memory.js';
import { DeliveryMode, type LocalApic } from './lapic.js';

export const IOAPIC_BASE = 0xfec00000;
export const IOAPIC_PINS = 24;

const RTE_MASKED = 1 << 16, RTE_LEVEL = 1 << 15, RTE_REMOTE_IRR = 1 << 14, RTE_LOGICAL = 1 << 11;
/** Writable bits of the low dword: vector, delivery mode, destination mode, polarity, trigger, mask. */
const RTE_LOW_WRITABLE = 0x1afff;

export interface IoApicOptions {
  mem: PhysicalMemory;
  lapic: LocalApic;
  /** APIC ID (4 bits; default 0). */
  id?: number;
  /** EOI of a redirection entry's vector reached this pin (for level resampling). */
  onEoi?: (pin: number) => void;
}

export class IoApic {
  private readonly lapic: LocalApic;
  private readonly onEoiPin: (pin: number) => void;
  private regsel = 0;
  private id: number;
  private arbId: number;
  private readonly low = new Uint32Array(IOAPIC_PINS);
  private readonly high = new Uint32Array(IOAPIC_PINS);
  private readonly level = new Uint8Array(IOAPIC_PINS);

  constructor(opts: IoApicOptions) {
    this.lapic = opts.lapic;
    this.onEoiPin = opts.onEoi ?? (() => {});
    this.id = (opts.id ?? 0) & 0xf;
    this.arbId = this.id;
    this.low.fill(RTE_MASKED); // reset: every entry masked
    opts.mem.mapMmio(IOAPIC_BASE, 0x1000, { read: (o, s) => this.mmioRead(o, s), write: (o, s, v) => this.mmioWrite(o, s, v) }, 'ioapic');
  }

  /** Drive input pin 0-23 (asserted = true). */
  setPin(pin: number, asserted: boolean): void {
    if (pin < 0 || pin >= IOAPIC_PINS) throw new RangeError(`IOAPIC: no pin ${pin}`);
    const was = this.level[pin] !== 0;
    this.level[pin] = asserted ? 1 : 0;
    if (!asserted) return;
    if (this.low[pin]! & RTE_LEVEL) this.service(pin);
    else if (!was) this.service(pin);
  }

  /** Does an unmasked entry deliver NMIs (a pin could still wake a CPU that has IF clear)? */
  routesNmi(): boolean {
    for (let pin = 0; pin < IOAPIC_PINS; pin++) {
      const lo = this.low[pin]!;
      if (!(lo & RTE_MASKED) && ((lo >>> 8) & 7) === DeliveryMode.Nmi) return true;
    }
    return false;
  }

  /** EOI broadcast from the local APIC for `vector`. */
  eoi(vector: number): void {
    for (let pin = 0; pin < IOAPIC_PINS; pin++) {
      const lo = this.low[pin]!;
      if ((lo & 0xff) !== vector) continue;
      // Listeners first: a resampler lowers the line before Remote IRR is cleared.
      this.onEoiPin(pin);
      if ((lo & RTE_LEVEL) && (lo & RTE_REMOTE_IRR)) {
        this.low[pin] = this.low[pin]! & ~RTE_REMOTE_IRR;
        if (this.level[pin]) this.service(pin);
      }
    }
  }

  /** Send the pin's message if it is unmasked and (for level) not awaiting EOI. */
  private service(pin: number): void {
    const lo = this.low[pin]!;
    if (lo & RTE_MASKED) return;
    const levelTriggered = (lo & RTE_LEVEL) !== 0;
    if (levelTriggered && (lo & RTE_REMOTE_IRR)) return;
    const mode = (lo >>> 8) & 7;
    // NMI, INIT and ExtINT messages are edge by definition and never set Remote IRR.
    const isLevelMsg = levelTriggered && (mode === DeliveryMode.Fixed || mode === DeliveryMode.LowestPriority);
    const accepted = this.lapic.deliver(this.high[pin]! >>> 24, (lo & RTE_LOGICAL) !== 0, mode, lo & 0xff, isLevelMsg);
    if (accepted && isLevelMsg) this.low[pin] = this.low[pin]! | RTE_REMOTE_IRR;
  }

  private readReg(index: number): number {
    if (index === 0x00) return (this.id << 24) >>> 0;
    if (index === 0x01) return ((IOAPIC_PINS - 1) << 16) | 0x11;
    if (index === 0x02) return (this.arbId << 24) >>> 0;
    if (index >= 0x10 && index < 0x10 + 2 * IOAPIC_PINS) {
      const pin = (index - 0x10) >>> 1;
      return (index & 1) ? this.high[pin]! : this.low[pin]!;
    }
    return 0;
  }

  private writeReg(index: number, v: number): void {
    if (index === 0x00) {
      this.id = (v >>> 24) & 0xf;
      this.arbId = this.id; // 82093AA: IOAPICARB is loaded when the ID is written
      return;
    }
    if (index < 0x10 || index >= 0x10 + 2 * IOAPIC_PINS) return; // version, arbitration: read-only
    const pin = (index - 0x10) >>> 1;
    if (index & 1) { this.high[pin] = v & 0xff000000; return; }
    let lo = (v & RTE_LOW_WRITABLE) | (this.low[pin]! & RTE_REMOTE_IRR);
    if ((lo & RTE_LEVEL) === 0) lo &= ~RTE_REMOTE_IRR; // Remote IRR is meaningless for edge
    this.low[pin] = lo;
    // An asserted level line is delivered once the entry allows it (e.g. on unmask).
    if ((lo & RTE_LEVEL) && this.level[pin]) this.service(pin);
  }

  private mmioRead(offset: number, size: AccessSize): number {
    const reg = offset & 0xfc;
    let v = 0;
    if (reg === 0x00) v = this.regsel;
    else if (reg === 0x10) v = this.readReg(this.regsel);
    const shifted = v >>> ((offset & 3) * 8);
    return size === 4 ? shifted >>> 0 : shifted & (size === 2 ? 0xffff : 0xff);
  }

  private mmioWrite(offset: number, size: AccessSize, value: number): void {
    const reg = offset & 0xff;
    if (reg === 0x00) this.regsel = value & 0xff;
    else if (reg === 0x10 && size === 4) this.writeReg(this.regsel, value >>> 0); // IOWIN is dword-only
  }
}
