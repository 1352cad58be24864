/**
 * Data movement and miscellany: MOV forms, XCHG, MOVZX/MOVSX, LEA, CBW..CDQ, LAHF/SAHF, flag
 * instructions, NOPs, XLAT, CMOVcc, SETcc, CMPXCHG(8B), XADD, and the BCD adjustments.
 */
import { type Form, opKey, plainForm, rm1632, rmForm } from './form.js';
import { AF, CF, EAX, EBX, EDX, OF, PF, SF, ZF, G, value, type Operand, type Size } from './gen.js';
import { DATA_ADDR, DATA_SIZE } from './native.js';

/** Opcode byte plus register (B0+r, B8+r, 90+r...). */
function regInOpcode(name: string, base: number, size: Size, imm: boolean, regs = [0, 1, 2, 3, 4, 5, 6, 7]): Form {
  return {
    name,
    count: 500,
    gen(g) {
      const r = g.rng.pick(regs);
      g.emit(...(size === 16 ? [0x66] : []), base + r);
      g.setReg(r, size, value(g.rng, size));
      g.setReg(EAX, size, value(g.rng, size));
      if (imm) g.emitImm(value(g.rng, size), size / 8);
      g.cover(opKey([base + r]));
    },
  };
}

/** MOV between the accumulator and an absolute address (A0-A3). */
function moffs(op: number, size: Size): Form {
  const load = op < 0xa2;
  return plainForm(`mov ${load ? `acc${size}, [moffs]` : `[moffs], acc${size}`}`, size === 16 ? [0x66, op] : [op], (g) => {
    const addr = DATA_ADDR + 0x10 + g.rng.below(DATA_SIZE - 0x20);
    g.emitImm(addr, 4);
    g.setReg(EAX, size, value(g.rng, size));
    if (load && g.rng.chance(0.5)) g.poke(addr, (size / 8) as 1 | 2 | 4, value(g.rng, size));
  });
}

/** LEA computes an address without touching memory: any registers, any displacement, 32- or 16-bit addressing. */
function lea(osz: 16 | 32, asz: 16 | 32): Form {
  return {
    name: `lea r${osz}, m (${asz}-bit addressing)`,
    count: 1000,
    gen(g) {
      const rng = g.rng;
      const r = rng.below(8);
      if (osz === 16) g.emit(0x66);
      if (asz === 16) g.emit(0x67);
      let enc: number[];
      if (asz === 16) enc = g.mem16();
      else {
        const mod = rng.below(3), rm = rng.below(8);
        enc = [(mod << 6) | rm];
        let disp = mod === 1 ? 1 : mod === 2 ? 4 : 0;
        if (rm === 4) {
          const sib = rng.below(256);
          enc.push(sib);
          if ((sib & 7) === 5 && mod === 0) disp = 4;
        } else if (rm === 5 && mod === 0) disp = 4;
        enc.push(...Array.from({ length: disp }, () => rng.below(256)));
      }
      g.emit(0x8d, enc[0]! | (r << 3), ...enc.slice(1));
      g.cover('8d');
    },
  };
}

const perCond = (body: (cc: number) => Form[]): Form[] => Array.from({ length: 16 }, (_, cc) => body(cc)).flat();
const CC = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'];

/** Half the time the accumulator equals the destination, so the exchange happens. */
function cmpxchgSetup(g: G, x: { rm: Operand }) {
  if (g.rng.chance(0.5)) g.setReg(EAX, x.rm.size, g.getOperand(x.rm));
}

const cmpxchg8b: Form = rmForm({
  name: 'cmpxchg8b m64', op: [0x0f, 0xc7], digit: 1, rmSize: 32, kind: 'mem', memBytes: 8,
  setup: (g, x) => {
    if (x.rm.kind !== 'mem') return;
    const lo = g.peek(x.rm.addr, 4), hi = g.peek(x.rm.addr + 4, 4);
    if (g.rng.chance(0.5)) { g.setReg(EAX, 32, lo); g.setReg(EDX, 32, hi); }
    else if (g.rng.chance(0.3)) g.setReg(EAX, 32, lo);
  },
});

function bcd(name: string, op: number, undef: number, imm?: 'aam' | 'aad'): Form {
  return plainForm(name, [op], (g) => {
    const rng = g.rng;
    g.setReg(EAX, 16, rng.below(0x10000));
    if (imm) {
      const r = rng.below(10);
      const base = r < 6 ? 10 : r === 6 && imm === 'aam' ? 0 : rng.pick([0, 1, 2, 7, 8, 16, 0x7f, 0x80, 0xff, rng.below(256)]);
      g.emitImm(base, 1);
    }
  }, { undef, count: 3000 });
}

