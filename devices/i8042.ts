/**
 * Intel 8042 keyboard controller at 0x60 (data) / 0x64 (status, command), with a minimal PS/2
 * keyboard on the first port and an auxiliary port with no device attached.
 *
 * The controller answers at once (IBF is never seen set). Bytes from the devices wait while their
 * port is disabled in the command byte; controller replies always go out. Keyboard replies are
 * passed through untranslated, and host scancodes (`keyboardInput`) are taken as the guest should
 * see them.
 */
import type { IoBus } from '../bus/io.js';
import type { A20Gate } from './a20.js';
import { bytewise } from './bytewise.js';

const ST_OBF = 0x01, ST_SYS = 0x04, ST_CMD = 0x08, ST_UNLOCKED = 0x10, ST_AUXB = 0x20, ST_TIMEOUT = 0x40;
const CB_KBD_INT = 0x01, CB_AUX_INT = 0x02, CB_SYS = 0x04, CB_KBD_DISABLED = 0x10, CB_AUX_DISABLED = 0x20;
const OUT_RESET = 0x01, OUT_A20 = 0x02;
const ACK = 0xfa, RESEND = 0xfe;

export interface I8042Options {
  /** ISA IRQ 1 (keyboard output buffer full). */
  irq1: (level: boolean) => void;
  /** ISA IRQ 12 (auxiliary output buffer full). */
  irq12: (level: boolean) => void;
  /** The guest pulsed the CPU reset line (command 0xFE, or output port bit 0 cleared). */
  onReset: () => void;
  a20?: A20Gate;
}

interface OutByte { byte: number; aux: boolean; timeout: boolean }

export class I8042 {
  private readonly opts: I8042Options;
  /** Controller RAM; byte 0 is the command byte (translation, system flag, keyboard interrupt). */
  private readonly ram = new Uint8Array(32);
  /** Output port: reset line high, A20 on, the rest as QEMU reports it. */
  private outputPort = 0xcf;
  private lastWasCommand = false;
  /** Controller command waiting for its data byte. */
  private pendingCommand = 0;
  private readonly controllerQueue: OutByte[] = [];
  private readonly keyboardQueue: number[] = [];
  private out: OutByte | null = null;
  private lastRead = 0;
  private irq1 = false;
  private irq12 = false;

  // Keyboard device.
  private scanning = true;
  /** Keyboard command waiting for its parameter (0xED, 0xF0, 0xF3), or 0. */
  private keyboardPending = 0;

  constructor(io: IoBus, opts: I8042Options) {
    this.opts = opts;
    this.ram[0] = 0x40 | CB_SYS | CB_KBD_INT; // what firmware leaves after POST: translate on
    const handler = bytewise((p) => this.readPort(p), (p, v) => this.writePort(p, v));
    io.register(0x60, 1, handler, 'i8042-data');
    io.register(0x64, 1, handler, 'i8042-cmd');
  }

  /** Host key bytes (scancodes as the guest will read them). Dropped while scanning is off. */
  keyboardInput(bytes: ArrayLike<number>): void {
    if (!this.scanning) return;
    for (let i = 0; i < bytes.length; i++) this.keyboardQueue.push(bytes[i]! & 0xff);
    this.pump();
  }

  private get commandByte(): number { return this.ram[0]!; }

  private status(): number {
    return (this.out ? ST_OBF : 0) | (this.out?.aux ? ST_AUXB : 0) | (this.out?.timeout ? ST_TIMEOUT : 0) |
      (this.commandByte & CB_SYS ? ST_SYS : 0) | (this.lastWasCommand ? ST_CMD : 0) | ST_UNLOCKED;
  }

  private reply(byte: number, aux = false, timeout = false): void {
    this.controllerQueue.push({ byte: byte & 0xff, aux, timeout });
    this.pump();
  }

  /** Fill an empty output buffer and drive the IRQ lines from it. */
  private pump(): void {
    if (!this.out) {
      if (this.controllerQueue.length) this.out = this.controllerQueue.shift()!;
      else if (this.keyboardQueue.length && !(this.commandByte & CB_KBD_DISABLED)) {
        this.out = { byte: this.keyboardQueue.shift()!, aux: false, timeout: false };
      }
    }
    const cb = this.commandByte;
    this.setIrqs(!!this.out && !this.out.aux && (cb & CB_KBD_INT) !== 0, !!this.out && this.out.aux && (cb & CB_AUX_INT) !== 0);
  }

  private setIrqs(kbd: boolean, aux: boolean): void {
    if (kbd !== this.irq1) { this.irq1 = kbd; this.opts.irq1(kbd); }
    if (aux !== this.irq12) { this.irq12 = aux; this.opts.irq12(aux); }
  }

