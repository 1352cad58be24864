// The code generator against the interpreter: long seeded random programs (ALU, shifts, multiply
// and divide, memory through paging with a not-present and a read-only page, stack, string steps
// and short REP runs, PUSHF/POPF/CLI/STI, segment reloads, PUSH Sreg, POP r/m, SHLD/SHRD, bit tests, CMPXCHG, forward branches, counted loops, calls, self-modifying stores, faults) run on three CPUs in
// lockstep: interpreted only, compiled from the first run (threshold 0) and compiled once warm
// (threshold 3). After every slice of a random number of instructions, the instruction count, EIP,
// registers, EFLAGS and halt state must be identical; at the end, all of RAM the programs touch.
// The truth is the interpreter, itself checked against this machine's CPU in tests/cpu/diff.
//
// SEED (default 1) picks the programs; CODEGEN_PROGRAMS (default 25) how many.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Clock } from '../../bus/clock.js';
import { IoBus } from '../../bus/io.js';
import { PhysicalMemory } from '../../bus/memory.js';
import { CPU, Reg, codegenStats } from '../../cpu/index.js';
import { writeFlatTables } from './diff/ts86.js';

const SEED = Number(process.env.SEED ?? 1) >>> 0;
const PROGRAMS = Number(process.env.CODEGEN_PROGRAMS ?? 25);

const RAM = 4 << 20;
const GDT = 0x80000, IDT = 0x80800, HANDLERS = 0x81000, PD = 0x90000, PT = 0x91000;
const CODE = 0x100000, SUBS = 0x140000, SCRATCH = CODE + 2, SCRATCH_LEN = 14;
const DATA = 0x200000, DATA_BASE = 0x200800, HOLE = 0x205000, READONLY = 0x206000, STACK = 0x300000;
const BUDGET = 40_000;

/** mulberry32: small, seedable, good enough for test programs. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];

/** Random programs: a list of instructions (byte arrays) with structure (branches, loops, calls). */
class Gen {
  readonly r: () => number;
  constructor(seed: number) { this.r = rng(seed); }
  int(n: number): number { return Math.floor(this.r() * n); }
  pick<T>(xs: readonly T[]): T { return xs[this.int(xs.length)]!; }
  imm32(): number { return this.pick([0, 1, -1, 0x7fffffff, 0x80000000, 0xffff, 0x80, this.int(0x100000000)]) >>> 0; }
  /** Registers an instruction may write: not EBX (data base), ESP (stack) or ECX (loop counter). */
  dst(): number { return this.pick([0, 2, 5, 6, 7]); }
  src(): number { return this.int(8); }
  d8(): number { return this.int(256) & 0xfc | this.int(4) * (this.r() < 0.1 ? 1 : 0); }

  /** An instruction that faults or may fault (#DE, #PF not present / read-only, #UD). */
  faulty(): number[] {
    const d = this.dst(), s = this.src();
    switch (this.int(4)) {
      case 0: return [0xf7, 0xc0 | (6 + this.int(2)) << 3 | s]; // DIV/IDIV r32: #DE when it overflows
      case 1: return [0x8b, 0x05 | (d << 3), ...le32(HOLE + this.int(1024) * 4)];
      case 2: return [0x89, 0x05 | (s << 3), ...le32(READONLY + this.int(1024) * 4)];
      default: return [0x0f, 0x0b];
    }
  }

