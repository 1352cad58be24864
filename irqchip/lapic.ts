/**
 * Local APIC (xAPIC, Intel SDM vol. 3 ch. 10 / 11 in newer editions) for the single CPU, memory
 * mapped at 0xFEE00000. It is the CPU's interrupt controller: `hasInterrupt`/`acknowledge`.
 *
 * The 8259 INT output is wired to LINT0. With the APIC globally disabled, or LINT0 programmed as an
 * unmasked ExtINT (virtual wire), the PIC reaches the CPU and `acknowledge` runs its INTA cycle.
 * The BSP comes out of reset in virtual wire mode (LINT0 = ExtINT, unmasked), as firmware leaves it
 * per MP spec 3.6.2.2: ts86 boots guests without firmware, and Linux keeps that setting.
 *
 * The timer's current count is computed from the clock; only expiries are scheduled.
 */
import type { AccessSize } from '../bus/io.js';
import type { PhysicalMemory } from '../bus/memory.js';
import type { Clock, Timer } from '../bus/clock.js';

export const LAPIC_BASE = 0xfee00000;

export const enum DeliveryMode { Fixed = 0, LowestPriority = 1, Smi = 2, Nmi = 4, Init = 5, StartUp = 6, ExtInt = 7 }

/** What LINT0 is wired to: the 8259 pair. */
export interface ExtIntSource {
  readonly intr: boolean;
  acknowledge(): number;
}

export interface LocalApicOptions {
  mem: PhysicalMemory;
  clock: Clock;
  pic: ExtIntSource;
  /** INTR may have become pending: the CPU should re-check `hasInterrupt`. */
  onIntrChange: () => void;
  onNmi: () => void;
  /** APIC ID (default 0). */
  id?: number;
  /** Timer input clock ("bus clock") in Hz; default 1 GHz like QEMU. */
  timerHz?: number;
  /** MAXPHYADDR, for the reserved bits of IA32_APIC_BASE (default 36). */
  physAddrBits?: number;
}

// LVT slots and bits.
const LVT_TIMER = 0, LVT_LINT0 = 3, LVT_LINT1 = 4, LVT_ERROR = 5, LVT_COUNT = 6;
const LVT_MASKED = 1 << 16, LVT_REMOTE_IRR = 1 << 14, LVT_LEVEL = 1 << 15;
/** Writable bits per LVT slot: timer, thermal, perf, LINT0, LINT1, error. */
const LVT_WRITABLE = [0x700ff, 0x107ff, 0x107ff, 0x1a7ff, 0x1a7ff, 0x100ff] as const;
const TIMER_ONESHOT = 0, TIMER_PERIODIC = 1, TIMER_TSC_DEADLINE = 2;

// ESR bits.
const ESR_SEND_ILLEGAL_VECTOR = 1 << 5, ESR_RECEIVE_ILLEGAL_VECTOR = 1 << 6, ESR_ILLEGAL_REGISTER = 1 << 7;

const MSR_BSP = 1n << 8n, MSR_ENABLE = 1n << 11n;

/** Highest set bit index in a 256-bit register (8 words), -1 if none. */
function highestBit(r: Uint32Array): number {
  for (let i = 7; i >= 0; i--) {
    const w = r[i]!;
    if (w !== 0) return i * 32 + 31 - Math.clz32(w);
  }
  return -1;
}
const testBit = (r: Uint32Array, v: number): boolean => (r[v >>> 5]! & (1 << (v & 31))) !== 0;
const setBit = (r: Uint32Array, v: number): void => { r[v >>> 5]! |= 1 << (v & 31); };
const clearBit = (r: Uint32Array, v: number): void => { r[v >>> 5]! &= ~(1 << (v & 31)); };

export class LocalApic {
  /** Called with the vector of a level-triggered interrupt's EOI, for the IOAPIC. */
  onEoiBroadcast: (vector: number) => void = () => {};

  private readonly clock: Clock;
  private readonly pic: ExtIntSource;
  private readonly onIntrChange: () => void;
  private readonly onNmi: () => void;
  private readonly timerHz: number;
  private readonly reservedBaseBits: bigint;
  private readonly timer: Timer;

  private hwEnabled = true;
  private id: number;
  private tpr = 0;
  private ldr = 0;
  private dfr = 0xffffffff;
  private svr = 0xff;
  private icrLo = 0;
  private icrHi = 0;
  private readonly lvt = new Uint32Array(LVT_COUNT);
  private readonly irr = new Uint32Array(8);
  private readonly isr = new Uint32Array(8);
  private readonly tmr = new Uint32Array(8);
  private esrPending = 0;
  private esrLatched = 0;
  /** An ExtINT message (IOAPIC) asked for one PIC INTA cycle. */
  private extIntPending = false;
  private readonly lintLevel = [false, false];

