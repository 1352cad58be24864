/**
 * Intel 8259A programmable interrupt controllers, master and slave as wired on the PC/AT:
 * master at 0x20/0x21, slave at 0xA0/0xA1 with its INT on master IR2, and the PIIX/ICH edge/level
 * control registers (ELCR) at 0x4D0/0x4D1.
 *
 * Input lines carry the asserted state. An edge-triggered input latches its request in IRR on the
 * rising edge and keeps it until INTA even if the line falls again, so sources that signal an
 * edge as a pulse (irqfd-style) are not lost. A level-triggered input's IRR follows the line, so a
 * request that is withdrawn before INTA produces the spurious IRQ 7 (or 15) of the datasheet.
 */
import type { IoBus } from '../bus/io.js';
import { bytewise } from '../devices/bytewise.js';

/** Priority position (0 = highest) of the highest-priority bit of `mask`, 8 if none. */
function priorityOf(mask: number, highest: number): number {
  if ((mask & 0xff) === 0) return 8;
  let p = 0;
  while ((mask & (1 << ((p + highest) & 7))) === 0) p++;
  return p;
}

class Chip {
  irr = 0;
  isr = 0;
  imr = 0;
  /** Current input line levels. */
  lines = 0;
  elcr = 0;
  /** ICW1 LTIM: every input level-triggered regardless of ELCR. */
  ltim = false;
  vectorBase = 0;
  /** IR with the highest priority (rotation moves it). */
  highest = 0;
  readIsr = false;
  pollPending = false;
  specialMask = false;
  autoEoi = false;
  rotateOnAutoEoi = false;
  specialFullyNested = false;
  single = false;
  icw3 = 0;
  needIcw4 = false;
  /** Next ICW expected (2, 3 or 4), 0 when initialized. */
  initStep = 0;

  constructor(readonly isMaster: boolean, readonly elcrWritable: number, private readonly eoi: (irq: number) => void) {}

  get levelMask(): number { return this.ltim ? 0xff : this.elcr; }

  isCascade(irq: number): boolean { return this.isMaster && !this.single && (this.icw3 & (1 << irq)) !== 0; }

  setInput(irq: number, level: boolean): void {
    const bit = 1 << irq;
    if (level) {
      if ((this.lines & bit) === 0 || (this.levelMask & bit) !== 0) this.irr |= bit;
      this.lines |= bit;
    } else {
      this.lines &= ~bit;
      if (this.levelMask & bit) this.irr &= ~bit;
    }
  }

  /** Level inputs request while high: resynchronize IRR after the trigger mode changed. */
  syncLevelIrr(): void {
    const lm = this.levelMask;
    this.irr = (this.irr & ~lm) | (this.lines & lm);
  }

  /** IR that would be presented at INTA now, or -1. */
  pending(): number {
    const p = priorityOf(this.irr & ~this.imr, this.highest);
    if (p === 8) return -1;
    let inService = this.isr;
    if (this.specialMask) inService &= ~this.imr;
    // Special fully nested: a slave's further requests must get through while its IR is in service.
    if (this.specialFullyNested && this.isMaster) inService &= ~this.icw3;
    return p < priorityOf(inService, this.highest) ? (p + this.highest) & 7 : -1;
  }

  intack(irq: number): void {
    const bit = 1 << irq;
    if (this.autoEoi) {
      if (this.rotateOnAutoEoi) this.highest = (irq + 1) & 7;
      this.eoi(irq);
    } else {
      this.isr |= bit;
    }
    if ((this.levelMask & bit) === 0) this.irr &= ~bit;
  }

  writeCommand(v: number): void {
    if (v & 0x10) { // ICW1
      this.ltim = (v & 0x08) !== 0;
      this.single = (v & 0x02) !== 0;
      this.needIcw4 = (v & 0x01) !== 0;
      // Datasheet: IMR cleared, IR7 lowest priority, special mask off, status read = IRR, and
      // edge sense reset (an edge input must see a new rising edge). ICW4 functions off without IC4.
      this.imr = 0;
      this.isr = 0;
      this.irr = this.lines & this.levelMask;
      this.highest = 0;
      this.specialMask = false;
      this.readIsr = false;
      this.pollPending = false;
      this.autoEoi = false;
      this.rotateOnAutoEoi = false;
      this.specialFullyNested = false;
      this.initStep = 2;
      return;
    }
    if (v & 0x08) { // OCW3
      if (v & 0x04) this.pollPending = true;
      if (v & 0x02) this.readIsr = (v & 0x01) !== 0;
      if (v & 0x40) this.specialMask = (v & 0x20) !== 0;
      return;
    }
    // OCW2
    const irqField = v & 7;
    switch (v >>> 5) {
      case 0: this.rotateOnAutoEoi = false; break;
      case 4: this.rotateOnAutoEoi = true; break;
      case 1: case 5: { // non-specific EOI (5: and rotate)
        const p = priorityOf(this.isr, this.highest);
        if (p === 8) break;
        const irq = (p + this.highest) & 7;
        this.isr &= ~(1 << irq);
        if (v >>> 5 === 5) this.highest = (irq + 1) & 7;
        this.eoi(irq);
        break;
      }
      case 3: case 7: // specific EOI (7: and rotate)
        this.isr &= ~(1 << irqField);
        if (v >>> 5 === 7) this.highest = (irqField + 1) & 7;
        this.eoi(irqField);
        break;
      case 6: this.highest = (irqField + 1) & 7; break; // set priority: irqField becomes lowest
      default: break; // 2: no operation
    }
  }

