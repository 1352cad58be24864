/** Shifts and rotates (C0/C1/D0-D3 /0-/7), SHLD/SHRD, and the bit instructions BT*, BSF/BSR, BSWAP. */
import { type Form, opKey, rm1632, rmForm } from './form.js';
import { AF, CF, ECX, FLAGS, G, OF, PF, SF, mask, value, type Size } from './gen.js';
import { DATA_ADDR } from './native.js';

const SHIFT = ['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', 'sal', 'sar'];

/** Counts near the interesting edges: 0, 1, the operand size, the 5-bit mask, the RCL/RCR modulus. */
function count(g: G, size: Size): number {
  const rng = g.rng;
  switch (rng.below(4)) {
    case 0: return rng.pick([0, 1, 2, size - 1, size, size + 1, 9, 17, 31, 32, 33, 0x41, 0xff, 0xe1]);
    case 1: return rng.below(256);
    default: return rng.below(size + 2);
  }
}

/** Flags the SDM leaves undefined for shift/rotate `op` by `cnt` (before masking to 5 bits). */
function shiftUndef(op: number, size: Size, cnt: number): number {
  const c = cnt & 31;
  if (c === 0) return 0;
  const of = c === 1 ? 0 : OF;
  if (op < 4) return of;
  let u = of | AF;
  if ((op === 4 || op === 5 || op === 6) && size < 32 && c >= size) u |= CF;
  return u;
}

function shiftForms(): Form[] {
  const out: Form[] = [];
  for (let op = 0; op < 8; op++) {
    for (const size of [8, 16, 32] as const) {
      const wide = size === 8 ? 0 : 1;
      const osz = size === 16 ? 16 : undefined;
      const n = `${SHIFT[op]} r/m${size}`;
      out.push(
        rmForm({
          name: `${n}, imm8`, op: [0xc0 + wide], digit: op, rmSize: size, osz, imm: 1,
          setup: (g, x) => { const c = count(g, size); g.patchImm(x.immAt, c, 1); g.flagMask = FLAGS & ~shiftUndef(op, size, c); },
        }),
        rmForm({
          name: `${n}, 1`, op: [0xd0 + wide], digit: op, rmSize: size, osz,
          setup: (g) => { g.flagMask = FLAGS & ~shiftUndef(op, size, 1); },
        }),
        rmForm({
          name: `${n}, cl`, op: [0xd2 + wide], digit: op, rmSize: size, osz,
          pre: (g) => g.fix(ECX, (g.rng.u32() & ~0xff) | count(g, size)),
          setup: (g) => { g.flagMask = FLAGS & ~shiftUndef(op, size, g.regs[ECX]! & 0xff); },
        }),
      );
    }
  }
  return out;
}

/** SHLD/SHRD: a 16-bit count above 16 leaves result and flags undefined, so counts stay at or below it. */
function shxdCount(g: G, size: 16 | 32): number {
  const c = size === 32 ? g.rng.below(32) : g.rng.below(17);
  return (g.rng.chance(0.2) ? g.rng.below(8) << 5 : 0) | c;
}
const shxdUndef = (c: number) => ((c & 31) === 0 ? 0 : AF | ((c & 31) === 1 ? 0 : OF));

function shxdForms(): Form[] {
  const out: Form[] = [];
  for (const [right, base] of [[false, 0xa4], [true, 0xac]] as const) {
    const n = right ? 'shrd' : 'shld';
    for (const size of [32, 16] as const) {
      out.push(
        rmForm({
          name: `${n} r/m${size}, r${size}, imm8`, op: [0x0f, base], rmSize: size, osz: size, imm: 1,
          setup: (g, x) => { const c = shxdCount(g, size); g.patchImm(x.immAt, c, 1); g.flagMask = FLAGS & ~shxdUndef(c); },
        }),
        rmForm({
          name: `${n} r/m${size}, r${size}, cl`, op: [0x0f, base + 1], rmSize: size, osz: size,
          pre: (g) => g.fix(ECX, (g.rng.u32() & ~0xff) | shxdCount(g, size)),
          setup: (g) => { g.flagMask = FLAGS & ~shxdUndef(g.regs[ECX]! & 0xff); },
        }),
      );
    }
  }
  return out;
}

const BT = ['bt', 'bts', 'btr', 'btc'];
const BT_UNDEF = OF | SF | AF | PF;
/** Memory operands of BT r/m, reg sit mid-area so bit offsets of +-0x2800 stay inside it. */
const BT_WINDOW: [number, number] = [DATA_ADDR + 0x600, DATA_ADDR + 0xa00];

function btForms(): Form[] {
  const out: Form[] = [];
  BT.forEach((n, i) => {
    const regOp = [0xa3, 0xab, 0xb3, 0xbb][i]!;
    out.push(...rm1632({
      name: (s) => `${n} r/m${s}, r${s}`, op: [0x0f, regOp], undef: BT_UNDEF, writes: i !== 0, regFree: true, window: BT_WINDOW,
      setup: (g, x) => {
        if (x.rm.kind !== 'mem') return;
        const size = x.rm.size;
        const off = g.rng.chance(0.5) ? g.rng.range(-64, 64) : g.rng.range(-0x2800, 0x2800);
        g.setReg(x.reg!.reg, size, off & mask(size));
      },
    }));
    out.push(...rm1632({ name: (s) => `${n} r/m${s}, imm8`, op: [0x0f, 0xba], digit: 4 + i, imm: 1, undef: BT_UNDEF, writes: i !== 0 }));
  });
  return out;
}

function bsfBsr(): Form[] {
  return [0xbc, 0xbd].flatMap((op) => rm1632({
    name: (s) => `${op === 0xbc ? 'bsf' : 'bsr'} r${s}, r/m${s}`, op: [0x0f, op], undef: CF | OF | SF | AF | PF, writes: false,
    setup: (g, x) => {
      const rng = g.rng;
      if (rng.chance(0.25)) g.setOperand(x.rm, 0);
      else if (rng.chance(0.3)) g.setOperand(x.rm, 1 << rng.below(x.rm.size));
      // A zero source leaves the destination undefined.
      if (g.getOperand(x.rm) === 0) g.regMask[x.reg!.reg] = ~mask(x.rm.size) >>> 0;
    },
  }));
}

const bswap: Form = {
  name: 'bswap r32',
  count: 500,
  gen(g) {
    const r = g.rng.below(8);
    g.emit(0x0f, 0xc8 + r);
    g.setReg(r, 32, value(g.rng, 32));
    g.cover(opKey([0x0f, 0xc8 + r]));
  },
};

export const SHIFT_FORMS = shiftForms();
export const SHXD_FORMS = shxdForms();
export const BIT_FORMS = [...btForms(), ...bsfBsr(), bswap];
