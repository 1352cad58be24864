/**
 * Integer instruction handlers. Each handler runs with `cpu.eip` already pointing past the
 * instruction; a fault rewinds it. Handlers compute everything that can fault (reads, the
 * destination write) before they commit flags or registers, so faults leave no partial effects.
 */
import type { CPU } from './cpu.js';
import { Reg, Seg, CR0_EM, CR0_TS, CR0_MP } from './cpu.js';
import type { Handler, Insn } from './decode.js';
import { CF, PF, AF, ZF, SF, OF, DF, IF, TF, NT, RF, VM, AC, ID, IOPL, ARITH, Lazy, PARITY } from './flags.js';
import { Vec, deliverInterrupt, farTransfer, Far, farReturn, iret, loadSeg } from './protect.js';
import { ioAllowed } from './ops-system.js';

/** Top bit index of an operand of 1, 2 or 4 bytes. */
export const TOP = [0, 7, 15, 0, 31];
const MASK = [0, 0xff, 0xffff, 0, -1];

/** Condition codes 0..15 (Jcc/SETcc/CMOVcc low nibble), each reading only the flags it needs. */
const COND: ((c: CPU) => boolean)[] = [
  (c) => c.getOF(), (c) => !c.getOF(),
  (c) => c.getCF() !== 0, (c) => c.getCF() === 0,
  (c) => c.getZF(), (c) => !c.getZF(),
  (c) => c.getCF() !== 0 || c.getZF(), (c) => c.getCF() === 0 && !c.getZF(),
  (c) => c.getSF(), (c) => !c.getSF(),
  (c) => c.getPF(), (c) => !c.getPF(),
  (c) => c.getSF() !== c.getOF(), (c) => c.getSF() === c.getOF(),
  (c) => c.getZF() || c.getSF() !== c.getOF(), (c) => !c.getZF() && c.getSF() === c.getOF(),
];

export const ud: Handler = (c) => c.ud();
export const nop: Handler = () => {};

// ---------------------------------------------------------------- operand helpers

function readRm(c: CPU, i: Insn): number {
  return i.mem ? c.rd(i.size, i.seg, i.ea(c, i)) : c.getReg(i.size, i.rm);
}
function writeRm(c: CPU, i: Insn, v: number): void {
  if (i.mem) c.wr(i.size, i.seg, i.ea(c, i), v); else c.setReg(i.size, i.rm, v);
}

// ---------------------------------------------------------------- ALU

/** Result of ALU op `op` (0 ADD, 1 OR, 2 ADC, 3 SBB, 4 AND, 5 SUB, 6 XOR, 7 CMP); no side effects. */
function aluResult(op: number, a: number, b: number, cf: number): number {
  switch (op) {
    case 0: return (a + b) | 0;
    case 1: return a | b;
    case 2: return (a + b + cf) | 0;
    case 3: return (a - b - cf) | 0;
    case 4: return a & b;
    case 6: return a ^ b;
    default: return (a - b) | 0;
  }
}

function aluFlags(c: CPU, op: number, a: number, b: number, r: number, top: number): void {
  switch (op) {
    case 0: case 2: c.setLazy(Lazy.Add, a, b, r, top); return;
    case 3: case 5: case 7: c.setLazy(Lazy.Sub, a, b, r, top); return;
    default: c.setLogic(r, top);
  }
}

/** CF as the carry/borrow into ADC and SBB; other ops do not look at it (and need not compute it). */
const carryIn = (c: CPU, op: number): number => (op === 2 || op === 3 ? c.getCF() : 0);

/** Full ALU op on values, flags committed. */
function alu(c: CPU, op: number, a: number, b: number, top: number): number {
  const r = aluResult(op, a, b, carryIn(c, op));
  aluFlags(c, op, a, b, r, top);
  return r;
}

export const aluRR: Handler = (c, i) => {
  const r = alu(c, i.op, c.getReg(i.size, i.rm), c.getReg(i.size, i.reg), TOP[i.size]!);
  if (i.op !== 7) c.setReg(i.size, i.rm, r);
};
export const aluRRrev: Handler = (c, i) => {
  const r = alu(c, i.op, c.getReg(i.size, i.reg), c.getReg(i.size, i.rm), TOP[i.size]!);
  if (i.op !== 7) c.setReg(i.size, i.reg, r);
};
export const aluMR: Handler = (c, i) => {
  const off = i.ea(c, i);
  const a = c.rd(i.size, i.seg, off), b = c.getReg(i.size, i.reg);
  const r = aluResult(i.op, a, b, carryIn(c, i.op));
  if (i.op !== 7) c.wr(i.size, i.seg, off, r);
  aluFlags(c, i.op, a, b, r, TOP[i.size]!);
};
export const aluRM: Handler = (c, i) => {
  const b = c.rd(i.size, i.seg, i.ea(c, i));
  const r = alu(c, i.op, c.getReg(i.size, i.reg), b, TOP[i.size]!);
  if (i.op !== 7) c.setReg(i.size, i.reg, r);
};
export const aluAccImm: Handler = (c, i) => {
  const r = alu(c, i.op, c.getReg(i.size, 0), i.imm, TOP[i.size]!);
  if (i.op !== 7) c.setReg(i.size, 0, r);
};
export const aluRImm: Handler = (c, i) => {
  const r = alu(c, i.op, c.getReg(i.size, i.rm), i.imm, TOP[i.size]!);
  if (i.op !== 7) c.setReg(i.size, i.rm, r);
};
export const aluMImm: Handler = (c, i) => {
  const off = i.ea(c, i);
  const a = c.rd(i.size, i.seg, off);
  const r = aluResult(i.op, a, i.imm, carryIn(c, i.op));
  if (i.op !== 7) c.wr(i.size, i.seg, off, r);
  aluFlags(c, i.op, a, i.imm, r, TOP[i.size]!);
};

// 32-bit specializations (the common case in protected-mode code), one closure per ALU op.
const per8 = (f: (op: number) => Handler): Handler[] => Array.from({ length: 8 }, (_, op) => f(op));
export const ALU_RR32 = per8((op) => op === 7
  ? (c, i) => { const a = c.regs[i.rm]!, b = c.regs[i.reg]!; c.setLazy(Lazy.Sub, a, b, (a - b) | 0, 31); }
  : (c, i) => { c.regs[i.rm] = alu(c, op, c.regs[i.rm]!, c.regs[i.reg]!, 31); });
export const ALU_RRREV32 = per8((op) => op === 7
  ? (c, i) => { const a = c.regs[i.reg]!, b = c.regs[i.rm]!; c.setLazy(Lazy.Sub, a, b, (a - b) | 0, 31); }
  : (c, i) => { c.regs[i.reg] = alu(c, op, c.regs[i.reg]!, c.regs[i.rm]!, 31); });
export const ALU_MR32 = per8((op) => (c, i) => {
  const off = i.ea(c, i);
  const a = c.rd32(i.seg, off), b = c.regs[i.reg]!;
  const r = aluResult(op, a, b, carryIn(c, op));
  if (op !== 7) c.wr32(i.seg, off, r);
  aluFlags(c, op, a, b, r, 31);
});
export const ALU_RM32 = per8((op) => (c, i) => {
  const r = alu(c, op, c.regs[i.reg]!, c.rd32(i.seg, i.ea(c, i)), 31);
  if (op !== 7) c.regs[i.reg] = r;
});
export const ALU_ACCIMM32 = per8((op) => (c, i) => {
  const r = alu(c, op, c.regs[0]!, i.imm, 31);
  if (op !== 7) c.regs[0] = r;
});
export const ALU_RIMM32 = per8((op) => (c, i) => {
  const r = alu(c, op, c.regs[i.rm]!, i.imm, 31);
  if (op !== 7) c.regs[i.rm] = r;
});
export const ALU_MIMM32 = per8((op) => (c, i) => {
  const off = i.ea(c, i);
  const a = c.rd32(i.seg, off);
  const r = aluResult(op, a, i.imm, carryIn(c, op));
  if (op !== 7) c.wr32(i.seg, off, r);
  aluFlags(c, op, a, i.imm, r, 31);
});

