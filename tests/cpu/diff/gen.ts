/**
 * Test-case generation for the CPU differential test: a seeded RNG, values biased towards the
 * edges where ALU bugs live, ModRM/SIB memory operands that always land in the data area, and the
 * per-case state (registers, flags, code, memory pokes, compare masks).
 */
import { CODE_ADDR, CODE_SIZE, DATA_ADDR, DATA_SIZE, MAX_POKES, initialData, type CaseInput, type Poke } from './native.js';

export const CF = 0x1, PF = 0x4, AF = 0x10, ZF = 0x40, SF = 0x80, DF = 0x400, OF = 0x800;
/** The flags a case may set and that are compared: the arithmetic flags and DF. */
export const FLAGS = CF | PF | AF | ZF | SF | OF | DF;
export const EAX = 0, ECX = 1, EDX = 2, EBX = 3, ESP = 4, EBP = 5, ESI = 6, EDI = 7;
export type Size = 8 | 16 | 32;

/** sfc32, seeded from the run seed and a name so each form's cases do not depend on the others. */
export class Rng {
  private a: number; private b: number; private c: number; private d: number;
  constructor(seed: number, salt: string) {
    let h = 0x811c9dc5;
    for (const ch of `${salt}`) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193);
    this.a = seed >>> 0; this.b = h >>> 0; this.c = 0x9e3779b9; this.d = (seed / 0x100000000) >>> 0;
    for (let i = 0; i < 16; i++) this.u32();
  }
  u32(): number {
    const t = (this.a + this.b + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }
  below(n: number): number { return Math.floor((this.u32() / 0x100000000) * n); }
  range(lo: number, hi: number): number { return lo + this.below(hi - lo + 1); }
  chance(p: number): boolean { return this.u32() < p * 0x100000000; }
  pick<T>(xs: readonly T[]): T { return xs[this.below(xs.length)]!; }
}

const EDGES = [0, 1, 2, 3, 4, 5, 7, 8, 9, 0x0f, 0x10, 0x1f, 0x20, 0x3f, 0x40, 0x7f, 0x80, 0x81, 0xfe, 0xff,
  0x100, 0x7ffe, 0x7fff, 0x8000, 0x8001, 0xfffe, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0x80000001,
  0xfffffffe, 0xffffffff, 0xffffff80, 0xffffff7f, 0xffff8000, 0xffff7fff, 0x55555555, 0xaaaaaaaa, 0x99999999];

export const mask = (size: Size): number => (size === 32 ? 0xffffffff : (1 << size) - 1);

/** A value of `size` bits biased towards edges, small numbers and sign boundaries. */
export function value(rng: Rng, size: Size = 32): number {
  const m = mask(size);
  switch (rng.below(8)) {
    case 0: case 1: return (rng.pick(EDGES) & m) >>> 0;
    case 2: return (rng.range(-20, 20) & m) >>> 0;
    case 3: return ((1 << rng.below(size)) + rng.range(-1, 1)) & m;
    case 4: return (rng.u32() >>> rng.below(size)) & m;
    default: return (rng.u32() & m) >>> 0;
  }
}

export type Operand = { kind: 'reg'; reg: number; size: Size } | { kind: 'mem'; addr: number; size: Size };

/** Builds one case: state, code bytes and what to compare. */
export class G {
  readonly regs: number[] = [];
  /** Registers whose value a constraint (address, count...) fixed; random operand values leave them alone. */
  readonly fixed: boolean[] = new Array(8).fill(false);
  eflags: number;
  readonly dataSeed: number;
  readonly data: Uint8Array;
  readonly pokes: Poke[] = [];
  codeOff: number;
  readonly code: number[] = [];
  /** Flags compared for this case (the undefined ones removed). */
  flagMask = FLAGS;
  /** Per-register compare masks (an undefined destination is masked). */
  readonly regMask: number[] = new Array(8).fill(0xffffffff);
  /** Opcode keys this case exercises, for the coverage report. */
  readonly keys: string[] = [];
  note = '';

  constructor(readonly rng: Rng) {
    for (let r = 0; r < 8; r++) this.regs.push(this.randomReg());
    this.regs[ESP] = (DATA_ADDR + 0x600 + rng.below(0x800)) & ~(rng.chance(0.9) ? 3 : 0);
    this.fixed[ESP] = true;
    this.eflags = (rng.u32() & (CF | PF | AF | ZF | SF | OF)) | (rng.chance(0.3) ? DF : 0);
    this.dataSeed = rng.u32();
    this.data = initialData({ regs: [], eflags: 0, dataSeed: this.dataSeed, codeOff: 0, code: [], pokes: [] });
    this.codeOff = 0x700 + rng.below(0x200);
  }

