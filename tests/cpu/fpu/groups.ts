// The instruction groups of the x87 differential tests: per group a generator of seeded random cases.
import type { NativeCase } from './native.js';
import {
  Rng, randExt, randSingle, randDouble, randInt, randState, randCW, stateImage, extBytes, u32Bytes,
  type Ext, type StateSpec,
} from './gen.js';

export interface Group { name: string; n: number; gen: (r: Rng) => NativeCase; ulps?: number }

const mem16 = (r: Rng): Uint8Array => u32Bytes(r.u32(), r.u32(), r.u32(), r.u32());
export const mk = (code: number[], s: StateSpec, mem: Uint8Array, eflags = 2, eax = 0): NativeCase =>
  ({ code, state: stateImage(s), mem, eflags, eax });
const memForm = (esc: number, reg: number): number[] => [esc, (reg << 3) | 6];
const regForm = (esc: number, reg: number, i: number): number[] => [esc, 0xc0 | (reg << 3) | i];

/** A state with ST(0) (and ST(1)) present most of the time */
function opState(r: Rng, need = 1): StateSpec {
  const s = randState(r);
  for (let i = 0; i < need; i++) if (r.chance(0.95)) s.empty &= ~(1 << i);
  return s;
}

/** Values near the integer-store limits and halfway points */
function intish(r: Rng): Ext {
  if (r.chance(0.3)) return randExt(r);
  const n = r.pick([14, 15, 16, 30, 31, 32, 62, 63, 64, r.int(64), -1, -2]);
  const x = randExt(r);
  return [(x[0] & 0x8000) | (0x3fff + n), (r.chance(0.5) ? x[1] : 0x80000000 | (r.u32() >>> (r.int(31) + 1))) >>> 0, r.chance(0.5) ? x[2] : 0];
}

