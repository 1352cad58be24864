/**
 * Region code generator. A hot block and the decoded blocks of its page that it reaches (by direct
 * branches, fall-through and the successors seen at run time) become one JS function: a `switch`
 * over the blocks' EIPs inside a loop, so guest loops stay inside it. Entry checks that the TLB
 * still maps the region's linear page to the physical page the code was decoded from (a region
 * entered elsewhere runs nothing). Guest registers and the lazy-flag state live in JS locals,
 * written back at exits, before helper calls and when a fault propagates; common 32-bit instructions are emitted inline with the TLB fast path
 * and RAM access, conditions are computed straight from the operands of the instruction that set
 * the flags when that one is in the same block; everything else calls its interpreter handler.
 *
 * Exactness: the region leaves only where the interpreter would end a block (block ends,
 * `exitBlock`) or before a block that does not fit in the budget (the interpreter then runs its
 * head), so instruction counts, budget boundaries and therefore the virtual clock are identical
 * with the generator on or off. Faults restore EIP and the instruction count of the
 * faulting instruction; code writes, translation and CS changes end the region at the next block
 * boundary (or at once when they hit the running block), as they end the interpreter's chaining.
 * Without `new Function` (a strict CSP) every block stays interpreted.
 *
 * This file collects regions, analyses their flags and holds the JS back end; 32-bit regions go to
 * the WebAssembly back end (codegen-wasm.ts) wherever the engine compiles WebAssembly.
 */
import type { CPU } from './cpu.js';
import type { Block, Handler, Insn } from './decode.js';
import { FAULT, Seg } from './cpu.js';
import { eaBase, eaBaseIndex, eaDisp, eaIndex } from './decode.js';
import * as O from './ops.js';
import { compileWasmRegion, enterWasm, wasmUsable } from './codegen-wasm.js';
import type { WasmRegion } from './codegen-wasm.js';
import { ARITH, CF, DF, Lazy, OF, PARITY, PF, AF, SF, ZF } from './flags.js';

/**
 * Runs guest code from the block at c.eip (it must fit in `lim`), whole blocks only, while the next
 * block fits in the `lim` instructions of budget and the code stays in the region.
 * Returns the instructions retired (c.eip, c.instructions, registers and flags written back); -1
 * when the state the region was specialized for does not hold (nothing executed: interpret); -2
 * after a fault (the state, EIP and count are those of the faulting instruction; deliver it); -3
 * when the block's code is mapped at another linear address than the region was compiled for
 * (nothing executed: interpret).
 */
export type RegionFn = (c: CPU, lim: number, r: Region) => number;

export interface Region {
  fn: RegionFn;
  /** A WebAssembly region's run-time half (its `fn` is enterWasm). */
  wasm?: WasmRegion;
  /** Takes the region out of the WebAssembly region links (its code is stale). */
  kill?: () => void;
  blocks: Block[];
  /** Calls so far, up to REGION_WARMUP. */
  calls: number;
  /** The blocks a WebAssembly region can be entered at (the others are reached by forward branches only). */
  entries?: ReadonlySet<Block>;
}

/**
 * The first calls of a region get a small budget so that every path out of it (not just the
 * loop) runs in the engine's bytecode tier first: code optimized while the first call is still
 * looping (on-stack replacement) would otherwise lack feedback for the exits and deoptimize at
 * each of them again and again. Leaving early at a block boundary changes nothing the guest sees.
 */
export const REGION_WARMUP = 64, WARMUP_BUDGET = 200;

/**
 * Executions after which a block is compiled into a region: JS back end, WebAssembly back end.
 * Measured with one region per loop (see `pending`), CLI boot and resident memory, then warm runs
 * of `dd | md5sum` (whose kernel pipe and system-call blocks run ~4,000 times a run):
 * 20,000: 1.03-1.08 s, 161-165 MiB, md5sum 0.50 / 0.51 / 0.42 s (those blocks stay interpreted);
 * 8,000: 1.06-1.10 s, 162-166 MiB, 0.52 / 0.33 / 0.29 s; 5,000: 1.11-1.21 s, 168-179 MiB,
 * 0.50 / 0.29 / 0.24 s. The sort and gzip workloads are the same at all three.
 */
export const HOT_BLOCK = 50_000, WARM_BLOCK = 8_000;
/**
 * The WebAssembly back end's threshold while the guest runs code it has already decoded, and how
 * that is told: an epoch of STEADY_EPOCH instructions that decoded fewer than STEADY_DECODED new
 * ones sets STEADY_BLOCK for the next epoch, any other epoch WARM_BLOCK (cpu.ts `run`). A boot
 * decodes ~45 k instructions per epoch and stays at WARM_BLOCK throughout (its code mostly runs a
 * few hundred times in one burst: a threshold of 2,000 made it ~15% slower). A workload repeating
 * itself decodes next to nothing, and its kernel paths that run once or twice per ping or a few
 * hundred times per run compile runs earlier. Warm in-process runs (virtual clock), before ->
 * after: `ping -A -c 2000` 1.07-1.15 -> 0.53-0.55 s for its second run, 0.62-0.69 -> 0.38-0.44 s
 * later; md5sum 0.41-0.43 -> 0.26-0.27 s (2nd run), 0.25-0.29 -> 0.22-0.24 s later, its first run
 * up to 0.16 s slower (more to compile); gzip 2.8-3.5 -> 2.6-2.8 s; sort level; the boot the same.
 */
export const STEADY_BLOCK = 2_000, STEADY_EPOCH = 1 << 22, STEADY_DECODED = STEADY_EPOCH / 2_000;
/**
 * Region size limits: JS regions (one page; a larger function only deoptimizes more), WebAssembly
 * regions (up to MAX_PAGES pages: the larger, the fewer calls between regions). Warm, profile:host,
 * at a threshold of 20,000: md5sum 0.60 / 0.61 / 0.58 s, sort 4.47 / 4.21 / 4.44 s, gzip 7.21 /
 * 6.91 / 6.71 s with 256/1,500, 512/3,000 and 1,024/6,000; one-page regions of 32/200 took 6.2-6.9 s
 * on the sort. Past that the engine's optimizing compiler is the cost (its time grows faster than
 * the function: at a threshold of 5,000 it took 68% of the machine during md5sum).
 */
const MAX_BLOCKS = 32, MAX_INSNS = 200, MAX_WASM_BLOCKS = 512, MAX_WASM_INSNS = 3000;

let available = true;

/** Counters for the profile mode (scripts/profile-host.mjs); `bytes` of JS source or WebAssembly. */
export const codegenStats = { regions: 0, blocks: 0, instructions: 0, ms: 0, bytes: 0, handlerCalls: new Map<string, number>() };

function countHandlerCall(ins: Insn): void {
  const hn = `${ins.fn.name || 'anonymous'}/${ins.opcode.toString(16)}`;
  codegenStats.handlerCalls.set(hn, (codegenStats.handlerCalls.get(hn) ?? 0) + 1);
}

// ---------------------------------------------------------------- pure helpers the generated code calls