  // Timer.
  private initialCount = 0;
  private divideConfig = 0;
  private timerRunning = false;
  /** Guest time at which the counter held `countAtBase`. */
  private timerBase = 0;
  private countAtBase = 0;
  private tscDeadline = 0n;

  constructor(opts: LocalApicOptions) {
    this.clock = opts.clock;
    this.pic = opts.pic;
    this.onIntrChange = opts.onIntrChange;
    this.onNmi = opts.onNmi;
    this.id = (opts.id ?? 0) & 0xff;
    this.timerHz = opts.timerHz ?? 1e9;
    const bits = BigInt(opts.physAddrBits ?? 36);
    // Bits 0-7, 9 and 10 (x2APIC, not offered) and everything at or above MAXPHYADDR are reserved.
    this.reservedBaseBits = 0xffn | (1n << 9n) | (1n << 10n) | (((1n << 64n) - 1n) & ~((1n << bits) - 1n));
    this.timer = opts.clock.timer(() => this.timerExpired(), 'lapic-timer');
    this.reset();
    opts.mem.mapMmio(LAPIC_BASE, 0x1000, { read: (o, s) => this.mmioRead(o, s), write: (o, s, v) => this.mmioWrite(o, s, v) }, 'lapic');
  }

  // ---- CPU side -------------------------------------------------------------------------------

  hasInterrupt(): boolean {
    if (!this.hwEnabled) return this.pic.intr;
    return this.deliverableVector() >= 0 || (this.extIntRouted() && this.pic.intr);
  }

  /** Interrupt acknowledge: the vector to deliver (IRR -> ISR, PIC INTA, or the spurious vector). */
  acknowledge(): number {
    if (!this.hwEnabled) return this.pic.acknowledge();
    const v = this.deliverableVector();
    if (v >= 0) {
      clearBit(this.irr, v);
      setBit(this.isr, v);
      return v;
    }
    if (this.extIntRouted() && this.pic.intr) {
      this.extIntPending = false;
      return this.pic.acknowledge();
    }
    return this.svr & 0xff;
  }

  // ---- MSRs -----------------------------------------------------------------------------------

  readApicBase(): bigint {
    return BigInt(LAPIC_BASE) | MSR_BSP | (this.hwEnabled ? MSR_ENABLE : 0n);
  }

  /** IA32_APIC_BASE write; returns false when the CPU must raise #GP (reserved bits set). */
  writeApicBase(value: bigint): boolean {
    if ((value & this.reservedBaseBits) !== 0n) return false;
    const enable = (value & MSR_ENABLE) !== 0n;
    // Relocating the APIC is refused: the base stays at 0xFEE00000 (no guest we run moves it).
    if (!enable && this.hwEnabled) {
      this.reset(); // SDM: disabling through the MSR returns the APIC to its power-up state
      this.hwEnabled = false;
    } else if (enable) {
      this.hwEnabled = true;
    }
    this.onIntrChange();
    return true;
  }

  /** IA32_TSC_DEADLINE (MSR 0x6E0) write. */
  writeTscDeadline(value: bigint): void {
    if (this.timerMode() !== TIMER_TSC_DEADLINE) return;
    this.tscDeadline = BigInt.asUintN(64, value);
    if (this.tscDeadline === 0n) { this.timer.cancel(); return; }
    if (this.tscDeadline <= BigInt(this.clock.tsc())) {
      this.timerExpired();
      return;
    }
    this.timer.set(Math.ceil(Number(this.tscDeadline) * 1e9 / this.clock.tscHz));
  }

  readTscDeadline(): bigint {
    return this.timerMode() === TIMER_TSC_DEADLINE ? this.tscDeadline : 0n;
  }

  // ---- interrupt inputs ------------------------------------------------------------------------

  /**
   * An interrupt message (IOAPIC redirection entry or MSI). Returns true if this APIC accepted it,
   * which for a level-triggered IOAPIC pin sets Remote IRR.
   */
  deliver(dest: number, logical: boolean, mode: number, vector: number, levelTriggered: boolean): boolean {
    if (!this.hwEnabled || !this.matchesDestination(dest & 0xff, logical)) return false;
    vector &= 0xff;
    switch (mode & 7) {
      case DeliveryMode.Fixed:
      case DeliveryMode.LowestPriority: // the only APIC is always the lowest-priority one
        if (!this.swEnabled) return false;
        this.accept(vector, levelTriggered);
        return true;
      case DeliveryMode.Nmi:
        this.onNmi();
        return true;
      case DeliveryMode.ExtInt:
        if (!this.swEnabled) return false;
        this.extIntPending = true;
        this.onIntrChange();
        return true;
      default: // SMI, INIT, SIPI have no effect on a single CPU without SMM or AP start-up
        return false;
    }
  }

