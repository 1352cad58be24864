/**
 * Stack operations, control transfers, string instructions, and the forms whose point is a fault
 * (#UD, #BR, #OF, INT3) or a prefix rule (LOCK).
 */
import { type Form, DEFAULT_COUNT, opKey, plainForm, rm1632, rmForm } from './form.js';
import { AF, DF, EAX, EBP, ECX, EDI, ESI, ESP, FLAGS, G, OF, PF, SF, mask, value, type Size } from './gen.js';
import { DATA_ADDR } from './native.js';

const with66 = (size: Size, ...bytes: number[]) => (size === 16 ? [0x66, ...bytes] : bytes);

// ---------------------------------------------------------------- stack

function pushPopReg(pop: boolean, size: 16 | 32): Form {
  return {
    name: `${pop ? 'pop' : 'push'} r${size}`,
    count: DEFAULT_COUNT,
    gen(g) {
      const r = g.rng.below(8), op = (pop ? 0x58 : 0x50) + r;
      g.emit(...with66(size, op));
      if (r !== ESP) g.setReg(r, size, value(g.rng, size));
      g.cover(opKey([op]));
    },
  };
}

/** A value POPF may load: arithmetic flags and DF vary, IF stays set (ring 3 natively cannot change it). */
const popfValue = (g: G) => (g.rng.u32() & FLAGS) | 0x202;

function enter(size: 16 | 32): Form {
  return plainForm(`enter imm16, imm8 (o${size})`, with66(size, 0xc8), (g) => {
    const rng = g.rng;
    g.fix(EBP, DATA_ADDR + 0x100 + rng.below(0xe00));
    // ENTER write-checks the final ESP (#PF natively), so the frame must end inside the data area.
    g.emitImm(rng.chance(0.2) ? rng.pick([0, 1, 2, 4]) : rng.below(0x500), 2);
    const r = rng.below(10);
    g.emitImm(r < 6 ? rng.below(4) : r < 9 ? rng.below(32) : rng.below(256), 1);
  });
}

export const STACK_FORMS: Form[] = [
  pushPopReg(false, 32), pushPopReg(false, 16), pushPopReg(true, 32), pushPopReg(true, 16),
  plainForm('push imm32', [0x68], (g) => void g.emitImm(value(g.rng), 4)),
  plainForm('push imm16', [0x66, 0x68], (g) => void g.emitImm(value(g.rng, 16), 2)),
  plainForm('push simm8', [0x6a], (g) => void g.emitImm(value(g.rng, 8), 1)),
  plainForm('push simm8 (o16)', [0x66, 0x6a], (g) => void g.emitImm(value(g.rng, 8), 1)),
  ...rm1632({ name: (s) => `push r/m${s}`, op: [0xff], digit: 6, writes: false }),
  ...rm1632({ name: (s) => `pop r/m${s}`, op: [0x8f], digit: 0 }),
  plainForm('pushad', [0x60]), plainForm('pusha (o16)', [0x66, 0x60]),
  plainForm('popad', [0x61]), plainForm('popa (o16)', [0x66, 0x61]),
  plainForm('pushfd', [0x9c]), plainForm('pushf (o16)', [0x66, 0x9c]),
  plainForm('popfd', [0x9d], (g) => g.poke(g.regs[ESP]!, 4, popfValue(g))),
  plainForm('popf (o16)', [0x66, 0x9d], (g) => g.poke(g.regs[ESP]!, 2, popfValue(g))),
  enter(32), enter(16),
  plainForm('leave', [0xc9], (g) => g.fix(EBP, DATA_ADDR + 0x100 + g.rng.below(0xe00))),
  plainForm('leave (o16)', [0x66, 0xc9], (g) => g.fix(EBP, DATA_ADDR + 0x100 + g.rng.below(0xe00))),
];

// ---------------------------------------------------------------- control transfers

