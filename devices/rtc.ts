/**
 * Motorola MC146818 real-time clock and CMOS RAM at 0x70 (index, bit 7 = NMI disable) and 0x71.
 *
 * Time is kept as Unix seconds: `epochSeconds` at guest time 0 plus guest clock time, so a fixed
 * epoch gives deterministic output. Registers show it in BCD or binary and 12/24-hour form per
 * register B. The 1 Hz update cycle is scheduled on the Clock; the periodic interrupt only while
 * PIE is set (otherwise PF is derived from time when register C is read).
 */
import type { IoBus } from '../bus/io.js';
import type { Clock, Timer } from '../bus/clock.js';
import { bytewise } from './bytewise.js';

const REG_A = 0x0a, REG_B = 0x0b, REG_C = 0x0c, REG_D = 0x0d;
const B_SET = 0x80, B_PIE = 0x40, B_AIE = 0x20, B_UIE = 0x10, B_DM_BINARY = 0x04, B_24H = 0x02;
const C_IRQF = 0x80, C_PF = 0x40, C_AF = 0x20, C_UF = 0x10;
const A_UIP = 0x80;
/** UIP is high from 244 us before the update cycle through its 1984 us. */
const UIP_NS = 244_000 + 1_984_000;

const toBcd = (v: number): number => ((Math.floor(v / 10) % 10) << 4) | (v % 10);
const fromBcd = (v: number): number => (v >>> 4) * 10 + (v & 15);

/** Days since 1970-01-01 of a proleptic Gregorian date; month and day may be out of range. */
function daysFromCivil(y: number, m: number, d: number): number {
  y += Math.floor((m - 1) / 12);
  m = (((m - 1) % 12) + 12) % 12 + 1;
  if (m <= 2) y--;
  const era = Math.floor(y / 400), yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  return era * 146097 + yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy - 719468;
}

function civilFromDays(z: number): { year: number; month: number; day: number } {
  z += 719468;
  const era = Math.floor(z / 146097), doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const month = mp < 10 ? mp + 3 : mp - 9;
  return { year: yoe + era * 400 + (month <= 2 ? 1 : 0), month, day: doy - Math.floor((153 * mp + 2) / 5) + 1 };
}

interface DateTime { year: number; month: number; day: number; hour: number; minute: number; second: number }

function breakDown(t: number): DateTime {
  const days = Math.floor(t / 86400), s = t - days * 86400;
  return { ...civilFromDays(days), hour: Math.floor(s / 3600), minute: Math.floor(s / 60) % 60, second: s % 60 };
}
const compose = (d: DateTime): number => daysFromCivil(d.year, d.month, d.day) * 86400 + d.hour * 3600 + d.minute * 60 + d.second;

export interface RtcOptions {
  /** ISA IRQ 8. */
  irq: (level: boolean) => void;
  /** Unix time (seconds) the clock shows at guest time 0. */
  epochSeconds: number;
  /** Guest RAM in bytes, for the CMOS memory-size bytes. */
  ramSize: number;
}

export class Rtc {
  private readonly clock: Clock;
  private readonly irq: (level: boolean) => void;
  private readonly cmos = new Uint8Array(128);
  private index = 0;
  private nmiDisabled = false;

  // Time base: while ticking, the clock shows secondsAtBase + whole seconds since baseNs.
  private secondsAtBase: number;
  private baseNs = 0;
  /** Start of the divider chain (periodic interrupt phase). */
  private dividerNs = 0;
  /** Register C read (or reset) time, for PF derived from time. */
  private pfCheckedNs = 0;
  /** Day-of-week register offset from the computed weekday (the guest may set it freely). */
  private dowOffset = 0;
  private irqLevel = false;
  private readonly updateTimer: Timer;
  private readonly periodicTimer: Timer;

  constructor(io: IoBus, clock: Clock, opts: RtcOptions) {
    this.clock = clock;
    this.irq = opts.irq;
    this.secondsAtBase = Math.floor(opts.epochSeconds);
    this.baseNs = -Math.round((opts.epochSeconds - this.secondsAtBase) * 1e9); // keep the epoch's sub-second phase
    this.updateTimer = clock.timer(() => this.updateEnded(), 'rtc-update');
    this.periodicTimer = clock.timer(() => this.periodicTick(), 'rtc-periodic');
    this.cmos[REG_A] = 0x26; // 32.768 kHz time base, 1024 Hz periodic rate (firmware default)
    this.cmos[REG_B] = B_24H; // BCD, 24-hour
    this.cmos[REG_D] = 0x80; // VRT: valid RAM and time
    this.fillCmos(opts.ramSize);
    this.armUpdate();
    io.register(0x70, 2, bytewise((p) => this.readPort(p), (p, v) => this.writePort(p, v)), 'rtc');
  }