  /**
   * Could the 8259 still raise an NMI through LINT0 (unmasked, NMI mode)? LINT1 is not wired to
   * anything on this board, so its setting (Linux programs it as NMI) does not count.
   */
  picRoutesNmi(): boolean {
    const l = this.lvt[LVT_LINT0]!;
    return this.hwEnabled && (l & LVT_MASKED) === 0 && ((l >>> 8) & 7) === DeliveryMode.Nmi;
  }

  /** LINT0/LINT1 pin level. LINT0 is the PIC's INT output. */
  setLint(pin: 0 | 1, level: boolean): void {
    const rising = level && !this.lintLevel[pin];
    this.lintLevel[pin] = level;
    if (!this.hwEnabled) {
      // Without the APIC, LINT0 is the CPU's INTR pin and LINT1 its NMI pin.
      if (pin === 0) this.onIntrChange();
      else if (rising) this.onNmi();
      return;
    }
    this.serviceLint(pin, rising);
  }

  // ---- internals ------------------------------------------------------------------------------

  private get swEnabled(): boolean { return (this.svr & 0x100) !== 0; }

  private timerMode(): number { return (this.lvt[LVT_TIMER]! >>> 17) & 3; }

  private extIntRouted(): boolean {
    if (this.extIntPending) return true;
    const l = this.lvt[LVT_LINT0]!;
    return (l & LVT_MASKED) === 0 && ((l >>> 8) & 7) === DeliveryMode.ExtInt;
  }

  private reset(): void {
    this.tpr = 0;
    this.ldr = 0;
    this.dfr = 0xffffffff;
    this.svr = 0xff;
    this.icrLo = 0;
    this.icrHi = 0;
    this.lvt.fill(LVT_MASKED);
    this.lvt[LVT_LINT0] = DeliveryMode.ExtInt << 8; // virtual wire, see the file comment
    this.irr.fill(0);
    this.isr.fill(0);
    this.tmr.fill(0);
    this.esrPending = 0;
    this.esrLatched = 0;
    this.extIntPending = false;
    this.initialCount = 0;
    this.divideConfig = 0;
    this.timerRunning = false;
    this.tscDeadline = 0n;
    this.timer.cancel();
  }

  private ppr(): number {
    const isrv = Math.max(highestBit(this.isr), 0);
    return (this.tpr & 0xf0) >= (isrv & 0xf0) ? this.tpr : isrv & 0xf0;
  }

  private apr(): number {
    const isrv = Math.max(highestBit(this.isr), 0), irrv = Math.max(highestBit(this.irr), 0);
    const t = this.tpr & 0xf0;
    if (t >= (irrv & 0xf0) && t > (isrv & 0xf0)) return this.tpr;
    return Math.max(t, isrv & 0xf0, irrv & 0xf0);
  }

  private deliverableVector(): number {
    const v = highestBit(this.irr);
    return v >= 0 && (v & 0xf0) > (this.ppr() & 0xf0) ? v : -1;
  }

  private accept(vector: number, levelTriggered: boolean): void {
    if (vector < 16) { this.signalError(ESR_RECEIVE_ILLEGAL_VECTOR); return; }
    setBit(this.irr, vector);
    if (levelTriggered) setBit(this.tmr, vector); else clearBit(this.tmr, vector);
    this.onIntrChange();
  }

  private signalError(bit: number): void {
    const known = (this.esrPending & bit) !== 0;
    this.esrPending |= bit;
    // Only a new error interrupts, which also ends the recursion of an illegal error vector.
    if (!known) this.lvtInterrupt(LVT_ERROR);
  }

  /** Deliver a local (timer/error) LVT interrupt: always fixed, edge. */
  private lvtInterrupt(slot: number): void {
    const l = this.lvt[slot]!;
    if ((l & LVT_MASKED) === 0) this.accept(l & 0xff, false);
  }

