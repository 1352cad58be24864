/** Integer arithmetic and logic: ALU ops 00-3F and 80-83, INC/DEC, TEST, NOT/NEG, MUL/IMUL/DIV/IDIV. */
import { type Form, plainForm, rm1632, rmForm } from './form.js';
import { AF, CF, EAX, EDX, OF, PF, SF, ZF, G, mask, value, type Operand, type Size } from './gen.js';

const ALU = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'];
/** AND/OR/XOR (and TEST) leave AF undefined. */
const aluUndef = (op: number) => (op === 1 || op === 4 || op === 6 ? AF : 0);

/** AL/AX/EAX with an immediate: [66] op imm. */
function accImm(name: string, op: number, size: Size, undef: number): Form {
  return plainForm(name, size === 16 ? [0x66, op] : [op], (g) => {
    g.setReg(EAX, size, value(g.rng, size));
    g.emitImm(value(g.rng, size), size / 8);
  }, { undef });
}

export const ALU_FORMS: Form[] = [];
for (let op = 0; op < 8; op++) {
  const n = ALU[op]!, undef = aluUndef(op), writes = op !== 7;
  const b = op * 8;
  ALU_FORMS.push(
    rmForm({ name: `${n} r/m8, r8`, op: [b], rmSize: 8, undef, writes }),
    ...rm1632({ name: (s) => `${n} r/m${s}, r${s}`, op: [b + 1], undef, writes }),
    rmForm({ name: `${n} r8, r/m8`, op: [b + 2], rmSize: 8, undef, writes: false }),
    ...rm1632({ name: (s) => `${n} r${s}, r/m${s}`, op: [b + 3], undef, writes: false }),
    accImm(`${n} al, imm8`, b + 4, 8, undef),
    accImm(`${n} eax, imm32`, b + 5, 32, undef),
    accImm(`${n} ax, imm16`, b + 5, 16, undef),
    rmForm({ name: `${n} r/m8, imm8`, op: [0x80], digit: op, rmSize: 8, imm: 1, undef, writes }),
    ...rm1632({ name: (s) => `${n} r/m${s}, imm${s}`, op: [0x81], digit: op, imm32: true, undef, writes }),
    rmForm({ name: `${n} r/m8, imm8 (82 alias)`, op: [0x82], digit: op, rmSize: 8, imm: 1, undef, writes }),
    ...rm1632({ name: (s) => `${n} r/m${s}, simm8`, op: [0x83], digit: op, imm: 1, undef, writes }),
  );
}

/** INC/DEC r16/r32 (40-4F): the register comes from the opcode byte. */
function incDecReg(dec: boolean, size: 16 | 32): Form {
  return {
    name: `${dec ? 'dec' : 'inc'} r${size} (${dec ? '48' : '40'}+r)`,
    count: 500,
    gen(g) {
      const r = g.rng.below(8), opb = (dec ? 0x48 : 0x40) + r;
      g.emit(...(size === 16 ? [0x66] : []), opb);
      g.setReg(r, size, value(g.rng, size));
      g.cover(opb.toString(16));
    },
  };
}

export const INCDEC_FORMS: Form[] = [
  incDecReg(false, 32), incDecReg(false, 16), incDecReg(true, 32), incDecReg(true, 16),
  rmForm({ name: 'inc r/m8', op: [0xfe], digit: 0, rmSize: 8 }),
  rmForm({ name: 'dec r/m8', op: [0xfe], digit: 1, rmSize: 8 }),
  ...rm1632({ name: (s) => `inc r/m${s}`, op: [0xff], digit: 0 }),
  ...rm1632({ name: (s) => `dec r/m${s}`, op: [0xff], digit: 1 }),
  rmForm({ name: 'not r/m8', op: [0xf6], digit: 2, rmSize: 8 }),
  ...rm1632({ name: (s) => `not r/m${s}`, op: [0xf7], digit: 2 }),
  rmForm({ name: 'neg r/m8', op: [0xf6], digit: 3, rmSize: 8 }),
  ...rm1632({ name: (s) => `neg r/m${s}`, op: [0xf7], digit: 3 }),
];

