/**
 * The WebAssembly back end of the region code generator (codegen.ts collects the region and says
 * what each instruction reads and writes; this file turns it into one module per region).
 *
 * Why WebAssembly for warm code: the engine compiles a module to machine code at once (a baseline
 * compiler, then an optimizing one in the background) and never speculates, so a region pays off
 * after a few thousand runs of its blocks. A JS region first runs in the engine's bytecode
 * interpreter and deoptimizes at every path that had not run when it was optimized, which is why
 * JS regions only pay off on hot loops (cpu/README.md has the figures).
 *
 * Guest RAM, the TLB, the code-page map and the registers are in the WebAssembly.Memory of
 * `PhysicalMemory` (bus/memory.ts) at fixed offsets, so compiled code reads and writes them
 * directly; the lazy-flag state and the segment windows travel through a small state area there.
 * The region's exits and exactness rules are those of the JS back end: registers and flags in
 * locals, written back at exits and around handler calls; the TLB fast path inline with a side exit
 * (the interpreter finishes the block) for everything else; a block runs only when it fits in the
 * budget; handler faults come back as -2 with EIP and the count of the faulting instruction. Its
 * control flow is its own: direct branches between its blocks, a dispatch loop only for the rest
 * (goTo, entrySlots).
 */
import type { CPU } from './cpu.js';
import type { Block, Handler, Insn } from './decode.js';
import { CORE, FAULT, Seg } from './cpu.js';
import { eaBase, eaBaseIndex, eaDisp, eaIndex } from './decode.js';
import * as O from './ops.js';
import { AC, ARITH, CF, DF, ID, IF, IOPL, Lazy, NT, OF, PF, AF, RF, SF, TF, VM, ZF } from './flags.js';
import { cli } from './ops-system.js';
import {
  Code, type Ex, add, and, eq, eqz, geS, geU, get, gtS, gtU, k32, leS, leU, load16u, load32, load8u, ltS, ltU,
  clz, ctz, divWideU, moduleBytes, mul, mulOverflows, mulWide, ne, or, popcnt, rotl, rotr, select, shl, shrS, shrU, sub, xor,
} from './wasm-module.js';
import {
  Known, MAT, STAYS, UNKNOWN, condReads, deadFlags, seenSuccessors, staticSuccessors, type FlagState, type Member, type Region,
} from './codegen.js';

/**
 * The state area (Int32Array indices at CORE.state): lazy flags; where the last region left (EIP,
 * side exit, kept EIP, stop, its id); the running region's budget; what regions check at entry
 * (`Modes`, CS base);
 * the segment windows (base, read low/high, write low/high per segment) and their generation; the
 * segment selectors (from SEL0, for PUSH Sreg).
 */
const enum S { Fl, Lm, Lk, La, Lb, Lr, Lt, Pc, Xo, Keep, Stop, Id, Lim, Modes, CsBase, SegGen, Seg0 }
const SEL0 = S.Seg0 + 5 * 6;
/** Int32 slots of the state area. */
export const STATE_SLOTS = SEL0 + 6;
/**
 * Bits of S.Modes besides the flat-segment bits (CPU.flatSegs): CS has a 4 GiB limit, SS is 32-bit,
 * privileged (real mode or CPL 0: CLI and POPF's IF need no check), CPL 3 (the TLB permission bits
 * a region tests are constants in its code).
 */
const CS_FULL = 0x100, SS_32 = 0x200, PRIV = 0x400, USER = 0x800;
const modesOf = (c: CPU): number =>
  c.flatSegs | (c.segLimit[Seg.CS] === 0xffffffff ? CS_FULL : 0) | (c.stack32 ? SS_32 : 0) | (!c.protectedMode || c.cpl === 0 ? PRIV : 0) |
  (c.cpl === 3 ? USER : 0);
/**
 * The region links: a direct-mapped table of (linear EIP, region id + 1 | entry index << LINK_BI)
 * pairs at CORE.links, for the entries of every live region (entrySlots).
 */
export const LINK_ENTRIES = 1 << 16;

/**
 * Modules up to this size compile on this thread even when asked for the background: the engine's
 * baseline compiler takes well under a millisecond for them, while a background compile attaches
 * only after the next turns of the event loop, by which time the loop it was made for has often run
 * out (the boot's memmap_init_range ran its 1 M instructions interpreted). Boot to the ready line,
 * 7 alternated CLI boots: 847 ms against 899 all in the background, 894 all on this thread.
 */
export const SYNC_BYTES = 64 * 1024;
/** Region ids below 2^20, entry indices below 2^11 (codegen.ts MAX_WASM_BLOCKS). */
const LINK_BI = 20, LINK_ID = (1 << LINK_BI) - 1;
const linkSlot = (lin: number): number => ((lin ^ (lin >>> 16)) & (LINK_ENTRIES - 1)) << 3;
/** linkSlot as compiled code: the address of the link for the linear EIP in local `lin`. */
const linkAddr = (lin: number, linksBase: number): Ex =>
  add(shl(and(xor(get(lin), shrU(get(lin), k32(16))), k32(LINK_ENTRIES - 1)), k32(3)), k32(linksBase));

// Locals: the three parameters (budget, EIP, instructions retired so far in this chain), the guest
// state, then per-instruction temporaries. A region turns the budget and count into what is left of
// the budget (LEFT, in the count's local), keeping the budget in the state area (S.Lim): one value
// fewer live through its code.
const LIM = 0, PC = 1, N = 2, LEFT = N, R0 = 3, FL = 11, LM = 12, LK = 13, LA = 14, LB = 15, LR = 16, LT = 17;
const BI = 18, XO = 19, KEEP = 20, TMP = 21;
// Functions of a region module: the imported handler call, the region itself, flag materialization.
const F_CALL = 0, F_MAT = 2;

const reg = (r: number): Ex => get(R0 + r);
const not = (x: Ex): Ex => xor(x, k32(-1));
const bool = (x: Ex): Ex => ne(x, k32(0));
const bit = (x: Ex, b: number): Ex => and(shrU(x, k32(b)), k32(1));

// ---------------------------------------------------------------- flags

const zfOf = (t: number): Ex => eqz(shl(get(LR), k32(31 - t)));
const sfOf = (t: number): Ex => bit(get(LR), t);
/** PF: an even number of one bits in the result's low byte. */
const pfOf = (): Ex => xor(and(popcnt(and(get(LR), k32(255))), k32(1)), k32(1));
const addCarry = (): Ex => shrU(or(and(get(LA), get(LB)), and(xor(get(LA), get(LB)), not(get(LR)))), k32(31));
const subCarry = (): Ex => shrU(or(and(not(get(LA)), get(LB)), and(not(xor(get(LA), get(LB))), get(LR))), k32(31));

/** 0/1 value of EFLAGS bit `b` in state `s` (never Known.None: materialize first). */
function flagBit(b: number, s: FlagState): Ex {
  const t = s.top;
  const inFl = bool(and(get(FL), k32(b)));
  switch (s.k) {
    case Known.Mat: return inFl;
    case Known.Logic: return b === CF || b === OF ? k32(0) : b === ZF ? zfOf(t) : b === SF ? sfOf(t) : pfOf();
    default: {
      if (b === ZF) return zfOf(t);
      if (b === SF) return sfOf(t);
      if (b === PF) return pfOf();
      const addK = s.k === Known.Add || s.k === Known.AddC;
      if (b === CF) {
        if (s.k === Known.IncDec) return inFl;
        if (s.k === Known.Add) return ltU(get(LR), get(LA));
        if (s.k === Known.Sub) return ltU(get(LA), get(LB));
        return addK ? addCarry() : subCarry();
      }
      return addK ? shrU(and(xor(get(LA), get(LR)), xor(get(LB), get(LR))), k32(31)) : shrU(and(xor(get(LA), get(LB)), xor(get(LA), get(LR))), k32(31));
    }
  }
}

/** 0/1 value of condition code `cc` (Jcc/SETcc/CMOVcc low nibble). */
function cond(cc: number, s: FlagState): Ex {
  if (s.k === Known.Sub) {
    const a = get(LA), b = get(LB);
    switch (cc) {
      case 2: return ltU(a, b); case 3: return geU(a, b); case 4: return eq(a, b); case 5: return ne(a, b);
      case 6: return leU(a, b); case 7: return gtU(a, b); case 12: return ltS(a, b); case 13: return geS(a, b);
      case 14: return leS(a, b); case 15: return gtS(a, b);
    }
  }
  if (s.k === Known.Logic && s.top === 31) {
    const r = get(LR);
    switch (cc) { case 12: return ltS(r, k32(0)); case 13: return geS(r, k32(0)); case 14: return leS(r, k32(0)); case 15: return gtS(r, k32(0)); }
  }
  const f = (b: number) => flagBit(b, s);
  let e: Ex;
  switch (cc >> 1) {
    case 0: e = f(OF); break;
    case 1: e = f(CF); break;
    case 2: e = f(ZF); break;
    case 3: e = or(f(CF), f(ZF)); break;
    case 4: e = f(SF); break;
    case 5: e = f(PF); break;
    case 6: e = ne(f(SF), f(OF)); break;
    default: e = or(f(ZF), ne(f(SF), f(OF))); break;
  }
  return cc & 1 ? eqz(e) : e;
}

/** Flags a state can answer without materializing: INC/DEC's OF needs its kind, so it materializes. */
const needsMat = (s: FlagState, reads: number): boolean => s.k === Known.None || (s.k === Known.IncDec && (reads & OF) !== 0);