export const testRM: Handler = (c, i) => c.setLogic(readRm(c, i) & c.getReg(i.size, i.reg), TOP[i.size]!);
export const test32RR: Handler = (c, i) => c.setLogic(c.regs[i.rm]! & c.regs[i.reg]!, 31);
export const testAccImm: Handler = (c, i) => c.setLogic(c.getReg(i.size, 0) & i.imm, TOP[i.size]!);
export const testRmImm: Handler = (c, i) => c.setLogic(readRm(c, i) & i.imm, TOP[i.size]!);

// INC/DEC keep CF.
export function incDecFlags(c: CPU, a: number, r: number, dec: boolean, top: number): void {
  const cf = c.getCF();
  c.setLazy(dec ? Lazy.Sub : Lazy.Add, a, 1, r, top);
  c.flags = (c.flags & ~CF) | cf;
  c.lazyMask = ARITH & ~CF;
}
export const inc32r: Handler = (c, i) => { const a = c.regs[i.reg]!; const r = (a + 1) | 0; c.regs[i.reg] = r; incDecFlags(c, a, r, false, 31); };
export const dec32r: Handler = (c, i) => { const a = c.regs[i.reg]!; const r = (a - 1) | 0; c.regs[i.reg] = r; incDecFlags(c, a, r, true, 31); };
export const incR: Handler = (c, i) => { const a = c.getReg(i.size, i.reg); const r = a + 1; c.setReg(i.size, i.reg, r); incDecFlags(c, a, r, false, TOP[i.size]!); };
export const decR: Handler = (c, i) => { const a = c.getReg(i.size, i.reg); const r = a - 1; c.setReg(i.size, i.reg, r); incDecFlags(c, a, r, true, TOP[i.size]!); };
export const incDecRm: Handler = (c, i) => {
  const dec = i.op === 1;
  if (i.mem) {
    const off = i.ea(c, i);
    const a = c.rd(i.size, i.seg, off);
    const r = dec ? (a - 1) | 0 : (a + 1) | 0;
    c.wr(i.size, i.seg, off, r);
    incDecFlags(c, a, r, dec, TOP[i.size]!);
  } else {
    const a = c.getReg(i.size, i.rm);
    const r = dec ? (a - 1) | 0 : (a + 1) | 0;
    c.setReg(i.size, i.rm, r);
    incDecFlags(c, a, r, dec, TOP[i.size]!);
  }
};

// ---------------------------------------------------------------- group 3: NOT NEG MUL IMUL DIV IDIV

let mulHi = 0;
/** Unsigned 32x32 -> 64: returns the low dword, high dword in mulHi. */
function mulU32(a: number, b: number): number {
  a >>>= 0; b >>>= 0;
  const al = a & 0xffff, ah = a >>> 16, bl = b & 0xffff, bh = b >>> 16;
  const ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
  const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  mulHi = (hh + (lh >>> 16) + (hl >>> 16) + (mid >>> 16)) | 0;
  return ((ll & 0xffff) | (mid << 16)) | 0;
}
function mulS32(a: number, b: number): number {
  const lo = mulU32(a, b);
  mulHi = (mulHi - (a < 0 ? b : 0) - (b < 0 ? a : 0)) | 0;
  return lo;
}

/** MUL/IMUL flags: CF=OF=overflow; SF/ZF/PF from the low result (undefined by the SDM), AF cleared. */
function mulFlags(c: CPU, overflow: boolean, lo: number, top: number): void {
  c.setLogic(lo, top);
  if (overflow) c.flags |= CF | OF;
}

let divQ = 0, divR = 0;
/** Unsigned (hi:lo) / d for 32-bit d; returns false on #DE conditions. */
function divU64(hi: number, lo: number, d: number): boolean {
  hi >>>= 0; lo >>>= 0; d >>>= 0;
  if (d === 0 || hi >= d) return false;
  if (hi === 0) { divQ = Math.floor(lo / d); divR = lo - divQ * d; return true; }
  const t1 = hi * 65536 + (lo >>> 16);
  const q1 = Math.floor(t1 / d);
  const r1 = t1 - q1 * d;
  const t0 = r1 * 65536 + (lo & 0xffff);
  const q0 = Math.floor(t0 / d);
  divR = t0 - q0 * d;
  divQ = q1 * 65536 + q0;
  return divQ <= 0xffffffff;
}

export const group3: Handler = (c, i) => {
  const size = i.size, top = TOP[size]!;
  switch (i.op) {
    case 2: { // NOT
      if (i.mem) { const off = i.ea(c, i); c.wr(size, i.seg, off, ~c.rd(size, i.seg, off)); }
      else c.setReg(size, i.rm, ~c.getReg(size, i.rm));
      return;
    }
    case 3: { // NEG
      const off = i.mem ? i.ea(c, i) : 0;
      const a = i.mem ? c.rd(size, i.seg, off) : c.getReg(size, i.rm);
      const r = (0 - a) | 0;
      if (i.mem) c.wr(size, i.seg, off, r); else c.setReg(size, i.rm, r);
      c.setLazy(Lazy.Sub, 0, a, r, top);
      return;
    }
    case 4: { // MUL
      const b = readRm(c, i) >>> 0;
      if (size === 1) {
        const r = c.getReg8(0) * b; c.r16[0] = r; mulFlags(c, r > 0xff, r, 7);
      } else if (size === 2) {
        const r = c.r16[0]! * b; c.r16[0] = r; c.r16[Reg.EDX << 1] = r >>> 16; mulFlags(c, (r >>> 16) !== 0, r, 15);
      } else {
        const lo = mulU32(c.regs[0]!, b); c.regs[0] = lo; c.regs[Reg.EDX] = mulHi; mulFlags(c, mulHi !== 0, lo, 31);
      }
      return;
    }
    case 5: { // IMUL one-operand
      const b = readRm(c, i);
      if (size === 1) {
        const r = ((c.getReg8(0) << 24) >> 24) * ((b << 24) >> 24); c.r16[0] = r; mulFlags(c, r !== ((r << 24) >> 24), r, 7);
      } else if (size === 2) {
        const r = ((c.r16[0]! << 16) >> 16) * ((b << 16) >> 16); c.r16[0] = r; c.r16[Reg.EDX << 1] = r >> 16; mulFlags(c, r !== ((r << 16) >> 16), r, 15);
      } else {
        const lo = mulS32(c.regs[0]!, b | 0); c.regs[0] = lo; c.regs[Reg.EDX] = mulHi; mulFlags(c, mulHi !== (lo >> 31), lo, 31);
      }
      return;
    }
    case 6: { // DIV
      const d = readRm(c, i) >>> 0;
      if (size === 1) {
        const n = c.r16[0]!;
        if (d === 0) c.raise(Vec.DE);
        const q = Math.floor(n / d);
        if (q > 0xff) c.raise(Vec.DE);
        c.r16[0] = q | ((n - q * d) << 8);
      } else if (size === 2) {
        const n = (c.r16[Reg.EDX << 1]! * 65536) + c.r16[0]!;
        if (d === 0) c.raise(Vec.DE);
        const q = Math.floor(n / d);
        if (q > 0xffff) c.raise(Vec.DE);
        c.r16[0] = q; c.r16[Reg.EDX << 1] = n - q * d;
      } else {
        if (!divU64(c.regs[Reg.EDX]!, c.regs[0]!, d)) c.raise(Vec.DE);
        c.regs[0] = divQ; c.regs[Reg.EDX] = divR;
      }
      return;
    }
    default: { // IDIV
      const raw = readRm(c, i);
      if (size === 1 || size === 2) {
        const bits = size * 8;
        const d = (raw << (32 - bits)) >> (32 - bits);
        const n = size === 1 ? (c.r16[0]! << 16) >> 16 : (c.regs[Reg.EDX]! << 16) | c.r16[0]!;
        if (d === 0) c.raise(Vec.DE);
        const q = Math.trunc(n / d);
        const lim = 1 << (bits - 1);
        if (q >= lim || q < -lim) c.raise(Vec.DE);
        const r = n - q * d;
        if (size === 1) c.r16[0] = (q & 0xff) | ((r & 0xff) << 8);
        else { c.r16[0] = q; c.r16[Reg.EDX << 1] = r; }
      } else {
        const d = raw | 0;
        let hi = c.regs[Reg.EDX]!, lo = c.regs[0]!;
        const negN = hi < 0;
        if (negN) { lo = (~lo + 1) | 0; hi = (~hi + (lo === 0 ? 1 : 0)) | 0; }
        const negD = d < 0;
        const ad = negD ? -d : d;
        if (d === 0) c.raise(Vec.DE);
        if (hi >>> 0 >= ad >>> 0 && ad !== 0) c.raise(Vec.DE);
        if (!divU64(hi, lo, ad >>> 0)) c.raise(Vec.DE);
        let q = negN !== negD ? -divQ : divQ;
        const r = negN ? -divR : divR;
        if (q > 0x7fffffff || q < -0x80000000) c.raise(Vec.DE);
        q |= 0;
        c.regs[0] = q; c.regs[Reg.EDX] = r;
      }
    }
  }
};