/** Lazy CF from the recorded operands (same formula as the interpreter's). */
function lcf(k: number, a: number, b: number, r: number, t: number): number {
  const c = k === Lazy.Add ? (a & b) | ((a ^ b) & ~r) : (~a & b) | (~(a ^ b) & r);
  return (c >>> t) & 1;
}
function lof(k: number, a: number, b: number, r: number, t: number): number {
  const o = k === Lazy.Add ? (a ^ r) & (b ^ r) : (a ^ b) & (a ^ r);
  return (o >>> t) & 1;
}
/** EFLAGS from the lazy state (CPU.getEflags on locals). */
function mat(f: number, m: number, k: number, a: number, b: number, r: number, t: number): number {
  if (m === 0) return f;
  f &= ~m;
  if (m & CF) f |= lcf(k, a, b, r, t);
  if (m & PF) f |= PARITY[r & 0xff]!;
  if (m & AF) f |= (a ^ b ^ r) & AF;
  if (m & ZF) f |= (r << (31 - t)) === 0 ? ZF : 0;
  if (m & SF) f |= ((r >>> t) & 1) ? SF : 0;
  if (m & OF) f |= lof(k, a, b, r, t) ? OF : 0;
  return f;
}
// A handler's fault sets `c.pendingFault` instead of unwinding through the region, so the region
// function needs no exception handler (one around its loop makes the engine's optimizing compiler
// take seconds on a large region).
function caught(c: CPU, e: unknown): void { if (e !== FAULT) throw e; c.pendingFault = true; }
/** An interpreter handler; its fault, like the others, is left in `c.pendingFault`. */
function call(c: CPU, h: Handler, i: Insn): void { try { h(c, i); } catch (e) { caught(c, e); } }
// ---------------------------------------------------------------- what the generator knows about the flags

/** The flag producer of the instructions emitted so far in this block, when known statically (both back ends). */
export const enum Known {
  None,
  /** lm = 0: everything in fl. */
  Mat,
  /** Lazy ADD/SUB with all six flags (top 31); `exact` = no carry-in, so compares are plain. */
  Add, Sub, AddC, SubC,
  /** Lazy logic result: CF=OF=AF=0 in fl, SF/ZF/PF from lr with top `top`. */
  Logic,
  /** INC/DEC (top 31): CF in fl, the rest lazy. */
  IncDec,
}

export interface FlagState { k: Known; top: number }

export const UNKNOWN: FlagState = { k: Known.None, top: 31 };
export const MAT: FlagState = { k: Known.Mat, top: 31 };

/** Boolean source of EFLAGS bit `bit` in state `s`. */
function flagSrc(bit: number, s: FlagState): string {
  const k = s.k, t = s.top;
  const zf = `((lr << ${31 - t}) === 0)`, sf = `(((lr >>> ${t}) & 1) !== 0)`, pf = `(PARITY[lr & 255] !== 0)`;
  const inFl = `((fl & ${bit}) !== 0)`;
  switch (k) {
    case Known.Mat: return inFl;
    case Known.Logic:
      return bit === CF || bit === OF ? 'false' : bit === ZF ? zf : bit === SF ? sf : pf;
    case Known.Add: case Known.Sub: case Known.AddC: case Known.SubC: case Known.IncDec: {
      if (bit === ZF) return zf;
      if (bit === SF) return sf;
      if (bit === PF) return pf;
      const add = k === Known.Add || k === Known.AddC;
      if (bit === CF) {
        if (k === Known.IncDec) return inFl;
        if (k === Known.Add) return '((lr >>> 0) < (la >>> 0))';
        if (k === Known.Sub) return '((la >>> 0) < (lb >>> 0))';
        return add ? '((((la & lb) | ((la ^ lb) & ~lr)) >>> 31) !== 0)' : '((((~la & lb) | (~(la ^ lb) & lr)) >>> 31) !== 0)';
      }
      // OF: INC/DEC record their kind in lk.
      if (k === Known.IncDec) return '(lof(lk, la, lb, lr, 31) !== 0)';
      return add ? '((((la ^ lr) & (lb ^ lr)) >>> 31) !== 0)' : '((((la ^ lb) & (la ^ lr)) >>> 31) !== 0)';
    }
    default:
      switch (bit) {
        case CF: return '((lm & 1) ? lcf(lk, la, lb, lr, lt) !== 0 : (fl & 1) !== 0)';
        case ZF: return '((lm & 64) ? (lr << (31 - lt)) === 0 : (fl & 64) !== 0)';
        case SF: return '((lm & 128) ? ((lr >>> lt) & 1) !== 0 : (fl & 128) !== 0)';
        case PF: return '((lm & 4) ? PARITY[lr & 255] !== 0 : (fl & 4) !== 0)';
        default: return '((lm & 2048) ? lof(lk, la, lb, lr, lt) !== 0 : (fl & 2048) !== 0)';
      }
  }
}

/** Boolean source of condition code `cc` (Jcc/SETcc/CMOVcc low nibble). */
function condSrc(cc: number, s: FlagState): string {
  if (s.k === Known.Sub) {
    // CMP/SUB without borrow: the relation of the operands is the condition.
    switch (cc) {
      case 2: return '((la >>> 0) < (lb >>> 0))';
      case 3: return '((la >>> 0) >= (lb >>> 0))';
      case 4: return '(la === lb)';
      case 5: return '(la !== lb)';
      case 6: return '((la >>> 0) <= (lb >>> 0))';
      case 7: return '((la >>> 0) > (lb >>> 0))';
      case 12: return '(la < lb)';
      case 13: return '(la >= lb)';
      case 14: return '(la <= lb)';
      case 15: return '(la > lb)';
    }
  }
  if (s.k === Known.Logic && s.top === 31) {
    switch (cc) {
      case 12: return '(lr < 0)';
      case 13: return '(lr >= 0)';
      case 14: return '(lr <= 0)';
      case 15: return '(lr > 0)';
    }
  }
  const f = (bit: number) => flagSrc(bit, s);
  let e: string;
  switch (cc >> 1) {
    case 0: e = f(OF); break;
    case 1: e = f(CF); break;
    case 2: e = f(ZF); break;
    case 3: e = `(${f(CF)} || ${f(ZF)})`; break;
    case 4: e = f(SF); break;
    case 5: e = f(PF); break;
    case 6: e = `(${f(SF)} !== ${f(OF)})`; break;
    default: e = `(${f(ZF)} || ${f(SF)} !== ${f(OF)})`; break;
  }
  return cc & 1 ? `!${e}` : e;
}

// ---------------------------------------------------------------- emitter


/** Source of the 32-bit effective address from register locals, or null for forms left to the handler. */
function eaSrc(ins: Insn): string | null {
  const d = ins.disp | 0;
  if (ins.ea === eaDisp) return `${d}`;
  if (ins.ea === eaBase) return `((r${ins.base} + ${d}) | 0)`;
  if (ins.ea === eaBaseIndex) return `((r${ins.base} + (r${ins.index} << ${ins.scale}) + ${d}) | 0)`;
  if (ins.ea === eaIndex) return `(((r${ins.index} << ${ins.scale}) + ${d}) | 0)`;
  return null;
}

const getReg = (size: number, r: number) => (size === 4 ? `r${r}` : size === 2 ? `(r${r} & 65535)` : reg8(r));
const setReg = (size: number, r: number, v: string) => (size === 4 ? `r${r} = ${v};` : size === 2 ? `r${r} = (r${r} & -65536) | ((${v}) & 65535);` : setReg8(r, v));
const reg8 = (r: number) => (r < 4 ? `(r${r} & 255)` : `((r${r - 4} >> 8) & 255)`);
const setReg8 = (r: number, v: string) => (r < 4 ? `r${r} = (r${r} & -256) | ((${v}) & 255);` : `r${r - 4} = (r${r - 4} & -65281) | (((${v}) & 255) << 8);`);

class Emitter {
  /** Segments needing flat read+write windows (entry guard), and others used with checked windows. */
  flatNeed = 0;
  checkedSegs = new Set<number>();
  params: string[] = [];
  args: unknown[] = [];
  private nextTmp = 0;

  constructor(readonly cpu: CPU, readonly code32: boolean) {}