export const MOVE_FORMS: Form[] = [
  rmForm({ name: 'mov r/m8, r8', op: [0x88], rmSize: 8 }),
  ...rm1632({ name: (s) => `mov r/m${s}, r${s}`, op: [0x89] }),
  rmForm({ name: 'mov r8, r/m8', op: [0x8a], rmSize: 8, writes: false }),
  ...rm1632({ name: (s) => `mov r${s}, r/m${s}`, op: [0x8b], writes: false }),
  rmForm({ name: 'mov r/m8, imm8', op: [0xc6], digit: 0, rmSize: 8, imm: 1 }),
  ...rm1632({ name: (s) => `mov r/m${s}, imm${s}`, op: [0xc7], digit: 0, imm32: true }),
  regInOpcode('mov r8, imm8 (b0+r)', 0xb0, 8, true),
  regInOpcode('mov r32, imm32 (b8+r)', 0xb8, 32, true),
  regInOpcode('mov r16, imm16 (b8+r)', 0xb8, 16, true),
  moffs(0xa0, 8), moffs(0xa1, 32), moffs(0xa1, 16), moffs(0xa2, 8), moffs(0xa3, 32), moffs(0xa3, 16),
  rmForm({ name: 'xchg r/m8, r8', op: [0x86], rmSize: 8 }),
  ...rm1632({ name: (s) => `xchg r/m${s}, r${s}`, op: [0x87] }),
  regInOpcode('xchg eax, r32 (90+r)', 0x90, 32, false, [1, 2, 3, 4, 5, 6, 7]),
  regInOpcode('xchg ax, r16 (90+r)', 0x90, 16, false, [1, 2, 3, 4, 5, 6, 7]),
  rmForm({ name: 'movzx r32, r/m8', op: [0x0f, 0xb6], rmSize: 8, regSize: 32, writes: false }),
  rmForm({ name: 'movzx r16, r/m8', op: [0x0f, 0xb6], rmSize: 8, regSize: 16, osz: 16, writes: false }),
  rmForm({ name: 'movzx r32, r/m16', op: [0x0f, 0xb7], rmSize: 16, regSize: 32, writes: false }),
  rmForm({ name: 'movsx r32, r/m8', op: [0x0f, 0xbe], rmSize: 8, regSize: 32, writes: false }),
  rmForm({ name: 'movsx r16, r/m8', op: [0x0f, 0xbe], rmSize: 8, regSize: 16, osz: 16, writes: false }),
  rmForm({ name: 'movsx r32, r/m16', op: [0x0f, 0xbf], rmSize: 16, regSize: 32, writes: false }),
  lea(32, 32), lea(16, 32), lea(32, 16), lea(16, 16),
  plainForm('cwde', [0x98]), plainForm('cbw', [0x66, 0x98]), plainForm('cdq', [0x99]), plainForm('cwd', [0x66, 0x99]),
  plainForm('lahf', [0x9f]), plainForm('sahf', [0x9e]),
  plainForm('clc', [0xf8]), plainForm('stc', [0xf9]), plainForm('cmc', [0xf5]), plainForm('cld', [0xfc]), plainForm('std', [0xfd]),
  plainForm('salc', [0xd6]), plainForm('wait', [0x9b], undefined, { count: 20 }),
  rmForm({ name: 'arpl r/m16, r16', op: [0x63], rmSize: 16 }),
  plainForm('nop', [0x90]), plainForm('pause', [0xf3, 0x90], undefined, { key: '90' }), plainForm('xchg ax, ax', [0x66, 0x90]),
  ...[0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x0d].map((op) => rmForm({ name: `hint nop 0f ${op.toString(16)} m`, op: [0x0f, op], rmSize: 32, kind: 'mem', writes: false, count: 50 })),
  ...rm1632({ name: (s) => `nop r/m${s} (0f 1f /0)`, op: [0x0f, 0x1f], digit: 0, writes: false, count: 50 }),
  plainForm('xlat', [0xd7], (g) => {
    g.fix(EBX, DATA_ADDR + 0x10 + g.rng.below(DATA_SIZE - 0x120));
    g.setReg(EAX, 8, g.rng.below(256));
  }),
  ...perCond((cc) => rm1632({ name: (s) => `cmov${CC[cc]} r${s}, r/m${s}`, op: [0x0f, 0x40 + cc], writes: false, count: 150 })),
  ...perCond((cc) => [rmForm({ name: `set${CC[cc]} r/m8`, op: [0x0f, 0x90 + cc], rmSize: 8, count: 150 })]),
  rmForm({ name: 'cmpxchg r/m8, r8', op: [0x0f, 0xb0], rmSize: 8, setup: cmpxchgSetup }),
  ...rm1632({ name: (s) => `cmpxchg r/m${s}, r${s}`, op: [0x0f, 0xb1], setup: cmpxchgSetup }),
  cmpxchg8b,
  rmForm({ name: 'xadd r/m8, r8', op: [0x0f, 0xc0], rmSize: 8 }),
  ...rm1632({ name: (s) => `xadd r/m${s}, r${s}`, op: [0x0f, 0xc1] }),
];

export const BCD_FORMS: Form[] = [
  bcd('daa', 0x27, OF), bcd('das', 0x2f, OF),
  bcd('aaa', 0x37, OF | SF | ZF | PF), bcd('aas', 0x3f, OF | SF | ZF | PF),
  bcd('aam imm8', 0xd4, OF | AF | CF, 'aam'), bcd('aad imm8', 0xd5, OF | AF | CF, 'aad'),
];