  private randomReg(): number {
    const rng = this.rng;
    switch (rng.below(4)) {
      case 0: return value(rng, 32);
      case 1: return ((rng.u32() & 0xffff0000) | value(rng, 16)) >>> 0;
      case 2: return ((rng.u32() & 0xffffff00) | value(rng, 8)) >>> 0;
      default: return rng.u32();
    }
  }

  get eip(): number { return CODE_ADDR + this.codeOff; }
  /** Address just past the bytes emitted so far. */
  get end(): number { return CODE_ADDR + this.codeOff + this.code.length; }

  emit(...bytes: number[]): void { for (const b of bytes) this.code.push(b & 0xff); }
  emitImm(v: number, bytes: number): number {
    const at = this.code.length;
    for (let i = 0; i < bytes; i++) this.code.push((v >>> (8 * i)) & 0xff);
    return at;
  }
  patchImm(at: number, v: number, bytes: number): void {
    for (let i = 0; i < bytes; i++) this.code[at + i] = (v >>> (8 * i)) & 0xff;
  }
  cover(key: string): void { this.keys.push(key); }

  fix(r: number, v: number): void { this.regs[r] = v >>> 0; this.fixed[r] = true; }
  /** Sets a register's 8/16/32-bit part (8-bit 4..7 = AH..BH) unless an address lives in it. */
  setReg(r: number, size: Size, v: number): boolean {
    const full = size === 8 ? r & 3 : r;
    if (this.fixed[full]) return false;
    this.regs[full] = mergeReg(this.regs[full]!, r, size, v);
    return true;
  }
  getReg(r: number, size: Size): number { return readReg(this.regs, r, size); }

  poke(addr: number, size: 1 | 2 | 4, v: number): void {
    const off = addr - DATA_ADDR;
    if (off < 0 || off + size > DATA_SIZE) throw new Error(`poke outside the data area: ${addr.toString(16)}`);
    if (this.pokes.length >= MAX_POKES) throw new Error('too many pokes');
    this.pokes.push({ off, size, val: v >>> 0 });
    for (let i = 0; i < size; i++) this.data[off + i] = (v >>> (8 * i)) & 0xff;
  }
  peek(addr: number, size: 1 | 2 | 4): number {
    const off = addr - DATA_ADDR;
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = (v << 8) | this.data[off + i]!;
    return v >>> 0;
  }

  setOperand(o: Operand, v: number): void {
    if (o.kind === 'reg') this.setReg(o.reg, o.size, v);
    else this.poke(o.addr, (o.size / 8) as 1 | 2 | 4, v);
  }
  getOperand(o: Operand): number {
    return o.kind === 'reg' ? this.getReg(o.reg, o.size) : this.peek(o.addr, (o.size / 8) as 1 | 2 | 4);
  }

  /** A code address inside the page, clear of the bytes emitted so far plus `reserve` more. */
  landing(reserve = 16): number {
    const start = this.codeOff, stop = this.codeOff + this.code.length + reserve;
    for (;;) {
      const off = 0x10 + this.rng.below(CODE_SIZE - 0x20);
      if (off < start - 1 || off >= stop) return CODE_ADDR + off;
    }
  }