  tmp(p: string): string { return `_${p}${this.nextTmp++}`; }

  bind(name: string, value: unknown): string { this.params.push(name); this.args.push(value); return name; }

  /**
   * The side exit of the instruction being emitted: leave the region before it, and let the
   * interpreter run the rest of its block (a TLB miss, a segment-limit violation, a write to a page
   * holding decoded code: the slow paths, the faults and the code invalidation all happen there).
   */
  exit = '';

  /** Linear address of seg:off for an access of `size` bytes (statements, result in `l`). */
  lin(seg: number, off: string, size: number, write: boolean, l: string): string {
    if (seg < 6 && (this.cpu.flatSegs & (1 << seg)) !== 0) { this.flatNeed |= 1 << seg; return `const ${l} = ${off};`; }
    this.checkedSegs.add(seg);
    const o = this.tmp('o'), w = write ? 'w' : 'r';
    return `const ${o} = ${off} >>> 0; if (${o} < ${w}lo${seg} || ${o} + ${size - 1} > ${w}hi${seg}) ${this.exit} const ${l} = (sb${seg} + ${o}) | 0;`;
  }

  /** Statements reading `size` bytes at seg:off into a new variable `v` (RAM through the TLB, else the side exit). */
  read(seg: number, off: string, size: number, v: string): string {
    const l = this.tmp('l'), e = this.tmp('e');
    let s = this.lin(seg, off, size, false, l) + ` const ${e} = tlb[${l} >>> 12]; let ${v};`;
    if (size === 4) {
      s += ` if ((${e} & rM) === rB && (${l} & 4095) <= 4092) ${v} = dv.getInt32((${e} & -4096) | (${l} & 4095), true); else ${this.exit}`;
    } else if (size === 2) {
      s += ` if ((${e} & rM) === rB && (${l} & 4095) !== 4095) ${v} = dv.getUint16((${e} & -4096) | (${l} & 4095), true); else ${this.exit}`;
    } else {
      s += ` if ((${e} & rM) === rB) ${v} = ram[(${e} & -4096) | (${l} & 4095)]; else ${this.exit}`;
    }
    return s;
  }

  /** Statements writing `val` (size bytes; a local or a constant) at seg:off, or taking the side exit. */
  write(seg: number, off: string, size: number, val: string): string {
    const l = this.tmp('l'), e = this.tmp('e'), p = this.tmp('p');
    let s = this.lin(seg, off, size, true, l) + ` const ${e} = tlb[${l} >>> 12];`;
    const fast = `(${e} & wM) === wB${size === 4 ? ` && (${l} & 4095) <= 4092` : size === 2 ? ` && (${l} & 4095) !== 4095` : ''}`;
    s += ` if (!(${fast})) ${this.exit} const ${p} = (${e} & -4096) | (${l} & 4095); if (cp[${p} >>> 12]) ${this.exit}`;
    if (size === 4) s += ` dv.setInt32(${p}, ${val}, true);`;
    else if (size === 2) s += ` dv.setUint16(${p}, ${val}, true);`;
    else s += ` ram[${p}] = ${val};`;
    return s;
  }
}

const SET_LAZY = (kind: Lazy, a: string, b: string, r: string, top: number) => `lk = ${kind}; la = ${a}; lb = ${b}; lr = ${r}; lt = ${top}; lm = ${ARITH};`;
const SET_LOGIC = (r: string, top: number) => `fl &= ~(${CF | OF | AF} | lm); lr = ${r}; lt = ${top}; la = 0; lb = 0; lm = ${SF | ZF | PF};`;

/**
 * A 32-bit shift or rotate (op as in the ModRM reg field, not RCL/RCR) of local `x` by the
 * non-zero count `n` (1..31), with the flags the interpreter computes. ROL/ROR set only CF and OF:
 * those two leave the lazy set and the rest stays as it was.
 */
function shiftSrc(op: number, x: string, r: string): string {
  const cfOf = (cf: string, of: string) => `const cf = ${cf}; lm &= ${~(CF | OF)}; fl = (fl & ${~(CF | OF)}) | cf | (${of} ? ${OF} : 0);`;
  switch (op) {
    case 0: return `const ${r} = (${x} << sc) | (${x} >>> (32 - sc)); ${x} = ${r}; ${cfOf(`${r} & 1`, `(((${r} >>> 31) ^ cf) & 1)`)}`;
    case 1: return `const ${r} = (${x} >>> sc) | (${x} << (32 - sc)); ${x} = ${r}; ${cfOf(`${r} >>> 31`, `((cf ^ (${r} >>> 30)) & 1)`)}`;
    case 4: case 6: return `const a = ${x}, ${r} = a << sc; ${x} = ${r}; const cf = (a >>> (32 - sc)) & 1; ${SET_LOGIC(r, 31)} fl |= cf | ((((${r} >>> 31) ^ cf) & 1) ? ${OF} : 0);`;
    case 5: return `const a = ${x}, ${r} = a >>> sc; ${x} = ${r}; ${SET_LOGIC(r, 31)} fl |= ((a >>> (sc - 1)) & 1) | (a < 0 ? ${OF} : 0);`;
    default: return `const a = ${x}, ${r} = a >> sc; ${x} = ${r}; ${SET_LOGIC(r, 31)} fl |= (a >> (sc - 1)) & 1;`;
  }
}

/** The value of a 32-bit shift or rotate (as in shiftSrc) of `x` by the constant count `n` (1..31). */
function shiftValue(op: number, x: string, n: number): string {
  switch (op) {
    case 0: return `(${x} << ${n}) | (${x} >>> ${32 - n})`;
    case 1: return `(${x} >>> ${n}) | (${x} << ${32 - n})`;
    case 4: case 6: return `${x} << ${n}`;
    case 5: return `${x} >>> ${n}`;
    default: return `${x} >> ${n}`;
  }
}

/** An ALU op on values a, b: `calc` declares the result `r`, `flag` commits the flags. */
function aluOp(op: number, a: string, b: string, r: string, top: number, fs: FlagState): { calc: string; flag: string; flags: FlagState } {
  const wrap = top === 31 ? '| 0' : `& ${top === 7 ? 255 : 65535}`;
  const known = (k: Known): FlagState => ({ k: top === 31 ? k : Known.None, top });
  switch (op) {
    case 0: return { calc: `const ${r} = (${a} + ${b}) ${wrap};`, flag: SET_LAZY(Lazy.Add, a, b, r, top), flags: known(Known.Add) };
    case 5: case 7: return { calc: `const ${r} = (${a} - ${b}) ${wrap};`, flag: SET_LAZY(Lazy.Sub, a, b, r, top), flags: known(Known.Sub) };
    case 1: return { calc: `const ${r} = ${a} | ${b};`, flag: SET_LOGIC(r, top), flags: { k: Known.Logic, top } };
    case 4: return { calc: `const ${r} = ${a} & ${b};`, flag: SET_LOGIC(r, top), flags: { k: Known.Logic, top } };
    case 6: return { calc: `const ${r} = ${a} ^ ${b};`, flag: SET_LOGIC(r, top), flags: { k: Known.Logic, top } };
    default: {
      // ADC/SBB: the carry comes in from the flags as they stand.
      const add = op === 2, sign = add ? '+' : '-';
      return {
        calc: `const ${r} = (${a} ${sign} ${b} ${sign} (${flagSrc(CF, fs)} ? 1 : 0)) ${wrap};`,
        flag: SET_LAZY(add ? Lazy.Add : Lazy.Sub, a, b, r, top), flags: known(add ? Known.AddC : Known.SubC),
      };
    }
  }
}