/** The module-internal function materializing EFLAGS from the lazy state (CPU.getEflags). */
function matFunction(): Code {
  // Parameters as the locals FL..LT minus their offset: fl lm lk la lb lr lt, then f.
  const c = new Code(7);
  c.ensureLocals(8);
  const [fl, lm, lk, la, lb, lr, lt, f] = [0, 1, 2, 3, 4, 5, 6, 7];
  const has = (b: number) => bool(and(get(lm), k32(b)));
  c.if(eqz(get(lm))); c.ret(get(fl)); c.end();
  c.set(f, and(get(fl), not(get(lm))));
  const isAdd = eqz(get(lk));
  const carry = select(or(and(get(la), get(lb)), and(xor(get(la), get(lb)), not(get(lr)))),
    or(and(not(get(la)), get(lb)), and(not(xor(get(la), get(lb))), get(lr))), isAdd);
  const over = select(and(xor(get(la), get(lr)), xor(get(lb), get(lr))), and(xor(get(la), get(lb)), xor(get(la), get(lr))), isAdd);
  c.if(has(CF)); c.set(f, or(get(f), and(shrU(carry, get(lt)), k32(1)))); c.end();
  c.if(has(PF)); c.set(f, or(get(f), shl(xor(and(popcnt(and(get(lr), k32(255))), k32(1)), k32(1)), k32(2)))); c.end();
  c.if(has(AF)); c.set(f, or(get(f), and(xor(xor(get(la), get(lb)), get(lr)), k32(AF)))); c.end();
  c.if(has(ZF)); c.set(f, or(get(f), shl(eqz(shl(get(lr), sub(k32(31), get(lt)))), k32(6)))); c.end();
  c.if(has(SF)); c.set(f, or(get(f), shl(and(shrU(get(lr), get(lt)), k32(1)), k32(7)))); c.end();
  c.if(has(OF)); c.set(f, or(get(f), shl(and(shrU(over, get(lt)), k32(1)), k32(11)))); c.end();
  c.ret(get(f));
  return c;
}

// ---------------------------------------------------------------- the emitter

interface Site { fn: Handler; ins: Insn; en: number; st: number; k: number; block: Block }

class Emitter {
  readonly code = new Code(3);
  /** Segments needing flat read+write windows (entry guard). */
  flatNeed = 0;
  /** Compiled privileged (PRIV), and whether the code relies on it (entry guard). */
  readonly priv: boolean;
  needPriv = false;
  readonly sites: Site[] = [];
  private tmpNext = 0;
  private tmpMax = 0;
  /** Side exit of the instruction being emitted: its index in the region and its EIP. */
  exitXo = 0; exitPc = 0;
  /** The block being emitted jumps to itself: its code is in a loop labelled 'self'. */
  selfLoop = false;
  /** Per member, its place among the entries of the dispatch br_table (-1: reached by direct branches only). */
  slot: number[] = [];
  entries = 0;

  /** `id`: the region's slot in the engine's table (handler calls name it); `members`: its blocks. */
  constructor(readonly cpu: CPU, readonly tlbBase: number, readonly cpBase: number, readonly regsBase: number, readonly stBase: number,
    readonly id: number, readonly members: Member[]) { this.priv = (modesOf(cpu) & PRIV) !== 0; }

  tmp(): number { const t = TMP + this.tmpNext++; if (this.tmpNext > this.tmpMax) this.tmpMax = this.tmpNext; return t; }
  resetTmps(): void { this.tmpNext = 0; }
  finish(): void { this.code.ensureLocals(TMP + this.tmpMax); }

  st(i: S): Ex { return load32(k32(0), this.stBase + 4 * i); }
  setSt(i: S, v: Ex): void { this.code.store32(k32(0), v, this.stBase + 4 * i); }

  /** Leave the region before the current instruction; the interpreter runs the rest of its block. */
  sideExit(): void {
    const c = this.code;
    c.set(XO, k32(this.exitXo)); c.set(PC, k32(this.exitPc)); c.br('out');
  }

  /** Linear address of seg:off for an access of `size` bytes, into a new local (may side-exit). */
  lin(seg: number, off: Ex, size: number, write: boolean): number {
    const c = this.code, l = this.tmp();
    if (seg < 6 && (this.cpu.flatSegs & (1 << seg)) !== 0) { this.flatNeed |= 1 << seg; c.set(l, off); return l; }
    const base = S.Seg0 + 5 * seg, o = this.tmp();
    c.set(o, off);
    const lo = this.st(base + (write ? 3 : 1)), hi = this.st(base + (write ? 4 : 2));
    let bad = or(ltU(get(o), lo), gtU(get(o), hi));
    if (size > 1) bad = or(bad, ltU(sub(hi, get(o)), k32(size - 1)));
    c.if(bad); this.sideExit(); c.end();
    c.set(l, add(this.st(base), get(o)));
    return l;
  }

  /**
   * The RAM address of seg:off for an access of `size` bytes through the TLB fast path, into a new
   * local; the side exit for anything else (slow page, no permission, crossing the page end).
   */
  private ramAddr(seg: number, off: Ex, size: number, write: boolean): number {
    const c = this.code, l = this.lin(seg, off, size, write), e = this.tmp(), p = this.tmp();
    c.set(e, load32(shl(shrU(get(l), k32(12)), k32(2)), this.tlbBase));
    let ok = write ? eq(and(get(e), k32(this.cpu.wMask)), k32(this.cpu.wBit)) : eq(and(get(e), k32(this.cpu.rMask)), k32(this.cpu.rBit));
    if (size === 4) ok = and(ok, leU(and(get(l), k32(4095)), k32(4092)));
    if (size === 2) ok = and(ok, ne(and(get(l), k32(4095)), k32(4095)));
    c.if(eqz(ok)); this.sideExit(); c.end();
    c.set(p, or(and(get(e), k32(-4096)), and(get(l), k32(4095))));
    return p;
  }

  /** Reads `size` bytes at seg:off into a new local. */
  read(seg: number, off: Ex, size: number): number {
    const p = this.ramAddr(seg, off, size, false), v = this.tmp(), a = get(p);
    this.code.set(v, size === 4 ? load32(a) : size === 2 ? load16u(a) : load8u(a));
    return v;
  }

  /** Writes `val` (size bytes) at seg:off; a page holding decoded code takes the side exit too. */
  write(seg: number, off: Ex, size: number, val: Ex): void {
    const c = this.code, p = this.ramAddr(seg, off, size, true);
    c.if(load8u(shrU(get(p), k32(12)), this.cpBase)); this.sideExit(); c.end();
    if (size === 4) c.store32(get(p), val);
    else if (size === 2) c.store16(get(p), val);
    else c.store8(get(p), val);
  }

  setLazy(kind: Lazy, a: Ex, b: Ex, r: Ex, top: number): void {
    const c = this.code;
    c.set(LK, k32(kind)); c.set(LA, a); c.set(LB, b); c.set(LR, r); c.set(LT, k32(top)); c.set(LM, k32(ARITH));
  }
  setLogic(r: Ex, top: number): void {
    const c = this.code;
    c.set(FL, and(get(FL), not(or(k32(CF | OF | AF), get(LM)))));
    c.set(LR, r); c.set(LT, k32(top)); c.set(LA, k32(0)); c.set(LB, k32(0)); c.set(LM, k32(SF | ZF | PF));
  }
  /** fl = EFLAGS, lm = 0 (when the lazy state cannot answer directly). */
  materialize(): void {
    const c = this.code;
    c.call(F_MAT, get(FL), get(LM), get(LK), get(LA), get(LB), get(LR), get(LT));
    c.set(FL, []); c.set(LM, k32(0));
  }
  /** Makes `reads` answerable from `fs`; returns the state after. */
  flagsFor(fs: FlagState, reads: number): FlagState {
    if (!needsMat(fs, reads)) return fs;
    this.materialize();
    return MAT;
  }

  /** PUSH of a 32-bit value on the 32-bit stack (ESP moves only once the store succeeded). */
  push(v: Ex): void {
    const c = this.code, s = this.tmp();
    c.set(s, sub(reg(4), k32(4)));
    this.write(Seg.SS, get(s), 4, v);
    c.set(R0 + 4, get(s));
  }

  /** Registers from memory into their locals (at entry and after a handler call). */
  loadRegs(): void {
    for (let r = 0; r < 8; r++) this.code.set(R0 + r, load32(k32(0), this.regsBase + 4 * r));
  }

  /** Registers to memory, lazy flags to the state area (before a handler call and at exit). */
  writeBack(): void {
    const c = this.code;
    for (let r = 0; r < 8; r++) c.store32(k32(0), reg(r), this.regsBase + 4 * r);
    for (let i = 0; i < 7; i++) this.setSt(S.Fl + i, get(FL + i));
  }
}

const getReg = (size: number, r: number): Ex => (size === 4 ? reg(r) : size === 2 ? and(reg(r), k32(0xffff)) : reg8(r));
const reg8 = (r: number): Ex => (r < 4 ? and(reg(r), k32(255)) : and(shrU(reg(r - 4), k32(8)), k32(255)));
function setReg(c: Code, size: number, r: number, v: Ex): void {
  if (size === 4) c.set(R0 + r, v);
  else if (size === 2) c.set(R0 + r, or(and(reg(r), k32(-65536)), and(v, k32(0xffff))));
  else setReg8(c, r, v);
}
function setReg8(c: Code, r: number, v: Ex): void {
  if (r < 4) c.set(R0 + r, or(and(reg(r), k32(-256)), and(v, k32(255))));
  else c.set(R0 + r - 4, or(and(reg(r - 4), k32(-65281)), shl(and(v, k32(255)), k32(8))));
}