  /** One straight-line instruction (no control flow). */
  simple(): number[] {
    const op = this.int(8), d = this.dst(), s = this.src(), d8 = this.d8();
    const mem = 0x40 | 3; // [ebx + d8]
    if (this.r() < 0.003) return this.faulty();
    switch (this.int(37)) {
      case 0: case 1: return [op * 8 + 1, 0xc0 | (s << 3) | d];
      case 2: return [op * 8 + 3, 0xc0 | (d << 3) | s];
      case 3: return [0x83, 0xc0 | (op << 3) | d, this.int(256)];
      case 4: return [0x81, 0xc0 | (op << 3) | d, ...le32(this.imm32())];
      case 5: return [op * 8 + 0, 0xc0 | (this.int(8) << 3) | this.pick([0, 2, 4, 6])]; // 8-bit ALU, AL/DL/AH/DH
      case 6: return [0xb8 + d, ...le32(this.imm32())];
      case 7: return [0x8b, mem | (d << 3), d8];
      case 8: return [0x89, mem | (s << 3), d8];
      case 9: return [op * 8 + 3, mem | (d << 3), d8];
      case 10: return [op * 8 + 1, mem | (s << 3), d8];
      case 11: return [0x83, mem | (op << 3), d8, this.int(256)];
      case 12: return [0x80, mem | (op << 3), d8, this.int(256)];
      case 13: return [this.pick([0x88, 0x8a]), mem | (this.pick([0, 2, 4, 6]) << 3), d8];
      case 14: return [this.pick([0x40, 0x48]) + d];
      case 15: return [0xff, mem | (this.int(2) << 3), d8];
      case 16: return [0xc1, 0xc0 | (this.pick([0, 1, 2, 3, 4, 5, 7]) << 3) | d, this.int(40)];
      case 17: return [this.pick([0xd3, 0xd1]), 0xc0 | (this.pick([0, 1, 4, 5, 7]) << 3) | d];
      case 18: return this.r() < 0.5 ? [0x6b, 0xc0 | (d << 3) | s, this.int(256)] : [0x0f, 0xaf, 0xc0 | (d << 3) | s];
      case 19: return this.pick([[0x85, 0xc0 | (s << 3) | d], [0x84, 0xc0 | (this.int(8) << 3) | this.int(8)], [0xa9, ...le32(this.imm32())], [0xf6, mem, d8, this.int(256)]]);
      case 20: return [0x0f, 0x40 | this.int(16), 0xc0 | (d << 3) | s];
      case 21: return [0x0f, 0x90 | this.int(16), 0xc0 | this.pick([0, 2, 4, 6])];
      case 22: { const idx = this.pick([0, 1, 2, 3, 5, 6, 7]); return [0x8d, 0x44 | (d << 3), (this.int(4) << 6) | (idx << 3) | this.src(), this.int(256)]; }
      case 23: return this.pick([[0x50 + s], [0x58 + d], [0x6a, this.int(256)], [0x50 + s, 0x58 + d]]);
      case 24: return this.pick([[0x0f, 0xb6, 0xc0 | (d << 3) | this.int(8)], [0x0f, 0xb6, mem | (d << 3), d8], [0x0f, 0xbe, mem | (d << 3), d8], [0x0f, 0xb7, mem | (d << 3), d8], [0x0f, 0xbf, 0xc0 | (d << 3) | s]]);
      case 25: return this.pick([[0x87, 0xc0 | (d << 3) | this.dst()], [0x0f, 0xc8 + d], [0x90 + this.pick([2, 5, 6, 7])]]);
      case 26: return [0xf7, 0xc0 | (this.pick([2, 3]) << 3) | d];
      case 27: return this.pick([[0x99], [0xf8], [0xf9], [0xf5], [0xfc], [0x98]]);
      case 28: return [0xf7, 0xe0 | this.pick([4, 5]) << 3 | s]; // MUL/IMUL r32 (EDX:EAX)
      case 29: return [0x31, 0xd2, 0xf7, 0xf0 | this.pick([0, 1, 3, 5, 6, 7])]; // xor edx, edx; div r32 (#DE only by 0)
      case 30: { // a string step inside the data area
        const set = [0x8d, 0x40 | (6 << 3) | 3, d8, 0x8d, 0x40 | (7 << 3) | 3, this.d8()];
        return [...set, ...this.pick([[0xad], [0xab], [0xa4], [0xaa], [0xac], [0xa5]])];
      }
      case 31: { // an access through a masked index (base + index*1 + disp)
        const idx = this.pick([0, 2, 5]);
        return [0x81, 0xe0 | idx, ...le32(this.pick([0x3ffc, 0x1ffc, 0xffc])), this.pick([0x8b, 0x89, 0x03, 0x01, 0x39]), 0x44 | (this.pick([0, 2]) << 3), (idx << 3) | 3, 0];
      }
      case 32: return this.pick([
        [0x8b, 0x05 | (d << 3), ...le32(READONLY + this.int(1024) * 4)], // reading the read-only page is fine
        [this.pick([0xa1, 0xa3, 0xa0, 0xa2]), ...le32(DATA_BASE + this.int(256))], // moffs forms
        [0x66, this.pick([0x89, 0x8b]), mem | (this.pick([0, 2, 5]) << 3), d8], // 16-bit loads and stores
        [0x66, 0xc7, mem, d8, this.int(256), this.int(256)],
        [0xf7, mem | (this.pick([2, 3]) << 3), d8], // NOT/NEG [mem]
        [0x0f, 0xba, 0xe0 | d, this.int(256)], // BT r32, imm8
      ]);
      case 33: { // EFLAGS as a whole, CLI/STI, a segment reload, a short REP string run in the data area
        const flags = (this.int(2) ? 0x200 : 0) | (this.int(2) ? 0x40000 : 0) | (this.r() < 0.05 ? 0x100 : 0) | (this.int(0x1000) & 0xcd5) | this.int(2) << 21;
        const set = [0x8d, 0x40 | (6 << 3) | 3, this.d8(), 0x8d, 0x40 | (7 << 3) | 3, this.d8()];
        return this.pick([
          [0x9c], [0x9c, 0x58 + d], [0x9c, 0x9d], [0x68, ...le32(flags), 0x9d], [0xfa], [0xfb],
          [0x8c, 0xd8 | d, 0x8e, 0xd8 | d],
          [...set, 0x51, 0xb9, ...le32(this.int(40)), 0xf3, this.pick([0xab, 0xa5, 0xaa, 0xa4, 0xad]), 0x59],
        ]);
      }
      case 34: return this.pick([ // bit tests, CMPXCHG, one-operand MUL/IMUL, SETcc on memory
        [0x0f, 0xba, mem | ((4 + this.int(4)) << 3), d8, this.int(256)],
        [0x0f, 0xba, 0xc0 | ((4 + this.int(4)) << 3) | d, this.int(256)],
        [0x0f, this.pick([0xa3, 0xab, 0xb3, 0xbb]), 0xc0 | (s << 3) | d],
        [0x0f, 0xb1, mem | (s << 3), d8], [0x0f, 0xb1, 0xc0 | (s << 3) | d],
        [0xf7, mem | (this.pick([4, 5]) << 3), d8],
        [0x0f, 0x90 | this.int(16), mem, d8],
      ]);
      case 35: return this.pick([ // 16-bit ALU and moves (operand-size prefix)
        [0x66, op * 8 + 1, 0xc0 | (s << 3) | d], [0x66, op * 8 + 3, 0xc0 | (d << 3) | s],
        [0x66, 0x83, 0xc0 | (op << 3) | d, this.int(256)], [0x66, 0x81, 0xc0 | (op << 3) | d, this.int(256), this.int(256)],
        [0x66, 0x83, mem | (op << 3), d8, this.int(256)], [0x66, 0x81, mem | (op << 3), d8, this.int(256), this.int(256)],
        [0x66, op * 8 + 1, mem | (s << 3), d8], [0x66, op * 8 + 3, mem | (d << 3), d8], [0x66, op * 8 + 5, this.int(256), this.int(256)],
        [0x66, this.pick([0x89, 0x8b]), 0xc0 | (s << 3) | d], [0x66, 0xb8 + d, this.int(256), this.int(256)],
      ]);
      case 36: return this.pick([ // SHLD/SHRD by imm8 and CL; PUSH Sreg (the slot's high word stays); POP r/m32
        [0x0f, this.pick([0xa4, 0xac]), 0xc0 | (s << 3) | d, this.int(40)],
        [0x0f, this.pick([0xa5, 0xad]), 0xc0 | (s << 3) | d],
        [this.pick([0x06, 0x1e]), 0x58 + d], [0x0f, this.pick([0xa0, 0xa8]), 0x58 + d],
        [0x50 + s, 0x8f, mem, d8],
        [0x50 + s, 0x8f, 0x44, 0x24, this.pick([0xfc, 0xf8])], // POP [ESP-4/-8]: addressed with ESP already moved
      ]);
      default: return [0x90];
    }
  }