  writeData(v: number): void {
    switch (this.initStep) {
      case 2:
        this.vectorBase = v & 0xf8;
        this.initStep = this.single ? (this.needIcw4 ? 4 : 0) : 3;
        return;
      case 3:
        this.icw3 = v;
        this.initStep = this.needIcw4 ? 4 : 0;
        return;
      case 4:
        this.autoEoi = (v & 0x02) !== 0;
        this.specialFullyNested = (v & 0x10) !== 0;
        this.initStep = 0;
        return;
      default:
        this.imr = v;
    }
  }

  /** Poll command read: acts as INTA without a vector cycle. */
  pollRead(): number {
    this.pollPending = false;
    const irq = this.pending();
    if (irq < 0) return 0;
    this.intack(irq);
    return 0x80 | irq;
  }

  readStatus(): number { return this.readIsr ? this.isr : this.irr; }
}

export interface PicOptions {
  /** The master's INT output changed (to the LAPIC LINT0 / CPU INTR and IOAPIC pin 0). */
  onIntrChange: (level: boolean) => void;
  /** EOI (or automatic EOI) of ISA IRQ 0-15, for level resampling. */
  onEoi?: (irq: number) => void;
}

export class DualPic {
  private readonly master: Chip;
  private readonly slave: Chip;
  /** Level of the master's INT output. */
  private out = false;
  private readonly onIntrChange: (level: boolean) => void;

  constructor(io: IoBus, opts: PicOptions) {
    this.onIntrChange = opts.onIntrChange;
    const onEoi = opts.onEoi ?? (() => {});
    // ELCR: IRQ 0, 1, 2, 8 and 13 are edge only on PIIX/ICH.
    this.master = new Chip(true, 0xf8, (irq) => onEoi(irq));
    this.slave = new Chip(false, 0xde, (irq) => onEoi(irq + 8));
    // ts86 starts guests without a BIOS, so power-on state is what PC firmware leaves: vectors
    // 08h/70h, slave cascaded on IR2, 8086 mode, everything but the cascade masked.
    this.master.vectorBase = 0x08;
    this.master.icw3 = 0x04;
    this.master.imr = 0xfb;
    this.slave.vectorBase = 0x70;
    this.slave.icw3 = 0x02;
    this.slave.imr = 0xff;

    const handler = bytewise((p) => this.readPort(p), (p, v) => this.writePort(p, v));
    io.register(0x20, 2, handler, 'pic-master');
    io.register(0xa0, 2, handler, 'pic-slave');
    io.register(0x4d0, 2, handler, 'elcr');
  }

  /** Drive ISA IRQ line 0-15 (2 is the cascade input and not an external line). */
  setIrq(irq: number, level: boolean): void {
    if (irq < 0 || irq > 15 || irq === 2) throw new RangeError(`PIC: no ISA IRQ line ${irq}`);
    if (irq < 8) this.master.setInput(irq, level);
    else this.slave.setInput(irq - 8, level);
    this.update();
  }

  /** The master's INT output: an interrupt would be presented at INTA. */
  get intr(): boolean { return this.out; }

  /** INTA cycle: returns the vector and moves the request into service. */
  acknowledge(): number {
    const m = this.master, s = this.slave;
    const irq = m.pending();
    let vector: number;
    if (irq < 0) {
      vector = m.vectorBase + 7; // request withdrawn before INTA: spurious IR7, ISR untouched
    } else {
      m.intack(irq);
      if (m.isCascade(irq)) {
        const sirq = s.pending();
        if (sirq < 0) vector = s.vectorBase + 7;
        else { s.intack(sirq); vector = s.vectorBase + sirq; }
      } else {
        vector = m.vectorBase + irq;
      }
    }
    // INT drops during the INTA sequence; a request still pending raises it again, which an
    // edge-triggered consumer (IOAPIC pin 0 in ExtINT mode) must see as a new edge.
    if (this.out) { this.out = false; this.onIntrChange(false); }
    this.update();
    return vector;
  }

  private update(): void {
    const s = this.slave, m = this.master;
    m.setInput(2, s.pending() >= 0);
    const out = m.pending() >= 0;
    if (out !== this.out) {
      this.out = out;
      this.onIntrChange(out);
    }
  }

  private chipAt(port: number): Chip { return port < 0xa0 ? this.master : this.slave; }

  private readPort(port: number): number {
    if (port === 0x4d0) return this.master.elcr;
    if (port === 0x4d1) return this.slave.elcr;
    if (port !== 0x20 && port !== 0x21 && port !== 0xa0 && port !== 0xa1) return 0xff;
    const c = this.chipAt(port);
    if (c.pollPending) {
      const v = c.pollRead();
      this.update();
      return v;
    }
    return (port & 1) ? c.imr : c.readStatus();
  }

  private writePort(port: number, v: number): void {
    if (port === 0x4d0 || port === 0x4d1) {
      const c = port === 0x4d0 ? this.master : this.slave;
      c.elcr = v & c.elcrWritable;
      c.syncLevelIrr();
    } else if (port === 0x20 || port === 0x21 || port === 0xa0 || port === 0xa1) {
      const c = this.chipAt(port);
      if (port & 1) c.writeData(v);
      else c.writeCommand(v);
    } else {
      return;
    }
    this.update();
  }
}
