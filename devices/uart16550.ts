/**
 * National Semiconductor PC16550D / 16550A UART (COM1 at 0x3F8, IRQ 4 by default).
 *
 * Transmission is instantaneous: a THR write goes straight to `onTransmit` (or, in loopback, to
 * the receiver), so THRE and TEMT are set again at once. Host input is queued without limit and
 * moved into the 16-byte receiver FIFO as the guest makes room, so nothing is ever overrun from
 * the host side. The character timeout (4 character times at the programmed baud rate and frame
 * format) is scheduled on the Clock.
 *
 * The interrupt output reaches the bus only while MCR OUT2 is set, as on PC serial ports; in
 * loopback the OUT pins are forced inactive (datasheet), which disconnects it too.
 */
import type { IoBus } from '../bus/io.js';
import type { Clock, Timer } from '../bus/clock.js';
import { bytewise } from './bytewise.js';

const IER_RDA = 1, IER_THRE = 2, IER_RLS = 4, IER_MS = 8;
const LSR_DR = 0x01, LSR_OE = 0x02, LSR_THRE = 0x20, LSR_TEMT = 0x40;
const LSR_ERRORS = 0x1e; // OE, PE, FE, BI
const MCR_DTR = 1, MCR_RTS = 2, MCR_OUT1 = 4, MCR_OUT2 = 8, MCR_LOOP = 16;
const MSR_CTS = 0x10, MSR_DSR = 0x20, MSR_RI = 0x40, MSR_DCD = 0x80;
/** Modem inputs when not in loopback: a connected null-modem peer (CTS, DSR, DCD asserted). */
const MSR_EXTERNAL = MSR_CTS | MSR_DSR | MSR_DCD;
const FIFO_SIZE = 16;
const TRIGGER_LEVELS = [1, 4, 8, 14] as const;
/** Baud generator input: 1.8432 MHz crystal, 16 clocks per bit. */
const BAUD_BASE = 1843200 / 16;

export interface UartOptions {
  /** I/O base (default 0x3F8). */
  base?: number;
  /** The IRQ line (IRQ 4 for COM1). */
  irq: (level: boolean) => void;
  /** Called for each byte the guest transmits (not in loopback). */
  onTransmit: (byte: number) => void;
}

export class Uart16550 {
  private readonly clock: Clock;
  private readonly irq: (level: boolean) => void;
  private readonly onTransmit: (byte: number) => void;
  private readonly timeoutTimer: Timer;

  private divisor = 12; // 9600 baud, the BIOS default
  private ier = 0;
  private lcr = 0;
  private mcr = 0;
  private lsr = LSR_THRE | LSR_TEMT;
  /** Delta bits (MSR 3:0) since the last MSR read. */
  private msrDelta = 0;
  private scr = 0;
  private fifoEnabled = false;
  private trigger = 1;
  private thrInterrupt = false;
  private timeoutInterrupt = false;
  private irqLevel = false;

  private readonly rx = new Uint8Array(FIFO_SIZE);
  private rxHead = 0;
  private rxCount = 0;
  /** Host bytes not yet in the FIFO. */
  private readonly hostQueue: Uint8Array[] = [];
  private hostOffset = 0;
  private hostPending = 0;

  constructor(io: IoBus, clock: Clock, opts: UartOptions) {
    this.clock = clock;
    this.irq = opts.irq;
    this.onTransmit = opts.onTransmit;
    this.timeoutTimer = clock.timer(() => this.characterTimeout(), 'uart-timeout');
    const base = opts.base ?? 0x3f8;
    io.register(base, 8, bytewise((p) => this.read((p - base) & 0xffff), (p, v) => this.write((p - base) & 0xffff, v)), `uart@${base.toString(16)}`);
  }

  /** Host input; buffered and fed to the guest as it reads. */
  receive(bytes: ArrayLike<number>): void {
    if (bytes.length === 0) return;
    this.hostQueue.push(Uint8Array.from(bytes));
    this.hostPending += bytes.length;
    this.refill();
    this.update();
  }

  /** Host bytes waiting for room in the receiver FIFO. */
  get pendingInput(): number { return this.hostPending; }

  // ---- receiver ----

  private get capacity(): number { return this.fifoEnabled ? FIFO_SIZE : 1; }

  /**
   * A character arrives at the receiver. Without room it is an overrun: in FIFO mode the new
   * character is lost, in 16450 mode it overwrites the holding register (datasheet, LSR bit 1).
   */
  private pushRx(byte: number): void {
    if (this.rxCount >= this.capacity) {
      this.lsr |= LSR_OE;
      if (!this.fifoEnabled) this.rx[this.rxHead] = byte;
      return;
    }
    this.rx[(this.rxHead + this.rxCount) % FIFO_SIZE] = byte;
    this.rxCount++;
    this.rxActivity();
  }

  private refill(): void {
    if (this.mcr & MCR_LOOP) return; // serial input is disconnected in loopback
    while (this.hostPending > 0 && this.rxCount < this.capacity) {
      const chunk = this.hostQueue[0]!;
      this.pushRx(chunk[this.hostOffset++]!);
      this.hostPending--;
      if (this.hostOffset === chunk.length) { this.hostQueue.shift(); this.hostOffset = 0; }
    }
  }

  private clearRx(): void {
    this.rxCount = 0;
    this.timeoutInterrupt = false;
    this.timeoutTimer.cancel();
  }

  /** A character entered or left the FIFO: restart the timeout measurement. */
  private rxActivity(): void {
    this.timeoutInterrupt = false;
    if (this.fifoEnabled && this.rxCount > 0) this.timeoutTimer.set(this.clock.now() + 4 * this.characterNs());
    else this.timeoutTimer.cancel();
  }