  /** Port 0x70 bit 7: NMI disabled. */
  get nmiMasked(): boolean { return this.nmiDisabled; }

  private fillCmos(ramSize: number): void {
    const c = this.cmos;
    const put16 = (at: number, v: number) => { c[at] = v & 0xff; c[at + 1] = v >>> 8; };
    // RAM beyond the 3 GiB PCI window start would be remapped above 4 GiB.
    const below4g = Math.min(ramSize, 0xc0000000), above4g = Math.max(0, ramSize - 0xc0000000);
    put16(0x15, 640); // base memory, KiB
    const ext = Math.min(0xffff, Math.max(0, below4g - 0x100000) / 1024);
    put16(0x17, ext); // extended memory above 1 MiB, KiB
    put16(0x30, ext);
    put16(0x34, Math.min(0xffff, Math.max(0, below4g - 0x1000000) / 65536)); // above 16 MiB, 64 KiB units
    const high = Math.floor(above4g / 65536); // above 4 GiB, 64 KiB units, 24 bits
    c[0x5b] = high & 0xff; c[0x5c] = (high >>> 8) & 0xff; c[0x5d] = (high >>> 16) & 0xff;
    c[0x32] = toBcd(Math.floor(breakDown(this.secondsAtBase).year / 100) % 100);
    let sum = 0;
    for (let i = 0x10; i <= 0x2d; i++) sum += c[i]!;
    c[0x2e] = (sum >>> 8) & 0xff; c[0x2f] = sum & 0xff; // AT checksum, big-endian
  }

  // ---- time ----

  /** Divider in normal operation (DV 000-010) and updates not inhibited by SET. */
  private get dividerRunning(): boolean { return (this.cmos[REG_A]! & 0x70) <= 0x20; }
  private get ticking(): boolean { return this.dividerRunning && (this.cmos[REG_B]! & B_SET) === 0; }

  private seconds(): number {
    if (!this.ticking) return this.secondsAtBase;
    return this.secondsAtBase + Math.floor((this.clock.now() - this.baseNs) / 1e9);
  }

  /** Call around a change of `ticking`: freezes or restarts the seconds count. */
  private retime(wasTicking: boolean, resumeOffsetNs: number): void {
    const now = this.clock.now();
    if (wasTicking && !this.ticking) {
      this.secondsAtBase += Math.floor((now - this.baseNs) / 1e9);
    } else if (!wasTicking && this.ticking) {
      this.baseNs = now - resumeOffsetNs;
    }
    this.armUpdate();
  }

  private armUpdate(): void {
    if (!this.ticking) { this.updateTimer.cancel(); return; }
    const now = this.clock.now();
    this.updateTimer.set(this.baseNs + (Math.floor((now - this.baseNs) / 1e9) + 1) * 1e9);
  }

  private updateEnded(): void {
    this.armUpdate();
    let flags = C_UF;
    const c = this.cmos;
    const match = (alarm: number, reg: number) => (alarm & 0xc0) === 0xc0 || alarm === this.readTimeRegister(reg);
    if (match(c[1]!, 0) && match(c[3]!, 2) && match(c[5]!, 4)) flags |= C_AF;
    this.raise(flags);
  }

  private periodNs(): number {
    const rs = this.cmos[REG_A]! & 15;
    if (rs === 0 || !this.dividerRunning) return 0;
    // 32.768 kHz >> (RS-1); RS 1 and 2 give the same rates as 8 and 9.
    return (1 << ((rs < 3 ? rs + 7 : rs) - 1)) * 1e9 / 32768;
  }

  private periodIndex(ns: number, period: number): number { return Math.floor((ns - this.dividerNs) / period); }

  private armPeriodic(): void {
    const period = this.periodNs();
    if (!period || (this.cmos[REG_B]! & B_PIE) === 0) { this.periodicTimer.cancel(); return; }
    this.periodicTimer.set(this.dividerNs + (this.periodIndex(this.clock.now(), period) + 1) * period);
  }

  private periodicTick(): void {
    this.armPeriodic();
    this.raise(C_PF);
  }

  private raise(flags: number): void {
    const c = this.cmos;
    c[REG_C] = c[REG_C]! | flags;
    this.updateIrq();
  }