const arithRegs = [0, 1, 4, 5, 6, 7];
export const groups: Group[] = [
  {
    name: 'FADD/FMUL/FSUB(R)/FDIV(R)(P) ST(i)', n: 6000, gen: (r) => {
      const esc = r.pick([0xd8, 0xdc, 0xde]);
      return mk(regForm(esc, r.pick(arithRegs), r.int(8)), opState(r, 2), mem16(r));
    },
  },
  {
    name: 'arith m32/m64/m16int/m32int', n: 6000, gen: (r) => {
      const esc = r.pick([0xd8, 0xdc, 0xda, 0xde]);
      let mem: Uint8Array;
      if (esc === 0xd8) mem = u32Bytes(randSingle(r));
      else if (esc === 0xdc) { const [h, l] = randDouble(r); mem = u32Bytes(l, h); }
      else mem = u32Bytes(randInt(r, esc === 0xda ? 32 : 16)[1]);
      return mk(memForm(esc, r.pick(arithRegs)), opState(r), mem);
    },
  },
  {
    name: 'FCOM/FCOMP/FUCOM/FCOMPP/FCOMI/FTST', n: 4000, gen: (r) => {
      const forms: number[][] = [
        regForm(0xd8, 2, r.int(8)), regForm(0xd8, 3, r.int(8)), regForm(0xdc, 2, r.int(8)), regForm(0xdc, 3, r.int(8)),
        regForm(0xde, 2, r.int(8)), [0xde, 0xd9], regForm(0xdd, 4, r.int(8)), regForm(0xdd, 5, r.int(8)), [0xda, 0xe9],
        regForm(0xdb, 5, r.int(8)), regForm(0xdb, 6, r.int(8)), regForm(0xdf, 5, r.int(8)), regForm(0xdf, 6, r.int(8)), [0xd9, 0xe4],
      ];
      return mk(r.pick(forms), opState(r, 2), mem16(r), (r.u32() & 0x8d5) | 2);
    },
  },
  {
    name: 'FCOM/FICOM m32/m64/m16/m32', n: 2000, gen: (r) => {
      const esc = r.pick([0xd8, 0xdc, 0xda, 0xde]);
      let mem: Uint8Array;
      if (esc === 0xd8) mem = u32Bytes(randSingle(r));
      else if (esc === 0xdc) { const [h, l] = randDouble(r); mem = u32Bytes(l, h); }
      else mem = u32Bytes(randInt(r, esc === 0xda ? 32 : 16)[1]);
      return mk(memForm(esc, 2 + r.int(2)), opState(r), mem);
    },
  },
  {
    name: 'FLD/FILD/FBLD/constants', n: 4000, gen: (r) => {
      const s = randState(r, randCW(r), 0.5);
      const k = r.int(9);
      switch (k) {
        case 0: return mk(memForm(0xd9, 0), s, u32Bytes(randSingle(r)));
        case 1: { const [h, l] = randDouble(r); return mk(memForm(0xdd, 0), s, u32Bytes(l, h)); }
        case 2: return mk(memForm(0xdb, 5), s, extBytes(randExt(r)));
        case 3: return mk(memForm(0xdf, 0), s, u32Bytes(randInt(r, 16)[1]));
        case 4: return mk(memForm(0xdb, 0), s, u32Bytes(randInt(r, 32)[1]));
        case 5: { const [h, l] = randInt(r, 64); return mk(memForm(0xdf, 5), s, u32Bytes(l, h)); }
        case 6: { // packed BCD with valid digits
          const b = new Uint8Array(10);
          const digits = r.int(19);
          for (let d = 0; d < digits; d++) b[d >> 1] |= r.int(10) << ((d & 1) * 4);
          if (r.chance(0.5)) b[9] = 0x80;
          return mk(memForm(0xdf, 4), s, b);
        }
        case 7: return mk(regForm(0xd9, 0, r.int(8)), s, mem16(r));
        default: return mk([0xd9, 0xe8 + r.int(7)], s, mem16(r));
      }
    },
  },
  {
    name: 'FST/FSTP/FIST/FISTP/FBSTP', n: 6000, gen: (r) => {
      const s = opState(r);
      const k = r.int(9);
      if (k >= 3 && k <= 6) s.regs[0] = intish(r);
      switch (k) {
        case 0: return mk(memForm(0xd9, 2 + r.int(2)), s, mem16(r));
        case 1: return mk(memForm(0xdd, 2 + r.int(2)), s, mem16(r));
        case 2: return mk(memForm(0xdb, 7), s, mem16(r));
        case 3: return mk(memForm(0xdf, 2 + r.int(2)), s, mem16(r));
        case 4: return mk(memForm(0xdb, 2 + r.int(2)), s, mem16(r));
        case 5: return mk(memForm(0xdf, 7), s, mem16(r));
        case 6: return mk(memForm(0xdf, 6), s, mem16(r));
        case 7: return mk(regForm(0xdd, 2 + r.int(2), r.int(8)), s, mem16(r));
        default: return r.chance(0.3) ? mk(regForm(0xd9, 3, r.int(8)), s, mem16(r)) : mk(regForm(0xdf, 2 + r.int(2), r.int(8)), s, mem16(r));
      }
    },
  },
  {
    name: 'FCHS/FABS/FXAM/FXCH/FINCSTP/FDECSTP/FFREE(P)/FNOP/FCMOVcc', n: 3000, gen: (r) => {
      const forms: number[][] = [
        [0xd9, 0xe0], [0xd9, 0xe1], [0xd9, 0xe5], regForm(0xd9, 1, r.int(8)), regForm(0xdd, 1, r.int(8)), regForm(0xdf, 1, r.int(8)),
        [0xd9, 0xf6], [0xd9, 0xf7], regForm(0xdd, 0, r.int(8)), regForm(0xdf, 0, r.int(8)), [0xd9, 0xd0],
        regForm(0xda, r.int(4), r.int(8)), regForm(0xdb, r.int(4), r.int(8)),
      ];
      return mk(r.pick(forms), opState(r, 2), mem16(r), (r.u32() & 0x8d5) | 2);
    },
  },
  {
    name: 'FSQRT/FRNDINT/FXTRACT/FSCALE', n: 4000, gen: (r) => {
      const s = opState(r, 2);
      const op = r.pick([0xfa, 0xfc, 0xf4, 0xfd]);
      if (op === 0xfc) s.regs[0] = intish(r);
      if (op === 0xfd && r.chance(0.7)) { // mostly modest integer-ish scales
        const x = randExt(r);
        s.regs[1] = [(x[0] & 0x8000) | (0x3fff + r.int(16) - 1), x[1], x[2]];
      }
      return mk([0xd9, op], s, mem16(r));
    },
  },
  {
    name: 'FPREM/FPREM1', n: 3000, gen: (r) => {
      const s = opState(r, 2);
      if (r.chance(0.7)) { // finite operands with exponent differences around the partial-remainder limit
        const d = r.pick([r.int(64), 60 + r.int(10), r.int(300), r.int(20000)]);
        const b = randExt(r);
        const eb = 0x3fff + r.int(200) - 100;
        s.regs[1] = [(b[0] & 0x8000) | eb, (b[1] | 0x80000000) >>> 0, b[2]];
        const a = randExt(r);
        s.regs[0] = [(a[0] & 0x8000) | Math.min(0x7ffe, eb + d - (r.chance(0.2) ? 1 : 0)), (a[1] | 0x80000000) >>> 0, a[2]];
      }
      return mk([0xd9, r.pick([0xf8, 0xf5])], s, mem16(r));
    },
  },
  {
    name: 'FLDCW/FNSTCW/FNSTSW/FNCLEX/FNINIT/FNENI/FNDISI/FSETPM', n: 1500, gen: (r) => {
      const s = opState(r);
      const k = r.int(8);
      switch (k) {
        case 0: return mk(memForm(0xd9, 5), s, u32Bytes(r.u32()));
        case 1: return mk(memForm(0xd9, 7), s, mem16(r));
        case 2: return mk(memForm(0xdd, 7), s, mem16(r));
        case 3: return mk([0xdf, 0xe0], s, mem16(r), 2, r.u32());
        default: return mk([0xdb, r.pick([0xe0, 0xe1, 0xe2, 0xe3, 0xe4])], s, mem16(r));
      }
    },
  },
  {
    name: 'FNSTENV/FLDENV/FNSAVE/FRSTOR (16/32-bit)', n: 1500, gen: (r) => {
      const s = opState(r);
      const o16 = r.chance(0.3) ? [0x66] : [];
      const k = r.int(4);
      if (k === 0) return mk([...o16, ...memForm(0xd9, 6)], s, new Uint8Array(28));
      if (k === 1) return mk([...o16, ...memForm(0xdd, 6)], s, new Uint8Array(108));
      // a loaded environment: a random state's image with no unmasked exception pending
      const t = randState(r);
      const img = stateImage(t);
      const v = new DataView(img.buffer);
      v.setUint32(12, r.u32(), true); v.setUint32(16, r.u32() & 0x07ffffff, true);
      v.setUint32(20, r.u32(), true); v.setUint32(24, r.u32(), true);
      let mem = img;
      if (o16.length) { // 16-bit layout: 7 words then the registers
        mem = new Uint8Array(94);
        for (let w = 0; w < 7; w++) mem.set(img.subarray(w * 4, w * 4 + 2), w * 2);
        mem.set(img.subarray(28), 14);
      }
      if (k === 2) return mk([...o16, ...memForm(0xd9, 4)], s, mem.slice(0, o16.length ? 14 : 28));
      return mk([...o16, ...memForm(0xdd, 4)], s, mem);
    },
  },
  {
    name: 'FXSAVE/FXRSTOR', n: 500, gen: (r) => {
      const s = opState(r);
      if (r.chance(0.5)) return mk([0x0f, 0xae, 0x06], s, new Uint8Array(512));
      const t = randState(r), img = stateImage(t), b = new Uint8Array(512), v = new DataView(b.buffer);
      const iv = new DataView(img.buffer);
      v.setUint16(0, iv.getUint16(0, true), true); v.setUint16(2, iv.getUint16(4, true), true);
      let abridged = 0;
      for (let p = 0; p < 8; p++) if (((iv.getUint16(8, true) >>> (2 * p)) & 3) !== 3) abridged |= 1 << p;
      b[4] = abridged;
      v.setUint16(6, r.u32() & 0x7ff, true);
      v.setUint32(8, r.u32(), true); v.setUint16(12, r.u32(), true); v.setUint32(16, r.u32(), true); v.setUint16(20, r.u32(), true);
      v.setUint32(24, 0x1f80, true);
      for (let i = 0; i < 8; i++) b.set(img.subarray(28 + i * 10, 38 + i * 10), 32 + i * 16);
      return mk([0x0f, 0xae, 0x0e], s, b);
    },
  },
  {
    name: '#MF at waiting instructions', n: 600, gen: (r) => {
      const s = opState(r, 2);
      const unmasked = 1 << r.int(6);
      s.cw = (s.cw & ~0x3f) | (0x3f & ~unmasked);
      s.sw |= unmasked | 0x80 | 0x8000;
      const forms: number[][] = [[0x9b], [0xd9, 0xd0], [0xd8, 0xc1], [0xdb, 0xe2], [0xdb, 0xe3], memForm(0xdd, 7), [0xdf, 0xe0],
        memForm(0xd9, 7), memForm(0xd9, 5), [0xd9, 0xe0], [0xd9, 0xf7], regForm(0xdd, 0, 1), [0xdb, 0xe4]];
      const code = r.pick(forms);
      return mk(code, s, u32Bytes(s.cw | (r.chance(0.5) ? 0x3f : 0), 0, 0, 0));
    },
  },
  {
    // F2XM1 and FYL2XP1 are defined for |x| <= 1 and |x| < 1 - sqrt(2)/2 only: finite operands stay inside
    name: 'F2XM1/FYL2X/FYL2XP1/FPTAN/FPATAN/FSIN/FCOS/FSINCOS', n: 3000, ulps: 1, gen: (r) => {
      const s = opState(r, 2);
      const op = r.pick([0xf0, 0xf1, 0xf9, 0xf2, 0xf3, 0xfe, 0xff, 0xfb]);
      const x = randExt(r), st0 = s.regs[0];
      const finite = (st0[0] & 0x7fff) !== 0x7fff && (st0[0] & 0x7fff) !== 0 && (st0[1] & 0x80000000) !== 0;
      if (r.chance(0.6) || (finite && (op === 0xf0 || op === 0xf9))) {
        const e = op === 0xf0 ? 0x3ffe - r.int(70) : op === 0xf9 ? 0x3ffc - r.int(70) : 0x3fff + r.int(130) - 70;
        s.regs[0] = [(op === 0xf1 ? 0 : x[0] & 0x8000) | e, (x[1] | 0x80000000) >>> 0, x[2]];
        if (op === 0xf0 && r.chance(0.05)) s.regs[0] = [(x[0] & 0x8000) | 0x3fff, 0x80000000, 0]; // +-1
      }
      return mk([0xd9, op], s, mem16(r));
    },
  },
];


export function hashName(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}