/**
 * The 32-bit effective address from the register locals, or null for forms left to the handler;
 * `espDelta` is added to ESP where the address uses it (POP r/m addresses with ESP already moved).
 */
function eaEx(ins: Insn, espDelta = 0): Ex | null {
  const d = ins.disp | 0;
  const r = (x: number): Ex => (x === 4 && espDelta !== 0 ? add(reg(4), k32(espDelta)) : reg(x));
  if (ins.ea === eaDisp) return k32(d);
  if (ins.ea === eaBase) return add(r(ins.base), k32(d));
  if (ins.ea === eaBaseIndex) return add(add(r(ins.base), shl(r(ins.index), k32(ins.scale))), k32(d));
  if (ins.ea === eaIndex) return add(shl(r(ins.index), k32(ins.scale)), k32(d));
  return null;
}

/**
 * An ALU op (ModRM reg numbering) on local a and value b into local r; returns the flag state after
 * it and `commit`, which emits the flag update (after the store of a memory form, which may exit).
 */
function aluOp(em: Emitter, op: number, a: number, b: Ex, r: number, top: number, fs: FlagState): { flags: FlagState; commit: () => void } {
  const c = em.code;
  const wrap = (x: Ex) => (top === 31 ? x : and(x, k32(top === 7 ? 255 : 65535)));
  const known = (k: Known): FlagState => ({ k: top === 31 ? k : Known.None, top });
  const bt = em.tmp();
  c.set(bt, b);
  const lazy = (kind: Lazy) => () => em.setLazy(kind, get(a), get(bt), get(r), top);
  switch (op) {
    case 0: c.set(r, wrap(add(get(a), get(bt)))); return { flags: known(Known.Add), commit: lazy(Lazy.Add) };
    case 5: case 7: c.set(r, wrap(sub(get(a), get(bt)))); return { flags: known(Known.Sub), commit: lazy(Lazy.Sub) };
    case 1: case 4: case 6:
      c.set(r, op === 1 ? or(get(a), get(bt)) : op === 4 ? and(get(a), get(bt)) : xor(get(a), get(bt)));
      return { flags: { k: Known.Logic, top }, commit: () => em.setLogic(get(r), top) };
    default: {
      // ADC/SBB: the carry comes in from the flags as they stand.
      const s = em.flagsFor(fs, CF);
      const carry = flagBit(CF, s);
      c.set(r, wrap(op === 2 ? add(add(get(a), get(bt)), carry) : sub(sub(get(a), get(bt)), carry)));
      return { flags: known(op === 2 ? Known.AddC : Known.SubC), commit: lazy(op === 2 ? Lazy.Add : Lazy.Sub) };
    }
  }
}

/**
 * Emits one instruction inline; returns the flag state after it, or null when the handler must be
 * called (nothing emitted then).
 */