  /**
   * A sequence of `n` items, with forward branches, loops, calls and self-modifying stores (into
   * the scratch bytes of the running code page, or into a subroutine's first instruction).
   */
  seq(n: number, depth: number, subs: number[]): number[][] {
    const out: number[][] = [];
    for (let k = 0; k < n; k++) {
      const x = this.r();
      if (x < 0.08 && depth < 2) {
        // Counted loop: mov ecx, N; body; dec ecx; jnz body (or LOOP).
        const body = this.seq(2 + this.int(10), depth + 1, subs).flat();
        const count = 1 + this.int(depth === 0 ? 300 : 8);
        out.push([0x51, 0xb9, ...le32(count)]);
        const useLoop = this.r() < 0.3;
        const back = -(body.length + (useLoop ? 2 : 3));
        if (back >= -128) out.push([...body, ...(useLoop ? [0xe2, back & 0xff] : [0x49, 0x75, back & 0xff])]);
        else out.push([...body, 0x49, 0x0f, 0x85, ...le32(back - 4)]);
        out.push([0x59]);
      } else if (x < 0.16) {
        // Forward Jcc over a few instructions.
        const skip = this.seq(1 + this.int(4), depth + 1, subs).flat();
        if (skip.length < 128) out.push([0x70 | this.int(16), skip.length, ...skip]);
        else out.push([0x0f, 0x80 | this.int(16), ...le32(skip.length), ...skip]);
      } else if (x < 0.19 && subs.length) {
        out.push([0xb8, ...le32(this.pick(subs)), 0xff, 0xd0]); // mov eax, sub; call eax
      } else if (x < 0.21) {
        const at = this.r() < 0.5 || !subs.length ? SCRATCH + this.int(SCRATCH_LEN) : this.pick(subs) + 1 + this.int(4);
        out.push([0xc6, 0x05, ...le32(at), this.int(256)]); // mov byte [code], x
      } else {
        out.push(this.simple());
      }
    }
    return out;
  }
}

