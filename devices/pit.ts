/**
 * Intel 8254 programmable interval timer at 0x40-0x43, input clock 1.193182 MHz, plus port 0x61
 * (channel 2 gate, speaker enable, OUT2, refresh toggle).
 *
 * A counter's value and OUT level are computed from the clock; nothing ticks. Channel 0's OUT
 * drives IRQ 0, and its level changes are scheduled on the Clock.
 */
import type { IoBus } from '../bus/io.js';
import type { Clock, Timer } from '../bus/clock.js';
import { bytewise } from './bytewise.js';

export const PIT_HZ = 1193182;

/** Whole PIT clocks elapsed at guest time `ns` (exact for any realistic uptime). */
function ticksAt(ns: number): number {
  const q = Math.floor(ns / 1e9);
  return q * PIT_HZ + Math.floor((ns - q * 1e9) * PIT_HZ / 1e9);
}

/** Earliest guest time at which `ticksAt` reaches `tick`. */
function timeOfTick(tick: number): number {
  const q = Math.floor(tick / PIT_HZ);
  let ns = q * 1e9 + Math.ceil((tick - q * PIT_HZ) * 1e9 / PIT_HZ);
  while (ticksAt(ns) < tick) ns++;
  return ns;
}

const fromBcd = (v: number): number => (((v >>> 12) & 15) * 1000 + ((v >>> 8) & 15) * 100 + ((v >>> 4) & 15) * 10 + (v & 15)) % 10000;
const toBcd = (v: number): number => ((Math.floor(v / 1000) % 10) << 12) | ((Math.floor(v / 100) % 10) << 8) | ((Math.floor(v / 10) % 10) << 4) | (v % 10);

class Channel {
  mode = 0;
  /** Access mode: 1 LSB, 2 MSB, 3 LSB then MSB. */
  rw = 3;
  bcd = false;
  gate: boolean;
  /** Last count written (1..65536, or 1..10000 in BCD); loaded at the next (re)start. */
  reload = 0x10000;
  /** Count the current cycle runs with. */
  n = 0x10000;
  counting = false;
  /** A count was written since the last control word. */
  hasCount = false;
  /** Tick at which the counting element is (was) loaded with `n`. */
  loadTick = 0;
  /** OUT, and the counter value shown, while not counting or before `loadTick`. */
  idleOut = true;
  frozenCount = 0;
  /** Mode 0/4 stopped by the gate: elapsed ticks at the stop. */
  pausedE = 0;
  /** Mode 2/3: a count written while counting takes over at this period boundary. */
  pendingTick = Infinity;
  nullCountUntil = Infinity;
  // Register access state.
  writeMsbNext = false;
  lsbWritten = 0;
  readMsbNext = false;
  latch: number[] = [];
  status: number | null = null;

  constructor(gate: boolean, private readonly onOut: ((level: boolean) => void) | null, private readonly timer: Timer | null) {
    this.gate = gate;
  }

  private get modulus(): number { return this.bcd ? 10000 : 0x10000; }

  /** Apply a pending mode 2/3 reload that is due by `tick`. */
  sync(tick: number): void {
    if (tick >= this.pendingTick) {
      this.loadTick = this.pendingTick;
      this.n = this.reload;
      this.pendingTick = Infinity;
    }
  }

  /** Counts 1 are illegal in modes 2 and 3 (datasheet minimum 2); they behave as 2. */
  private get cycle(): number { return (this.mode === 2 || this.mode === 3) && this.n < 2 ? 2 : this.n; }

  private outAtE(e: number): boolean {
    const n = this.cycle;
    switch (this.mode) {
      case 0: case 1: return e >= n;
      case 2: return e % n !== n - 1;
      case 3: return e % n < ((n + 1) >>> 1);
      default: return e !== n; // 4, 5: strobe
    }
  }

  /** Next e' > e at which OUT changes (Infinity if never). */
  private nextChangeE(e: number): number {
    const n = this.cycle;
    switch (this.mode) {
      case 0: case 1: return e < n ? n : Infinity;
      case 2: { const p = e % n; return p < n - 1 ? e + (n - 1 - p) : e + 1; }
      case 3: { const p = e % n, hi = (n + 1) >>> 1; return p < hi ? e + (hi - p) : e + (n - p); }
      default: return e < n ? n : e === n ? n + 1 : Infinity;
    }
  }

  private countAtE(e: number): number {
    const n = this.cycle, m = this.modulus;
    let c: number;
    if (this.mode === 2) {
      c = n - (e % n);
    } else if (this.mode === 3) {
      const p = e % n, hi = (n + 1) >>> 1;
      const base = n & 1 ? n - 1 : n; // odd counts run with count-1 (datasheet)
      c = p < hi ? base - 2 * p : base - 2 * (p - hi);
    } else {
      c = n - e;
    }
    return ((c % m) + m) % m;
  }

  out(tick: number): boolean {
    this.sync(tick);
    return !this.counting || tick < this.loadTick ? this.idleOut : this.outAtE(tick - this.loadTick);
  }