function inlineInsn(em: Emitter, ins: Insn, fs: FlagState, stack32: boolean, dead: boolean): FlagState | null {
  // Memory forms are never `dead` (flagUse counts them as reading every flag: they may exit).
  const f = ins.fn, c = em.code;
  const ea = eaEx(ins);

  // Moves and address arithmetic.
  if (f === O.mov32RR) { c.set(R0 + ins.rm, reg(ins.reg)); return fs; }
  if (f === O.mov32RRrev) { c.set(R0 + ins.reg, reg(ins.rm)); return fs; }
  if (f === O.mov32RImm || (f === O.movRImmRm && ins.size === 4)) { c.set(R0 + (f === O.mov32RImm ? ins.reg : ins.rm), k32(ins.imm)); return fs; }
  if (f === O.nop) return fs;
  if (f === O.lea32) { if (ea === null) return null; c.set(R0 + ins.reg, ea); return fs; }
  if (f === O.mov32RM) { if (ea === null) return null; c.set(R0 + ins.reg, get(em.read(ins.seg, ea, 4))); return fs; }
  if (f === O.mov32MR) { if (ea === null) return null; em.write(ins.seg, ea, 4, reg(ins.reg)); return fs; }
  if (f === O.mov32MImm) { if (ea === null) return null; em.write(ins.seg, ea, 4, k32(ins.imm)); return fs; }
  if (f === O.movRM || f === O.movMR) {
    if (ea === null) return null;
    if (f === O.movRM) setReg(c, ins.size, ins.reg, get(em.read(ins.seg, ea, ins.size)));
    else em.write(ins.seg, ea, ins.size, getReg(ins.size, ins.reg));
    return fs;
  }
  if (f === O.movMImm && ins.size !== 4) { if (ea === null) return null; em.write(ins.seg, ea, ins.size, k32(ins.imm & (ins.size === 2 ? 0xffff : 255))); return fs; }
  if (f === O.movRImm && ins.size === 1) { setReg8(c, ins.reg, k32(ins.imm)); return fs; }
  if (f === O.movRImmRm && ins.size === 1) { setReg8(c, ins.rm, k32(ins.imm)); return fs; }
  if (f === O.movRImm && ins.size === 2) { setReg(c, 2, ins.reg, k32(ins.imm & 0xffff)); return fs; }
  if (f === O.movRR && ins.size !== 4) { setReg(c, ins.size, ins.rm, getReg(ins.size, ins.reg)); return fs; }
  if (f === O.movRRrev && ins.size !== 4) { setReg(c, ins.size, ins.reg, getReg(ins.size, ins.rm)); return fs; }
  if (f === O.movzx8_32R) { c.set(R0 + ins.reg, reg8(ins.rm)); return fs; }
  if (f === O.movzx8_32M || f === O.movzx16_32M) {
    if (ea === null) return null;
    c.set(R0 + ins.reg, get(em.read(ins.seg, ea, f === O.movzx8_32M ? 1 : 2)));
    return fs;
  }
  if (f === O.movzx && ins.size === 4 && !ins.mem && ins.imm === 2) { c.set(R0 + ins.reg, and(reg(ins.rm), k32(0xffff))); return fs; }
  if (f === O.movsx && ins.size === 4) {
    const sh = ins.imm === 1 ? 24 : 16;
    let v: Ex;
    if (!ins.mem) v = ins.imm === 1 ? reg8(ins.rm) : reg(ins.rm);
    else { if (ea === null) return null; v = get(em.read(ins.seg, ea, ins.imm)); }
    c.set(R0 + ins.reg, shrS(shl(v, k32(sh)), k32(sh)));
    return fs;
  }
  if (f === O.cwd && ins.size === 4) { c.set(R0 + 2, shrS(reg(0), k32(31))); return fs; }
  if (f === O.cbw && ins.size === 4) { c.set(R0, shrS(shl(reg(0), k32(16)), k32(16))); return fs; }
  if ((f === O.xchgAcc && ins.size === 4) || (f === O.xchgRM && ins.size === 4 && !ins.mem)) {
    const a = f === O.xchgAcc ? 0 : ins.rm, t = em.tmp();
    c.set(t, reg(a)); c.set(R0 + a, reg(ins.reg)); c.set(R0 + ins.reg, get(t));
    return fs;
  }
  if (f === O.bswap && ins.size === 4) {
    const x = reg(ins.reg);
    c.set(R0 + ins.reg, or(or(shl(x, k32(24)), shl(and(x, k32(0xff00)), k32(8))), or(and(shrU(x, k32(8)), k32(0xff00)), shrU(x, k32(24)))));
    return fs;
  }

  // Stack (32-bit stack, flat SS guarded at entry).
  if (stack32 && ins.size === 4) {
    if (f === O.push32r || f === O.pushImm) {
      // PUSH ESP pushes the value before the decrement.
      em.push(f === O.push32r ? reg(ins.reg) : k32(ins.imm));
      return fs;
    }
    if (f === O.pushRm) {
      // The operand is read before ESP moves (PUSH [ESP+d] reads the old ESP).
      if (ins.mem && ea === null) return null;
      em.push(ins.mem ? get(em.read(ins.seg, ea!, 4)) : reg(ins.rm));
      return fs;
    }
    if (f === O.pop32r) {
      const v = em.read(Seg.SS, reg(4), 4);
      c.set(R0 + 4, add(reg(4), k32(4)));
      c.set(R0 + ins.reg, get(v));
      return fs;
    }
    if (f === O.leave) {
      const v = em.read(Seg.SS, reg(5), 4);
      c.set(R0 + 4, add(reg(5), k32(4)));
      c.set(R0 + 5, get(v));
      return fs;
    }
    // POP r/m32: the destination address is computed with ESP already moved, and ESP moves only
    // once the store succeeded (a side exit leaves it as it was).
    if (f === O.popRm) {
      const to = ins.mem ? eaEx(ins, 4) : null;
      if (ins.mem && to === null) return null;
      const v = em.read(Seg.SS, reg(4), 4);
      if (ins.mem) em.write(ins.seg, to!, 4, get(v));
      c.set(R0 + 4, add(reg(4), k32(4)));
      if (!ins.mem) c.set(R0 + ins.rm, get(v));
      return fs;
    }
    // PUSH Sreg writes only the selector's word of the new slot (as the interpreter, and P6 and
    // later, do); inlined where SS is flat (no limit check of the whole slot to make).
    if (f === O.pushSeg && ins.reg < 6 && (em.cpu.flatSegs & (1 << Seg.SS)) !== 0) {
      const sp = em.tmp();
      c.set(sp, sub(reg(4), k32(4)));
      em.write(Seg.SS, get(sp), 2, em.st(SEL0 + ins.reg));
      c.set(R0 + 4, get(sp));
      return fs;
    }
  }

  // ALU on registers and immediates (32-bit).
  const regAlu = (op: number, dst: number, src: Ex): FlagState => {
    const a = em.tmp(), r = em.tmp();
    c.set(a, reg(dst));
    const x = aluOp(em, op, a, src, r, 31, fs);
    if (op !== 7) c.set(R0 + dst, get(r));
    if (dead) return fs;
    x.commit();
    return x.flags;
  };
  let op = O.ALU_RR32.indexOf(f);
  if (op >= 0) return regAlu(op, ins.rm, reg(ins.reg));
  op = O.ALU_RRREV32.indexOf(f);
  if (op >= 0) return regAlu(op, ins.reg, reg(ins.rm));
  op = O.ALU_RIMM32.indexOf(f);
  if (op >= 0) return regAlu(op, ins.rm, k32(ins.imm));
  op = O.ALU_ACCIMM32.indexOf(f);
  if (op >= 0) return regAlu(op, 0, k32(ins.imm));
  op = O.ALU_RM32.indexOf(f);
  if (op >= 0) {
    if (ea === null) return null;
    const v = em.read(ins.seg, ea, 4), a = em.tmp(), r = em.tmp();
    c.set(a, reg(ins.reg));
    const x = aluOp(em, op, a, get(v), r, 31, fs);
    if (op !== 7) c.set(R0 + ins.reg, get(r));
    x.commit();
    return x.flags;
  }
  const memAlu = (op: number, size: number, src: Ex): FlagState | null => {
    if (ea === null) return null;
    const off = em.tmp();
    c.set(off, ea);
    const a = em.read(ins.seg, get(off), size), r = em.tmp();
    const x = aluOp(em, op, a, src, r, O.TOP[size]!, fs);
    // The store may take the side exit: the flags are committed after it.
    if (op !== 7) em.write(ins.seg, get(off), size, get(r));
    x.commit();
    return x.flags;
  };
  op = O.ALU_MR32.indexOf(f);
  if (op >= 0) return memAlu(op, 4, reg(ins.reg));
  op = O.ALU_MIMM32.indexOf(f);
  if (op >= 0) return memAlu(op, 4, k32(ins.imm));
  // 8- and 16-bit forms (the kernel compares 16-bit fields, and its segment code moves 16-bit
  // registers, hundreds of thousands of times per second of a pipe workload).
  if (ins.size !== 4 && (f === O.aluMImm || f === O.aluMR || f === O.aluRM || f === O.aluRR || f === O.aluRRrev || f === O.aluRImm || f === O.aluAccImm)) {
    const size = ins.size, mask = size === 2 ? 0xffff : 255;
    if (f === O.aluMImm || f === O.aluMR) return memAlu(ins.op, size, f === O.aluMR ? getReg(size, ins.reg) : k32(ins.imm & mask));
    let src: Ex;
    if (f === O.aluRM) { if (ea === null) return null; src = get(em.read(ins.seg, ea, size)); }
    else src = f === O.aluRR ? getReg(size, ins.reg) : f === O.aluRRrev ? getReg(size, ins.rm) : k32(ins.imm & mask);
    const dst = f === O.aluRM || f === O.aluRRrev ? ins.reg : f === O.aluAccImm ? 0 : ins.rm;
    const a = em.tmp(), r = em.tmp();
    c.set(a, getReg(size, dst));
    const x = aluOp(em, ins.op, a, src, r, O.TOP[size]!, fs);
    if (ins.op !== 7) setReg(c, size, dst, get(r));
    if (dead) return fs;
    x.commit();
    return x.flags;
  }

  // TEST.
  const test = (x: Ex, y: Ex, top: number): FlagState => {
    if (dead) return fs;
    em.setLogic(and(x, y), top);
    return { k: Known.Logic, top };
  };
  if (f === O.test32RR) return test(reg(ins.rm), reg(ins.reg), 31);
  if (f === O.test8RR) return test(reg8(ins.rm), reg8(ins.reg), 7);
  if ((f === O.testAccImm || f === O.testRmImm || f === O.testRM) && (ins.size === 4 || ins.size === 1 || (ins.size === 2 && !ins.mem))) {
    const top = O.TOP[ins.size]!;
    const g = (x: number) => getReg(ins.size, x);
    const other = f === O.testRM ? g(ins.reg) : k32(ins.size === 4 ? ins.imm : ins.imm & (ins.size === 2 ? 0xffff : 255));
    if (f === O.testAccImm) return test(g(0), other, top);
    if (!ins.mem) return test(g(ins.rm), other, top);
    if (ea === null) return null;
    return test(get(em.read(ins.seg, ea, ins.size)), other, top);
  }

  // INC/DEC keep CF.
  const incDec = (dec: boolean, read: () => number, store: (r: number) => void): FlagState => {
    const a = read();
    const r = em.tmp();
    c.set(r, dec ? sub(get(a), k32(1)) : add(get(a), k32(1)));
    if (dead) { store(r); return fs; }
    let s = fs;
    if (fs.k !== Known.IncDec && fs.k !== Known.Mat) {
      s = em.flagsFor(fs, CF);
      const cf = em.tmp();
      c.set(cf, flagBit(CF, s));
      c.set(FL, or(and(get(FL), k32(~CF)), get(cf)));
    }
    store(r);
    em.setLazy(dec ? Lazy.Sub : Lazy.Add, get(a), k32(1), get(r), 31);
    c.set(LM, k32(ARITH & ~CF));
    return { k: Known.IncDec, top: 31 };
  };
  if (f === O.inc32r || f === O.dec32r) {
    return incDec(f === O.dec32r, () => { const t = em.tmp(); c.set(t, reg(ins.reg)); return t; }, (r) => c.set(R0 + ins.reg, get(r)));
  }
  if (f === O.incDecRm && ins.size === 4) {
    if (!ins.mem) return incDec(ins.op === 1, () => { const t = em.tmp(); c.set(t, reg(ins.rm)); return t; }, (r) => c.set(R0 + ins.rm, get(r)));
    if (ea === null) return null;
    const off = em.tmp();
    return incDec(ins.op === 1, () => { c.set(off, ea); return em.read(ins.seg, get(off), 4); }, (r) => em.write(ins.seg, get(off), 4, get(r)));
  }
  if (f === O.group3 && ins.size === 4 && (ins.op === 2 || ins.op === 3)) {
    const neg = ins.op === 3;
    const calc = (a: number, r: number) => c.set(r, neg ? sub(k32(0), get(a)) : not(get(a)));
    if (!ins.mem) {
      const a = em.tmp(), r = em.tmp();
      c.set(a, reg(ins.rm)); calc(a, r); c.set(R0 + ins.rm, get(r));
      if (!neg || dead) return fs;
      em.setLazy(Lazy.Sub, k32(0), get(a), get(r), 31);
      return { k: Known.SubC, top: 31 };
    }
    if (ea === null) return null;
    const off = em.tmp();
    c.set(off, ea);
    const a = em.read(ins.seg, get(off), 4), r = em.tmp();
    calc(a, r);
    em.write(ins.seg, get(off), 4, get(r));
    if (!neg) return fs;
    em.setLazy(Lazy.Sub, k32(0), get(a), get(r), 31);
    return { k: Known.SubC, top: 31 };
  }
  // BT/BTS/BTR/BTC with an immediate bit offset, or a register one (on memory it addresses outside
  // the operand: the dword at ea + (offset >> 5) * 4, signed; 16-bit addressing: handler). Only CF
  // changes.
  if ((f === O.btImm || (f === O.btReg && (!ins.mem || ins.a32))) && ins.size === 4) {
    if (ins.mem && ea === null) return null;
    const off = em.tmp(), n = em.tmp(), cf = em.tmp();
    let v: number;
    if (ins.mem) {
      c.set(off, f === O.btReg ? add(ea!, shl(shrS(reg(ins.reg), k32(5)), k32(2))) : ea!);
      v = em.read(ins.seg, get(off), 4);
    } else { v = em.tmp(); c.set(v, reg(ins.rm)); }
    c.set(n, f === O.btImm ? k32(ins.imm & 31) : and(reg(ins.reg), k32(31)));
    c.set(cf, and(shrU(get(v), get(n)), k32(1)));
    if (ins.op !== 0) {
      const m = shl(k32(1), get(n));
      const r = ins.op === 1 ? or(get(v), m) : ins.op === 2 ? and(get(v), not(m)) : xor(get(v), m);
      if (ins.mem) em.write(ins.seg, get(off), 4, r); else c.set(R0 + ins.rm, r);
    }
    if (dead) return fs;
    c.set(LM, and(get(LM), k32(~CF)));
    c.set(FL, or(and(get(FL), k32(~CF)), get(cf)));
    return fs.k === Known.Mat ? MAT : UNKNOWN;
  }
  // CMPXCHG: the destination is written either way (the old value when they differ), as locked.
  if (f === O.cmpxchg && ins.size === 4) {
    if (ins.mem && ea === null) return null;
    const off = em.tmp(), a = em.tmp(), e = em.tmp();
    let d: number;
    if (ins.mem) { c.set(off, ea!); d = em.read(ins.seg, get(off), 4); } else { d = em.tmp(); c.set(d, reg(ins.rm)); }
    c.set(a, reg(0));
    c.set(e, eq(get(a), get(d)));
    if (ins.mem) em.write(ins.seg, get(off), 4, select(reg(ins.reg), get(d), get(e)));
    else c.set(R0 + ins.rm, select(reg(ins.reg), get(d), get(e)));
    c.set(R0, select(reg(0), get(d), get(e)));
    if (dead) return fs;
    em.setLazy(Lazy.Sub, get(a), get(d), sub(get(a), get(d)), 31);
    return { k: Known.Sub, top: 31 };
  }
  // MUL/IMUL into EDX:EAX.
  if (f === O.group3 && ins.size === 4 && (ins.op === 4 || ins.op === 5)) {
    if (ins.mem && ea === null) return null;
    const b = em.tmp(), lo = em.tmp(), hi = em.tmp();
    c.set(b, ins.mem ? get(em.read(ins.seg, ea!, 4)) : reg(ins.rm));
    const w = mulWide(reg(0), get(b), ins.op === 5);
    c.set(lo, w.lo); c.set(hi, w.hi);
    c.set(R0, get(lo)); c.set(R0 + 2, get(hi));
    if (dead) return fs;
    em.setLogic(get(lo), 31);
    c.if(ins.op === 5 ? ne(get(hi), shrS(get(lo), k32(31))) : get(hi)); c.set(FL, or(get(FL), k32(CF | OF))); c.end();
    return UNKNOWN;
  }

  // DIV r/m32: a zero divisor or a quotient past 32 bits (EDX >= divisor) leaves to the interpreter,
  // which raises #DE. The flags stay as they are.
  if (f === O.group3 && ins.size === 4 && ins.op === 6) {
    if (ins.mem && ea === null) return null;
    const d = em.tmp(), q = em.tmp();
    c.set(d, ins.mem ? get(em.read(ins.seg, ea!, 4)) : reg(ins.rm));
    c.if(or(eqz(get(d)), geU(reg(2), get(d)))); em.sideExit(); c.end();
    const w = divWideU(reg(2), reg(0), get(d));
    c.set(q, w.q); c.set(R0 + 2, w.r); c.set(R0, get(q));
    return fs;
  }
  // BSF/BSR r32, r/m32: a zero source sets ZF and leaves the destination; else the bit index, ZF
  // clear (the interpreter's flag values exactly, undefined ones included).
  if ((f === O.bsf || f === O.bsr) && ins.size === 4) {
    if (ins.mem && ea === null) return null;
    const v = em.tmp();
    c.set(v, ins.mem ? get(em.read(ins.seg, ea!, 4)) : reg(ins.rm));
    c.if(eqz(get(v)));
    em.setLogic(k32(0), 31);
    c.else();
    c.set(R0 + ins.reg, f === O.bsf ? ctz(get(v)) : sub(k32(31), clz(get(v))));
    em.setLogic(or(reg(ins.reg), k32(0x100)), 31);
    c.set(FL, and(get(FL), k32(~ZF))); c.set(LM, and(get(LM), k32(~ZF)));
    c.end();
    return UNKNOWN;
  }
  // CMOVcc r32, m32: the operand is read (and may fault) whatever the condition.
  if (f === O.cmovcc && ins.size === 4 && ins.mem) {
    if (ea === null) return null;
    const v = em.read(ins.seg, ea, 4);
    const s = em.flagsFor(fs, condReads(ins.op));
    c.if(cond(ins.op, s)); c.set(R0 + ins.reg, get(v)); c.end();
    return s;
  }
  // SAHF: SF, ZF, AF, PF and CF from AH.
  if (f === O.sahf) {
    if (fs.k !== Known.Mat) em.materialize();
    const m = SF | ZF | AF | PF | CF;
    c.set(FL, or(and(get(FL), k32(~m)), and(shrU(reg(0), k32(8)), k32(m))));
    return MAT;
  }

  // Shifts and rotates of a 32-bit register by an immediate or by CL (a zero count changes nothing).
  op = O.SHIFT32_RI.indexOf(f);
  const shiftCl = f === O.shiftCl && ins.size === 4 && !ins.mem && ins.op !== 2 && ins.op !== 3;
  if ((op >= 0 && f !== O.shiftImm) || shiftCl) {
    if (shiftCl) op = ins.op;
    const x = ins.rm, a = em.tmp(), n = em.tmp(), r = em.tmp();
    if (shiftCl) { c.set(n, and(reg(1), k32(31))); c.if(get(n)); } else c.set(n, k32(ins.imm & 31));
    c.set(a, reg(x));
    c.set(r, op === 0 ? rotl(get(a), get(n)) : op === 1 ? rotr(get(a), get(n)) : op === 5 ? shrU(get(a), get(n)) : op === 7 ? shrS(get(a), get(n)) : shl(get(a), get(n)));
    c.set(R0 + x, get(r));
    let after: FlagState = fs;
    if (!(dead && !shiftCl)) {
      if (op === 0 || op === 1) {
        // ROL/ROR set only CF and OF: those two leave the lazy set, the rest stays as it was.
        const cf = em.tmp();
        c.set(cf, op === 0 ? and(get(r), k32(1)) : shrU(get(r), k32(31)));
        const of = op === 0 ? and(xor(shrU(get(r), k32(31)), get(cf)), k32(1)) : and(xor(get(cf), shrU(get(r), k32(30))), k32(1));
        c.set(LM, and(get(LM), k32(~(CF | OF))));
        c.set(FL, or(or(and(get(FL), k32(~(CF | OF))), get(cf)), shl(of, k32(11))));
        after = fs.k === Known.Mat ? MAT : UNKNOWN;
      } else {
        const cf = em.tmp(), n1 = sub(get(n), k32(1));
        c.set(cf, and(op === 5 ? shrU(get(a), n1) : op === 7 ? shrS(get(a), n1) : shrU(get(a), sub(k32(32), get(n))), k32(1)));
        em.setLogic(get(r), 31);
        const of = op === 5 ? shl(shrU(get(a), k32(31)), k32(11)) : op === 7 ? k32(0) : shl(and(xor(shrU(get(r), k32(31)), get(cf)), k32(1)), k32(11));
        c.set(FL, or(or(get(FL), get(cf)), of));
        after = UNKNOWN;
      }
    }
    if (shiftCl) { c.end(); return UNKNOWN; }
    return after;
  }

  // SHLD/SHRD r32, r32 by an immediate or by CL (a zero count changes nothing, flags included).
  if ((f === O.shldImm || f === O.shldCl) && ins.size === 4 && !ins.mem) {
    const cl = f === O.shldCl;
    if (!cl && (ins.imm & 31) === 0) return fs;
    const n = em.tmp(), d = em.tmp(), r = em.tmp();
    if (cl) { c.set(n, and(reg(1), k32(31))); c.if(get(n)); } else c.set(n, k32(ins.imm & 31));
    c.set(d, reg(ins.rm));
    const inv = sub(k32(32), get(n));
    c.set(r, ins.op === 0 ? or(shl(get(d), get(n)), shrU(reg(ins.reg), inv)) : or(shrU(get(d), get(n)), shl(reg(ins.reg), inv)));
    c.set(R0 + ins.rm, get(r));
    if (!dead) {
      const cf = em.tmp();
      c.set(cf, and(ins.op === 0 ? shrU(get(d), inv) : shrU(get(d), sub(get(n), k32(1))), k32(1)));
      em.setLogic(get(r), 31);
      c.set(FL, or(or(get(FL), get(cf)), shl(shrU(xor(get(r), get(d)), k32(31)), k32(11))));
    }
    if (cl) { c.end(); return UNKNOWN; }
    return dead ? fs : UNKNOWN;
  }

  // Multiplication.
  if (f === O.imul3_32R || f === O.imul2_32R) {
    const a = f === O.imul3_32R ? reg(ins.rm) : reg(ins.reg), b = f === O.imul3_32R ? k32(ins.imm) : reg(ins.rm);
    const x = em.tmp(), y = em.tmp();
    c.set(x, a); c.set(y, b);
    c.set(R0 + ins.reg, mul(get(x), get(y)));
    if (dead) return fs;
    em.setLogic(reg(ins.reg), 31);
    c.if(mulOverflows(get(x), get(y))); c.set(FL, or(get(FL), k32(CF | OF))); c.end();
    return UNKNOWN;
  }

  // Conditions.
  const cmov = O.CMOVCC32_RR.indexOf(f);
  const setcc = O.SETCC_R.indexOf(f);
  if (cmov >= 0 || setcc >= 0) {
    const cc = cmov >= 0 ? cmov : setcc;
    const s = em.flagsFor(fs, condReads(cc));
    if (cmov >= 0) { c.if(cond(cc, s)); c.set(R0 + ins.reg, reg(ins.rm)); c.end(); } else setReg8(c, ins.rm, cond(cc, s));
    return s;
  }
  if (f === O.setcc && ins.mem) {
    if (ea === null) return null;
    const s = em.flagsFor(fs, condReads(ins.op));
    em.write(ins.seg, ea, 1, cond(ins.op, s));
    return s;
  }

  // EFLAGS as a whole. PUSHF and POPF (32-bit, outside virtual-8086 mode, which is 16-bit code)
  // push it without RF and VM; CLI and POPF's IF need privilege (PRIV, guarded at entry). A POPF
  // that changes IF, TF or AC leaves to the interpreter, which checks interrupts and privilege.
  if (f === O.pushf && stack32 && ins.size === 4) {
    if (fs.k !== Known.Mat) em.materialize();
    em.push(and(get(FL), k32(~(RF | VM))));
    return MAT;
  }
  if (f === cli && em.priv) { em.needPriv = true; c.set(FL, and(get(FL), k32(~IF))); return fs; }
  if (f === O.popf && stack32 && ins.size === 4 && em.priv) {
    em.needPriv = true;
    const mask = ARITH | TF | DF | NT | AC | ID | IOPL | IF;
    const v = em.read(Seg.SS, reg(4), 4), nw = em.tmp();
    if (fs.k !== Known.Mat) em.materialize();
    c.set(nw, or(and(get(FL), k32(~mask)), and(get(v), k32(mask))));
    c.if(and(xor(get(nw), get(FL)), k32(IF | TF | AC))); em.sideExit(); c.end();
    c.set(R0 + 4, add(reg(4), k32(4)));
    c.set(FL, get(nw));
    return MAT;
  }

  // Flag instructions.
  if (f === O.cld) { c.set(FL, and(get(FL), k32(~DF))); return fs; }
  if (f === O.std) { c.set(FL, or(get(FL), k32(DF))); return fs; }
  if (f === O.clc || f === O.stc || f === O.cmc) {
    if (fs.k !== Known.Mat) em.materialize();
    c.set(FL, f === O.clc ? and(get(FL), k32(~CF)) : f === O.stc ? or(get(FL), k32(CF)) : xor(get(FL), k32(CF)));
    return MAT;
  }
  // Non-REP string steps (32-bit addressing; ES and the source segment flat or checked).
  if (ins.a32 && (ins.size === 4 || ins.size === 1) && (f === O.lodsOne || f === O.stosOne || f === O.movsOne)) {
    const step = select(k32(-ins.size), k32(ins.size), and(get(FL), k32(DF)));
    if (f === O.lodsOne) {
      const v = em.read(ins.seg, reg(6), ins.size);
      setReg(c, ins.size, 0, get(v));
      c.set(R0 + 6, add(reg(6), step));
    } else if (f === O.stosOne) {
      em.write(Seg.ES, reg(7), ins.size, ins.size === 4 ? reg(0) : reg8(0));
      c.set(R0 + 7, add(reg(7), step));
    } else {
      const v = em.read(ins.seg, reg(6), ins.size);
      em.write(Seg.ES, reg(7), ins.size, get(v));
      const d = em.tmp();
      c.set(d, step);
      c.set(R0 + 6, add(reg(6), get(d))); c.set(R0 + 7, add(reg(7), get(d)));
    }
    return fs;
  }
  return null;
}