export const imul2: Handler = (c, i) => imulInto(c, i, c.getReg(i.size, i.reg), readRm(c, i));
export const imul3: Handler = (c, i) => imulInto(c, i, readRm(c, i), i.imm);
function imulInto(c: CPU, i: Insn, a: number, b: number): void {
  if (i.size === 2) {
    const r = ((a << 16) >> 16) * ((b << 16) >> 16);
    c.setReg16(i.reg, r);
    mulFlags(c, r !== ((r << 16) >> 16), r, 15);
  } else {
    const lo = mulS32(a | 0, b | 0);
    c.regs[i.reg] = lo;
    mulFlags(c, mulHi !== (lo >> 31), lo, 31);
  }
}

// ---------------------------------------------------------------- shifts and rotates

/** Computes a shift/rotate; returns the result and leaves the new flags in shiftFlagsOut. */
let shiftFlagsOut = 0;
let shiftFlagsMask = 0;
function shift(c: CPU, op: number, v: number, count: number, size: number): number {
  const bits = size * 8, top = bits - 1, mask = MASK[size]!;
  v &= mask;
  let r = 0, cf = 0, of = 0;
  switch (op) {
    case 0: { // ROL
      const n = count & top;
      r = ((v << n) | (v >>> (bits - n))) & mask;
      if (n === 0) r = v;
      cf = r & 1;
      of = ((r >>> top) & 1) ^ cf;
      shiftFlagsMask = CF | OF;
      break;
    }
    case 1: { // ROR
      const n = count & top;
      r = n === 0 ? v : ((v >>> n) | (v << (bits - n))) & mask;
      cf = (r >>> top) & 1;
      of = cf ^ ((r >>> (top - 1)) & 1);
      shiftFlagsMask = CF | OF;
      break;
    }
    case 2: { // RCL
      const n = size === 4 ? count : count % (bits + 1);
      let carry = c.getCF();
      r = v;
      for (let k = 0; k < n; k++) { const out = (r >>> top) & 1; r = ((r << 1) | carry) & mask; carry = out; }
      cf = carry;
      of = ((r >>> top) & 1) ^ cf;
      shiftFlagsMask = CF | OF;
      if (n === 0) { shiftFlagsMask = 0; }
      break;
    }
    case 3: { // RCR
      const n = size === 4 ? count : count % (bits + 1);
      let carry = c.getCF();
      r = v;
      of = ((r >>> top) & 1) ^ carry;
      for (let k = 0; k < n; k++) { const out = r & 1; r = ((r >>> 1) | (carry << top)) & mask; carry = out; }
      cf = carry;
      shiftFlagsMask = CF | OF;
      if (n === 0) { shiftFlagsMask = 0; }
      break;
    }
    case 4: case 6: { // SHL/SAL
      r = count < 32 ? (v << count) & mask : 0;
      cf = count <= bits ? (v >>> (bits - count)) & 1 : 0;
      of = ((r >>> top) & 1) ^ cf;
      shiftFlagsMask = ARITH;
      break;
    }
    case 5: { // SHR
      r = count < 32 ? v >>> count : 0;
      cf = count <= 32 ? (v >>> (count - 1)) & 1 : 0;
      if (count > bits) cf = 0;
      of = (v >>> top) & 1;
      shiftFlagsMask = ARITH;
      break;
    }
    default: { // SAR
      const sv = (v << (32 - bits)) >> (32 - bits);
      const n = count > top ? top : count;
      r = (sv >> n) & mask;
      cf = count > top ? (sv >>> 31) & 1 : (sv >> (count - 1)) & 1;
      of = 0;
      shiftFlagsMask = ARITH;
    }
  }
  shiftFlagsOut = (cf ? CF : 0) | (of ? OF : 0);
  return r;
}

function commitShiftFlags(c: CPU, r: number, top: number): void {
  if (shiftFlagsMask === ARITH) {
    // SZP from the result; AF is undefined (left clear).
    c.setLogic(r, top);
    c.flags |= shiftFlagsOut;
  } else if (shiftFlagsMask) {
    c.materialize();
    c.flags = (c.flags & ~(CF | OF)) | shiftFlagsOut;
  }
}

function shiftRm(c: CPU, i: Insn, rawCount: number): void {
  const count = rawCount & 0x1f;
  if (count === 0) { if (i.mem) c.rd(i.size, i.seg, i.ea(c, i)); return; }
  const top = TOP[i.size]!;
  if (i.mem) {
    const off = i.ea(c, i);
    const r = shift(c, i.op, c.rd(i.size, i.seg, off), count, i.size);
    c.wr(i.size, i.seg, off, r);
    commitShiftFlags(c, r, top);
  } else {
    const r = shift(c, i.op, c.getReg(i.size, i.rm), count, i.size);
    c.setReg(i.size, i.rm, r);
    commitShiftFlags(c, r, top);
  }
}
export const shiftImm: Handler = (c, i) => shiftRm(c, i, i.imm);
export const shiftCl: Handler = (c, i) => shiftRm(c, i, c.r8[4]!);

/** SHLD (op 0) / SHRD (op 1). */
function shld(c: CPU, i: Insn, raw: number): void {
  const count = raw & 0x1f;
  const off = i.mem ? i.ea(c, i) : 0;
  const dst = i.mem ? c.rd(i.size, i.seg, off) : c.getReg(i.size, i.rm);
  if (count === 0) return;
  const src = c.getReg(i.size, i.reg);
  const bits = i.size * 8, top = bits - 1;
  let r: number, cf: number;
  if (i.size === 4) {
    if (i.op === 0) { r = (dst << count) | (src >>> (32 - count)); cf = (dst >>> (32 - count)) & 1; }
    else { r = (dst >>> count) | (src << (32 - count)); cf = (dst >>> (count - 1)) & 1; }
  } else {
    // 16-bit: counts above 16 shift through the 48-bit concatenation dst:src:dst (as real CPUs do).
    const d = dst & 0xffff, s = src & 0xffff;
    const wide = (d * 0x100000000) + (s * 0x10000) + d;
    if (i.op === 0) {
      const shifted = wide * Math.pow(2, count);
      r = Math.floor(shifted / 0x100000000) & 0xffff;
      cf = Math.floor(shifted / 0x1000000000000) & 1;
    } else {
      r = Math.floor(wide / Math.pow(2, count)) & 0xffff;
      cf = Math.floor(wide / Math.pow(2, count - 1)) & 1;
    }
  }
  const of = ((r ^ dst) >>> top) & 1;
  if (i.mem) c.wr(i.size, i.seg, off, r); else c.setReg(i.size, i.rm, r);
  c.setLogic(r, top);
  c.flags |= (cf ? CF : 0) | (of ? OF : 0);
}
export const shldImm: Handler = (c, i) => shld(c, i, i.imm);
export const shldCl: Handler = (c, i) => shld(c, i, c.r8[4]!);

// ---------------------------------------------------------------- bit operations