/** Picks the branch target for a just-emitted relative branch whose displacement is at `at`. */
function relTarget(g: G, at: number, bytes: 1 | 4): void {
  const len = g.code.length;
  if (bytes === 1) {
    let rel: number;
    do rel = g.rng.range(-128, 127); while (rel < 0 && rel >= -len);
    g.patchImm(at, rel, 1);
  } else {
    g.patchImm(at, g.landing(0) - g.end, 4);
  }
}

function branch(name: string, op: number[], bytes: 1 | 4, setup?: (g: G) => void, key?: string): Form {
  return {
    name,
    count: DEFAULT_COUNT,
    gen(g) {
      g.emit(...op);
      relTarget(g, g.emitImm(0, bytes), bytes);
      setup?.(g);
      g.cover(key ?? opKey(op.filter((b) => b !== 0x67)));
    },
  };
}

function jcc(bytes: 1 | 4): Form {
  return {
    name: `jcc rel${bytes * 8}`,
    count: 1500,
    gen(g) {
      const cc = g.rng.below(16), op = bytes === 1 ? [0x70 + cc] : [0x0f, 0x80 + cc];
      if (g.rng.chance(0.2)) g.emit(g.rng.pick([0x2e, 0x3e])); // branch hints
      g.emit(...op);
      relTarget(g, g.emitImm(0, bytes), bytes);
      g.cover(opKey(op));
    },
  };
}

/** CALL/JMP r/m32: the target sits in a register that holds no address, or in memory. */
function indirect(digit: 2 | 4): Form {
  return {
    name: `${digit === 2 ? 'call' : 'jmp'} r/m32`,
    count: DEFAULT_COUNT,
    gen(g) {
      const viaReg = g.rng.chance(0.5);
      const m = viaReg ? null : g.mem(4);
      const r = viaReg ? g.freeReg() : 0;
      if (m && g.rng.chance(0.15)) g.emit(g.rng.pick([0x26, 0x2e, 0x36, 0x3e]));
      g.emit(0xff, ...(m ? [m.enc[0]! | (digit << 3), ...m.enc.slice(1)] : [0xc0 | (digit << 3) | r]));
      const target = g.landing(0);
      if (m) g.poke(m.ea, 4, target); else g.setReg(r, 32, target);
      g.cover(`ff/${digit}`);
    },
  };
}

/** LOOP/LOOPE/LOOPNE/JECXZ with ECX (or CX under 67) near zero. */
function loop(op: number, name: string, a16: boolean): Form {
  return branch(`${name}${a16 ? ' (a16: cx)' : ''} rel8`, a16 ? [0x67, op] : [op], 1, (g) => {
    const v = g.rng.chance(0.6) ? g.rng.below(4) : value(g.rng, a16 ? 16 : 32);
    g.setReg(ECX, a16 ? 16 : 32, v);
  });
}

export const BRANCH_FORMS: Form[] = [
  jcc(1), jcc(4),
  branch('jmp rel8', [0xeb], 1), branch('jmp rel32', [0xe9], 4), branch('call rel32', [0xe8], 4),
  indirect(2), indirect(4),
  plainForm('ret', [0xc3], (g) => g.poke(g.regs[ESP]!, 4, g.landing(0))),
  plainForm('ret imm16', [0xc2], (g) => { g.emitImm(value(g.rng, 16), 2); g.poke(g.regs[ESP]!, 4, g.landing(0)); }),
  ...[[0xe0, 'loopne'], [0xe1, 'loope'], [0xe2, 'loop'], [0xe3, 'jecxz']].flatMap(([op, n]) =>
    [loop(op as number, n as string, false), loop(op as number, n as string, true)]),
];

// ---------------------------------------------------------------- strings

const STRING_OPS: [string, number, boolean, boolean, boolean][] = [
  // name, opcode (8-bit form), reads ESI, uses EDI, compares
  ['movs', 0xa4, true, true, false], ['cmps', 0xa6, true, true, true], ['stos', 0xaa, false, true, false],
  ['lods', 0xac, true, false, false], ['scas', 0xae, false, true, true],
];