interface InsnOut { code: string; flags: FlagState }

/** EFLAGS bits condition code `cc` reads. */
export const condReads = (cc: number): number => [OF, CF, ZF, CF | ZF, SF, PF, SF | OF, ZF | SF | OF][cc >> 1]!;

/**
 * The arithmetic flags an instruction reads and the ones it always writes, for the inlined
 * register-only forms; null for everything else (memory operands, handlers), which counts as
 * reading all of them: it may side-exit or fault, and then EFLAGS must be exact.
 */
function flagUse(ins: Insn): { r: number; w: number } | null {
  const f = ins.fn;
  // LEA only computes an address: it neither touches memory nor faults.
  if (f === O.lea32) return { r: 0, w: 0 };
  if (ins.mem) return null;
  let op = O.ALU_RR32.indexOf(f);
  if (op < 0) op = O.ALU_RRREV32.indexOf(f);
  if (op < 0) op = O.ALU_RIMM32.indexOf(f);
  if (op < 0) op = O.ALU_ACCIMM32.indexOf(f);
  if (op < 0 && ins.size === 1 && (f === O.aluRR || f === O.aluRRrev || f === O.aluRImm || f === O.aluAccImm)) op = ins.op;
  if (op >= 0) return { r: op === 2 || op === 3 ? CF : 0, w: ARITH };
  if (f === O.test32RR || f === O.test8RR || ((f === O.testAccImm || f === O.testRmImm || f === O.testRM) && (ins.size === 4 || ins.size === 1))) return { r: 0, w: ARITH };
  if (f === O.inc32r || f === O.dec32r || (f === O.incDecRm && ins.size === 4)) return { r: 0, w: ARITH & ~CF };
  if (f === O.group3 && ins.size === 4 && ins.op === 3) return { r: 0, w: ARITH };
  if (f === O.imul3_32R || f === O.imul2_32R) return { r: 0, w: ARITH };
  op = O.SHIFT32_RI.indexOf(f);
  if (op >= 0 && f !== O.shiftImm) return { r: 0, w: op < 2 ? CF | OF : ARITH };
  // A count of zero leaves the flags alone: neither read nor written for sure.
  if (f === O.shiftCl && ins.size === 4 && ins.op !== 2 && ins.op !== 3) return { r: 0, w: 0 };
  if (f === O.btImm && ins.op === 0 && ins.size === 4) return { r: 0, w: CF };
  if (f === O.shldImm && ins.size === 4) return { r: 0, w: (ins.imm & 31) !== 0 ? ARITH : 0 };
  if (f === O.shldCl && ins.size === 4) return { r: 0, w: 0 };
  let cc = O.CMOVCC32_RR.indexOf(f);
  if (cc < 0) cc = O.SETCC_R.indexOf(f);
  if (cc < 0) cc = O.JCC32.indexOf(f);
  if (cc >= 0) return { r: condReads(cc), w: 0 };
  if (f === O.mov32RR || f === O.mov32RRrev || f === O.mov32RImm || f === O.nop || f === O.movzx8_32R || f === O.cld || f === O.std || f === O.jmpRel) return { r: 0, w: 0 };
  if (f === O.bswap || f === O.cwd || f === O.cbw || f === O.xchgAcc || (f === O.group3 && ins.op === 2)) return { r: 0, w: 0 };
  if ((f === O.movRImmRm || f === O.movRImm || f === O.movRR || f === O.movRRrev || f === O.movzx || f === O.movsx || f === O.xchgRM)) return { r: 0, w: 0 };
  return null;
}

/**
 * Per instruction of a block: true when every flag it writes is written again before anything
 * reads it (flags are live at the block's end and at every instruction that may leave the region
 * or fault), so its flag update can be left out.
 */
export function deadFlags(insns: Insn[]): boolean[] {
  const dead = new Array<boolean>(insns.length).fill(false);
  let live = ARITH;
  for (let k = insns.length - 1; k >= 0; k--) {
    const u = flagUse(insns[k]!);
    if (u === null) { live = ARITH; continue; }
    dead[k] = u.w !== 0 && (live & u.w) === 0;
    live = (live & ~u.w) | u.r;
  }
  return dead;
}

/**
 * Inline source for one instruction, or null when the handler is called. Registers are the locals
 * r0..r7; `fs` is what is known about the flags before it.
 */