  private updateIrq(): void {
    const c = this.cmos;
    const enabled = c[REG_B]! & (B_PIE | B_AIE | B_UIE); // same bit positions as PF/AF/UF
    const irqf = (c[REG_C]! & enabled & (C_PF | C_AF | C_UF)) !== 0;
    c[REG_C] = irqf ? c[REG_C]! | C_IRQF : c[REG_C]! & ~C_IRQF;
    if (irqf !== this.irqLevel) { this.irqLevel = irqf; this.irq(irqf); }
  }

  // ---- registers ----

  private encode(v: number): number { return this.cmos[REG_B]! & B_DM_BINARY ? v : toBcd(v); }
  private decode(v: number): number { return this.cmos[REG_B]! & B_DM_BINARY ? v : fromBcd(v); }

  private readTimeRegister(reg: number): number {
    const t = this.seconds();
    const d = breakDown(t);
    switch (reg) {
      case 0: return this.encode(d.second);
      case 2: return this.encode(d.minute);
      case 4: {
        if (this.cmos[REG_B]! & B_24H) return this.encode(d.hour);
        return this.encode(d.hour % 12 || 12) | (d.hour >= 12 ? 0x80 : 0);
      }
      case 6: return this.encode(((Math.floor(t / 86400) + 4 + this.dowOffset) % 7 + 7) % 7 + 1); // Sunday = 1
      case 7: return this.encode(d.day);
      case 8: return this.encode(d.month);
      default: return this.encode(d.year % 100);
    }
  }

  private writeTimeRegister(reg: number, v: number): void {
    const t = this.seconds();
    if (reg === 6) {
      const computed = (Math.floor(t / 86400) + 4) % 7 + 1;
      this.dowOffset = (this.decode(v) - computed) % 7;
      return;
    }
    const d = breakDown(t);
    switch (reg) {
      case 0: d.second = this.decode(v); break;
      case 2: d.minute = this.decode(v); break;
      case 4:
        d.hour = this.cmos[REG_B]! & B_24H ? this.decode(v) : (this.decode(v & 0x7f) % 12) + (v & 0x80 ? 12 : 0);
        break;
      case 7: d.day = this.decode(v); break;
      case 8: d.month = this.decode(v); break;
      default: d.year = Math.floor(d.year / 100) * 100 + this.decode(v);
    }
    // Out-of-range values roll over into the next field; the sub-second phase is kept.
    this.secondsAtBase += compose(d) - t;
  }

  private readRegister(i: number): number {
    const c = this.cmos;
    switch (i) {
      case 0: case 2: case 4: case 6: case 7: case 8: case 9:
        return this.readTimeRegister(i);
      case REG_A: {
        const phase = (((this.clock.now() - this.baseNs) % 1e9) + 1e9) % 1e9;
        return (c[REG_A]! & 0x7f) | (this.ticking && phase >= 1e9 - UIP_NS ? A_UIP : 0);
      }
      case REG_C: {
        const period = this.periodNs(), now = this.clock.now();
        if (period && this.periodIndex(now, period) > this.periodIndex(this.pfCheckedNs, period)) c[REG_C] = c[REG_C]! | C_PF;
        this.pfCheckedNs = now;
        const v = c[REG_C]!;
        c[REG_C] = 0; // reading clears every flag and releases IRQ 8
        this.updateIrq();
        return v;
      }
      default:
        return c[i]!;
    }
  }

  private writeRegister(i: number, v: number): void {
    const c = this.cmos;
    switch (i) {
      case 0: case 2: case 4: case 6: case 7: case 8: case 9:
        this.writeTimeRegister(i, v);
        return;
      case REG_A: {
        const was = this.ticking, wasRunning = this.dividerRunning;
        c[REG_A] = v & 0x7f;
        if (!wasRunning && this.dividerRunning) this.dividerNs = this.clock.now();
        // Leaving divider reset: the first update comes half a second later (datasheet).
        this.retime(was, 500_000_000);
        this.armPeriodic();
        return;
      }
      case REG_B: {
        const was = this.ticking;
        if (v & B_SET) v &= ~B_UIE; // SET clears UIE
        c[REG_B] = v;
        this.retime(was, 0);
        this.armPeriodic();
        this.updateIrq();
        return;
      }
      case REG_C: case REG_D:
        return; // read-only
      default:
        c[i] = v; // alarm registers and CMOS RAM
    }
  }

  private readPort(port: number): number {
    if (port === 0x71) return this.readRegister(this.index);
    return 0xff; // the index register is write-only on the AT
  }

  private writePort(port: number, v: number): void {
    if (port === 0x70) {
      this.index = v & 0x7f;
      this.nmiDisabled = (v & 0x80) !== 0;
    } else if (port === 0x71) {
      this.writeRegister(this.index, v);
    }
  }
}
