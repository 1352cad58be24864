/** Instruction forms: how one kind of test case is built, and the factory for ModRM forms. */
import { FLAGS, G, hex, value, type Operand, type Size } from './gen.js';

export interface Form {
  name: string;
  /** Cases at DIFF_SCALE=1. */
  count: number;
  gen(g: G): void;
}

export const DEFAULT_COUNT = 500;

type RegOperand = Extract<Operand, { kind: 'reg' }>;

export interface RmCtx {
  rm: Operand;
  /** The reg-field operand (null for /digit forms). */
  reg: RegOperand | null;
  /** Offset of the immediate in g.code (-1 if none). */
  immAt: number;
}

export interface RmSpec {
  name: string;
  op: number[];
  /** Prefixes that always come first (LOCK...). */
  prefix?: number[];
  /** Opcode extension in the reg field; otherwise the reg field is a register operand. */
  digit?: number;
  /** Operand-size attribute; 16 adds the 66 prefix. */
  osz?: 16 | 32;
  rmSize: Size;
  /** Size of the reg-field operand when it differs from the r/m operand (MOVZX...). */
  regSize?: Size;
  imm?: 1 | 2 | 4;
  kind?: 'any' | 'reg' | 'mem';
  /** Bytes the memory operand spans, when more than rmSize (CMPXCHG8B, BOUND). */
  memBytes?: number;
  /** Effective-address window for the memory operand. */
  window?: [number, number];
  /** The reg-field register must not hold an address (it is a bit offset, a jump target...). */
  regFree?: boolean;
  /** Flags the SDM leaves undefined for this form (removed from the comparison). */
  undef?: number;
  /** The r/m operand is written (decides which segment overrides stay harmless). */
  writes?: boolean;
  count?: number;
  /** Runs before operands are chosen (to fix registers an addressing mode must not take). */
  pre?: (g: G) => void;
  /** Runs after operands got values, to shape them (divisors, counts, accumulator equal to destination...). */
  setup?: (g: G, x: RmCtx) => void;
}

export const opKey = (op: number[], digit?: number): string => op.map((b) => hex(b, 2)).join(' ') + (digit === undefined ? '' : `/${digit}`);

export function rmForm(s: RmSpec): Form {
  return {
    name: s.name,
    count: s.count ?? DEFAULT_COUNT,
    gen(g) {
      s.pre?.(g);
      const r = g.rm(s.rmSize, s.kind ?? 'any', s.memBytes, s.window);
      const regNo = s.digit ?? (s.regFree ? g.freeReg() : g.rng.below(8));
      const isMem = r.op.kind === 'mem';
      // Prefix order varies: decoders must accept any order.
      const pre: number[] = [];
      if (s.osz === 16) pre.push(0x66);
      if (isMem && g.rng.chance(0.15)) pre.push(g.rng.pick(s.writes === false ? [0x26, 0x2e, 0x36, 0x3e] : [0x26, 0x36, 0x3e]));
      // Now and then a redundant prefix, which the CPU must ignore (REP on one-byte non-string opcodes).
      if (g.rng.chance(0.08)) {
        const extra = [0x3e, 0x26, ...(s.osz === 16 ? [0x66] : []), ...(s.op.length === 1 && !s.prefix ? [0xf2, 0xf3] : [])];
        pre.push(g.rng.pick(extra));
      }
      if (pre.length >= 2 && g.rng.chance(0.5)) pre.reverse();
      g.emit(...(s.prefix ?? []), ...pre, ...s.op, r.enc[0]! | (regNo << 3), ...r.enc.slice(1));
      let immAt = -1;
      if (s.imm) immAt = g.emitImm(value(g.rng, (s.imm * 8) as Size), s.imm);

      if (r.op.kind === 'reg') g.setReg(r.op.reg, r.op.size, value(g.rng, r.op.size));
      else if (g.rng.chance(0.6)) g.setOperand(r.op, value(g.rng, r.op.size));
      let reg: RegOperand | null = null;
      if (s.digit === undefined) {
        reg = { kind: 'reg', reg: regNo, size: s.regSize ?? s.rmSize };
        g.setReg(regNo, reg.size, value(g.rng, reg.size));
      }
      g.flagMask = FLAGS & ~(s.undef ?? 0);
      s.setup?.(g, { rm: r.op, reg, immAt });
      g.cover(opKey(s.op, s.digit));
    },
  };
}

/** The same spec at 16- and 32-bit operand size (r/m and reg sizes follow). */
export function rm1632(s: Omit<RmSpec, 'rmSize' | 'osz' | 'name'> & { name: (size: 16 | 32) => string; imm32?: boolean }): Form[] {
  return ([32, 16] as const).map((size) => rmForm({
    ...s,
    name: s.name(size),
    osz: size,
    rmSize: size,
    imm: s.imm32 ? (size === 32 ? 4 : 2) : s.imm,
  }));
}

/** A form without ModRM: fixed bytes (with optional 66) and a setup for its implicit operands. */
export function plainForm(name: string, bytes: number[], setup?: (g: G) => void, opts: { undef?: number; count?: number; key?: string } = {}): Form {
  return {
    name,
    count: opts.count ?? DEFAULT_COUNT,
    gen(g) {
      g.emit(...bytes);
      g.flagMask = FLAGS & ~(opts.undef ?? 0);
      setup?.(g);
      g.cover(opts.key ?? opKey(bytes.filter((b, i) => !(i === 0 && b === 0x66 && bytes.length > 1))));
    },
  };
}