function stringForm(name: string, op: number, src: boolean, dst: boolean, compares: boolean, size: Size, rep: 0 | 0xf3 | 0xf2): Form {
  const opb = size === 8 ? op : op + 1, elem = size / 8;
  return {
    name: `${rep === 0xf3 ? (compares ? 'repe ' : 'rep ') : rep === 0xf2 ? 'repne ' : ''}${name}${size === 8 ? 'b' : size === 16 ? 'w' : 'd'}`,
    count: DEFAULT_COUNT,
    gen(g) {
      const rng = g.rng;
      const n = rep ? (rng.chance(0.1) ? 0 : rng.range(1, 16)) : 1;
      const pre: number[] = [];
      if (rep) pre.push(rep);
      if (size === 16) pre.push(0x66);
      if (src && rng.chance(0.15)) pre.push(rng.pick([0x26, 0x2e, 0x36, 0x3e]));
      if (rng.chance(0.5)) pre.reverse();
      g.emit(...pre, opb);
      const spot = () => DATA_ADDR + 0x80 + rng.below(0xf00);
      const si = spot();
      let di = spot();
      if (src && dst && rng.chance(0.35)) di = rng.chance(0.5) ? si : si + elem * rng.range(-3, 3);
      g.fix(ESI, si); g.fix(EDI, di);
      if (rep) g.fix(ECX, n); else g.setReg(ECX, 32, value(rng, 32));
      const step = g.eflags & DF ? -elem : elem;
      const w = elem as 1 | 2 | 4;
      if (compares && !src && rng.chance(0.6)) {
        // SCAS: plant the accumulator value in the scanned run.
        const v = value(rng, size);
        g.setReg(EAX, size, v);
        const k = rep === 0xf3 ? 3 : 1;
        for (let i = 0; i < k; i++) g.poke(di + step * (rep === 0xf2 ? rng.below(Math.max(n, 1)) : i), w, v);
      }
      if (!compares && g.rng.chance(0.5)) g.setReg(EAX, size, value(rng, size));
      g.cover(opKey([opb]));
    },
  };
}

export const STRING_FORMS: Form[] = STRING_OPS.flatMap(([name, op, src, dst, compares]) =>
  ([8, 16, 32] as const).flatMap((size) =>
    ([0, 0xf3, ...(compares ? [0xf2] : [])] as (0 | 0xf3 | 0xf2)[]).map((rep) => stringForm(name, op, src, dst, compares, size, rep))));

// ---------------------------------------------------------------- faults and prefixes

function bound(size: 16 | 32): Form {
  return rmForm({
    name: `bound r${size}, m${size}&${size}`, op: [0x62], rmSize: size, osz: size, kind: 'mem', memBytes: size / 4, regFree: true, writes: false,
    setup: (g, x) => {
      if (x.rm.kind !== 'mem') return;
      const rng = g.rng, m = mask(size), sign = (v: number) => (size === 16 ? (v << 16) >> 16 : v | 0);
      const lo = value(rng, size), hi = rng.chance(0.7) ? (lo + rng.below(1000)) & m : value(rng, size);
      g.poke(x.rm.addr, (size / 8) as 2 | 4, lo);
      g.poke(x.rm.addr + size / 8, (size / 8) as 2 | 4, hi);
      const span = sign(hi) - sign(lo);
      const idx = rng.chance(0.5) && span >= 0 ? sign(lo) + rng.below(span + 1) : sign(lo) + rng.range(-3, span + 3);
      g.setReg(x.reg!.reg, size, idx & m);
    },
  });
}