function inlineInsn(em: Emitter, ins: Insn, fs: FlagState, stack32: boolean, dead: boolean): InsnOut | null {
  const f = ins.fn;
  // A dead flag update is left out, and what is known about the flags stays as it was.
  const out = (code: string, flags: FlagState = fs): InsnOut => ({ code, flags: dead ? fs : flags });
  const fl = (code: string) => (dead ? '' : code);
  const v = em.tmp('v'), r = em.tmp('r');
  const ea = () => eaSrc(ins);

  // Moves and address arithmetic.
  if (f === O.mov32RR) return out(`r${ins.rm} = r${ins.reg};`);
  if (f === O.mov32RRrev) return out(`r${ins.reg} = r${ins.rm};`);
  if (f === O.mov32RImm) return out(`r${ins.reg} = ${ins.imm | 0};`);
  if (f === O.movRImmRm && ins.size === 4) return out(`r${ins.rm} = ${ins.imm | 0};`);
  if (f === O.nop) return out('');
  if (f === O.lea32) { const a = ea(); return a === null ? null : out(`r${ins.reg} = ${a};`); }
  if (f === O.mov32RM) { const a = ea(); return a === null ? null : out(`${em.read(ins.seg, a, 4, v)} r${ins.reg} = ${v};`, fs); }
  if (f === O.mov32MR) { const a = ea(); return a === null ? null : out(em.write(ins.seg, a, 4, `r${ins.reg}`), fs); }
  if (f === O.mov32MImm) { const a = ea(); return a === null ? null : out(em.write(ins.seg, a, 4, `${ins.imm | 0}`), fs); }
  if (f === O.movRM || f === O.movMR) {
    const a = ea(); if (a === null) return null;
    const size = ins.size;
    if (f === O.movRM) return out(`${em.read(ins.seg, a, size, v)} ${setReg(size, ins.reg, v)}`, fs);
    return out(em.write(ins.seg, a, size, getReg(size, ins.reg)), fs);
  }
  if (f === O.movMImm && ins.size === 2) { const a = ea(); return a === null ? null : out(em.write(ins.seg, a, 2, `${ins.imm & 0xffff}`), fs); }
  if (f === O.movMImm && ins.size === 1) { const a = ea(); return a === null ? null : out(em.write(ins.seg, a, 1, `${ins.imm & 255}`), fs); }
  if (f === O.movRImm && ins.size === 1) return out(setReg8(ins.reg, `${ins.imm & 255}`));
  if (f === O.movRR && ins.size === 1) return out(setReg8(ins.rm, reg8(ins.reg)));
  if (f === O.movRRrev && ins.size === 1) return out(setReg8(ins.reg, reg8(ins.rm)));
  if (f === O.movzx8_32R) return out(`r${ins.reg} = ${reg8(ins.rm)};`);
  if (f === O.movzx8_32M || f === O.movzx16_32M) {
    const a = ea(); if (a === null) return null;
    return out(`${em.read(ins.seg, a, f === O.movzx8_32M ? 1 : 2, v)} r${ins.reg} = ${v};`, fs);
  }
  if (f === O.movzx && ins.size === 4 && !ins.mem && ins.imm === 2) return out(`r${ins.reg} = r${ins.rm} & 65535;`);
  if (f === O.movsx && ins.size === 4) {
    const sh = ins.imm === 1 ? 24 : 16;
    if (!ins.mem) return out(`r${ins.reg} = ${ins.imm === 1 ? `(${reg8(ins.rm)} << 24) >> 24` : `(r${ins.rm} << 16) >> 16`};`);
    const a = ea(); if (a === null) return null;
    return out(`${em.read(ins.seg, a, ins.imm, v)} r${ins.reg} = (${v} << ${sh}) >> ${sh};`, fs);
  }
  if (f === O.cwd && ins.size === 4) return out('r2 = r0 >> 31;');
  if (f === O.cbw && ins.size === 4) return out('r0 = (r0 << 16) >> 16;');
  if (f === O.xchgAcc && ins.size === 4) return out(`{ const t = r0; r0 = r${ins.reg}; r${ins.reg} = t; }`);
  if (f === O.xchgRM && ins.size === 4 && !ins.mem) return out(`{ const t = r${ins.rm}; r${ins.rm} = r${ins.reg}; r${ins.reg} = t; }`);
  if (f === O.bswap && ins.size === 4) {
    const x = `r${ins.reg}`;
    return out(`${x} = (${x} << 24) | ((${x} & 0xff00) << 8) | ((${x} >>> 8) & 0xff00) | (${x} >>> 24);`);
  }

  // Stack (32-bit stack, flat SS guarded at entry).
  if (stack32 && ins.size === 4) {
    if (f === O.push32r || f === O.pushImm) {
      const val = f === O.push32r ? `r${ins.reg}` : `${ins.imm | 0}`;
      // PUSH ESP pushes the value before the decrement.
      return out(`{ const s = (r4 - 4) | 0, x = ${val}; ${em.write(2, 's', 4, 'x')} r4 = s; }`, fs);
    }
    if (f === O.pop32r) return out(`{ ${em.read(2, 'r4', 4, v)} r4 = (r4 + 4) | 0; r${ins.reg} = ${v}; }`, fs);
    if (f === O.leave) return out(`{ ${em.read(2, 'r5', 4, v)} r4 = (r5 + 4) | 0; r5 = ${v}; }`, fs);
  }

  // ALU.
  let op = O.ALU_RR32.indexOf(f);
  const alu = (op: number, dst: string, src: string, top: number) => {
    const a = em.tmp('a');
    const res = aluOp(op, a, src, r, top, fs);
    return { ...res, calc: `const ${a} = ${dst}; ${res.calc}` };
  };
  const regAlu = (op: number, dst: number, src: string): InsnOut => {
    const x = alu(op, `r${dst}`, src, 31);
    return out(`{ ${x.calc} ${fl(x.flag)} ${op === 7 ? '' : `r${dst} = ${r};`} }`, x.flags);
  };
  if (op >= 0) return regAlu(op, ins.rm, `r${ins.reg}`);
  op = O.ALU_RRREV32.indexOf(f);
  if (op >= 0) return regAlu(op, ins.reg, `r${ins.rm}`);
  op = O.ALU_RIMM32.indexOf(f);
  if (op >= 0) return regAlu(op, ins.rm, `${ins.imm | 0}`);
  op = O.ALU_ACCIMM32.indexOf(f);
  if (op >= 0) return regAlu(op, 0, `${ins.imm | 0}`);
  op = O.ALU_RM32.indexOf(f);
  if (op >= 0) {
    const a = ea(); if (a === null) return null;
    const x = alu(op, `r${ins.reg}`, v, 31);
    return out(`{ ${em.read(ins.seg, a, 4, v)} ${x.calc} ${x.flag} ${op === 7 ? '' : `r${ins.reg} = ${r};`} }`, x.flags);
  }
  const memAlu = (op: number, size: number, src: string): InsnOut | null => {
    const a = ea(); if (a === null) return null;
    const off = em.tmp('m');
    const x = alu(op, v, src, O.TOP[size]!);
    const store = op === 7 ? '' : em.write(ins.seg, off, size, r);
    // The write may fault: flags are committed after it.
    return out(`{ const ${off} = ${a}; ${em.read(ins.seg, off, size, v)} ${x.calc} ${store} ${x.flag} }`, x.flags);
  };
  op = O.ALU_MR32.indexOf(f);
  if (op >= 0) return memAlu(op, 4, `r${ins.reg}`);
  op = O.ALU_MIMM32.indexOf(f);
  if (op >= 0) return memAlu(op, 4, `${ins.imm | 0}`);
  if (ins.size === 1 && (f === O.aluMImm || f === O.aluMR || f === O.aluRM || f === O.aluRR || f === O.aluRRrev || f === O.aluRImm || f === O.aluAccImm)) {
    const src = f === O.aluMR || f === O.aluRR ? reg8(ins.reg) : f === O.aluRRrev ? reg8(ins.rm) : f === O.aluRM ? v : `${ins.imm & 255}`;
    if (f === O.aluMImm || f === O.aluMR) return memAlu(ins.op, 1, src);
    const dst = f === O.aluRM || f === O.aluRRrev ? ins.reg : f === O.aluAccImm ? 0 : ins.rm;
    const x = alu(ins.op, reg8(dst), src, 7);
    const body = `${x.calc} ${fl(x.flag)} ${ins.op === 7 ? '' : setReg8(dst, r)}`;
    if (f !== O.aluRM) return out(`{ ${body} }`, x.flags);
    const a = ea(); if (a === null) return null;
    return out(`{ ${em.read(ins.seg, a, 1, v)} ${body} }`, x.flags);
  }

  // TEST.
  if (f === O.test32RR) return out(fl(`{ const ${r} = r${ins.rm} & r${ins.reg}; ${SET_LOGIC(r, 31)} }`), { k: Known.Logic, top: 31 });
  if (f === O.test8RR) return out(fl(`{ const ${r} = ${reg8(ins.rm)} & ${reg8(ins.reg)}; ${SET_LOGIC(r, 7)} }`), { k: Known.Logic, top: 7 });
  if ((f === O.testAccImm || f === O.testRmImm || f === O.testRM) && (ins.size === 4 || ins.size === 1)) {
    const top = O.TOP[ins.size]!;
    const get = (x: number) => (ins.size === 4 ? `r${x}` : reg8(x));
    const other = f === O.testRM ? get(ins.reg) : `${ins.size === 4 ? ins.imm | 0 : ins.imm & 255}`;
    if (f === O.testAccImm) return out(fl(`{ const ${r} = ${get(0)} & ${other}; ${SET_LOGIC(r, top)} }`), { k: Known.Logic, top });
    if (!ins.mem) return out(fl(`{ const ${r} = ${get(ins.rm)} & ${other}; ${SET_LOGIC(r, top)} }`), { k: Known.Logic, top });
    const a = ea(); if (a === null) return null;
    return out(`{ ${em.read(ins.seg, a, ins.size, v)} const ${r} = ${v} & ${other}; ${SET_LOGIC(r, top)} }`, { k: Known.Logic, top });
  }

  // INC/DEC keep CF.
  if (f === O.inc32r || f === O.dec32r) {
    const dec = f === O.dec32r;
    const cf = fs.k === Known.IncDec || fs.k === Known.Mat ? '' : `fl = (fl & ${~CF}) | (${flagSrc(CF, fs)} ? 1 : 0); `;
    if (dead) return out(`r${ins.reg} = (r${ins.reg} ${dec ? '-' : '+'} 1) | 0;`);
    return out(`{ const a = r${ins.reg}, ${r} = (a ${dec ? '-' : '+'} 1) | 0; r${ins.reg} = ${r}; ${cf}lk = ${dec ? Lazy.Sub : Lazy.Add}; la = a; lb = 1; lr = ${r}; lt = 31; lm = ${ARITH & ~CF}; }`, { k: Known.IncDec, top: 31 });
  }

  if (f === O.incDecRm && ins.size === 4) {
    const dec = ins.op === 1;
    const cf = `fl = (fl & ${~CF}) | (${flagSrc(CF, fs)} ? 1 : 0); `;
    const flags = `${cf}lk = ${dec ? Lazy.Sub : Lazy.Add}; la = a; lb = 1; lr = ${r}; lt = 31; lm = ${ARITH & ~CF};`;
    if (!ins.mem) return out(`{ const a = r${ins.rm}, ${r} = (a ${dec ? '-' : '+'} 1) | 0; r${ins.rm} = ${r}; ${fl(flags)} }`, { k: Known.IncDec, top: 31 });
    const a = ea(); if (a === null) return null;
    const off = em.tmp('m');
    return out(`{ const ${off} = ${a}; ${em.read(ins.seg, off, 4, v)} const a = ${v}, ${r} = (a ${dec ? '-' : '+'} 1) | 0; ${em.write(ins.seg, off, 4, r)} ${flags} }`, { k: Known.IncDec, top: 31 });
  }
  if (f === O.group3 && ins.size === 4 && (ins.op === 2 || ins.op === 3)) {
    const neg = ins.op === 3;
    const calc = neg ? `const ${r} = (0 - a) | 0;` : `const ${r} = ~a;`;
    const flags = neg ? SET_LAZY(Lazy.Sub, '0', 'a', r, 31) : '';
    const known: FlagState = neg ? { k: Known.SubC, top: 31 } : fs;
    if (!ins.mem) return out(`{ const a = r${ins.rm}; ${calc} r${ins.rm} = ${r}; ${fl(flags)} }`, known);
    const a = ea(); if (a === null) return null;
    const off = em.tmp('m');
    return out(`{ const ${off} = ${a}; ${em.read(ins.seg, off, 4, v)} const a = ${v}; ${calc} ${em.write(ins.seg, off, 4, r)} ${flags} }`, known);
  }
  if (f === O.btImm && ins.op === 0 && ins.size === 4 && !ins.mem) {
    return out(fl(`lm &= ${~CF}; fl = (fl & ${~CF}) | ((r${ins.rm} >>> ${ins.imm & 31}) & 1);`), UNKNOWN);
  }

  // Shifts and rotates of a 32-bit register by an immediate or by CL (a zero count changes nothing).
  op = O.SHIFT32_RI.indexOf(f);
  if (op >= 0 && f !== O.shiftImm) {
    if (dead) return out(`r${ins.rm} = ${shiftValue(op, `r${ins.rm}`, ins.imm & 31)};`);
    return out(`{ const sc = ${ins.imm}; ${shiftSrc(op, `r${ins.rm}`, r)} }`, UNKNOWN);
  }
  if (f === O.shiftCl && ins.size === 4 && !ins.mem && ins.op !== 2 && ins.op !== 3) {
    return out(`{ const sc = r1 & 31; if (sc !== 0) { ${shiftSrc(ins.op, `r${ins.rm}`, r)} } }`, UNKNOWN);
  }

  // Multiplication: the double product is exact whenever it fits in 32 bits, so a mismatch is overflow.
  if (f === O.imul3_32R || f === O.imul2_32R) {
    const a = f === O.imul3_32R ? `r${ins.rm}` : `r${ins.reg}`, b = f === O.imul3_32R ? `${ins.imm | 0}` : `r${ins.rm}`;
    if (dead) return out(`r${ins.reg} = Math.imul(${a}, ${b});`);
    return out(`{ const x = ${a}, y = ${b}, ${r} = Math.imul(x, y); r${ins.reg} = ${r}; ${SET_LOGIC(r, 31)} if (${r} !== x * y) fl |= ${CF | OF}; }`, { k: Known.None, top: 31 });
  }

  // Conditions.
  const cmov = O.CMOVCC32_RR.indexOf(f);
  if (cmov >= 0) return out(`if (${condSrc(cmov, fs)}) r${ins.reg} = r${ins.rm};`);
  const setcc = O.SETCC_R.indexOf(f);
  if (setcc >= 0) return out(setReg8(ins.rm, `${condSrc(setcc, fs)} ? 1 : 0`));

  // Flag instructions.
  if (f === O.cld) return out(`fl &= ${~DF};`);
  if (f === O.std) return out(`fl |= ${DF};`);
  if (f === O.clc || f === O.stc || f === O.cmc) {
    const matFl = fs.k === Known.Mat ? '' : 'fl = mat(fl, lm, lk, la, lb, lr, lt); lm = 0; ';
    return out(`${matFl}fl ${f === O.clc ? `&= ${~CF}` : f === O.stc ? `|= ${CF}` : `^= ${CF}`};`, MAT);
  }

  // Non-REP string steps (32-bit addressing; ES and the source segment guarded flat or checked).
  if (ins.a32 && (ins.size === 4 || ins.size === 1) && (f === O.lodsOne || f === O.stosOne || f === O.movsOne)) {
    const step = `((fl & ${DF}) ? ${-ins.size} : ${ins.size})`;
    if (f === O.lodsOne) {
      const set = ins.size === 4 ? `r0 = ${v};` : setReg8(0, v);
      return out(`{ ${em.read(ins.seg, 'r6', ins.size, v)} ${set} r6 = (r6 + ${step}) | 0; }`, fs);
    }
    if (f === O.stosOne) return out(`{ ${em.write(0, 'r7', ins.size, ins.size === 4 ? 'r0' : 'r0 & 255')} r7 = (r7 + ${step}) | 0; }`, fs);
    return out(`{ ${em.read(ins.seg, 'r6', ins.size, v)} ${em.write(0, 'r7', ins.size, v)} const d = ${step}; r6 = (r6 + d) | 0; r7 = (r7 + d) | 0; }`, fs);
  }
  return null;
}