function btApply(c: CPU, i: Insn, bitOffset: number, fromReg: boolean): void {
  const size = i.size, bits = size * 8;
  let v: number, off = 0;
  let bit: number;
  if (i.mem) {
    off = i.ea(c, i);
    if (fromReg) {
      // Register bit offsets address memory outside the operand (signed).
      const signed = size === 4 ? bitOffset | 0 : (bitOffset << 16) >> 16;
      off = (off + Math.floor(signed / bits) * size) | 0;
      if (!i.a32) off &= 0xffff;
      bit = ((signed % bits) + bits) % bits;
    } else bit = bitOffset & (bits - 1);
    v = c.rd(size, i.seg, off);
  } else {
    v = c.getReg(size, i.rm);
    bit = bitOffset & (bits - 1);
  }
  const cf = (v >>> bit) & 1;
  let r = v;
  switch (i.op) {
    case 1: r = v | (1 << bit); break;
    case 2: r = v & ~(1 << bit); break;
    case 3: r = v ^ (1 << bit); break;
  }
  if (i.op !== 0) { if (i.mem) c.wr(size, i.seg, off, r); else c.setReg(size, i.rm, r); }
  c.materialize();
  c.flags = (c.flags & ~CF) | cf;
}
export const btReg: Handler = (c, i) => btApply(c, i, c.getReg(i.size, i.reg), true);
export const btImm: Handler = (c, i) => btApply(c, i, i.imm, false);

export const bsf: Handler = (c, i) => {
  const v = readRm(c, i) & MASK[i.size]!;
  if (v === 0) { c.setLogic(0, 31); return; }
  const r = 31 - Math.clz32(v & -v);
  c.setReg(i.size, i.reg, r);
  c.setLogic(r | 0x100, 31);
  c.flags &= ~ZF; c.lazyMask &= ~ZF;
};
export const bsr: Handler = (c, i) => {
  const v = readRm(c, i) & MASK[i.size]!;
  if (v === 0) { c.setLogic(0, 31); return; }
  const r = 31 - Math.clz32(v);
  c.setReg(i.size, i.reg, r);
  c.setLogic(r | 0x100, 31);
  c.flags &= ~ZF; c.lazyMask &= ~ZF;
};