/**
 * Continue at EIP `target` (a constant): inside the region when it holds that block, else leave. A
 * block laid out later is reached by a direct branch out of the nested blocks that end at its
 * entries, a block looping to itself through its own loop, any other through the dispatch loop's
 * br_table (an indirect jump).
 */
function goTo(em: Emitter, index: Map<number, number>, from: Member, target: number): void {
  const c = em.code, bi = index.get(target), fi = index.get(from.eip)!;
  // PC is set where the region leaves (not on the way to a block of its own): one value fewer
  // to carry into every merge of the control flow.
  if (bi === undefined) { c.set(PC, k32(target)); c.br('out'); return; }
  // A block on pages the current one has checked already is entered past its page checks (the
  // br_table's second half).
  const had = pagesOf(from);
  const checked = pagesOf(em.members[bi]!).every(([lp, pp]) => had.some(([l, p]) => l === lp && p === pp));
  if (bi > fi) { c.br(checked ? `b${bi}` : `c${bi}`); return; }
  if (bi === fi && checked && em.selfLoop) { c.br('self'); return; }
  const e = em.slot[bi]!;
  if (e < 0) { c.set(PC, k32(target)); c.br('out'); return; }
  c.set(BI, k32(checked ? em.entries + e : e)); c.br('L');
}