  /**
   * A 32-bit-addressing memory operand (ModRM with reg field 0, optional SIB, displacement)
   * whose effective address lies in [lo, hi - bytes]; base and index registers become fixed.
   */
  mem(bytes: number, lo = DATA_ADDR + 0x10, hi = DATA_ADDR + DATA_SIZE - 0x10): { enc: number[]; ea: number } {
    const rng = this.rng;
    for (let attempt = 0; attempt < 1000; attempt++) {
      const mod = rng.below(3), rm = rng.below(8);
      const T = rng.range(lo + 8, hi - bytes - 8);
      const enc = [(mod << 6) | rm];
      const coef = new Map<number, number>();
      let dispSize = mod === 1 ? 1 : mod === 2 ? 4 : 0;
      if (rm === 4) {
        const scale = rng.below(4), idx = rng.below(8), base = rng.below(8);
        enc.push((scale << 6) | (idx << 3) | base);
        if (base === 5 && mod === 0) dispSize = 4; else coef.set(base, 1);
        if (idx !== 4) coef.set(idx, (coef.get(idx) ?? 0) + (1 << scale));
      } else if (rm === 5 && mod === 0) dispSize = 4;
      else coef.set(rm, 1);

      const vals = new Map<number, number>();
      const free = [...coef.keys()].filter((r) => !this.fixed[r]);
      for (const r of coef.keys()) if (this.fixed[r]) vals.set(r, this.regs[r]!);
      const solveDisp = dispSize === 4 && (free.length === 0 || rng.chance(0.5));
      const solver = solveDisp ? -1 : (free.find((r) => coef.get(r) === 1) ?? free[0] ?? -1);
      for (const r of free) {
        if (r === solver) continue;
        vals.set(r, coef.get(r)! > 1 || rng.chance(0.6) ? rng.range(-64, 64) >>> 0 : rng.u32());
      }
      let rest = 0;
      for (const [r, v] of vals) rest = (rest + Math.imul(v, coef.get(r)!)) >>> 0;
      let disp = 0;
      if (solveDisp) disp = (T - rest) >>> 0;
      else if (dispSize === 1) disp = rng.range(-128, 127) >>> 0;
      else if (dispSize === 4) disp = rng.chance(0.5) ? rng.range(-0x1000, 0x1000) >>> 0 : rng.u32();
      if (solver >= 0) {
        const c = coef.get(solver)!;
        const x = (T - rest - disp) >>> 0;
        const v = Math.floor(x / c);
        vals.set(solver, v);
        rest = (rest + Math.imul(v, c)) >>> 0;
      }
      const ea = (rest + disp) >>> 0;
      if (ea < lo || ea + bytes > hi) continue;
      for (const [r, v] of vals) if (!this.fixed[r]) this.fix(r, v);
      for (let i = 0; i < dispSize; i++) enc.push((disp >>> (8 * i)) & 0xff);
      return { enc, ea };
    }
    throw new Error('no memory operand found');
  }

  /** A 16-bit-addressing ModRM (67 prefix) with random registers; only LEA may use it. */
  mem16(): number[] {
    const mod = this.rng.below(3), rm = this.rng.below(8);
    const enc = [(mod << 6) | rm];
    const disp = this.rng.u32();
    const n = mod === 1 ? 1 : mod === 2 || (mod === 0 && rm === 6) ? 2 : 0;
    for (let i = 0; i < n; i++) enc.push((disp >>> (8 * i)) & 0xff);
    return enc;
  }

  /** An r/m operand: a register (mod 11) or memory in the data area. Returns the ModRM-onwards bytes (reg field 0). */
  rm(size: Size, kind: 'any' | 'reg' | 'mem' = 'any', memBytes = size / 8, window?: [number, number]): { enc: number[]; op: Operand } {
    if (kind === 'reg' || (kind === 'any' && this.rng.chance(0.5))) {
      const r = this.rng.below(8);
      return { enc: [0xc0 | r], op: { kind: 'reg', reg: r, size } };
    }
    const m = window ? this.mem(memBytes, window[0], window[1]) : this.mem(memBytes);
    return { enc: m.enc, op: { kind: 'mem', addr: m.ea, size } };
  }

  /** Sometimes a harmless segment override (flat segments) for a memory access; CS only when nothing is written. */
  segPrefix(writes: boolean): void {
    if (this.rng.chance(0.15)) this.emit(this.rng.pick(writes ? [0x26, 0x36, 0x3e] : [0x26, 0x2e, 0x36, 0x3e]));
  }

  /** A register not holding an address (and not ESP). */
  freeReg(): number {
    const free = [0, 1, 2, 3, 5, 6, 7].filter((r) => !this.fixed[r]);
    return this.rng.pick(free);
  }

  toInput(): CaseInput {
    return { regs: this.regs.slice(), eflags: this.eflags, dataSeed: this.dataSeed, codeOff: this.codeOff, code: this.code.slice(), pokes: this.pokes.slice() };
  }
}

export function readReg(regs: number[], r: number, size: Size): number {
  if (size === 32) return regs[r]! >>> 0;
  if (size === 16) return regs[r]! & 0xffff;
  return r < 4 ? regs[r]! & 0xff : (regs[r & 3]! >>> 8) & 0xff;
}

function mergeReg(old: number, r: number, size: Size, v: number): number {
  if (size === 32) return v >>> 0;
  if (size === 16) return ((old & 0xffff0000) | (v & 0xffff)) >>> 0;
  return r < 4 ? ((old & ~0xff) | (v & 0xff)) >>> 0 : ((old & ~0xff00) | ((v & 0xff) << 8)) >>> 0;
}

export const hex = (v: number, w = 8): string => (v >>> 0).toString(16).padStart(w, '0');