export const TEST_FORMS: Form[] = [
  rmForm({ name: 'test r/m8, r8', op: [0x84], rmSize: 8, undef: AF, writes: false }),
  ...rm1632({ name: (s) => `test r/m${s}, r${s}`, op: [0x85], undef: AF, writes: false }),
  accImm('test al, imm8', 0xa8, 8, AF),
  accImm('test eax, imm32', 0xa9, 32, AF),
  accImm('test ax, imm16', 0xa9, 16, AF),
  rmForm({ name: 'test r/m8, imm8', op: [0xf6], digit: 0, rmSize: 8, imm: 1, undef: AF, writes: false }),
  ...rm1632({ name: (s) => `test r/m${s}, imm${s}`, op: [0xf7], digit: 0, imm32: true, undef: AF, writes: false }),
  rmForm({ name: 'test r/m8, imm8 (f6 /1 alias)', op: [0xf6], digit: 1, rmSize: 8, imm: 1, undef: AF, writes: false }),
  ...rm1632({ name: (s) => `test r/m${s}, imm${s} (f7 /1 alias)`, op: [0xf7], digit: 1, imm32: true, undef: AF, writes: false }),
];

const MUL_UNDEF = SF | ZF | AF | PF;
const DIV_UNDEF = CF | PF | AF | ZF | SF | OF;

/** Dividend in AX / DX:AX / EDX:EAX shaped so that about half the divisions do not overflow. */
function divSetup(signed: boolean, size: Size) {
  return (g: G, x: { rm: Operand }) => {
    const rng = g.rng;
    let d = g.getOperand(x.rm);
    if (rng.chance(0.05)) { g.setOperand(x.rm, 0); d = g.getOperand(x.rm); }
    const lo = value(rng, size);
    let hi: number;
    const m = mask(size);
    if (signed) {
      const r = rng.below(4);
      hi = r === 0 ? value(rng, size) : r === 1 ? rng.range(-3, 3) & m : (lo >>> (size - 1)) & 1 ? m : 0;
    } else {
      hi = rng.chance(0.7) && d !== 0 ? rng.below(d) : value(rng, size);
    }
    if (size === 8) g.setReg(EAX, 16, ((hi & 0xff) << 8) | lo);
    else { g.setReg(EAX, size, lo); g.setReg(EDX, size, hi); }
    // The divisor may live in EAX/EDX itself; give it back its value.
    g.setOperand(x.rm, d);
  };
}

export const MULDIV_FORMS: Form[] = [
  rmForm({ name: 'mul r/m8', op: [0xf6], digit: 4, rmSize: 8, undef: MUL_UNDEF, writes: false }),
  ...rm1632({ name: (s) => `mul r/m${s}`, op: [0xf7], digit: 4, undef: MUL_UNDEF, writes: false }),
  rmForm({ name: 'imul r/m8', op: [0xf6], digit: 5, rmSize: 8, undef: MUL_UNDEF, writes: false }),
  ...rm1632({ name: (s) => `imul r/m${s}`, op: [0xf7], digit: 5, undef: MUL_UNDEF, writes: false }),
  ...rm1632({ name: (s) => `imul r${s}, r/m${s}`, op: [0x0f, 0xaf], undef: MUL_UNDEF, writes: false }),
  ...rm1632({ name: (s) => `imul r${s}, r/m${s}, imm${s}`, op: [0x69], imm32: true, undef: MUL_UNDEF, writes: false }),
  ...rm1632({ name: (s) => `imul r${s}, r/m${s}, simm8`, op: [0x6b], imm: 1, undef: MUL_UNDEF, writes: false }),
  ...([8, 16, 32] as const).flatMap((size) => [6, 7].map((digit) => rmForm({
    name: `${digit === 6 ? 'div' : 'idiv'} r/m${size}`,
    op: [size === 8 ? 0xf6 : 0xf7], digit, rmSize: size, osz: size === 16 ? 16 : undefined,
    undef: DIV_UNDEF, writes: false, count: 1000,
    setup: divSetup(digit === 7, size),
  }))),
];