/** The constant EIPs a block's code may go on to by goTo (as emitBlock chooses them). */
function directTargets(cpu: CPU, m: Member, stack32: boolean): number[] {
  const ins = m.b.insns[m.b.insns.length - 1]!, f = ins.fn, en = (m.eip + ins.end) | 0;
  if (O.JCC32.includes(f)) return [(en + ins.imm) | 0, en];
  if ((f === O.jmpRel || (stack32 && f === O.callRel)) && ins.size === 4) return [(en + ins.imm) | 0];
  if (ins.endsBlock) return STAYS.has(f) ? seen(cpu, m) : [];
  return [en, ...seen(cpu, m)];
}

/** Blocks in a row a region may hold without an entry (see entrySlots). */
const MAX_RUN = 8;

/**
 * Which members the dispatch br_table enters (their slots, else -1): all but the blocks that only
 * earlier members jump to (forward). Those start with no merge of values, where every other block
 * starts with a merge of the dispatch loop's values, the most costly part of a region's code: the
 * engine moves every guest register and lazy-flag value between stack slots at each merge.
 * Entered from elsewhere (after a run budget ran out there, or from a region without its
 * predecessor), such a block is interpreted up to the next entry, so a path of them is cut by an
 * entry every MAX_RUN blocks.
 */
function entrySlots(cpu: CPU, members: Member[], index: Map<number, number>, stack32: boolean): number[] {
  const entry = members.map((_, i) => i === 0), preds: number[][] = members.map(() => []);
  members.forEach((m, i) => {
    const self = jumpsToItself(m);
    for (const t of directTargets(cpu, m, stack32)) {
      const j = index.get(t);
      if (j === undefined) continue;
      if (j > i) preds[j]!.push(i); else if (j < i || !self) entry[j] = true;
    }
  });
  // The most blocks since an entry on a path to each member (its predecessors come earlier).
  const run = members.map(() => 0);
  let k = 0;
  return members.map((_, i) => {
    const r = Math.max(-1, ...preds[i]!.map((p) => run[p]!)) + 1;
    if (!entry[i] && r > 0 && r < MAX_RUN) { run[i] = r; return -1; }
    return k++;
  });
}

/**
 * Continue at the EIP in PC, found at run time (a return, an indirect jump, a handler's): the
 * successors the interpreter saw the block go to are compared first, the rest are looked up.
 */
function goToFound(em: Emitter, index: Map<number, number>, from: Member): void {
  const c = em.code;
  for (const t of seen(em.cpu, from)) {
    if (!index.has(t)) continue;
    c.if(eq(get(PC), k32(t))); goTo(em, index, from, t); c.end();
  }
  c.set(BI, k32(-1)); c.br('L');
}

/** 32-bit EIP arithmetic (regions here are 32-bit code). */
const wrap32 = (x: number): number => x | 0;
/** The EIPs a member went on to when last interpreted (codegen.ts seenSuccessors). */
const seen = (cpu: CPU, m: Member): number[] => seenSuccessors(m.b, cpu.segBase[Seg.CS]!, wrap32);
/** The member jumps to itself (its code then loops in a wasm loop of its own). */
const jumpsToItself = (m: Member): boolean => staticSuccessors(m.b, m.eip, wrap32).includes(m.eip);

/**
 * The members in the order their code is laid out: depth-first from the first, each block's
 * successors in reverse postorder (so that every jump but a loop's back edge goes forward, to a
 * direct branch); blocks reached only at run time start trees of their own after it.
 */
function layout(cpu: CPU, members: Member[]): Member[] {
  const at = new Map(members.map((m) => [m.eip, m]));
  const done = new Set<Member>(), out: Member[] = [];
  for (const start of members) {
    if (done.has(start)) continue;
    const post: Member[] = [];
    const visit = (m: Member) => {
      done.add(m);
      for (const t of [...staticSuccessors(m.b, m.eip, wrap32), ...seen(cpu, m)]) {
        const nm = at.get(t);
        if (nm !== undefined && !done.has(nm)) visit(nm);
      }
      post.push(m);
    };
    visit(start);
    out.push(...post.reverse());
  }
  return out;
}

/** The (linear, physical) pages a block's code lies on. */
const pagesOf = (m: Member): [number, number][] => (m.next === null ? [[m.lp, m.pp]] : [[m.lp, m.pp], m.next]);

/**
 * That the pages the block was decoded from still map where they did, with execute permission (a
 * translation change ends the region at the next block boundary, so once checked they stay good
 * for the call). Checked where control comes from elsewhere: a region entry, a return or indirect
 * jump, a jump from a block on other pages; not as a flag per page, which would be one more value
 * live across every loop.
 */
function emitPageChecks(em: Emitter, m: Member): void {
  const c = em.code;
  for (const [lp, pp] of pagesOf(m)) {
    const t = em.tmp();
    c.set(t, load32(k32(lp << 2), em.tlbBase));
    c.if(or(ne(and(get(t), k32(-4096)), k32(pp << 12)), ne(and(get(t), k32(em.cpu.rMask)), k32(em.cpu.rBit)))); c.set(PC, k32(m.eip)); c.br('out'); c.end();
  }
  em.resetTmps();
}