  count(tick: number): number {
    this.sync(tick);
    return !this.counting || tick < this.loadTick ? this.frozenCount : this.countAtE(tick - this.loadTick);
  }

  /** First tick after `tick` at which OUT may change. */
  nextChange(tick: number): number {
    this.sync(tick);
    if (!this.counting) return Infinity;
    let next: number;
    if (tick < this.loadTick) {
      next = this.outAtE(0) !== this.idleOut ? this.loadTick : this.loadTick + this.nextChangeE(0);
    } else {
      next = this.loadTick + this.nextChangeE(tick - this.loadTick);
    }
    return Math.min(next, this.pendingTick);
  }

  // ---- programming ----

  writeControl(v: number, tick: number): void {
    this.frozenCount = this.count(tick);
    this.rw = (v >>> 4) & 3;
    this.mode = (v >>> 1) & 7;
    if (this.mode > 5) this.mode -= 4; // x10 and x11 are modes 2 and 3
    this.bcd = (v & 1) !== 0;
    this.counting = false;
    this.hasCount = false;
    this.pendingTick = Infinity;
    this.idleOut = this.mode !== 0; // control word: OUT low in mode 0, high otherwise
    this.nullCountUntil = Infinity;
    this.writeMsbNext = false;
    this.readMsbNext = false;
    this.latch = [];
    this.status = null;
  }

  writeCount(byte: number, tick: number): void {
    let value: number;
    if (this.rw === 1) {
      value = byte;
    } else if (this.rw === 2) {
      value = byte << 8;
    } else if (!this.writeMsbNext) {
      this.lsbWritten = byte;
      this.writeMsbNext = true;
      if (this.mode === 0) { // mode 0: the first byte stops the count, OUT low
        this.stop(tick, false);
        this.hasCount = false;
      }
      return;
    } else {
      value = this.lsbWritten | (byte << 8);
      this.writeMsbNext = false;
    }
    if (this.bcd) value = fromBcd(value);
    this.reload = value === 0 ? this.modulus : value;
    this.hasCount = true;
    this.loadCount(tick);
  }

  private loadCount(tick: number): void {
    switch (this.mode) {
      case 0: case 4:
        this.start(tick + 1);
        if (!this.gate) this.stop(tick + 1, this.mode !== 0);
        break;
      case 2: case 3:
        if (!this.gate) { this.nullCountUntil = Infinity; break; } // loads when the gate rises
        if (this.counting && tick >= this.loadTick) {
          // During counting the new count takes over at the end of the current period.
          const e = tick + 1 - this.loadTick, n = this.cycle;
          this.pendingTick = this.loadTick + Math.ceil(e / n) * n;
          this.nullCountUntil = this.pendingTick;
        } else {
          this.start(tick + 1);
        }
        break;
      default: // 1, 5: loaded by the next gate trigger
        this.nullCountUntil = Infinity;
    }
  }

  private start(loadTick: number): void {
    this.n = this.reload;
    this.loadTick = loadTick;
    this.pausedE = 0;
    this.counting = true;
    this.pendingTick = Infinity;
    this.nullCountUntil = loadTick;
  }

  /** Stop counting at `tick`, holding OUT at `out`. */
  private stop(tick: number, out: boolean): void {
    this.frozenCount = this.count(tick);
    this.counting = false;
    this.idleOut = out;
  }

  setGate(gate: boolean, tick: number): void {
    if (gate === this.gate) return;
    this.gate = gate;
    this.sync(tick);
    if (!this.hasCount) return;
    switch (this.mode) {
      case 0: case 4: // the gate suspends counting
        if (!gate && this.counting) {
          const e = Math.max(0, tick - this.loadTick);
          this.stop(tick, this.out(tick));
          this.pausedE = e;
        } else if (gate && !this.counting) {
          this.counting = true;
          this.loadTick = tick + 1 - this.pausedE;
        }
        break;
      case 2: case 3:
        if (!gate) this.stop(tick, true); // OUT high at once
        else this.start(tick + 1); // a rising gate reloads
        break;
      default: // 1, 5: a rising gate (re)triggers
        if (gate) { this.idleOut = true; this.start(tick + 1); }
    }
  }

  // ---- reading ----

  latchCount(tick: number): void {
    if (this.latch.length) return; // a second latch before the read is ignored
    let c = this.count(tick);
    if (this.bcd) c = toBcd(c);
    this.latch = this.rw === 1 ? [c & 0xff] : this.rw === 2 ? [c >>> 8] : [c & 0xff, c >>> 8];
  }

  latchStatus(tick: number): void {
    if (this.status !== null) return;
    const nullCount = tick < this.nullCountUntil;
    this.status = (this.out(tick) ? 0x80 : 0) | (nullCount ? 0x40 : 0) | (this.rw << 4) | (this.mode << 1) | (this.bcd ? 1 : 0);
  }