  private serviceLint(pin: 0 | 1, rising: boolean): void {
    const l = this.lvt[LVT_LINT0 + pin]!;
    if (l & LVT_MASKED) return;
    switch ((l >>> 8) & 7) {
      case DeliveryMode.ExtInt:
        this.onIntrChange();
        break;
      case DeliveryMode.Nmi:
        if (rising) this.onNmi();
        break;
      case DeliveryMode.Fixed:
        if (l & LVT_LEVEL) {
          if (this.lintLevel[pin] && (l & LVT_REMOTE_IRR) === 0) {
            this.lvt[LVT_LINT0 + pin] = l | LVT_REMOTE_IRR;
            this.accept(l & 0xff, true);
          }
        } else if (rising) {
          this.accept(l & 0xff, false);
        }
        break;
      default:
        break;
    }
  }

  private eoi(): void {
    const v = highestBit(this.isr);
    if (v < 0) return;
    clearBit(this.isr, v);
    if (testBit(this.tmr, v)) this.onEoiBroadcast(v);
    for (const pin of [0, 1] as const) {
      const l = this.lvt[LVT_LINT0 + pin]!;
      if ((l & LVT_REMOTE_IRR) && (l & 0xff) === v) {
        this.lvt[LVT_LINT0 + pin] = l & ~LVT_REMOTE_IRR;
        this.serviceLint(pin, false);
      }
    }
    this.onIntrChange();
  }

  private matchesDestination(dest: number, logical: boolean): boolean {
    if (!logical) return dest === 0xff || dest === this.id;
    const ldr = this.ldr >>> 24;
    if ((this.dfr >>> 28) === 0xf) return (ldr & dest) !== 0; // flat model
    // Cluster model: high nibble selects the cluster (15 = all), low nibble the members.
    const cluster = dest >>> 4;
    return (cluster === 0xf || cluster === ldr >>> 4) && (dest & ldr & 0xf) !== 0;
  }

  private sendIpi(): void {
    const lo = this.icrLo;
    const mode = (lo >>> 8) & 7, vector = lo & 0xff;
    let toSelf: boolean;
    switch ((lo >>> 18) & 3) {
      case 0: toSelf = this.matchesDestination(this.icrHi >>> 24, (lo & 0x800) !== 0); break;
      case 1: case 2: toSelf = true; break; // self; all including self
      default: toSelf = false; // all excluding self: there is no other CPU
    }
    if (mode === DeliveryMode.Fixed || mode === DeliveryMode.LowestPriority) {
      if (vector < 16) { this.signalError(ESR_SEND_ILLEGAL_VECTOR); return; }
      if (toSelf) this.accept(vector, false);
    } else if (mode === DeliveryMode.Nmi && toSelf) {
      this.onNmi();
    }
  }

  // ---- timer ----------------------------------------------------------------------------------

  private tickNs(): number {
    const d = ((this.divideConfig & 8) >>> 1) | (this.divideConfig & 3);
    return (d === 7 ? 1 : 2 << d) * 1e9 / this.timerHz;
  }

  private currentCount(): number {
    if (!this.timerRunning) return 0;
    const ticks = Math.floor((this.clock.now() - this.timerBase) / this.tickNs());
    if (ticks < this.countAtBase) return this.countAtBase - ticks;
    if (this.timerMode() !== TIMER_PERIODIC) return 0;
    return this.initialCount - ((ticks - this.countAtBase) % this.initialCount);
  }

  private startCount(base: number, count: number): void {
    this.timerBase = base;
    this.countAtBase = count;
    this.timerRunning = true;
    this.timer.set(base + count * this.tickNs());
  }

  private stopCount(): void {
    this.timerRunning = false;
    this.timer.cancel();
  }

  private timerExpired(): void {
    if (this.timerMode() === TIMER_TSC_DEADLINE) {
      if (this.tscDeadline === 0n) return;
      this.tscDeadline = 0n;
    } else {
      if (!this.timerRunning) return;
      if (this.timerMode() === TIMER_PERIODIC) {
        // Reload at the last period boundary not after now; periods missed meanwhile coalesce.
        const period = this.initialCount * this.tickNs();
        const due = this.timerBase + this.countAtBase * this.tickNs();
        this.startCount(due + Math.floor((this.clock.now() - due) / period) * period, this.initialCount);
      } else {
        this.timerRunning = false;
      }
    }
    this.lvtInterrupt(LVT_TIMER);
  }

  // ---- registers ------------------------------------------------------------------------------

  private mmioRead(offset: number, size: AccessSize): number {
    const reg = offset & 0xff0;
    const v = (offset & 0xc) === 0 ? this.readRegister(reg) : 0;
    const shifted = v >>> ((offset & 3) * 8);
    return size === 4 ? shifted >>> 0 : shifted & (size === 2 ? 0xffff : 0xff);
  }