  private characterNs(): number {
    const dataBits = 5 + (this.lcr & 3);
    const stopBits = this.lcr & 4 ? (dataBits === 5 ? 1.5 : 2) : 1;
    const bits = 1 + dataBits + (this.lcr & 8 ? 1 : 0) + stopBits;
    // A divisor of 0 is not a valid rate; the 16-bit counter then wraps as if it were 65536.
    return bits * (this.divisor || 0x10000) * 1e9 / BAUD_BASE;
  }

  private characterTimeout(): void {
    if (this.fifoEnabled && this.rxCount > 0) {
      this.timeoutInterrupt = true;
      this.update();
    }
  }

  private readRbr(): number {
    if (this.rxCount === 0) return this.rx[(this.rxHead + FIFO_SIZE - 1) % FIFO_SIZE]!; // last byte again
    const v = this.rx[this.rxHead]!;
    this.rxHead = (this.rxHead + 1) % FIFO_SIZE;
    this.rxCount--;
    this.refill();
    this.rxActivity();
    return v;
  }

  // ---- modem lines ----

  private modemInputs(): number {
    const m = this.mcr;
    if (!(m & MCR_LOOP)) return MSR_EXTERNAL;
    // Loopback: RTS -> CTS, DTR -> DSR, OUT1 -> RI, OUT2 -> DCD.
    return (m & MCR_RTS ? MSR_CTS : 0) | (m & MCR_DTR ? MSR_DSR : 0) | (m & MCR_OUT1 ? MSR_RI : 0) | (m & MCR_OUT2 ? MSR_DCD : 0);
  }

  private writeMcr(v: number): void {
    const before = this.modemInputs();
    const wasLoop = (this.mcr & MCR_LOOP) !== 0;
    this.mcr = v & 0x1f;
    const after = this.modemInputs(), changed = before ^ after;
    if (changed & MSR_CTS) this.msrDelta |= 1;
    if (changed & MSR_DSR) this.msrDelta |= 2;
    if ((before & MSR_RI) && !(after & MSR_RI)) this.msrDelta |= 4; // trailing edge of RI
    if (changed & MSR_DCD) this.msrDelta |= 8;
    if (wasLoop && !(this.mcr & MCR_LOOP)) this.refill();
  }

  // ---- interrupts ----

  /** IIR interrupt ID bits (3:0) by priority; 1 = none pending. */
  private interruptId(): number {
    if ((this.ier & IER_RLS) && (this.lsr & LSR_ERRORS)) return 0x06;
    if (this.ier & IER_RDA) {
      if (this.rxCount >= (this.fifoEnabled ? this.trigger : 1)) return 0x04;
      if (this.timeoutInterrupt) return 0x0c;
    }
    if ((this.ier & IER_THRE) && this.thrInterrupt) return 0x02;
    if ((this.ier & IER_MS) && this.msrDelta) return 0x00;
    return 0x01;
  }

  private update(): void {
    const gated = (this.mcr & (MCR_OUT2 | MCR_LOOP)) === MCR_OUT2;
    const level = gated && this.interruptId() !== 0x01;
    if (level !== this.irqLevel) { this.irqLevel = level; this.irq(level); }
  }

  // ---- registers ----

  private read(reg: number): number {
    const dlab = (this.lcr & 0x80) !== 0;
    let v: number;
    switch (reg) {
      case 0: v = dlab ? this.divisor & 0xff : this.readRbr(); break;
      case 1: v = dlab ? this.divisor >>> 8 : this.ier; break;
      case 2: {
        const id = this.interruptId();
        if (id === 0x02) this.thrInterrupt = false; // reading IIR acknowledges THRE
        v = id | (this.fifoEnabled ? 0xc0 : 0);
        break;
      }
      case 3: v = this.lcr; break;
      case 4: v = this.mcr; break;
      case 5:
        v = this.lsr | (this.rxCount > 0 ? LSR_DR : 0);
        this.lsr &= ~LSR_ERRORS; // error bits clear when read
        break;
      case 6:
        v = this.modemInputs() | this.msrDelta;
        this.msrDelta = 0;
        break;
      case 7: v = this.scr; break;
      default: return 0xff;
    }
    this.update();
    return v;
  }

  private write(reg: number, v: number): void {
    const dlab = (this.lcr & 0x80) !== 0;
    switch (reg) {
      case 0:
        if (dlab) { this.divisor = (this.divisor & 0xff00) | v; break; }
        if (this.mcr & MCR_LOOP) this.pushRx(v);
        else this.onTransmit(v);
        // The character leaves at once: THR is empty again (LSR THRE/TEMT stay set) and THRE
        // interrupts anew.
        this.thrInterrupt = true;
        break;
      case 1:
        if (dlab) { this.divisor = (this.divisor & 0xff) | (v << 8); break; }
        // Enabling ETBEI with THR empty raises THRE at once (Linux's startup test relies on it).
        if ((v & IER_THRE) && !(this.ier & IER_THRE) && (this.lsr & LSR_THRE)) this.thrInterrupt = true;
        this.ier = v & 0x0f;
        break;
      case 2: { // FCR
        const enable = (v & 1) !== 0;
        if (enable !== this.fifoEnabled) { this.clearRx(); this.fifoEnabled = enable; }
        if (enable) { // the other bits are only written with FCR0 set
          if (v & 2) this.clearRx();
          this.trigger = TRIGGER_LEVELS[v >>> 6]!;
        }
        this.refill();
        break;
      }
      case 3: this.lcr = v; break;
      case 4: this.writeMcr(v); break;
      case 7: this.scr = v; break;
      default: break; // LSR and MSR are read-only here
    }
    this.update();
  }
}