  read(tick: number): number {
    if (this.status !== null) { const s = this.status; this.status = null; return s; }
    if (this.latch.length) return this.latch.shift()!;
    let c = this.count(tick);
    if (this.bcd) c = toBcd(c);
    if (this.rw === 1) return c & 0xff;
    if (this.rw === 2) return c >>> 8;
    this.readMsbNext = !this.readMsbNext;
    return this.readMsbNext ? c & 0xff : c >>> 8;
  }

  // ---- OUT edge scheduling (channel 0) ----

  /** Level last driven on the output line. */
  private driven = false;
  /** Tick the timer was armed for. */
  private armedTick = Infinity;

  /** Re-evaluate OUT at `tick` and arm the timer for the next change. */
  update(tick: number): void {
    if (!this.onOut || !this.timer) return;
    this.drive(this.out(tick));
    this.arm(tick);
  }

  onTimer(tick: number): void {
    // Replay up to two missed transitions so a late timer still shows a short pulse as an edge.
    let t = this.armedTick;
    for (let i = 0; i < 2 && t <= tick; i++) {
      this.drive(this.out(t));
      t = this.nextChange(t);
    }
    this.update(tick);
  }

  private drive(level: boolean): void {
    if (level !== this.driven) { this.driven = level; this.onOut!(level); }
  }

  private arm(tick: number): void {
    this.armedTick = this.nextChange(tick);
    if (this.armedTick === Infinity) this.timer!.cancel();
    else this.timer!.set(timeOfTick(this.armedTick));
  }

  /** Power-on state as QEMU and PC firmware leave it: mode 3, count 65536, counting if gated on. */
  powerOn(): void {
    this.mode = 3;
    this.reload = 0x10000;
    this.hasCount = true;
    if (this.gate) this.start(0);
  }
}

export interface PitOptions {
  /** Channel 0 OUT: ISA IRQ 0. */
  irq0: (level: boolean) => void;
}

export class Pit {
  private readonly clock: Clock;
  private readonly channels: Channel[];
  /** Port 0x61 bits 0-3 as written (gate 2, speaker data, parity/IOCHK check disables). */
  private portB = 0;

  constructor(io: IoBus, clock: Clock, opts: PitOptions) {
    this.clock = clock;
    const timer = clock.timer(() => this.channels[0]!.onTimer(this.tick()), 'pit-ch0');
    // Gates 0 and 1 are tied high on the PC; gate 2 is port 0x61 bit 0.
    this.channels = [new Channel(true, opts.irq0, timer), new Channel(true, null, null), new Channel(false, null, null)];
    for (const ch of this.channels) ch.powerOn();
    this.channels[0]!.update(this.tick());
    const handler = bytewise((p) => this.readPort(p), (p, v) => this.writePort(p, v));
    io.register(0x40, 4, handler, 'pit');
    io.register(0x61, 1, handler, 'port61');
  }

  /** Channel 2 OUT (port 0x61 bit 5), e.g. for a speaker model. */
  get out2(): boolean { return this.channels[2]!.out(this.tick()); }

  /** Port 0x61 bit 1: speaker data enable. */
  get speakerEnabled(): boolean { return (this.portB & 2) !== 0; }

  private tick(): number { return ticksAt(this.clock.now()); }

  private readPort(port: number): number {
    const tick = this.tick();
    if (port >= 0x40 && port <= 0x42) return this.channels[port - 0x40]!.read(tick);
    if (port === 0x61) {
      // Bit 4 toggles with each DRAM refresh request (every 15.085 us, from channel 1 on the AT).
      const refresh = Math.floor(this.clock.now() / 15085) & 1;
      return (this.portB & 0x0f) | (refresh << 4) | (this.channels[2]!.out(tick) ? 0x20 : 0);
    }
    return 0xff; // 0x43 is write-only
  }

  private writePort(port: number, v: number): void {
    const tick = this.tick();
    if (port >= 0x40 && port <= 0x42) {
      this.channels[port - 0x40]!.writeCount(v, tick);
      this.channels[port - 0x40]!.update(tick);
    } else if (port === 0x43) {
      this.writeControl(v, tick);
    } else if (port === 0x61) {
      this.portB = v & 0x0f;
      this.channels[2]!.setGate((v & 1) !== 0, tick);
    }
  }

  private writeControl(v: number, tick: number): void {
    const sc = v >>> 6;
    if (sc === 3) { // read-back: bit 5 = 0 latches count, bit 4 = 0 latches status, bits 1-3 select
      for (let i = 0; i < 3; i++) {
        if ((v & (2 << i)) === 0) continue;
        const ch = this.channels[i]!;
        if ((v & 0x20) === 0) ch.latchCount(tick);
        if ((v & 0x10) === 0) ch.latchStatus(tick);
      }
      return;
    }
    const ch = this.channels[sc]!;
    if (((v >>> 4) & 3) === 0) { ch.latchCount(tick); return; }
    ch.writeControl(v, tick);
    ch.update(tick);
  }
}