/** The code of one block (32-bit code only: 16-bit code stays with the JS back end). */
function emitBlock(em: Emitter, m: Member, bi: number, index: Map<number, number>, stack32: boolean): void {
  const c = em.code, insns = m.b.insns, last = insns.length - 1, K = insns.length;
  const dead = deadFlags(insns);
  const at = (off: number) => (m.eip + off) | 0;
  // A block runs only when it fits in the budget.
  c.if(ltS(get(LEFT), k32(K))); c.set(PC, k32(m.eip)); c.br('out'); c.end();
  let fs = UNKNOWN;
  for (let k = 0; k <= last; k++) {
    const ins = insns[k]!;
    em.resetTmps();
    const st = at(ins.start), en = at(ins.end);
    em.exitXo = (bi << 8) | k; em.exitPc = st;
    const isLast = k === last;
    if (isLast) {
      const cc = O.JCC32.indexOf(ins.fn);
      if (cc >= 0) {
        const s = em.flagsFor(fs, condReads(cc));
        c.set(LEFT, sub(get(LEFT), k32(K)));
        c.if(cond(cc, s)); goTo(em, index, m, (en + ins.imm) | 0); c.end();
        goTo(em, index, m, en);
        return;
      }
      if (ins.fn === O.jmpRel && ins.size === 4) { c.set(LEFT, sub(get(LEFT), k32(K))); goTo(em, index, m, (en + ins.imm) | 0); return; }
      if (stack32 && ins.size === 4 && ins.fn === O.callRel) {
        em.push(k32(en));
        c.set(LEFT, sub(get(LEFT), k32(K)));
        goTo(em, index, m, (en + ins.imm) | 0);
        return;
      }
      // Indirect CALL/JMP (CS has a 4 GiB limit in every region, so no limit check is due).
      const ea = ins.mem ? eaEx(ins) : null;
      if (stack32 && ins.size === 4 && (ins.fn === O.callRm || ins.fn === O.jmpRm) && (!ins.mem || ea !== null)) {
        let t: number;
        if (ea !== null) t = em.read(ins.seg, ea, 4); else { t = em.tmp(); c.set(t, reg(ins.rm)); }
        if (ins.fn === O.callRm) em.push(k32(en));
        c.set(PC, get(t));
        c.set(LEFT, sub(get(LEFT), k32(K)));
        goToFound(em, index, m);
        return;
      }
      if (stack32 && ins.fn === O.ret32) {
        const t = em.read(Seg.SS, reg(4), 4);
        c.set(R0 + 4, add(reg(4), k32(4)));
        c.set(PC, get(t));
        c.set(LEFT, sub(get(LEFT), k32(K)));
        goToFound(em, index, m);
        return;
      }
    }
    const after = inlineInsn(em, ins, fs, stack32, dead[k]!);
    if (after !== null) {
      fs = after;
      if (isLast) { c.set(LEFT, sub(get(LEFT), k32(K))); goTo(em, index, m, en); }
      continue;
    }
    // Handler call: the CPU state is current while it runs.
    const site = em.sites.length;
    em.sites.push({ fn: ins.fn, ins, en, st, k, block: m.b });
    em.writeBack();
    const s = em.tmp();
    c.call(F_CALL, k32(em.id), k32(site), sub(em.st(S.Lim), get(LEFT)));
    c.set(s, []);
    // A fault: EIP, the count and the state are those of the faulting instruction already.
    c.if(and(get(s), k32(1))); c.ret(k32(-2)); c.end();
    em.loadRegs();
    c.set(FL, em.st(S.Fl)); c.set(LM, k32(0));
    fs = MAT;
    // Code written or the translation changed: stop at the next block boundary.
    // (The budget moves by what is left plus one, so the count stays right.)
    c.if(and(get(s), k32(4))); em.setSt(S.Lim, sub(em.st(S.Lim), add(get(LEFT), k32(1)))); c.set(LEFT, k32(-1)); c.end();
    c.if(and(get(s), k32(2))); c.set(LEFT, sub(get(LEFT), k32(k + 1))); c.set(KEEP, k32(1)); c.br('out'); c.end();
    if (isLast) {
      // After a block-ending handler that may have changed what the region was compiled for
      // (segments, stack size), the dispatcher goes on: the next region checks its modes at entry.
      c.set(LEFT, sub(get(LEFT), k32(K)));
      c.set(PC, em.st(S.Pc));
      if (STAYS.has(ins.fn) || !ins.endsBlock) goToFound(em, index, m); else c.br('out');
    }
  }
}

// ---------------------------------------------------------------- compile and run

/**
 * Per CPU: the function table holding every live region (by id), the dispatcher that runs them
 * back to back, and the regions by id.
 */
interface Engine {
  table: WebAssembly.Table;
  dispatch: (id: number, lim: number, pc: number) => number;
  /** Takes a dead region's table slot: says "did not run". */
  dead: Function;
  regions: (WasmRegion | null)[];
  /** Free table slots (of dead regions). */
  free: number[];
  links: Int32Array;
}

/** What a compiled region needs at run time besides its code. */
export interface WasmRegion {
  eng: Engine;
  id: number;
  blocks: Block[];
  /** Its handler calls, by the site number the code passes. */
  sites: Site[];
  dead: boolean;
}

/** Per CPU; null once the engine refused to compile WebAssembly for it. */
const engines = new WeakMap<CPU, Engine | null>();

/** Whether regions of this CPU can be WebAssembly (its memory is a WebAssembly.Memory, not refused). */
export function wasmUsable(cpu: CPU): boolean { return cpu.mem.memory !== null && engines.get(cpu) !== null; }

/**
 * The dispatcher: runs region `id` at EIP `pc`, then, while each region leaves normally (no side
 * exit, no kept EIP, no stop) at an EIP the region links map to another region, that one, without
 * returning to JS. Returns the instructions retired (-1 when the first region did not run, -2 after a
 * fault); the state area says where and how the last region left.
 */
function dispatcherBytes(pages: number, shared: boolean, linksBase: number, stBase: number): Uint8Array<ArrayBuffer> {
  const ID = 0, LIMP = 1, PCP = 2, NN = 3, R = 4, LIN = 5, E = 6;
  const c = new Code(3);
  c.ensureLocals(7);
  const st = (i: S): Ex => load32(k32(0), stBase + 4 * i);
  c.loop('L');
  c.emit([...get(LIMP), ...get(PCP), ...get(NN), ...get(ID), 0x11, 0, 0]); // call_indirect type 0, table 0
  c.set(R, []);
  c.if(ltS(get(R), k32(0)));
  // -1: this region did not run (the chain ends before it); -2: a fault.
  c.if(eq(get(R), k32(-2))); c.ret(k32(-2)); c.end();
  c.ret(select(k32(-1), get(NN), eqz(get(NN))));
  c.end();
  // No progress (the next block did not fit in the budget), or a reason to stop: back to JS.
  c.if(or(or(eq(get(R), get(NN)), geS(st(S.Xo), k32(0))), or(st(S.Keep), st(S.Stop)))); c.ret(get(R)); c.end();
  c.set(NN, get(R));
  c.set(PCP, st(S.Pc));
  c.set(LIN, add(st(S.CsBase), get(PCP)));
  c.set(E, linkAddr(LIN, linksBase));
  c.if(ne(load32(get(E)), get(LIN))); c.ret(get(NN)); c.end();
  c.set(ID, sub(and(load32(get(E), 4), k32(LINK_ID)), k32(1)));
  c.if(ltS(get(ID), k32(0))); c.ret(get(NN)); c.end();
  c.br('L');
  c.end();
  c.ret(get(NN));
  const dead = new Code(3);
  dead.ret(k32(-1));
  return moduleBytes(pages, shared, [], [{ spec: { params: 3, results: 1 }, code: c }, { spec: { params: 3, results: 1 }, code: dead }],
    { table: true, exports: ['dispatch', 'dead'] });
}

/** A CSP without 'wasm-unsafe-eval' refuses to compile WebAssembly; anything else is a bug here, rethrown. */
function expectRefusal(err: unknown): void {
  if (!(err instanceof WebAssembly.CompileError && /disallowed|refused/i.test(String(err)))) throw err;
}

/** The CPU's engine, made on first use; null when the engine refuses to compile WebAssembly. */
function engineOf(cpu: CPU): Engine | null {
  let e = engines.get(cpu);
  if (e !== undefined) return e;
  const mem = cpu.mem, memory = mem.memory!;
  const table = new WebAssembly.Table({ element: 'anyfunc', initial: 64 });
  let inst: WebAssembly.Instance;
  try {
    inst = new WebAssembly.Instance(new WebAssembly.Module(dispatcherBytes(memory.buffer.byteLength >>> 16, mem.shared,
      mem.coreBase + CORE.links, mem.coreBase + CORE.state)), { env: { mem: memory, tbl: table } });
  } catch (err) {
    expectRefusal(err);
    engines.set(cpu, null);
    return null;
  }
  const x = inst.exports as { dispatch: Engine['dispatch']; dead: Function };
  e = {
    table, dispatch: x.dispatch, dead: x.dead, regions: [], free: [],
    links: new Int32Array(memory.buffer, mem.coreBase + CORE.links, 2 * LINK_ENTRIES),
  };
  engines.set(cpu, e);
  return e;
}

// The chain being run: handler calls from its code find their CPU and entry state here.
let curCpu: CPU | null = null, curEngine: Engine | null = null, curI0 = 0, curEpoch = 0;

/** The lazy flags from the state area into the CPU (where a region wrote them back). */
function flagsFromState(c: CPU, st: Int32Array): void {
  c.flags = st[S.Fl]!; c.lazyMask = st[S.Lm]!; c.lazyKind = st[S.Lk]!; c.lazyA = st[S.La]!; c.lazyB = st[S.Lb]!; c.lazyRes = st[S.Lr]!; c.lazyTop = st[S.Lt]!;
}

/**
 * The handler call imported by every region, for site `site` of region `id`: status bit 0 fault,
 * 1 exitBlock, 2 stop at the next block.
 */
function handlerCall(id: number, site: number, n: number): number {
  const c = curCpu!;
  const s = curEngine!.regions[id]!.sites[site]!, st = c.wasmState;
  flagsFromState(c, st);
  c.eip = s.en; c.instructions = curI0 + n + s.k;
  try {
    s.fn(c, s.ins);
  } catch (err) {
    if (err !== FAULT) throw err;
    c.instructions = curI0 + n + s.k; c.eip = s.st;
    return 1;
  }
  st[S.Fl] = c.getEflags();
  let status = 0;
  if (c.codeDirty) { c.codeDirty = false; status |= 4; if (!s.block.valid) c.exitBlock = true; }
  if (c.chainEpoch !== curEpoch) status |= 4;
  if (c.exitBlock) status |= 2;
  // A segment load (MOV/POP Sreg, LDS...): the next region checks the modes as they are now.
  if (st[S.SegGen] !== c.segGen) syncModes(c, st);
  st[S.Pc] = c.eip;
  return status;
}