  private mmioWrite(offset: number, size: AccessSize, value: number): void {
    // Registers are 32 bits wide on 16-byte boundaries; other accesses are undefined and ignored.
    if (size !== 4 || (offset & 0xf) !== 0) return;
    this.writeRegister(offset & 0xff0, value >>> 0);
  }

  private readRegister(reg: number): number {
    switch (reg) {
      case 0x20: return (this.id << 24) >>> 0;
      case 0x30: return 0x00050014; // version 0x14, max LVT entry 5 (six LVTs)
      case 0x80: return this.tpr;
      case 0x90: return this.apr();
      case 0xa0: return this.ppr();
      case 0xb0: case 0xc0: return 0;
      case 0xd0: return this.ldr;
      case 0xe0: return this.dfr;
      case 0xf0: return this.svr;
      case 0x280: return this.esrLatched;
      case 0x300: return this.icrLo;
      case 0x310: return this.icrHi;
      case 0x380: return this.initialCount;
      case 0x390: return this.timerMode() === TIMER_TSC_DEADLINE ? 0 : this.currentCount();
      case 0x3e0: return this.divideConfig;
      default:
        if (reg >= 0x100 && reg < 0x280) {
          const i = (reg - 0x100) >>> 4;
          return [this.isr, this.tmr, this.irr][i >>> 3]![i & 7]!;
        }
        if (reg >= 0x320 && reg <= 0x370) return this.lvt[(reg - 0x320) >>> 4]!;
        this.signalError(ESR_ILLEGAL_REGISTER);
        return 0;
    }
  }

  private writeRegister(reg: number, v: number): void {
    switch (reg) {
      case 0x20: this.id = v >>> 24; return;
      case 0x80: this.tpr = v & 0xff; this.onIntrChange(); return;
      case 0xb0: this.eoi(); return;
      case 0xd0: this.ldr = v & 0xff000000; return;
      case 0xe0: this.dfr = (v | 0x0fffffff) >>> 0; return;
      case 0xf0:
        this.svr = v & 0x3ff;
        if (!this.swEnabled) for (let i = 0; i < LVT_COUNT; i++) this.lvt[i]! |= LVT_MASKED;
        this.onIntrChange();
        return;
      case 0x280:
        this.esrLatched = this.esrPending;
        this.esrPending = 0;
        return;
      case 0x300:
        this.icrLo = v & 0x000ccfff;
        this.sendIpi();
        return;
      case 0x310: this.icrHi = v & 0xff000000; return;
      case 0x380:
        if (this.timerMode() === TIMER_TSC_DEADLINE) return;
        this.initialCount = v;
        if (v === 0) this.stopCount();
        else this.startCount(this.clock.now(), v);
        return;
      case 0x3e0: {
        const count = this.timerMode() === TIMER_TSC_DEADLINE ? 0 : this.currentCount();
        this.divideConfig = v & 0xb;
        // The counter keeps its value and continues at the new rate.
        if (count > 0) this.startCount(this.clock.now(), count);
        return;
      }
      default:
        if (reg >= 0x320 && reg <= 0x370) { this.writeLvt((reg - 0x320) >>> 4, v); return; }
        // Read-only registers ignore writes; reserved addresses are an error.
        if (reg === 0x30 || reg === 0x90 || reg === 0xa0 || reg === 0xc0 || reg === 0x390 || (reg >= 0x100 && reg < 0x280)) return;
        this.signalError(ESR_ILLEGAL_REGISTER);
    }
  }

  private writeLvt(slot: number, v: number): void {
    const old = this.lvt[slot]!;
    let nv = (v & LVT_WRITABLE[slot]!) | (old & LVT_REMOTE_IRR);
    if (!this.swEnabled) nv |= LVT_MASKED; // cannot be unmasked while software-disabled
    this.lvt[slot] = nv;
    if (slot === LVT_TIMER) {
      const wasDeadline = ((old >>> 17) & 3) === TIMER_TSC_DEADLINE;
      if (wasDeadline !== (this.timerMode() === TIMER_TSC_DEADLINE)) {
        // SDM 10.5.4.1: switching to or from TSC-deadline mode disarms the timer.
        this.stopCount();
        this.tscDeadline = 0n;
      }
    } else if (slot === LVT_LINT0 || slot === LVT_LINT1) {
      if ((nv & LVT_LEVEL) === 0) this.lvt[slot] = nv & ~LVT_REMOTE_IRR;
      this.serviceLint(slot === LVT_LINT0 ? 0 : 1, false);
    }
  }
}