interface Program { main: Uint8Array; subs: Uint8Array }

/** Lays out a program: main at CODE (after a jump over the scratch bytes) ending in HLT, subroutines at SUBS. */
function program(seed: number): Program {
  const g = new Gen(seed);
  const subStarts: number[] = [];
  const subs: number[] = [];
  for (let s = 0; s < 4; s++) {
    subStarts.push(SUBS + subs.length);
    // Each starts with `mov eax, imm32`, the target of self-modifying stores.
    subs.push(0xb8, ...le32(g.imm32()));
    for (const ins of g.seq(3 + g.int(6), 2, [])) subs.push(...ins);
    subs.push(0xc3);
  }
  const main: number[] = [0xeb, SCRATCH_LEN, ...new Array<number>(SCRATCH_LEN).fill(0x90)];
  for (const it of g.seq(150 + g.int(150), 0, subStarts)) main.push(...it);
  main.push(0xf4);
  return { main: Uint8Array.from(main), subs: Uint8Array.from(subs) };
}

/** A flat ring-0 machine with paging (identity map, one not-present and one read-only page) and an IDT whose handlers halt. */
function machine(p: Program, compileThreshold: number, backEnd?: 'wasm' | 'js'): CPU {
  const mem = new PhysicalMemory(RAM);
  const cpu = new CPU({ mem, io: new IoBus(), clock: new Clock('virtual'), compileThreshold, backEnd });
  const d = new DataView(mem.ram.buffer);
  writeFlatTables(mem.ram, GDT, IDT, HANDLERS);
  d.setUint32(PD, PT | 3, true);
  for (let i = 0; i < 1024; i++) {
    const a = i << 12;
    d.setUint32(PT + 4 * i, a === HOLE ? 0 : a | (a === READONLY ? 1 : 3), true);
  }
  mem.ram.set(p.main, CODE);
  mem.ram.set(p.subs, SUBS);
  for (let i = DATA; i < DATA + 0x8000; i++) mem.ram[i] = (i * 2654435761) >>> 24;
  cpu.loadFlat32();
  cpu.gdtBase = GDT; cpu.gdtLimit = 23; cpu.idtBase = IDT; cpu.idtLimit = 32 * 8 - 1;
  cpu.setCr(3, PD);
  cpu.setCr(0, cpu.cr[0]! | 0x80010000); // PG | WP
  cpu.eip = CODE;
  const init = rng(p.main.length);
  for (let r = 0; r < 8; r++) cpu.regs[r] = (init() * 0x100000000) | 0;
  cpu.regs[Reg.EBX] = DATA_BASE; cpu.regs[Reg.ESP] = STACK;
  cpu.setEflags(0x2 | (init() < 0.5 ? 1 : 0) | (init() < 0.5 ? 0x40 : 0) | (init() < 0.5 ? 0x800 : 0));
  return cpu;
}