/** Memory-destination instructions that accept LOCK. */
const LOCKABLE: { name: string; op: number[]; digit?: number; size: Size; imm?: 1 | 4; undef?: number }[] = [
  { name: 'add', op: [0x01], size: 32 }, { name: 'or', op: [0x08], size: 8, undef: AF }, { name: 'adc', op: [0x11], size: 32 },
  { name: 'sbb', op: [0x19], size: 32 }, { name: 'and', op: [0x21], size: 32, undef: AF }, { name: 'sub', op: [0x28], size: 8 },
  { name: 'xor', op: [0x31], size: 32, undef: AF }, { name: 'add imm', op: [0x81], digit: 0, size: 32, imm: 4 },
  { name: 'sub simm8', op: [0x83], digit: 5, size: 32, imm: 1 }, { name: 'not', op: [0xf7], digit: 2, size: 32 },
  { name: 'neg', op: [0xf6], digit: 3, size: 8 }, { name: 'inc', op: [0xff], digit: 0, size: 32 }, { name: 'dec', op: [0xfe], digit: 1, size: 8 },
  { name: 'xchg', op: [0x87], size: 32 }, { name: 'bts imm', op: [0x0f, 0xba], digit: 5, size: 32, imm: 1, undef: OF | SF | AF | PF },
  { name: 'btr imm', op: [0x0f, 0xba], digit: 6, size: 32, imm: 1, undef: OF | SF | AF | PF },
  { name: 'btc imm', op: [0x0f, 0xba], digit: 7, size: 16, imm: 1, undef: OF | SF | AF | PF },
  { name: 'cmpxchg', op: [0x0f, 0xb1], size: 32 }, { name: 'xadd', op: [0x0f, 0xc1], size: 32 },
];

export const FAULT_FORMS: Form[] = [
  plainForm('ud2', [0x0f, 0x0b], undefined, { count: 20 }),
  plainForm('into', [0xce]),
  plainForm('int3', [0xcc], undefined, { count: 20 }),
  bound(32), bound(16),
  rmForm({ name: 'lea r32, r32 (#UD)', op: [0x8d], rmSize: 32, kind: 'reg', count: 20 }),
  ...LOCKABLE.map((l) => rmForm({ name: `lock ${l.name} m${l.size}`, prefix: [0xf0], op: l.op, digit: l.digit, rmSize: l.size, imm: l.imm, kind: 'mem', undef: l.undef, count: 50 })),
  rmForm({ name: 'lock add r32, r32 (#UD)', prefix: [0xf0], op: [0x01], rmSize: 32, kind: 'reg', count: 20 }),
  rmForm({ name: 'lock cmp m32, r32 (#UD)', prefix: [0xf0], op: [0x39], rmSize: 32, kind: 'mem', writes: false, count: 20 }),
  rmForm({ name: 'lock mov m32, r32 (#UD)', prefix: [0xf0], op: [0x89], rmSize: 32, kind: 'mem', count: 20 }),
  plainForm('lock nop (#UD)', [0xf0, 0x90], undefined, { count: 20, key: '90' }),
  {
    name: 'unassigned 0f xx (#UD)',
    count: 60,
    gen(g) {
      g.emit(0x0f, g.rng.pick([0x04, 0x0a, 0x0c, 0x0e, 0x24, 0x25, 0x26, 0x27, 0x36, 0x39, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f, 0x7a, 0x7b, 0xa6, 0xa7, 0xb9, 0xff]), g.rng.below(256), 0, 0, 0, 0, 0);
    },
  },
  {
    name: 'redundant prefixes up to and past the 15-byte limit (#GP)',
    count: 60,
    gen(g) {
      if (g.rng.chance(0.5)) {
        const n = g.rng.range(11, 16);
        for (let i = 0; i < n; i++) g.emit(g.rng.pick([0x26, 0x2e, 0x36, 0x3e, 0x66]));
        g.emit(0x40 + g.rng.below(8));
      } else {
        // The limit counts the whole instruction, not just prefixes and opcode: add [disp32], imm32 is 10 bytes.
        const n = g.rng.range(3, 8);
        for (let i = 0; i < n; i++) g.emit(g.rng.pick([0x26, 0x36, 0x3e]));
        g.emit(0x81, 0x05);
        g.emitImm(DATA_ADDR + 0x100 + g.rng.below(0xe00), 4);
        g.emitImm(value(g.rng), 4);
      }
    },
  },
  ...[2, 3, 4, 5, 6, 7].map((digit) => rmForm({ name: `fe /${digit} (#UD)`, op: [0xfe], digit, rmSize: 8, count: 10 })),
  rmForm({ name: 'ff /7 (#UD)', op: [0xff], digit: 7, rmSize: 32, count: 10 }),
];