  private readData(): number {
    if (this.out) {
      this.lastRead = this.out.byte;
      this.out = null;
      // The line drops with OBF; a following byte raises it again as a new edge.
      this.setIrqs(false, false);
      this.pump();
    }
    return this.lastRead; // an empty buffer reads stale data
  }

  private writeOutputPort(v: number): void {
    this.outputPort = v;
    this.opts.a20?.set('kbc', (v & OUT_A20) !== 0);
    if ((v & OUT_RESET) === 0) this.opts.onReset();
  }

  private command(c: number): void {
    if (c >= 0x20 && c <= 0x3f) { this.reply(this.ram[c - 0x20]!); return; }
    if ((c >= 0x60 && c <= 0x7f) || (c >= 0xd1 && c <= 0xd4)) { this.pendingCommand = c; return; }
    if (c >= 0xf0) { // pulse output port bits 0-3 that are 0 in the command: bit 0 is reset
      if ((c & 1) === 0) this.opts.onReset();
      return;
    }
    switch (c) {
      case 0xa7: this.ram[0] = this.commandByte | CB_AUX_DISABLED; break;
      case 0xa8: this.ram[0] = this.commandByte & ~CB_AUX_DISABLED; break;
      case 0xa9: this.reply(0x00); break; // auxiliary interface test: no error
      case 0xaa: // controller self-test passes and sets the system flag
        this.ram[0] = this.commandByte | CB_SYS;
        this.reply(0x55);
        break;
      case 0xab: this.reply(0x00); break; // keyboard interface test: no error
      case 0xad: this.ram[0] = this.commandByte | CB_KBD_DISABLED; break;
      case 0xae: this.ram[0] = this.commandByte & ~CB_KBD_DISABLED; break;
      case 0xc0: this.reply(0x80); break; // input port: keyboard not inhibited
      case 0xd0: this.reply((this.outputPort & 0xcf) | (this.irq1 ? 0x10 : 0) | (this.irq12 ? 0x20 : 0)); break;
      case 0xdd: this.writeOutputPort(this.outputPort & ~OUT_A20); break;
      case 0xdf: this.writeOutputPort(this.outputPort | OUT_A20); break;
      case 0xe0: this.reply(0x00); break; // test inputs
      default: break; // unknown commands are ignored
    }
    this.pump();
  }

  private commandData(c: number, v: number): void {
    if (c >= 0x60 && c <= 0x7f) { this.ram[c - 0x60] = v; this.pump(); return; }
    switch (c) {
      case 0xd1: this.writeOutputPort(v); break;
      case 0xd2: this.reply(v); break; // as if from the keyboard
      case 0xd3: this.reply(v, true); break; // as if from the auxiliary device
      case 0xd4: this.reply(RESEND, true, true); break; // no auxiliary device answers
    }
  }

  private keyboardCommand(v: number): void {
    const kq = this.keyboardQueue;
    const pending = this.keyboardPending;
    if (pending) {
      this.keyboardPending = 0;
      if (v < 0xed) {
        kq.push(ACK);
        if (pending === 0xf0 && v === 0) kq.push(0x02); // report the current scancode set: 2
        this.pump();
        return;
      }
      // A command byte in place of the parameter aborts the command and is executed.
    }
    switch (v) {
      case 0xed: case 0xf0: case 0xf3: this.keyboardPending = v; kq.push(ACK); break;
      case 0xee: kq.push(0xee); break; // echo
      case 0xf2: kq.push(ACK, 0xab, 0x83); break; // MF2 keyboard ID
      case 0xf4: this.scanning = true; kq.push(ACK); break;
      case 0xf5: this.scanning = false; kq.push(ACK); break;
      case 0xf6: this.scanning = true; kq.push(ACK); break;
      case 0xff: // reset: ACK, then basic assurance test passed
        kq.length = 0;
        this.scanning = true;
        kq.push(ACK, 0xaa);
        break;
      default:
        kq.push(v >= 0xf7 ? ACK : RESEND);
    }
    this.pump();
  }

  private readPort(port: number): number {
    if (port === 0x60) return this.readData();
    if (port === 0x64) return this.status();
    return 0xff;
  }

  private writePort(port: number, v: number): void {
    if (port === 0x64) {
      this.lastWasCommand = true;
      this.pendingCommand = 0;
      this.command(v);
    } else if (port === 0x60) {
      this.lastWasCommand = false;
      const c = this.pendingCommand;
      this.pendingCommand = 0;
      if (c) this.commandData(c, v);
      else this.keyboardCommand(v);
    }
  }
}