const state = (c: CPU) => `${c.instructions} eip=${(c.eip >>> 0).toString(16)} ${Array.from(c.regs, (v) => (v >>> 0).toString(16)).join(' ')} fl=${c.getEflags().toString(16)} ${c.halted ? 'halted' : ''}${c.shutdown ? ' shutdown' : ''}`;

test('compiled regions match the interpreter, slice by slice, on random programs', () => {
  let faults = 0, total = 0;
  const regions0 = codegenStats.regions;
  const vectors = new Set<number>();
  for (let k = 0; k < PROGRAMS; k++) {
    const seed = (SEED * 1000003 + k) >>> 0;
    const p = program(seed);
    // Both back ends (WebAssembly, the default, and JS), compiling at once and after a few runs.
    const cpus = [machine(p, Infinity), machine(p, 0), machine(p, 3), machine(p, 0, 'js'), machine(p, 3, 'js')];
    const slices = rng(seed ^ 0x5eed);
    while (!cpus[0]!.halted && cpus[0]!.instructions < BUDGET) {
      const n = 1 + Math.floor(slices() * (slices() < 0.5 ? 8 : 400));
      for (const c of cpus) c.run(n);
      const want = state(cpus[0]!);
      for (const c of cpus.slice(1)) assert.is(state(c), want, `program ${seed} (SEED=${SEED}, #${k}), ${c.backEnd} threshold ${c.compileThreshold}`);
    }
    const ram = cpus.map((c) => c.mem.ram);
    for (const c of cpus.slice(1)) {
      for (const [lo, hi] of [[CODE, CODE + p.main.length], [DATA, DATA + 0x8000], [STACK - 0x4000, STACK + 0x100]] as const) {
        for (let a = lo; a < hi; a++) if (c.mem.ram[a] !== ram[0]![a]) assert.unreachable(`program ${seed}: RAM at ${a.toString(16)} differs (${c.backEnd} threshold ${c.compileThreshold})`);
      }
    }
    total += cpus[0]!.instructions;
    if ((cpus[0]!.eip >>> 0) > HANDLERS && (cpus[0]!.eip >>> 0) <= HANDLERS + 32) { faults++; vectors.add(cpus[0]!.eip - HANDLERS - 1); }
  }
  // The programs must reach the interesting cases, not stop at once.
  assert.ok(total > PROGRAMS * 300, `programs ran ${total} instructions`);
  assert.ok(faults > 0 && faults < PROGRAMS, `${faults} of ${PROGRAMS} programs ended in a fault`);
  console.log(`  codegen: ${PROGRAMS} programs, ${codegenStats.regions - regions0} regions, ${total} instructions each way, ${faults} ended in a fault (vectors ${[...vectors].join(', ')})`);
  assert.ok(codegenStats.regions - regions0 > PROGRAMS, 'regions were compiled');
});

test('an engine that refuses WebAssembly (a CSP without wasm-unsafe-eval): regions fall back to the JS back end', () => {
  const W = WebAssembly as unknown as { Module: unknown; instantiate: unknown };
  const saved = { Module: W.Module, instantiate: W.instantiate };
  const refusal = () => new WebAssembly.CompileError("WebAssembly.Module(): Refused to compile or instantiate WebAssembly module because 'unsafe-eval' is not an allowed source of script");
  const p = program((SEED * 1000003) >>> 0);
  const ref = machine(p, Infinity);
  const regions0 = codegenStats.regions, bytes0 = codegenStats.bytes;
  W.Module = function refuse() { throw refusal(); };
  W.instantiate = () => Promise.reject(refusal());
  try {
    const cpu = machine(p, 0);
    while (!ref.halted && ref.instructions < BUDGET) {
      ref.run(97); cpu.run(97);
      assert.is(state(cpu), state(ref));
    }
  } finally {
    W.Module = saved.Module; W.instantiate = saved.instantiate;
  }
  // Compiled all the same, as JS source (the first region, refused, stays interpreted).
  assert.ok(codegenStats.regions > regions0 && codegenStats.bytes > bytes0, 'no JS regions were compiled after the refusal');
});

test.run();
