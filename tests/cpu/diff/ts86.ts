/**
 * The ts86 half of the differential test: the same code and data at the same linear addresses in a
 * flat ring-0 machine whose code page is filled with HLT and whose IDT sends every exception to
 * a HLT of its own, so the vector can be read back from where the CPU stopped.
 */
import { Clock } from '../../../bus/clock.js';
import { IoBus } from '../../../bus/io.js';
import { PhysicalMemory } from '../../../bus/memory.js';
import { CPU } from '../../../cpu/index.js';
import { CODE_ADDR, CODE_SIZE, DATA_ADDR, DATA_SIZE, VEC_LANDED, VEC_TIMEOUT, initialData, type CaseInput, type Outcome } from './native.js';

const RAM = 0x200000;
/** ts86-only tables, far below the shared pages. */
const GDT = 0x80000, IDT = 0x80100, HANDLERS = 0x80400, PROLOGUE = 0x80500, DESC = 0x80080;

/**
 * Flat ring-0 tables in guest RAM: a GDT (null, code 0x08, data 0x10, both 4 GiB) and an IDT whose
 * 32 exception vectors are interrupt gates to `handlers + vector`, each a HLT.
 */
export function writeFlatTables(ram: Uint8Array, gdt: number, idt: number, handlers: number): void {
  const d = new DataView(ram.buffer, ram.byteOffset, ram.byteLength);
  d.setUint32(gdt + 8, 0x0000ffff, true); d.setUint32(gdt + 12, 0x00cf9a00, true);
  d.setUint32(gdt + 16, 0x0000ffff, true); d.setUint32(gdt + 20, 0x00cf9200, true);
  for (let v = 0; v < 32; v++) {
    const h = handlers + v;
    d.setUint32(idt + 8 * v, (0x08 << 16) | (h & 0xffff), true);
    d.setUint32(idt + 8 * v + 4, (h & 0xffff0000) | 0x8e00, true);
    ram[h] = 0xf4;
  }
}
/** Vectors that push an error code. */
const ERROR_CODE = new Set([8, 10, 11, 12, 13, 14, 17]);
/** The CPU shut down (triple fault) or stopped somewhere unexpected. */
export const VEC_SHUTDOWN = 0xff, VEC_LOST = 0xfd;
const STEP_LIMIT = 100_000;

export interface Ts86Outcome extends Outcome {
  /** Data-area offsets the exception frame was pushed over (not the instruction's doing). */
  frame?: [number, number];
}

export class Ts86 {
  readonly mem = new PhysicalMemory(RAM);
  readonly cpu: CPU;
  private readonly codeImage = new Uint8Array(CODE_SIZE);

  /** `compileThreshold` 0 runs every block through the block compiler instead of the interpreter loop. */
  constructor(compileThreshold?: number) {
    this.cpu = new CPU({ mem: this.mem, io: new IoBus(), clock: new Clock('virtual'), compileThreshold });
    const m = this.mem;
    const d = new DataView(m.ram.buffer);
    writeFlatTables(m.ram, GDT, IDT, HANDLERS);
    d.setUint16(DESC, 23, true); d.setUint32(DESC + 2, GDT, true);
    d.setUint16(DESC + 8, 32 * 8 - 1, true); d.setUint32(DESC + 10, IDT, true);
    // lgdt [DESC]; lidt [DESC+8]; hlt
    m.ram.set([0x0f, 0x01, 0x15, ...le32(DESC), 0x0f, 0x01, 0x1d, ...le32(DESC + 8), 0xf4], PROLOGUE);
    this.boot();
  }

  private boot(): void {
    const cpu = this.cpu;
    cpu.loadFlat32();
    cpu.eip = PROLOGUE;
    cpu.run(10);
    if (!cpu.halted || cpu.eip !== PROLOGUE + 15) throw new Error(`ts86 diff harness: LGDT/LIDT prologue did not run (eip ${cpu.eip.toString(16)})`);
  }

  run(c: CaseInput): Ts86Outcome {
    const cpu = this.cpu;
    if (cpu.shutdown) this.boot();
    this.codeImage.fill(0xf4);
    this.codeImage.set(c.code, c.codeOff);
    this.mem.writeBytes(CODE_ADDR, this.codeImage);
    const init = initialData(c);
    this.mem.writeBytes(DATA_ADDR, init);
    for (let i = 0; i < 8; i++) cpu.regs[i] = c.regs[i]! | 0;
    // IF set as it is natively in user mode (nothing can interrupt: no controller is attached).
    cpu.setEflags((c.eflags & 0xed5) | 0x202);
    cpu.eip = CODE_ADDR + c.codeOff;
    cpu.halted = false;
    let steps = 0;
    while (!cpu.halted && steps < STEP_LIMIT) {
      const n = cpu.run(STEP_LIMIT - steps);
      if (n === 0 && !cpu.halted) break;
      steps += n;
    }

    const regs = Array.from(cpu.regs, (v) => v >>> 0);
    const eip = cpu.eip >>> 0;
    const out: Ts86Outcome = { regs, eflags: cpu.getEflags() >>> 0, eip, vector: VEC_LANDED, diff: new Map() };
    const ram = this.mem.ram;
    for (let i = 0; i < DATA_SIZE; i++) if (ram[DATA_ADDR + i] !== init[i]) out.diff.set(i, ram[DATA_ADDR + i]!);
    if (cpu.shutdown) out.vector = VEC_SHUTDOWN;
    else if (!cpu.halted) out.vector = VEC_TIMEOUT;
    else if (eip > HANDLERS && eip <= HANDLERS + 32) {
      // Report the state at the fault, as the native sigcontext does: unwind the exception frame.
      out.vector = eip - HANDLERS - 1;
      const sp = regs[4]!, skip = ERROR_CODE.has(out.vector) ? 4 : 0;
      const rd = (a: number) => (a + 4 <= RAM ? (ram[a]! | (ram[a + 1]! << 8) | (ram[a + 2]! << 16) | (ram[a + 3]! << 24)) >>> 0 : 0);
      out.eip = rd(sp + skip);
      out.eflags = rd(sp + skip + 8);
      regs[4] = (sp + skip + 12) >>> 0;
      out.frame = [sp - DATA_ADDR, sp + skip + 12 - DATA_ADDR];
    } else if (eip <= CODE_ADDR || eip > CODE_ADDR + CODE_SIZE) out.vector = VEC_LOST;
    return out;
  }
}

const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