const WRITE_BACK = 'R[0] = r0; R[1] = r1; R[2] = r2; R[3] = r3; R[4] = r4; R[5] = r5; R[6] = r6; R[7] = r7; c.flags = fl; c.lazyMask = lm; c.lazyKind = lk; c.lazyA = la; c.lazyB = lb; c.lazyRes = lr; c.lazyTop = lt;';
const RELOAD = 'r0 = R[0]; r1 = R[1]; r2 = R[2]; r3 = R[3]; r4 = R[4]; r5 = R[5]; r6 = R[6]; r7 = R[7]; fl = c.flags; lm = c.lazyMask; lk = c.lazyKind; la = c.lazyA; lb = c.lazyB; lr = c.lazyRes; lt = c.lazyTop;';

/**
 * Block-ending handlers after which execution may continue inside the region at the new EIP (a REP
 * string instruction that has not finished sets exitBlock, so the region leaves anyway).
 */
export const STAYS: ReadonlySet<unknown> = new Set<unknown>([O.jmpRm, O.callRm, O.callRel, O.ret32, O.ret16, O.retImm, O.jmpRel, O.jcc, O.loop, O.jcxz, ...O.JCC32,
  O.movs, O.stos, O.lods, O.cmps, O.scas]);

/** The EIPs a block went on to when last interpreted (its two remembered successors; `csb`: the CS base). */
export function seenSuccessors(b: Block, csb: number, wrap: (x: number) => number): number[] {
  const out: number[] = [];
  for (const [nb, lin] of [[b.s1, b.s1Lin], [b.s2, b.s2Lin]] as const) if (nb !== null) out.push(wrap(lin - csb));
  return out;
}