/** The modes, CS base and segment windows regions check and use, into the state area. */
function syncModes(c: CPU, st: Int32Array): void {
  st[S.Modes] = modesOf(c);
  st[S.CsBase] = c.segBase[Seg.CS]!;
  if (st[S.SegGen] !== c.segGen) {
    st[S.SegGen] = c.segGen;
    for (let seg = 0; seg < 6; seg++) {
      const b = S.Seg0 + 5 * seg;
      st[b] = c.segBase[seg]!; st[b + 1] = c.segRLo[seg]!; st[b + 2] = c.segRHi[seg]!; st[b + 3] = c.segWLo[seg]!; st[b + 4] = c.segWHi[seg]!;
      st[SEL0 + seg] = c.sel[seg]!;
    }
  }
}

/**
 * Runs the chain of regions starting with region `r` at c.eip: the RegionFn of every WebAssembly
 * region. One function for all of them, so the interpreter's call to a region always has the same
 * target (a closure per region made V8 throw away the optimized interpreter loop at the second).
 */
export function enterWasm(c: CPU, lim: number, r: Region): number {
  const w = r.wasm!, e = w.eng;
  const st = c.wasmState;
  st[S.Fl] = c.flags; st[S.Lm] = c.lazyMask; st[S.Lk] = c.lazyKind; st[S.La] = c.lazyA; st[S.Lb] = c.lazyB; st[S.Lr] = c.lazyRes; st[S.Lt] = c.lazyTop;
  st[S.Xo] = -1; st[S.Keep] = 0; st[S.Stop] = 0;
  syncModes(c, st);
  const i0 = c.instructions;
  curCpu = c; curEngine = e; curI0 = i0; curEpoch = c.chainEpoch;
  let n = e.dispatch(w.id, lim, c.eip);
  if (n < 0) return n;
  flagsFromState(c, st);
  const xo = st[S.Xo]!;
  // Left before anything ran: the first block's pages are not where the region was compiled for.
  if (n === 0 && xo < 0 && st[S.Keep] === 0) return -3;
  if (xo >= 0) { c.resumeBlock = e.regions[st[S.Id]!]!.blocks[xo >>> 8]!; c.resumeIndex = xo & 255; n += xo & 255; } else { c.resumeBlock = null; c.resumeIndex = 0; }
  if (st[S.Keep] === 0) c.eip = st[S.Pc]!;
  c.instructions = i0 + n;
  return n;
}

/** A compiled region as the generator attaches it, or null when the engine refuses WebAssembly. */
export type WasmResult = { wasm: WasmRegion; kill: () => void; handlerCalls: Insn[]; bytes: number; entries: Block[] } | null;

/**
 * Compiles the collected region (32-bit code) into a WebAssembly module (entered at every block
 * with `allEntries`, else at those entrySlots picks) and hands the result to
 * `done`: at once, or with `async` once the engine has compiled it in the background (the guest
 * sees no difference: a region only runs code exactly as the interpreter would).
 */
export function compileWasmRegion(cpu: CPU, collected: Member[], allEntries: boolean, async: boolean, done: (r: WasmResult) => void): void {
  const mem = cpu.mem, members = layout(cpu, collected);
  const core = mem.coreBase;
  const eng = engineOf(cpu);
  if (eng === null) { done(null); return; }
  const id = eng.free.pop() ?? eng.regions.length;
  const em = new Emitter(cpu, core + CORE.tlb, mem.codePages.byteOffset, core + CORE.regs, core + CORE.state, id, members);
  const c = em.code, stack32 = cpu.stack32;
  const csBase = cpu.segBase[Seg.CS]! | 0;
  const index = new Map<number, number>(members.map((m, i) => [m.eip, i]));
  c.ensureLocals(TMP);
  em.setSt(S.Lim, get(LIM));
  c.set(LEFT, sub(get(LIM), get(N)));
  // Registers and the lazy flags into locals.
  em.loadRegs();
  for (let i = 0; i < 7; i++) c.set(FL + i, em.st(S.Fl + i));
  c.set(BI, k32(-1)); c.set(XO, k32(-1));
  c.block('out');
  c.loop('L');
  c.block('find');
  // Entry e (member i) has two slots: BI = e before its page checks, BI = entries + e after them.
  em.slot = allEntries ? members.map((_, i) => i) : entrySlots(cpu, members, index, stack32);
  const n = members.length, ent = members.map((_, i) => i).filter((i) => em.slot[i]! >= 0);
  em.entries = ent.length;
  for (let i = n - 1; i >= 0; i--) { c.block(`b${i}`); c.block(`c${i}`); }
  c.brTable(get(BI), [...ent.map((i) => `c${i}`), ...ent.map((i) => `b${i}`)], 'find');
  members.forEach((m, i) => {
    c.end(); emitPageChecks(em, m); c.end();
    em.selfLoop = jumpsToItself(m);
    if (em.selfLoop) c.loop('self');
    emitBlock(em, m, i, index, stack32);
    if (em.selfLoop) c.end();
  });
  c.end(); // find: the block at PC, if the region has it: through its link (one look-up), else
  // (its link taken by another region's block) one comparison per block.
  const e = TMP, lin = TMP + 1;
  c.ensureLocals(TMP + 2);
  c.set(lin, add(k32(csBase), get(PC)));
  c.set(e, linkAddr(lin, core + CORE.links));
  c.if(and(eq(load32(get(e)), get(lin)), eq(and(load32(get(e), 4), k32(LINK_ID)), k32(id + 1))));
  c.set(BI, shrU(load32(get(e), 4), k32(LINK_BI))); c.br('L');
  c.end();
  ent.forEach((i, e) => { c.if(eq(get(PC), k32(members[i]!.eip))); c.set(BI, k32(e)); c.br('L'); c.end(); });
  c.br('out');
  c.end(); // loop
  c.end(); // out
  em.writeBack();
  em.setSt(S.Pc, get(PC)); em.setSt(S.Xo, get(XO)); em.setSt(S.Keep, get(KEEP)); em.setSt(S.Id, k32(id));
  em.setSt(S.Stop, ltS(get(LEFT), k32(0)));
  c.ret(sub(em.st(S.Lim), get(LEFT)));
  // Prologue (emitted last: the segments the code needs flat are known now): the modes it was
  // compiled for (flat segments, CS limit, stack size, privilege, CS base)? Else it does not run.
  // (Each block checks its pages.)
  const pre = new Code(3);
  const priv = em.needPriv ? PRIV : 0;
  const user = cpu.cpl === 3 ? USER : 0;
  const mask = em.flatNeed | CS_FULL | SS_32 | priv | USER, want = em.flatNeed | CS_FULL | (stack32 ? SS_32 : 0) | priv | user;
  pre.if(or(ne(and(em.st(S.Modes), k32(mask)), k32(want)), ne(em.st(S.CsBase), k32(csBase))));
  pre.ret(k32(-1));
  pre.end();
  c.prepend(pre.bytes);
  em.finish();
  const memory = mem.memory!;
  const bytes = moduleBytes(memory.buffer.byteLength >>> 16, mem.shared,
    [{ params: 3, results: 1 }], [{ spec: { params: 3, results: 1 }, code: c }, { spec: { params: 7, results: 1 }, code: matFunction() }]);
  const imports = { env: { mem: memory, f0: handlerCall } };
  if (id === eng.regions.length) eng.regions.push(null);
  const blocks = members.map((m) => m.b);
  const finish = (inst: WebAssembly.Instance) => {
    const w: WasmRegion = { eng, id, blocks, sites: em.sites, dead: false };
    if (id >= eng.table.length) eng.table.grow(id + 1 - eng.table.length + 64);
    eng.table.set(id, inst.exports.run as Function);
    eng.regions[id] = w;
    // Its entries can be entered from another region.
    const lins = ent.map((i) => (csBase + members[i]!.eip) | 0);
    lins.forEach((lin, e) => { const k = linkSlot(lin) >> 2; eng.links[k] = lin; eng.links[k + 1] = (id + 1) | (e << LINK_BI); });
    // The slot is reused by a later compile only (never while a chain runs, so a side exit of the
    // region killed under it still finds its blocks in `regions`).
    const kill = () => {
      if (w.dead) return;
      w.dead = true; eng.table.set(id, eng.dead); eng.free.push(id);
      // Its links go too: a later region in the same slot must not find its block indices.
      for (const lin of lins) {
        const k = linkSlot(lin) >> 2;
        if (eng.links[k] === lin && (eng.links[k + 1]! & LINK_ID) === id + 1) { eng.links[k] = 0; eng.links[k + 1] = 0; }
      }
    };
    done({ wasm: w, kill, handlerCalls: em.sites.map((x) => x.ins), bytes: bytes.length, entries: ent.map((i) => blocks[i]!) });
  };
  const refused = (err: unknown) => { expectRefusal(err); engines.set(cpu, null); done(null); };
  if (async && bytes.length > cpu.syncCompileBytes) { WebAssembly.instantiate(bytes, imports).then((r) => finish(r.instance), refused); return; }
  let inst: WebAssembly.Instance;
  try { inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), imports); } catch (err) { refused(err); return; }
  finish(inst);
}