export const bswap: Handler = (c, i) => {
  const v = c.regs[i.reg]!;
  if (i.size === 2) { c.r16[i.reg << 1] = 0; return; }
  c.regs[i.reg] = ((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24);
};

export const setcc: Handler = (c, i) => writeRm(c, i, COND[i.op]!(c) ? 1 : 0);
export const cmovcc: Handler = (c, i) => {
  const v = readRm(c, i);
  if (COND[i.op]!(c)) c.setReg(i.size, i.reg, v);
};

// ---------------------------------------------------------------- data movement

export const movRR: Handler = (c, i) => c.setReg(i.size, i.rm, c.getReg(i.size, i.reg));
export const movRRrev: Handler = (c, i) => c.setReg(i.size, i.reg, c.getReg(i.size, i.rm));
export const movMR: Handler = (c, i) => c.wr(i.size, i.seg, i.ea(c, i), c.getReg(i.size, i.reg));
export const movRM: Handler = (c, i) => c.setReg(i.size, i.reg, c.rd(i.size, i.seg, i.ea(c, i)));
export const mov32RR: Handler = (c, i) => { c.regs[i.rm] = c.regs[i.reg]!; };
export const mov32RRrev: Handler = (c, i) => { c.regs[i.reg] = c.regs[i.rm]!; };
export const mov32MR: Handler = (c, i) => c.wr32(i.seg, i.ea(c, i), c.regs[i.reg]!);
export const mov32RM: Handler = (c, i) => { c.regs[i.reg] = c.rd32(i.seg, i.ea(c, i)); };
export const movRImm: Handler = (c, i) => c.setReg(i.size, i.reg, i.imm);
export const mov32RImm: Handler = (c, i) => { c.regs[i.reg] = i.imm; };
export const movRImmRm: Handler = (c, i) => c.setReg(i.size, i.rm, i.imm);
export const movMImm: Handler = (c, i) => c.wr(i.size, i.seg, i.ea(c, i), i.imm);
export const mov32MImm: Handler = (c, i) => c.wr32(i.seg, i.ea(c, i), i.imm);
export const lea: Handler = (c, i) => c.setReg(i.size, i.reg, i.ea(c, i));
export const movzx: Handler = (c, i) => {
  const v = i.mem ? c.rd(i.imm, i.seg, i.ea(c, i)) : c.getReg(i.imm, i.rm);
  c.setReg(i.size, i.reg, v);
};
export const movsx: Handler = (c, i) => {
  const v = i.mem ? c.rd(i.imm, i.seg, i.ea(c, i)) : c.getReg(i.imm, i.rm);
  c.setReg(i.size, i.reg, i.imm === 1 ? (v << 24) >> 24 : (v << 16) >> 16);
};
export const movRmSeg: Handler = (c, i) => {
  const v = c.sel[i.reg]!;
  // A register destination with 32-bit operand size gets the selector zero-extended.
  if (i.mem) c.wr16(i.seg, i.ea(c, i), v); else c.setReg(i.size, i.rm, v);
};
export const movSegRm: Handler = (c, i) => {
  const v = i.mem ? c.rd16(i.seg, i.ea(c, i)) : c.getReg16(i.rm);
  loadSeg(c, i.reg, v);
};

export const xchgAcc: Handler = (c, i) => {
  const a = c.getReg(i.size, 0);
  c.setReg(i.size, 0, c.getReg(i.size, i.reg));
  c.setReg(i.size, i.reg, a);
};
export const xchgRM: Handler = (c, i) => {
  const r = c.getReg(i.size, i.reg);
  if (i.mem) {
    const off = i.ea(c, i);
    const m = c.rd(i.size, i.seg, off);
    c.wr(i.size, i.seg, off, r);
    c.setReg(i.size, i.reg, m);
  } else {
    c.setReg(i.size, i.reg, c.getReg(i.size, i.rm));
    c.setReg(i.size, i.rm, r);
  }
};

export const xadd: Handler = (c, i) => {
  const off = i.mem ? i.ea(c, i) : 0;
  const d = i.mem ? c.rd(i.size, i.seg, off) : c.getReg(i.size, i.rm);
  const s = c.getReg(i.size, i.reg);
  const r = (d + s) | 0;
  if (i.mem) c.wr(i.size, i.seg, off, r);
  c.setReg(i.size, i.reg, d);
  if (!i.mem) c.setReg(i.size, i.rm, r);
  c.setLazy(Lazy.Add, d, s, r, TOP[i.size]!);
};

export const cmpxchg: Handler = (c, i) => {
  const off = i.mem ? i.ea(c, i) : 0;
  const d = i.mem ? c.rd(i.size, i.seg, off) : c.getReg(i.size, i.rm);
  const a = c.getReg(i.size, 0);
  const eq = ((a - d) & MASK[i.size]!) === 0;
  if (eq) {
    const s = c.getReg(i.size, i.reg);
    if (i.mem) c.wr(i.size, i.seg, off, s); else c.setReg(i.size, i.rm, s);
  } else {
    // The destination is written back unchanged (a locked read-modify-write).
    if (i.mem) c.wr(i.size, i.seg, off, d);
    c.setReg(i.size, 0, d);
  }
  c.setLazy(Lazy.Sub, a, d, (a - d) | 0, TOP[i.size]!);
};

export const cmpxchg8b: Handler = (c, i) => {
  const off = i.ea(c, i);
  const lo = c.rd32(i.seg, off), hi = c.rd32(i.seg, (off + 4) | 0);
  c.materialize();
  if (lo === c.regs[Reg.EAX] && hi === c.regs[Reg.EDX]) {
    c.segCheckW(i.seg, (off + 4) >>> 0, 4);
    c.wr32(i.seg, off, c.regs[Reg.EBX]!); c.wr32(i.seg, (off + 4) | 0, c.regs[Reg.ECX]!);
    c.flags |= ZF;
  } else {
    c.segCheckW(i.seg, (off + 4) >>> 0, 4);
    c.wr32(i.seg, off, lo); c.wr32(i.seg, (off + 4) | 0, hi);
    c.regs[Reg.EAX] = lo; c.regs[Reg.EDX] = hi;
    c.flags &= ~ZF;
  }
};

export const cbw: Handler = (c, i) => {
  if (i.size === 4) c.regs[0] = (c.regs[0]! << 16) >> 16; else c.r16[0] = (c.r8[0]! << 24) >> 24;
};
export const cwd: Handler = (c, i) => {
  if (i.size === 4) c.regs[Reg.EDX] = c.regs[0]! >> 31; else c.r16[Reg.EDX << 1] = (c.r16[0]! << 16) >> 31;
};
export const xlat: Handler = (c, i) => {
  const off = i.a32 ? (c.regs[Reg.EBX]! + c.r8[0]!) | 0 : (c.r16[Reg.EBX << 1]! + c.r8[0]!) & 0xffff;
  c.r8[0] = c.rd8(i.seg, off);
};

// ---------------------------------------------------------------- flags instructions

export const clc: Handler = (c) => { c.materialize(); c.flags &= ~CF; };
export const stc: Handler = (c) => { c.materialize(); c.flags |= CF; };
export const cmc: Handler = (c) => { c.materialize(); c.flags ^= CF; };
export const cld: Handler = (c) => { c.flags &= ~DF; };
export const std: Handler = (c) => { c.flags |= DF; };
export const lahf: Handler = (c) => { c.r8[1] = c.getEflags() & 0xff; };
export const sahf: Handler = (c) => {
  c.materialize();
  c.flags = (c.flags & ~(SF | ZF | AF | PF | CF)) | (c.r8[1]! & (SF | ZF | AF | PF | CF));
};
export const salc: Handler = (c) => { c.r8[0] = c.getCF() ? 0xff : 0; };

export const pushf: Handler = (c, i) => {
  if (c.v86 && ((c.flags & IOPL) >>> 12) < 3) c.gp(0);
  const f = c.getEflags() & ~(VM | RF);
  if (i.size === 4) c.push32(f); else c.push16(f);
};
export const popf: Handler = (c, i) => {
  if (c.v86 && ((c.flags & IOPL) >>> 12) < 3) c.gp(0);
  const v = i.size === 4 ? c.pop32() : c.pop16();
  const cur = c.getEflags();
  let mask = ARITH | TF | DF | NT | (i.size === 4 ? AC | ID : 0);
  const iopl = (cur & IOPL) >>> 12;
  if (!c.protectedMode || c.cpl === 0) mask |= IOPL | IF;
  else if (c.cpl <= iopl) mask |= IF;
  if (c.v86) mask = (mask | IF) & ~IOPL;
  c.setEflags((cur & ~mask) | (v & mask));
};

// ---------------------------------------------------------------- stack

export const push32r: Handler = (c, i) => c.push32(c.regs[i.reg]!);
export const pop32r: Handler = (c, i) => { const v = c.pop32(); c.regs[i.reg] = v; };
export const pushR: Handler = (c, i) => c.push(i.size, c.getReg(i.size, i.reg));
export const popR: Handler = (c, i) => { const v = c.pop(i.size); c.setReg(i.size, i.reg, v); };
export const pushImm: Handler = (c, i) => c.push(i.size, i.imm);
export const pushRm: Handler = (c, i) => c.push(i.size, readRm(c, i));
export const popRm: Handler = (c, i) => {
  // The destination address is computed with ESP already incremented.
  const v = c.peek(i.size, 0);
  c.adjustSp(i.size);
  try { writeRm(c, i, v); } catch (e) { c.adjustSp(-i.size); throw e; }
};
export const pushSeg: Handler = (c, i) => {
  const v = c.sel[i.reg]!;
  // A 32-bit push of a segment register writes only the low word (as P6 and later do).
  if (i.size === 4) {
    const sp = c.stack32 ? (c.regs[Reg.ESP]! - 4) | 0 : (c.r16[Reg.ESP << 1]! - 4) & 0xffff;
    c.segCheckW(Seg.SS, sp >>> 0, 4);
    c.wr16(Seg.SS, sp, v);
    c.adjustSp(-4);
  } else c.push16(v);
};
export const popSeg: Handler = (c, i) => {
  const v = c.peek(i.size, 0) & 0xffff;
  // POP SS: ESP moves with the stack size the pop was made with, not the new segment's.
  const esp = c.spAfter(i.size);
  loadSeg(c, i.reg, v);
  c.regs[Reg.ESP] = esp;
};
export const pusha: Handler = (c, i) => {
  const size = i.size;
  const sp = c.stack32 ? (c.regs[Reg.ESP]! - 8 * size) >>> 0 : (c.r16[Reg.ESP << 1]! - 8 * size) & 0xffff;
  c.segCheckW(Seg.SS, sp, 8 * size);
  c.probeWrite((c.segBase[Seg.SS]! + sp) | 0, 8 * size);
  const esp = c.getReg(size, Reg.ESP);
  for (let r = 0; r < 8; r++) c.push(size, r === Reg.ESP ? esp : c.getReg(size, r));
};
export const popa: Handler = (c, i) => {
  const size = i.size;
  const vals: number[] = [];
  for (let k = 0; k < 8; k++) vals.push(c.peek(size, k * size));
  for (let k = 0; k < 8; k++) { const r = 7 - k; if (r !== Reg.ESP) c.setReg(size, r, vals[k]!); }
  c.adjustSp(8 * size);
};
export const enter: Handler = (c, i) => {
  // SDM ENTER: every stack-pointer step (pushes, the frame-pointer walk, the final allocation)
  // uses the stack size; the operand size says what is pushed and how much of EBP is set.
  const size = i.size, frame = i.imm, level = i.imm2 & 31;
  const ebp = c.regs[Reg.EBP]!;
  const esp0 = c.stack32 ? c.regs[Reg.ESP]! : c.r16[Reg.ESP << 1]!;
  const pushed = size * (level > 0 ? level + 1 : 1);
  const low = c.stack32 ? (esp0 - pushed) >>> 0 : (esp0 - pushed) & 0xffff;
  const final = c.stack32 ? (esp0 - pushed - frame) >>> 0 : (esp0 - pushed - frame) & 0xffff;
  const walkAt = (k: number) => c.stack32 ? (ebp - k * size) | 0 : (ebp - k * size) & 0xffff;
  // Everything that can fault is checked first (SDM: including a write at the final ESP).
  c.segCheckW(Seg.SS, low, pushed);
  c.probeWrite((c.segBase[Seg.SS]! + low) | 0, pushed);
  if (frame > 0) { c.segCheckW(Seg.SS, final, size); c.probeWrite((c.segBase[Seg.SS]! + final) | 0, size); }
  for (let k = 1; k < level; k++) c.segCheckR(Seg.SS, walkAt(k) >>> 0, size);
  const savedEsp = c.regs[Reg.ESP]!;
  c.push(size, ebp);
  // FrameTemp is the whole ESP (a 16-bit stack keeps its upper half).
  const frameTemp = c.regs[Reg.ESP]!;
  if (level > 0) {
    // Read and push one at a time, as the SDM's pseudocode does: a deep walk can read back what
    // this instruction has just pushed. A page fault on a read restores ESP (restartable).
    try {
      for (let k = 1; k < level; k++) c.push(size, c.rd(size, Seg.SS, walkAt(k)));
    } catch (e) { c.regs[Reg.ESP] = savedEsp; throw e; }
    c.push(size, frameTemp);
  }
  c.setReg(size, Reg.EBP, frameTemp);
  c.adjustSp(-frame);
};
export const leave: Handler = (c, i) => {
  const bp = c.stack32 ? c.regs[Reg.EBP]! : c.r16[Reg.EBP << 1]!;
  const v = c.rd(i.size, Seg.SS, bp);
  if (c.stack32) c.regs[Reg.ESP] = (bp + i.size) | 0; else c.r16[Reg.ESP << 1] = bp + i.size;
  c.setReg(i.size, Reg.EBP, v);
};

// ---------------------------------------------------------------- control flow

function jumpTo(c: CPU, i: Insn, target: number): void {
  target = i.size === 4 ? target >>> 0 : target & 0xffff;
  if (target > c.segLimit[Seg.CS]!) c.gp(0);
  c.eip = target | 0;
}
export const jcc: Handler = (c, i) => { if (COND[i.op]!(c)) jumpTo(c, i, c.eip + i.imm); };
export const jmpRel: Handler = (c, i) => jumpTo(c, i, c.eip + i.imm);
export const jmpRm: Handler = (c, i) => jumpTo(c, i, readRm(c, i));
export const callRel: Handler = (c, i) => {
  const target = i.size === 4 ? (c.eip + i.imm) >>> 0 : (c.eip + i.imm) & 0xffff;
  if (target > c.segLimit[Seg.CS]!) c.gp(0);
  c.push(i.size, c.eip);
  c.eip = target | 0;
};
export const callRm: Handler = (c, i) => {
  const v = readRm(c, i);
  const target = i.size === 4 ? v >>> 0 : v & 0xffff;
  if (target > c.segLimit[Seg.CS]!) c.gp(0);
  c.push(i.size, c.eip);
  c.eip = target | 0;
};
export const ret32: Handler = (c) => {
  const t = c.peek(4, 0) >>> 0;
  if (t > c.segLimit[Seg.CS]!) c.gp(0);
  c.adjustSp(4);
  c.eip = t | 0;
};
export const ret16: Handler = (c) => {
  const t = c.peek(2, 0);
  if (t > c.segLimit[Seg.CS]!) c.gp(0);
  c.adjustSp(2);
  c.eip = t | 0;
};
export const retImm: Handler = (c, i) => {
  const t = i.size === 4 ? c.peek(4, 0) >>> 0 : c.peek(2, 0);
  if (t > c.segLimit[Seg.CS]!) c.gp(0);
  c.adjustSp(i.size + i.imm);
  c.eip = t | 0;
};
export const loop: Handler = (c, i) => {
  let n: number;
  if (i.a32) { n = (c.regs[Reg.ECX]! - 1) | 0; c.regs[Reg.ECX] = n; }
  else { n = (c.r16[Reg.ECX << 1]! - 1) & 0xffff; c.r16[Reg.ECX << 1] = n; }
  let take = n !== 0;
  if (i.op === 0) take = take && !c.getZF();
  else if (i.op === 1) take = take && c.getZF();
  if (take) {
    const t = i.size === 4 ? (c.eip + i.imm) >>> 0 : (c.eip + i.imm) & 0xffff;
    if (t > c.segLimit[Seg.CS]!) {
      // Undo the counter so the fault is restartable.
      if (i.a32) c.regs[Reg.ECX] = n + 1; else c.r16[Reg.ECX << 1] = n + 1;
      c.gp(0);
    }
    c.eip = t | 0;
  }
};
export const jcxz: Handler = (c, i) => {
  const n = i.a32 ? c.regs[Reg.ECX]! : c.r16[Reg.ECX << 1]!;
  if (n === 0) jumpTo(c, i, c.eip + i.imm);
};
export const jmpFar: Handler = (c, i) => farTransfer(c, Far.Jmp, i.imm2, i.imm, i.size);
export const callFar: Handler = (c, i) => farTransfer(c, Far.Call, i.imm2, i.imm, i.size);
function farPtr(c: CPU, i: Insn): [number, number] {
  const off = i.ea(c, i);
  const o = c.rd(i.size, i.seg, off);
  const s = c.rd16(i.seg, (off + i.size) | 0);
  return [s, o];
}
export const jmpFarRm: Handler = (c, i) => { const [s, o] = farPtr(c, i); farTransfer(c, Far.Jmp, s, o, i.size); };
export const callFarRm: Handler = (c, i) => { const [s, o] = farPtr(c, i); farTransfer(c, Far.Call, s, o, i.size); };
export const retFar: Handler = (c, i) => farReturn(c, i.size, i.imm);
export const iret_: Handler = (c, i) => iret(c, i.size);
export const loadFarPtr: Handler = (c, i) => {
  const [s, o] = farPtr(c, i);
  loadSeg(c, i.op, s);
  c.setReg(i.size, i.reg, o);
};

export const intN: Handler = (c, i) => deliverInterrupt(c, i.imm, true, false, 0);
export const int3: Handler = (c) => deliverInterrupt(c, Vec.BP, true, false, 0);
export const int1: Handler = (c) => deliverInterrupt(c, Vec.DB, false, false, 0);
export const into: Handler = (c) => { if (c.getOF()) deliverInterrupt(c, Vec.OF, true, false, 0); };
export const bound: Handler = (c, i) => {
  const off = i.ea(c, i);
  const idx = c.getReg(i.size, i.reg);
  let lo = c.rd(i.size, i.seg, off), hi = c.rd(i.size, i.seg, (off + i.size) | 0);
  let v = idx;
  if (i.size === 2) { lo = (lo << 16) >> 16; hi = (hi << 16) >> 16; v = (idx << 16) >> 16; }
  if (v < lo || v > hi) c.raise(Vec.BR);
};

// ---------------------------------------------------------------- BCD

export const daa: Handler = (c) => {
  const f = c.getEflags();
  const old = c.r8[0]!, oldCf = f & CF;
  let al = old, cf = 0, af = 0;
  if ((al & 0xf) > 9 || (f & AF)) { al += 6; af = AF; cf = oldCf || (al > 0xff ? CF : 0); al &= 0xff; }
  if (old > 0x99 || oldCf) { al = (al + 0x60) & 0xff; cf = CF; }
  c.r8[0] = al;
  setSzp(c, al, cf | af);
};
export const das: Handler = (c) => {
  const f = c.getEflags();
  const old = c.r8[0]!, oldCf = f & CF;
  let al = old, cf = 0, af = 0;
  if ((al & 0xf) > 9 || (f & AF)) { cf = oldCf || (al < 6 ? CF : 0); al = (al - 6) & 0xff; af = AF; }
  if (old > 0x99 || oldCf) { al = (al - 0x60) & 0xff; cf = CF; }
  c.r8[0] = al;
  setSzp(c, al, cf | af);
};
export const aaa: Handler = (c) => {
  const f = c.getEflags();
  if ((c.r8[0]! & 0xf) > 9 || (f & AF)) {
    c.r16[0] = c.r16[0]! + 0x106;
    c.r8[0] = c.r8[0]! & 0xf;
    setSzp(c, c.r8[0]!, AF | CF);
  } else {
    c.r8[0] = c.r8[0]! & 0xf;
    setSzp(c, c.r8[0]!, 0);
  }
};
export const aas: Handler = (c) => {
  const f = c.getEflags();
  if ((c.r8[0]! & 0xf) > 9 || (f & AF)) {
    c.r16[0] = c.r16[0]! - 6;
    c.r8[1] = c.r8[1]! - 1;
    c.r8[0] = c.r8[0]! & 0xf;
    setSzp(c, c.r8[0]!, AF | CF);
  } else {
    c.r8[0] = c.r8[0]! & 0xf;
    setSzp(c, c.r8[0]!, 0);
  }
};
export const aam: Handler = (c, i) => {
  if (i.imm === 0) c.raise(Vec.DE);
  const al = c.r8[0]!;
  c.r8[1] = Math.floor(al / i.imm);
  c.r8[0] = al % i.imm;
  setSzp(c, c.r8[0]!, 0);
};
export const aad: Handler = (c, i) => {
  const al = (c.r8[0]! + c.r8[1]! * i.imm) & 0xff;
  c.r16[0] = al;
  setSzp(c, al, 0);
};
/** SF/ZF/PF from an 8-bit result plus explicit CF/AF; OF cleared (undefined for these). */
function setSzp(c: CPU, v: number, cfaf: number): void {
  c.materialize();
  c.flags = (c.flags & ~ARITH) | cfaf | PARITY[v & 0xff]! | (v & 0xff ? 0 : ZF) | (v & 0x80 ? SF : 0);
}

// ---------------------------------------------------------------- string instructions

function idx(c: CPU, a32: boolean, r: number): number { return a32 ? c.regs[r]! : c.r16[r << 1]!; }
function bump(c: CPU, a32: boolean, r: number, d: number): void {
  if (a32) c.regs[r] = (c.regs[r]! + d) | 0; else c.r16[r << 1] = c.r16[r << 1]! + d;
}
function count(c: CPU, i: Insn): number { return i.a32 ? c.regs[Reg.ECX]! >>> 0 : c.r16[Reg.ECX << 1]!; }
function setCount(c: CPU, i: Insn, n: number): void { if (i.a32) c.regs[Reg.ECX] = n; else c.r16[Reg.ECX << 1] = n; }
/** Iterations per execution of a REP instruction before it yields (to let interrupts in). */
const REP_CHUNK = 4096;
/** Page-sized bulk steps per execution of REP MOVS/STOS (up to 256 KiB). */
const REP_BULK_PAGES = 64;
/**
 * REP STOS runs up to this many bytes are stored in a loop: the kernel clears small structures
 * (each `struct page` at boot: 7 dwords), and `fill`'s call costs ~40 ns, as much as 16 stores.
 * (`copyWithin` costs about the same, but a byte loop copying 8-64 bytes no less.)
 */
const SMALL_RUN = 64;

/** After a partial REP run: re-execute the same instruction. */
function repeatInsn(c: CPU, i: Insn): void {
  c.eip = (c.eip - (i.end - i.start)) & (c.code32 ? -1 : 0xffff);
  c.exitBlock = true;
}

/**
 * Bulk REP MOVS/STOS within RAM pages: moves as many whole elements as fit before the next page
 * boundary of source and destination (ascending, 32-bit addressing, flat-enough segments).
 * Returns the number of elements done (0: take the exact element-by-element path).
 */
function repBulk(c: CPU, i: Insn, n: number, movs: boolean): number {
  const size = i.size;
  if (!i.a32 || (c.flags & DF) || n < 2) return 0;
  const di = c.regs[Reg.EDI]! >>> 0;
  const dLin = (c.segBase[Seg.ES]! + di) | 0;
  let room = 0x1000 - (dLin & 0xfff);
  let si = 0, sLin = 0;
  if (movs) {
    si = c.regs[Reg.ESI]! >>> 0;
    sLin = (c.segBase[i.seg]! + si) | 0;
    room = Math.min(room, 0x1000 - (sLin & 0xfff));
  }
  const count = Math.min(n, Math.floor(room / size));
  if (count < 1) return 0;
  const bytes = count * size;
  // Segment windows for the whole run; any doubt goes to the exact path.
  if (di < c.segWLo[Seg.ES]! || di + bytes - 1 > c.segWHi[Seg.ES]!) return 0;
  if (movs && (si < c.segRLo[i.seg]! || si + bytes - 1 > c.segRHi[i.seg]!)) return 0;
  const sp = movs ? c.ramPage(sLin, false) : 0;
  if (sp < 0) return 0;
  const dp = c.ramSpan(dLin, bytes, true);
  if (dp < 0) return 0;
  const ram = c.ram;
  if (movs) {
    // A forward byte copy onto an overlapping higher destination replicates a pattern; memmove would not.
    if (dp > sp && dp < sp + bytes) return 0;
    ram.copyWithin(dp, sp, sp + bytes);
    c.regs[Reg.ESI] = (si + bytes) | 0;
  } else if (size === 1) {
    const v = c.r8[0]!;
    if (bytes > SMALL_RUN) ram.fill(v, dp, dp + bytes);
    else for (let k = dp; k < dp + bytes; k++) ram[k] = v;
  } else if (size === 4 && (dp & 3) === 0) {
    const v = c.regs[0]!, ram32 = c.ram32, first = dp >>> 2, end = (dp + bytes) >>> 2;
    if (bytes > SMALL_RUN) ram32.fill(v, first, end);
    else for (let k = first; k < end; k++) ram32[k] = v;
  } else {
    const v = c.regs[0]!;
    for (let k = 0; k < bytes; k += size) {
      ram[dp + k] = v; ram[dp + k + 1] = v >> 8;
      if (size === 4) { ram[dp + k + 2] = v >> 16; ram[dp + k + 3] = v >> 24; }
    }
  }
  c.regs[Reg.EDI] = (di + bytes) | 0;
  c.regs[Reg.ECX] = n - count;
  return count;
}

// One element of each string instruction; DF picks the direction.
const stepOf = (c: CPU, size: number) => (c.flags & DF ? -size : size);
export const movsOne: Handler = (c, i) => {
  const size = i.size, a32 = i.a32;
  const v = c.rd(size, i.seg, idx(c, a32, Reg.ESI));
  c.wr(size, Seg.ES, idx(c, a32, Reg.EDI), v);
  const step = stepOf(c, size);
  bump(c, a32, Reg.ESI, step); bump(c, a32, Reg.EDI, step);
};
export const stosOne: Handler = (c, i) => {
  c.wr(i.size, Seg.ES, idx(c, i.a32, Reg.EDI), c.getReg(i.size, 0));
  bump(c, i.a32, Reg.EDI, stepOf(c, i.size));
};
export const lodsOne: Handler = (c, i) => {
  c.setReg(i.size, 0, c.rd(i.size, i.seg, idx(c, i.a32, Reg.ESI)));
  bump(c, i.a32, Reg.ESI, stepOf(c, i.size));
};
const cmpsOne: Handler = (c, i) => {
  const size = i.size, a32 = i.a32;
  const a = c.rd(size, i.seg, idx(c, a32, Reg.ESI));
  const b = c.rd(size, Seg.ES, idx(c, a32, Reg.EDI));
  const step = stepOf(c, size);
  bump(c, a32, Reg.ESI, step); bump(c, a32, Reg.EDI, step);
  c.setLazy(Lazy.Sub, a, b, (a - b) | 0, TOP[size]!);
};
const scasOne: Handler = (c, i) => {
  const size = i.size, a = c.getReg(size, 0);
  const b = c.rd(size, Seg.ES, idx(c, i.a32, Reg.EDI));
  bump(c, i.a32, Reg.EDI, stepOf(c, size));
  c.setLazy(Lazy.Sub, a, b, (a - b) | 0, TOP[size]!);
};
const insOne: Handler = (c, i) => {
  const size = i.size, off = idx(c, i.a32, Reg.EDI);
  // The destination must be writable before the port is read (a read may have side effects).
  c.segCheckW(Seg.ES, off >>> 0, size);
  c.probeWrite((c.segBase[Seg.ES]! + off) | 0, size);
  c.wr(size, Seg.ES, off, c.io.read(c.r16[Reg.EDX << 1]!, size as 1 | 2 | 4));
  bump(c, i.a32, Reg.EDI, stepOf(c, size));
};
const outsOne: Handler = (c, i) => {
  c.io.write(c.r16[Reg.EDX << 1]!, i.size as 1 | 2 | 4, c.rd(i.size, i.seg, idx(c, i.a32, Reg.ESI)));
  bump(c, i.a32, Reg.ESI, stepOf(c, i.size));
};

/** Elements per execution: one when single-stepping (the trap comes after every iteration). */
const repBudget = (c: CPU) => (c.flags & TF ? 1 : REP_CHUNK);

/** Once, or REP: up to REP_CHUNK elements per execution, then the instruction runs again. */
function repRun(c: CPU, i: Insn, one: Handler): void {
  if (!i.rep) { one(c, i); return; }
  let n = count(c, i);
  let budget = repBudget(c);
  while (n !== 0 && budget-- > 0) { one(c, i); setCount(c, i, --n); }
  if (n !== 0) repeatInsn(c, i);
}

/** CMPS/SCAS: once, or REPE/REPNE until the count runs out or ZF says stop. */
function repCompare(c: CPU, i: Insn, one: Handler): void {
  if (!i.rep) { one(c, i); return; }
  let n = count(c, i);
  let budget = repBudget(c);
  while (n !== 0 && budget-- > 0) {
    one(c, i);
    setCount(c, i, --n);
    if (c.getZF() !== (i.rep === 1)) return;
  }
  if (n !== 0) repeatInsn(c, i);
}

/** REP MOVS/STOS: whole RAM pages in bulk first, then element by element. */
function repBulkFirst(c: CPU, i: Insn, movs: boolean): void {
  if (!i.rep || (c.flags & TF)) return;
  let n = count(c, i);
  for (let done, pages = REP_BULK_PAGES; n !== 0 && pages-- > 0 && (done = repBulk(c, i, n, movs)) > 0;) n -= done;
}

export const movs: Handler = (c, i) => { repBulkFirst(c, i, true); repRun(c, i, movsOne); };
export const stos: Handler = (c, i) => { repBulkFirst(c, i, false); repRun(c, i, stosOne); };
export const lods: Handler = (c, i) => repRun(c, i, lodsOne);
export const cmps: Handler = (c, i) => repCompare(c, i, cmpsOne);
export const scas: Handler = (c, i) => repCompare(c, i, scasOne);

// ---------------------------------------------------------------- port I/O

export const inImm: Handler = (c, i) => { ioAllowed(c, i.imm, i.size); c.setReg(i.size, 0, c.io.read(i.imm, i.size as 1 | 2 | 4)); };
export const inDx: Handler = (c, i) => { const p = c.r16[Reg.EDX << 1]!; ioAllowed(c, p, i.size); c.setReg(i.size, 0, c.io.read(p, i.size as 1 | 2 | 4)); };
export const outImm: Handler = (c, i) => { ioAllowed(c, i.imm, i.size); c.io.write(i.imm, i.size as 1 | 2 | 4, c.getReg(i.size, 0)); };
export const outDx: Handler = (c, i) => { const p = c.r16[Reg.EDX << 1]!; ioAllowed(c, p, i.size); c.io.write(p, i.size as 1 | 2 | 4, c.getReg(i.size, 0)); };
export const ins_: Handler = (c, i) => { ioAllowed(c, c.r16[Reg.EDX << 1]!, i.size); repRun(c, i, insOne); };
export const outs: Handler = (c, i) => { ioAllowed(c, c.r16[Reg.EDX << 1]!, i.size); repRun(c, i, outsOne); };

// ---------------------------------------------------------------- x87 escape

function fpuAvailable(c: CPU): void {
  if (c.cr[0]! & (CR0_EM | CR0_TS)) c.raise(Vec.NM);
}
export const fpuEsc: Handler = (c, i) => {
  fpuAvailable(c);
  let lin = 0, off = 0;
  if (i.mem) {
    off = i.ea(c, i) >>> 0;
    lin = c.segCheckR(i.seg, off, 1);
  }
  const fip = (c.eip - (i.end - i.start)) >>> 0;
  const realMode = !c.protectedMode || c.v86;
  c.fpu.execute(i.op, i.modrm, lin, i.size === 4, realMode, fip, c.sel[Seg.CS]!, off, c.sel[i.seg]!);
  if (i.op === 0xdf && i.modrm === 0xe0) c.r16[0] = c.fpu.getStatusWord();
};
export const fwait: Handler = (c) => {
  if ((c.cr[0]! & (CR0_MP | CR0_TS)) === (CR0_MP | CR0_TS)) c.raise(Vec.NM);
  c.fpu.fwait();
};
export const fxsaveRstor: Handler = (c, i) => {
  fpuAvailable(c);
  const off = i.ea(c, i) >>> 0;
  if (off & 15) c.gp(0);
  const lin = c.segCheckR(i.seg, off, 512);
  if (i.op === 0) c.fpu.fxsave(lin);
  else if (!c.fpu.fxrstor(lin)) c.gp(0); // reserved MXCSR bits
};


// ---------------------------------------------------------------- 32-bit register fast paths
// Specialized forms of the hottest instructions in protected-mode code; each closure has a
// constant sub-operation so the engine can fold the dispatch away.

const per16 = (f: (cc: number) => Handler): Handler[] => Array.from({ length: 16 }, (_, cc) => f(cc));

export const JCC32 = per16((cc) => {
  const p = COND[cc]!;
  return (c, i) => {
    if (p(c)) {
      const t = (c.eip + i.imm) >>> 0;
      if (t > c.segLimit[Seg.CS]!) c.gp(0);
      c.eip = t | 0;
    }
  };
});
export const SETCC_R = per16((cc) => { const p = COND[cc]!; return (c, i) => c.setReg8(i.rm, p(c) ? 1 : 0); });
export const CMOVCC32_RR = per16((cc) => { const p = COND[cc]!; return (c, i) => { if (p(c)) c.regs[i.reg] = c.regs[i.rm]!; }; });

export const lea32: Handler = (c, i) => { c.regs[i.reg] = i.ea(c, i); };
export const imul3_32R: Handler = (c, i) => {
  const lo = mulS32(c.regs[i.rm]!, i.imm);
  c.regs[i.reg] = lo;
  mulFlags(c, mulHi !== (lo >> 31), lo, 31);
};
export const imul2_32R: Handler = (c, i) => {
  const lo = mulS32(c.regs[i.reg]!, c.regs[i.rm]!);
  c.regs[i.reg] = lo;
  mulFlags(c, mulHi !== (lo >> 31), lo, 31);
};
export const test8RR: Handler = (c, i) => c.setLogic(c.getReg8(i.rm) & c.getReg8(i.reg), 7);
export const movzx8_32R: Handler = (c, i) => { c.regs[i.reg] = c.getReg8(i.rm); };
export const movzx8_32M: Handler = (c, i) => { c.regs[i.reg] = c.rd8(i.seg, i.ea(c, i)); };
export const movzx16_32M: Handler = (c, i) => { c.regs[i.reg] = c.rd16(i.seg, i.ea(c, i)); };

/** Shift/rotate of a 32-bit register by a non-zero immediate count (1..31). */
export const SHIFT32_RI: Handler[] = Array.from({ length: 8 }, (_, op) => {
  switch (op) {
    case 0: return (c, i) => { // ROL
      const v = c.regs[i.rm]!, n = i.imm;
      const r = (v << n) | (v >>> (32 - n));
      c.regs[i.rm] = r;
      const cf = r & 1;
      c.materialize();
      c.flags = (c.flags & ~(CF | OF)) | cf | ((((r >>> 31) ^ cf) & 1) ? OF : 0);
    };
    case 1: return (c, i) => { // ROR
      const v = c.regs[i.rm]!, n = i.imm;
      const r = (v >>> n) | (v << (32 - n));
      c.regs[i.rm] = r;
      const cf = r >>> 31;
      c.materialize();
      c.flags = (c.flags & ~(CF | OF)) | cf | (((cf ^ (r >>> 30)) & 1) ? OF : 0);
    };
    case 4: case 6: return (c, i) => { // SHL
      const v = c.regs[i.rm]!, n = i.imm;
      const r = v << n;
      c.regs[i.rm] = r;
      const cf = (v >>> (32 - n)) & 1;
      c.setLogic(r, 31);
      c.flags |= cf | ((((r >>> 31) ^ cf) & 1) ? OF : 0);
    };
    case 5: return (c, i) => { // SHR
      const v = c.regs[i.rm]!, n = i.imm;
      const r = v >>> n;
      c.regs[i.rm] = r;
      c.setLogic(r, 31);
      c.flags |= ((v >>> (n - 1)) & 1) | (v < 0 ? OF : 0);
    };
    case 7: return (c, i) => { // SAR
      const v = c.regs[i.rm]!, n = i.imm;
      const r = v >> n;
      c.regs[i.rm] = r;
      c.setLogic(r, 31);
      c.flags |= (v >> (n - 1)) & 1;
    };
    default: return shiftImm; // RCL/RCR keep the generic path
  }
});

/** Without REP a string instruction is its one-element step; skip the REP driver. */
export function stringFast(i: Insn, generic: Handler): Handler {
  if (i.rep) return generic;
  return generic === lods ? lodsOne : generic === stos ? stosOne : generic === movs ? movsOne : generic;
}