/** The EIPs a block at `eip` can continue at, when statically known (`wrap` is the EIP width). */
export function staticSuccessors(b: Block, eip: number, wrap: (x: number) => number): number[] {
  const last = b.insns[b.insns.length - 1]!;
  const end = wrap(eip + last.end);
  const f = last.fn;
  if (O.JCC32.includes(f) || f === O.jcc || f === O.loop || f === O.jcxz) return [wrap(end + last.imm), end];
  if (f === O.jmpRel || f === O.callRel) return [wrap(end + last.imm)];
  return [end];
}

/** EIP arithmetic wraps at the code size. */
const eipWrap = (code32: boolean) => (code32 ? (x: number) => x | 0 : (x: number) => x & 0xffff);

/**
 * A block of a region, at the EIP it was compiled for, with the linear page it starts on and the
 * physical page that must map there; a block straddling into the next linear page also names the
 * physical page that one must map to.
 */
export interface Member { b: Block; eip: number; lp: number; pp: number; next: [number, number] | null }

/** Emits the code of one block (a `case` of the region's switch). */
function emitBlock(em: Emitter, m: Member, bi: number, stack32: boolean): string {
  const b = m.b, insns = b.insns, last = insns.length - 1;
  const wrap = eipWrap(em.code32);
  const at = (off: number) => wrap(m.eip + off);
  let s = `case ${m.eip}: {\n`;
  // The next page must still map where the block's tail was decoded from (checked once per call,
  // as entry checks the region's own page; a translation change ends the region at the next block
  // boundary, so the check stays good).
  if (m.next !== null) {
    const [lp, pp] = m.next;
    s += `if (vp === 0) { const t = tlb[${lp}]; if ((t & -4096) !== ${pp << 12} || (t & rM) !== rB) break L; vp = 1; }\n`;
  }
  // A block runs only when it fits in the budget (runs end exactly at their limit; the dispatcher
  // interprets a block that does not fit).
  s += `if (n + ${insns.length} > lim) break L;\n`;
  let fs = UNKNOWN;
  const K = insns.length;
  const dead = deadFlags(insns);
  for (let k = 0; k <= last; k++) {
    const ins = insns[k]!;
    const st = at(ins.start), en = at(ins.end);
    em.exit = `{ xo = ${(bi << 8) | k}; pc = ${st}; break L; }`;
    const isLast = k === last;
    // Inline direct branches at the end of the block.
    if (isLast && em.code32) {
      const cc = O.JCC32.indexOf(ins.fn);
      if (cc >= 0) { s += `n += ${K}; pc = ${condSrc(cc, fs)} ? ${wrap(en + ins.imm)} : ${en}; continue;\n}\n`; return s; }
      if (ins.fn === O.jmpRel && ins.size === 4) { s += `n += ${K}; pc = ${wrap(en + ins.imm)}; continue;\n}\n`; return s; }
      if (stack32 && ins.size === 4 && ins.fn === O.callRel) {
        s += `{ const s = (r4 - 4) | 0, x = ${en}; ${em.write(2, 's', 4, 'x')} r4 = s; }\n`;
        s += `n += ${K}; pc = ${wrap(en + ins.imm)}; continue;\n}\n`;
        return s;
      }
      if (stack32 && ins.fn === O.ret32) {
        s += `{ ${em.read(2, 'r4', 4, 't')} r4 = (r4 + 4) | 0; pc = t; }\n`;
        s += `n += ${K}; continue;\n}\n`;
        return s;
      }
    }
    const inl = em.code32 ? inlineInsn(em, ins, fs, stack32, dead[k]!) : null;
    if (inl !== null) {
      s += inl.code;
      s += '\n';
      fs = inl.flags;
      if (isLast) s += `n += ${K}; pc = ${en}; continue;\n}\n`;
      continue;
    }
    // Handler call: the CPU state is current while it runs.
    const h = em.bind(`h${bi}_${k}`, ins.fn), i = em.bind(`i${bi}_${k}`, ins);
    countHandlerCall(ins);
    s += `${WRITE_BACK} c.eip = ${en}; c.instructions = i0 + n + ${k}; f = ${k}; fe = ${st}; call(c, ${h}, ${i}); ${RELOAD} if (c.pendingFault) break L;`;
    s += ` if (c.codeDirty) { c.codeDirty = false; lim = -1; if (!BL[${bi}].valid) c.exitBlock = true; } if (c.chainEpoch !== ep) lim = -1;`;
    s += ` if (c.exitBlock) { n += ${k + 1}; keep = 1; break L; }\n`;
    fs = UNKNOWN;
    if (isLast) {
      const stays = STAYS.has(ins.fn) || !ins.endsBlock;
      s += `n += ${K}; ${stays ? `pc = c.eip${em.code32 ? '' : ' & 65535'}; continue;` : 'keep = 1; break L;'}\n}\n`;
    }
  }
  return s;
}

/** Pages one WebAssembly region may take blocks from. */
const MAX_PAGES = 32;

/**
 * Collects the region rooted at `root` (at EIP `eip`): decoded blocks it can reach, found through
 * the current TLB; from the root's page only, or with `anyPage` from up to MAX_PAGES pages. It
 * stops at blocks that are already entries of a region, or in one being compiled: the dispatcher
 * goes on into those. Each hot path is then compiled once. Regions that took them again held the
 * same kernel code two to six times: in the warm workloads 3x the blocks, twice the compile time
 * and ~100 MiB more resident memory after three gzip runs (287-315 against 190-215 MiB), for no
 * speed: without them sort and gzip run level within the noise and md5sum's timed runs ~15% faster.
 */
function collect(cpu: CPU, root: Block, eip: number, anyPage: boolean): Member[] {
  const csb = cpu.segBase[Seg.CS]!;
  const wrap = eipWrap(root.code32);
  const blockAt = (e: number): Block | undefined => {
    const lin = (csb + e) | 0, t = cpu.tlb[lin >>> 12]!;
    if ((t & cpu.rBit) === 0) return undefined;
    const phys = ((t & -4096) | (lin & 4095)) >>> 0;
    return cpu.blockAt((phys >>> 12) * 4 + root.mode, phys & 4095);
  };
  // JS regions take blocks of the root's page only. Measured on kernel-heavy guest work (pipes,
  // context switches), JS regions that took blocks from any page ran 2-3x slower: their many paths
  // not yet taken when the engine optimizes the function each cost a deoptimization later (hundreds
  // per second). WebAssembly is not speculative, and there a call from one region to the next is
  // what costs (the sort spent half its region time entering regions): they cross pages.
  const rootSlot = Math.floor(root.key / 4096), rootLp = ((csb + eip) | 0) >>> 12;
  const seen = new Set<number>([eip]);
  const pages = new Set<number>([rootLp]);
  const list: Member[] = [{ b: root, eip, lp: rootLp, pp: root.pages[0]!, next: null }];
  let insns = root.insns.length;
  const maxBlocks = anyPage ? MAX_WASM_BLOCKS : MAX_BLOCKS, maxInsns = anyPage ? MAX_WASM_INSNS : MAX_INSNS;
  for (let q = 0; q < list.length && list.length < maxBlocks; q++) {
    const { b, eip: at } = list[q]!;
    for (const t of [...staticSuccessors(b, at, wrap), ...seenSuccessors(b, csb, wrap)]) {
      if (seen.has(t)) continue;
      const nb = blockAt(t);
      // Blocks that have hardly run stay out: cold paths only add compile time and deoptimizations.
      if (nb === undefined || !nb.valid || nb.hits * 4 < cpu.compileThreshold || insns + nb.insns.length > maxInsns) continue;
      if (nb.region !== null || nb.pending) continue;
      const lp = ((csb + t) | 0) >>> 12;
      if (anyPage ? nb.mode !== root.mode || (!pages.has(lp) && pages.size === MAX_PAGES) : Math.floor(nb.key / 4096) !== rootSlot || lp !== rootLp) continue;
      seen.add(t); pages.add(lp); list.push({ b: nb, eip: t, lp, pp: nb.pages[0]!, next: null }); insns += nb.insns.length;
    }
  }
  // A block ends at its page's end, so only its last instruction can reach into the next page.
  for (const m of list) if (m.b.pages.length > 1) m.next = [(m.lp + 1) & 0xfffff, m.b.pages[1]!];
  return list;
}

/** Compiles the region rooted at `root` (which starts at `eip`) and attaches it to every block in it. */
export function compileRegion(cpu: CPU, root: Block, eip: number): void {
  if (!available || root.pending) return;
  const t0 = performance.now();
  const wasm = root.code32 && cpu.backEnd === 'wasm' && wasmUsable(cpu);
  // A block a region holds but cannot be entered at (codegen-wasm.ts entrySlots), hot from
  // elsewhere: every block of its region is an entry (else its other blocks, entered from
  // elsewhere in turn, each rooted one more).
  const allEntries = root.inRegions?.some((r) => r.entries !== undefined && !r.entries.has(root)) === true;
  const members = collect(cpu, root, eip, wasm);
  const blocks = members.map((m) => m.b);
  if (wasm) {
    for (const b of blocks) b.pending = true;
    compileWasmRegion(cpu, members, allEntries, cpu.compileAsync, (r) => {
      for (const b of blocks) b.pending = false;
      // Refused (a CSP without 'wasm-unsafe-eval': later regions of this CPU use the JS back end), or
      // compiled in the background and made stale by code written meanwhile: the blocks count
      // their runs afresh, so those still hot root a region again.
      if (r === null || !blocks.every((b) => b.valid)) {
        r?.kill();
        for (const b of blocks) b.hits = 0;
        return;
      }
      for (const ins of r.handlerCalls) countHandlerCall(ins);
      // No warm-up budgets: WebAssembly code is not speculatively optimized.
      attach({ fn: enterWasm, wasm: r.wasm, kill: r.kill, blocks, calls: REGION_WARMUP, entries: new Set(r.entries) }, r.bytes, cpu.compileThreshold);
    });
    // Time on this thread (a background compile is not in it).
    codegenStats.ms += performance.now() - t0;
    return;
  }
  const em = new Emitter(cpu, root.code32);
  const stack32 = cpu.stack32;
  let cases = '';
  em.bind('BL', blocks);
  members.forEach((m, bi) => { cases += emitBlock(em, m, bi, stack32); });
  const mask = root.code32 ? '| 0' : '& 65535';
  let pre = `const R = c.regs, tlb = c.tlb, ram = c.ram, dv = c.ramView, cp = c.codePages;\n`;
  pre += `if ((c.flatSegs & ${em.flatNeed}) !== ${em.flatNeed} || c.stack32 !== ${stack32} || c.segLimit[1] < ${root.code32 ? 0xffffffff : 0xffff} || c.segBase[1] !== ${cpu.segBase[Seg.CS]! | 0}) return -1;\n`;
  pre += 'const rB = c.rBit, rM = c.rMask, wB = c.wBit, wM = c.wMask, ep = c.chainEpoch, i0 = c.instructions;\n';
  for (const s of em.checkedSegs) pre += `const sb${s} = c.segBase[${s}], rlo${s} = c.segRLo[${s}], rhi${s} = c.segRHi[${s}], wlo${s} = c.segWLo[${s}], whi${s} = c.segWHi[${s}];\n`;
  pre += 'let r0 = R[0], r1 = R[1], r2 = R[2], r3 = R[3], r4 = R[4], r5 = R[5], r6 = R[6], r7 = R[7];\n';
  pre += 'let fl = c.flags, lm = c.lazyMask, lk = c.lazyKind, la = c.lazyA, lb = c.lazyB, lr = c.lazyRes, lt = c.lazyTop;\n';
  // Flags materialized at entry (on every call, so the call has type feedback): a block entered
  // first then finds no lazy carry to recompute, a path that would otherwise deoptimize the
  // region when it is first taken after optimization.
  pre += 'fl = mat(fl, lm, lk, la, lb, lr, lt); lm = 0;\n';
  pre += 'let pc = c.eip, n = 0, f = 0, fe = 0, keep = 0, xo = -1, rb = null, ri = 0, vp = 0;\n';
  // Entered on the page it was compiled for, still mapped to the same physical page? (Checked here
  // once per call, so the check always has the engine's type feedback: a check first reached inside
  // the loop after optimization would cost a deoptimization.)
  const { lp, pp } = members[0]!;
  pre += `{ const t = tlb[${lp}]; if (((${cpu.segBase[Seg.CS]! | 0} + pc) | 0) >>> 12 !== ${lp} || (t & -4096) !== ${pp << 12} || (t & rM) !== rB) return -3; }\n`;
  const body = `${pre}L: for (;;) {\nswitch (pc) {\n${cases}default: break L;\n}\n}\n`
    + `if (c.pendingFault) {\nc.pendingFault = false;\n`
    + `c.instructions = i0 + n + f; c.eip = fe;\nreturn -2;\n}\n`
    // Left before anything ran (entered at an EIP it was not compiled for, or a page that moved).
    + 'if (n === 0 && xo < 0 && keep === 0) return -3;\n'
    + `if (xo >= 0) { rb = BL[xo >>> 8]; ri = xo & 255; n += ri; }\n`
    + `if (keep === 0) c.eip = pc ${mask};\n${WRITE_BACK}\nc.instructions = i0 + n; c.resumeBlock = rb; c.resumeIndex = ri;\nreturn n;`;
  let fn: RegionFn;
  try {
    // eslint-disable-next-line no-new-func
    fn = new Function('lcf', 'lof', 'mat', 'PARITY', 'call', ...em.params,
      `return function region(c, lim) {\n${body}\n};`)(lcf, lof, mat, PARITY, call, ...em.args) as RegionFn;
  } catch (e) {
    // Code generation refused (CSP): stay interpreted from now on.
    if (e instanceof EvalError) { available = false; return; }
    throw e;
  }
  codegenStats.ms += performance.now() - t0;
  attach({ fn, blocks, calls: 0 }, body.length, cpu.compileThreshold);
}

/**
 * Counts a compiled region and attaches it to its blocks: to those it can be entered at (its
 * `entries`, else all) as their code, to all as holding them (a code write to any of them ends it).
 * A block it cannot be entered at that already passed the threshold (it got there while the region
 * was being compiled, and roots none while `pending`) counts a quarter of the threshold again, as
 * blocks that join below it do, and so can root a region of its own if it stays hot from
 * elsewhere. Without that such blocks ran interpreted for good: 2.9 M instructions per warm sort
 * run; with it 0.1 M, and the warm sort runs ~8% faster, gzip ~4% (in-process, three boots each).
 */
function attach(region: Region, bytes: number, threshold: number): void {
  codegenStats.regions++; codegenStats.blocks += region.blocks.length; codegenStats.bytes += bytes;
  const entries = region.entries;
  for (const b of region.blocks) {
    codegenStats.instructions += b.insns.length;
    if (entries === undefined || entries.has(b)) b.region = region;
    else if (b.region === null && b.hits >= threshold) b.hits = threshold - (threshold >> 2);
    (b.inRegions ??= []).push(region);
  }
}
