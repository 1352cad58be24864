/**
 * The decoder: turns guest bytes into `Insn` records once, grouped into basic blocks. Each Insn
 * carries its handler (already specialized for operand size and register/memory form), its
 * effective-address function and immediates, so execution never looks at the bytes again.
 */
import type { CPU } from './cpu.js';
import { Seg, FAULT } from './cpu.js';
import * as O from './ops.js';
import * as S from './ops-system.js';
import { x87Valid } from './fpu/x87.js';
import { compileRegion, type Region } from './codegen.js';

export type Handler = (cpu: CPU, i: Insn) => void;
export type EaFn = (cpu: CPU, i: Insn) => number;

export class Insn {
  fn: Handler = O.ud;
  ea: EaFn = eaDisp;
  /** Offset of the byte after the instruction, relative to the block's start EIP. */
  end = 0;
  /** Operand size in bytes (1, 2 or 4). */
  size = 4;
  /** ModRM reg field (or the register in the opcode). */
  reg = 0;
  /** ModRM rm field when it names a register. */
  rm = 0;
  mem = false;
  base = 0;
  index = 0;
  /** Displacement; for a far pointer or ENTER (no ModRM operand), the second immediate. */
  disp = 0;
  seg = Seg.DS;
  imm = 0;
  /** Sub-operation: ALU op, condition code, escape byte, ... */
  op = 0;
  /**
   * What only faults, string instructions, SIB addresses, the x87 and the code generator ask for,
   * packed into one field: the boot's ~170 k decoded instructions are read from memory far more
   * than from cache, and each field costs every one of them 8 bytes. Bits 0-3 length, 4-11 ModRM
   * byte, 12-23 opcode, 24 ends block, 25-26 REP prefix, 27-28 SIB scale, 29 32-bit addressing.
   */
  bits = 0;
  /** Offset of the first byte, relative to the block's start EIP. */
  get start(): number { return this.end - (this.bits & 15); }
  get modrm(): number { return (this.bits >> 4) & 0xff; }
  /** Opcode: one-byte value, or 0x0F00 | second byte. */
  get opcode(): number { return (this.bits >> 12) & 0xfff; }
  /** The decoder ended the block after this instruction (control transfer or state change). */
  get endsBlock(): boolean { return (this.bits & (1 << 24)) !== 0; }
  /** 0 none, 1 REP/REPE (F3), 2 REPNE (F2). */
  get rep(): number { return (this.bits >> 25) & 3; }
  /** SIB scale (shift count of the index register). */
  get scale(): number { return (this.bits >> 27) & 3; }
  /** 32-bit address size. */
  get a32(): boolean { return (this.bits & (1 << 29)) !== 0; }
  /** Selector of a far pointer, nesting level of ENTER. */
  get imm2(): number { return this.disp; }
}

/**
 * A decoded basic block. A class rather than an object literal: a literal's allocation site lets
 * V8 decide mid-boot that its objects should be allocated old, and each such decision threw away
 * the optimized decoder. Field order is layout: what the dispatcher reads on every run comes first.
 */
export class Block {
  readonly insns: Insn[];
  /** The compiled region entered at this block (codegen.ts), if any. */
  region: Region | null = null;
  /** Times run interpreted; at the CPU's compile threshold its region is compiled. */
  hits = 0;
  /**
   * The two most recent successors (block chaining), each with the linear address it was found at
   * and the TLB entry that mapped it then: while that entry is unchanged the link holds, so links
   * survive CR3 writes (global kernel pages keep their entries; user pages come back with the same
   * entry when their process runs again) and CS reloads with the same base.
   */
  s1: Block | null = null; s1Lin = 0; s1Tlb = 0;
  valid = true;
  /** Decode mode (the low two bits of the table slot): 1 = 32-bit code, 2 = protected mode. */
  readonly mode: number = 0;
  s2: Block | null = null; s2Lin = 0; s2Tlb = 0;
  /** Every region whose code includes this block (all die when it is invalidated). */
  inRegions: Region[] | null = null;
  /**
   * In a region being compiled in the background: the blocks of a loop reach the compile threshold
   * in the same iteration, and each would otherwise root a region of the same blocks.
   */
  pending = false;
  /**
   * Times a region could not run this block because its page was mapped at another linear address
   * than the region was compiled for (one physical page at several addresses: the vDSO, which Linux
   * maps at a random address in every process). Each time it waits twice as long to compile again.
   */
  aliasMisses = 0;

  // Initialized as what they hold (a field first holding undefined would be tagged for good).
  readonly key: number = 0;
  /** Decoded for 32-bit code (CS.D). */
  readonly code32: boolean = false;
  /** The physical pages its bytes are on. */
  readonly pages: number[];

  constructor(insns: Insn[], key: number, code32: boolean, pages: number[]) {
    this.insns = insns; this.mode = Math.floor(key / 4096) & 3; this.key = key; this.code32 = code32; this.pages = pages;
  }
}

// ---------------------------------------------------------------- effective addresses

export const eaDisp: EaFn = (_c, i) => i.disp;
export const eaBase: EaFn = (c, i) => (c.regs[i.base]! + i.disp) | 0;
export const eaBaseIndex: EaFn = (c, i) => (c.regs[i.base]! + (c.regs[i.index]! << i.scale) + i.disp) | 0;
export const eaIndex: EaFn = (c, i) => ((c.regs[i.index]! << i.scale) + i.disp) | 0;
const ea16Disp: EaFn = (_c, i) => i.disp & 0xffff;
const ea16Base: EaFn = (c, i) => (c.r16[i.base << 1]! + i.disp) & 0xffff;
const ea16BaseIndex: EaFn = (c, i) => (c.r16[i.base << 1]! + c.r16[i.index << 1]! + i.disp) & 0xffff;
const EA16_BASE = [3, 3, 5, 5, 6, 7, 5, 3];
const EA16_INDEX = [6, 7, 6, 7, -1, -1, -1, -1];

// ---------------------------------------------------------------- decoder state

const MAX_BLOCK = 64;

class Decoder {
  cpu!: CPU;
  lin = 0;
  /** Offset of the next byte relative to the block start EIP. */
  pos = 0;
  startEip = 0;
  csLimit = 0;
  pages: number[] = [];
  lastPage = -1;
  /** Of the instruction being decoded: its first byte's offset, ModRM byte and opcode (for Insn.bits). */
  insStart = 0;
  modrm = 0;
  /** The prefixes' address size and segment override (-1: none), for decodeModrm. */
  a32 = false;
  seg = -1;
  opcode = 0;

  byte(): number {
    const off = this.startEip + this.pos;
    if ((off >>> 0) > this.csLimit) this.cpu.gp(0);
    const lin = (this.lin + this.pos) | 0;
    const page = lin >>> 12;
    if (page !== this.lastPage) {
      this.lastPage = page;
      const phys = this.cpu.translate(lin, false, this.cpu.cpl === 3) >>> 12;
      // A new array (the one-page list is shared); a block spans two pages at most.
      if (!this.pages.includes(phys)) this.pages = Array.of(this.pages[0]!, phys);
    }
    this.pos++;
    return this.cpu.readLin8(lin);
  }
  sbyte(): number { return (this.byte() << 24) >> 24; }
  word(): number { const l = this.byte(); return l | (this.byte() << 8); }
  sword(): number { return (this.word() << 16) >> 16; }
  dword(): number { const a = this.word(); return a | (this.word() << 16); }
  imm(size: number): number { return size === 4 ? this.dword() : size === 2 ? this.word() : this.byte(); }
}

const D = new Decoder();

export function decodeBlock(cpu: CPU, lin: number, phys: number, key: number): Block {
  if (ONE_BYTE[0] === undefinedOpcode) { fillTables(); primeBlockFields(); }
  D.cpu = cpu; D.lin = lin; D.pos = 0; D.startEip = cpu.eip; D.csLimit = cpu.segLimit[Seg.CS]!;
  // Not an array literal: its allocation site would let V8 switch these long-lived arrays to old-
  // space allocation mid-boot, throwing away the optimized decoder each time (twice a boot).
  D.pages = onePage(phys >>> 12); D.lastPage = lin >>> 12;
  const insns: Insn[] = [];
  const startPage = lin >>> 12;
  for (;;) {
    const ins = new Insn();
    D.insStart = D.pos; D.modrm = 0;
    let ends: boolean;
    try {
      ends = decodeInsn(cpu, ins);
    } catch (e) {
      // A fault while decoding a later instruction just ends the block before it; the fault
      // is raised for real when execution reaches that instruction. Those before it all lie on
      // the first page (the loop ends after one that reaches into the next): the block keeps
      // that page's list.
      if (e !== FAULT || insns.length === 0) throw e;
      D.pages = onePage(D.pages[0]!);
      break;
    }
    ins.end = D.pos;
    ins.bits |= (D.pos - D.insStart) | (D.modrm << 4) | (D.opcode << 12) | (ends ? 1 << 24 : 0);
    insns.push(ins);
    if (ends || insns.length >= MAX_BLOCK) break;
    if (((lin + D.pos) | 0) >>> 12 !== startPage) break;
  }
  // An exact-size copy: the decoded blocks live for good, and a pushed-to array keeps room for
  // 16 (~90 bytes more per block, ~2.5 MiB over a boot, all of it copied by the young GC).
  const block = new Block(insns.slice(), key, cpu.code32, D.pages);
  cpu.addBlock(block);
  if (cpu.compileThreshold === 0) compileRegion(cpu, block, D.startEip);
  return block;
}

/**
 * The page list of a block on one physical page, shared by all such blocks of that page (never
 * written: a block that reaches into a second page gets a list of its own). One array per block
 * cost a tenth of decoding: `Array.of` is a call into the engine's runtime, and an array literal
 * has an allocation site (see decodeBlock).
 */
const ONE_PAGE = new Map<number, number[]>();
function onePage(page: number): number[] {
  let l = ONE_PAGE.get(page);
  if (l === undefined) { l = Array.of(page); ONE_PAGE.set(page, l); }
  return l;
}

/**
 * V8 takes an object field that nothing has written since its initializer for a constant, and
 * throws away the optimized code that relied on it when one is first written. A block's `region`
 * is first written when a region attaches and `valid` when code is first overwritten, both after
 * the interpreter loop is optimized: each cost a recompile of it (~50 ms of compile jobs each, in
 * the first 0.3 s of a boot). Writing every field that changes later once, on a block nothing
 * uses, before anything is optimized, makes them variables from the start.
 */
function primeBlockFields(): void {
  const b = new Block([], 0, true, []);
  b.region = { fn: () => -1, blocks: [], calls: 0 }; b.inRegions = [];
  b.valid = false; b.pending = true; b.hits = 1; b.aliasMisses = 1;
  b.s1 = b; b.s1Lin = 1; b.s1Tlb = 1; b.s2 = b; b.s2Lin = 1; b.s2Tlb = 1;
}

/** LOCK is only valid on these read-modify-write forms, and only with a memory destination. */
function lockable(ins: Insn): boolean {
  if (!ins.mem) return false;
  const o = D.opcode, r = ins.reg;
  if (o < 0x38 && (o & 7) < 2) return true;
  switch (o) {
    case 0x80: case 0x81: case 0x82: case 0x83: return r !== 7;
    case 0x86: case 0x87: return true;
    case 0xf6: case 0xf7: return r === 2 || r === 3;
    case 0xfe: case 0xff: return r < 2;
    case 0x0fab: case 0x0fb3: case 0x0fbb: case 0x0fb0: case 0x0fb1: case 0x0fc0: case 0x0fc1: case 0x0fc7: return true;
    case 0x0fba: return r >= 5;
  }
  return false;
}

/** Decodes one instruction into `ins`; returns true when it ends the block. */
function decodeInsn(cpu: CPU, ins: Insn): boolean {
  lockPrefix = false;
  const ends = decodeOpcode(cpu, ins);
  // Longer than 15 bytes: #GP (checked after decoding, so a legal 15-byte instruction passes).
  if (D.pos - D.insStart > 15) cpu.gp(0);
  if (lockPrefix && !lockable(ins)) cpu.ud();
  return ends;
}

let lockPrefix = false;

function decodeOpcode(cpu: CPU, ins: Insn): boolean {
  let o32 = cpu.code32, a32 = cpu.code32;
  let seg = -1;
  let rep = 0;
  let b: number;
  // Prefixes (an instruction longer than 15 bytes is #UD... the SDM says #GP; legacy limit enforced below).
  for (;;) {
    if (D.pos - D.insStart >= 15) cpu.gp(0);
    b = D.byte();
    switch (b) {
      case 0x26: seg = Seg.ES; continue;
      case 0x2e: seg = Seg.CS; continue;
      case 0x36: seg = Seg.SS; continue;
      case 0x3e: seg = Seg.DS; continue;
      case 0x64: seg = Seg.FS; continue;
      case 0x65: seg = Seg.GS; continue;
      case 0x66: o32 = !cpu.code32; continue;
      case 0x67: a32 = !cpu.code32; continue;
      case 0xf0: lockPrefix = true; continue;
      case 0xf2: rep = 2; continue;
      case 0xf3: rep = 1; continue;
    }
    break;
  }
  const osz = o32 ? 4 : 2;
  // Set before the opcode's decoding, which reads them (stringFast); the rest of bits comes after.
  ins.bits = (rep << 25) | (a32 ? 1 << 29 : 0);
  ins.seg = seg >= 0 ? seg : Seg.DS;
  ins.size = osz;
  D.opcode = b;
  D.a32 = a32; D.seg = seg;
  return ONE_BYTE[b]!(cpu, ins, b, osz);
}

/**
 * Decodes the rest of one opcode, its byte `b` read and the prefixes applied (operand size `osz`);
 * true when the instruction ends the block. One small function per opcode (or opcode row) rather
 * than one switch: the engine optimizes each on its own as it gets hot, where a switch over every
 * opcode was one large function recompiled whole each time a rarely seen opcode turned up (the
 * boot's first second spent a quarter of a core on it).
 */
type OpDecoder = (cpu: CPU, ins: Insn, b: number, osz: number) => boolean;

const undefinedOpcode: OpDecoder = (cpu) => cpu.ud();
const ONE_BYTE: OpDecoder[] = new Array<OpDecoder>(256).fill(undefinedOpcode);
const TWO_BYTE: OpDecoder[] = new Array<OpDecoder>(256).fill(undefinedOpcode);

function on(table: OpDecoder[], opcodes: readonly number[], dec: OpDecoder): void {
  for (const b of opcodes) table[b] = dec;
}
/** Opcodes first..last. */
const range = (first: number, last: number): number[] => Array.from({ length: last - first + 1 }, (_, k) => first + k);
/** An opcode with no operand: only its handler, and whether it ends the block. */
const plain = (fn: Handler, ends: boolean): OpDecoder => ends ? (_c, i) => { i.fn = fn; return true; } : (_c, i) => { i.fn = fn; return false; };
/** A string instruction: a REP form ends the block. */
const stringOp = (size1: boolean, op: Handler, fast: boolean): OpDecoder => (_c, i) => {
  if (size1) i.size = 1;
  i.fn = fast ? O.stringFast(i, op) : op;
  return i.rep !== 0;
};
/** LES/LDS/LSS/LFS/LGS: a memory operand only. */
const farPtr = (seg: Seg): OpDecoder => (cpu, i) => { decodeModrm(i); if (!i.mem) cpu.ud(); i.op = seg; i.fn = O.loadFarPtr; return true; };

/**
 * Fills the opcode tables, on the first decode: the handlers and `Seg` they name come from modules
 * that may still be loading when this one is (ops.ts and cpu.ts import each other through it).
 */
function fillTables(): void {
  // ALU block 00-3F (x0-x5 of each row of 8).
  const ALU_FORMS: OpDecoder[] = [
    (_c, i, b) => { i.op = b >> 3; i.size = 1; decodeModrm(i); i.fn = i.mem ? O.aluMR : O.aluRR; return false; },
    (_c, i, b, osz) => {
      const op = i.op = b >> 3; decodeModrm(i);
      i.fn = i.mem ? (osz === 4 ? O.ALU_MR32[op]! : O.aluMR) : (osz === 4 ? O.ALU_RR32[op]! : O.aluRR); return false;
    },
    (_c, i, b) => { i.op = b >> 3; i.size = 1; decodeModrm(i); i.fn = i.mem ? O.aluRM : O.aluRRrev; return false; },
    (_c, i, b, osz) => {
      const op = i.op = b >> 3; decodeModrm(i);
      i.fn = i.mem ? (osz === 4 ? O.ALU_RM32[op]! : O.aluRM) : (osz === 4 ? O.ALU_RRREV32[op]! : O.aluRRrev); return false;
    },
    (_c, i, b) => { i.op = b >> 3; i.size = 1; i.imm = D.byte(); i.reg = 0; i.fn = O.aluAccImm; return false; },
    (_c, i, b, osz) => { const op = i.op = b >> 3; i.imm = D.imm(osz); i.reg = 0; i.fn = osz === 4 ? O.ALU_ACCIMM32[op]! : O.aluAccImm; return false; },
  ];
  for (let b = 0; b < 0x40; b++) if ((b & 7) < 6) ONE_BYTE[b] = ALU_FORMS[b & 7]!;

  on(ONE_BYTE, [0x06, 0x0e, 0x16, 0x1e], (_c, i, b) => { i.reg = b >> 3; i.fn = O.pushSeg; return false; });
  on(ONE_BYTE, [0x07, 0x17, 0x1f], (_c, i, b) => { i.reg = b >> 3; i.fn = O.popSeg; return true; });
  on(ONE_BYTE, [0x0f], (cpu, ins, _b, osz) => {
    const b = D.byte();
    D.opcode = 0x0f00 | b;
    return TWO_BYTE[b]!(cpu, ins, b, osz);
  });
  on(ONE_BYTE, [0x27], plain(O.daa, false));
  on(ONE_BYTE, [0x2f], plain(O.das, false));
  on(ONE_BYTE, [0x37], plain(O.aaa, false));
  on(ONE_BYTE, [0x3f], plain(O.aas, false));
  on(ONE_BYTE, range(0x40, 0x47), (_c, i, b, osz) => { i.reg = b & 7; i.fn = osz === 4 ? O.inc32r : O.incR; return false; });
  on(ONE_BYTE, range(0x48, 0x4f), (_c, i, b, osz) => { i.reg = b & 7; i.fn = osz === 4 ? O.dec32r : O.decR; return false; });
  on(ONE_BYTE, range(0x50, 0x57), (_c, i, b, osz) => { i.reg = b & 7; i.fn = osz === 4 ? O.push32r : O.pushR; return false; });
  on(ONE_BYTE, range(0x58, 0x5f), (_c, i, b, osz) => { i.reg = b & 7; i.fn = osz === 4 ? O.pop32r : O.popR; return false; });
  on(ONE_BYTE, [0x60], plain(O.pusha, false));
  on(ONE_BYTE, [0x61], plain(O.popa, false));
  on(ONE_BYTE, [0x62], (cpu, i) => { decodeModrm(i); if (!i.mem) cpu.ud(); i.fn = O.bound; return false; });
  on(ONE_BYTE, [0x63], (_c, i) => { i.size = 2; decodeModrm(i); i.fn = S.arpl; return false; });
  on(ONE_BYTE, [0x68], (_c, i, _b, osz) => { i.imm = D.imm(osz); i.fn = O.pushImm; return false; });
  on(ONE_BYTE, [0x69], (_c, i, _b, osz) => { decodeModrm(i); i.imm = D.imm(osz); i.fn = osz === 4 && !i.mem ? O.imul3_32R : O.imul3; return false; });
  on(ONE_BYTE, [0x6a], (_c, i) => { i.imm = D.sbyte(); i.fn = O.pushImm; return false; });
  on(ONE_BYTE, [0x6b], (_c, i, _b, osz) => { decodeModrm(i); i.imm = D.sbyte(); i.fn = osz === 4 && !i.mem ? O.imul3_32R : O.imul3; return false; });
  on(ONE_BYTE, [0x6c], (_c, i) => { i.size = 1; i.fn = O.ins_; return true; });
  on(ONE_BYTE, [0x6d], plain(O.ins_, true));
  on(ONE_BYTE, [0x6e], (_c, i) => { i.size = 1; i.fn = O.outs; return true; });
  on(ONE_BYTE, [0x6f], plain(O.outs, true));
  on(ONE_BYTE, range(0x70, 0x7f), (_c, i, b, osz) => { i.op = b & 15; i.imm = D.sbyte(); i.fn = osz === 4 ? O.JCC32[i.op]! : O.jcc; return true; });
  on(ONE_BYTE, [0x80, 0x82], (_c, i) => { i.size = 1; decodeModrm(i); i.imm = D.byte(); i.op = i.reg; i.fn = i.mem ? O.aluMImm : O.aluRImm; return false; });
  on(ONE_BYTE, [0x81, 0x83], (_c, i, b, osz) => {
    decodeModrm(i); i.imm = b === 0x81 ? D.imm(osz) : D.sbyte(); i.op = i.reg;
    i.fn = osz === 4 ? (i.mem ? O.ALU_MIMM32[i.op]! : O.ALU_RIMM32[i.op]!) : (i.mem ? O.aluMImm : O.aluRImm); return false;
  });
  on(ONE_BYTE, [0x84], (_c, i) => { i.size = 1; decodeModrm(i); i.fn = i.mem ? O.testRM : O.test8RR; return false; });
  on(ONE_BYTE, [0x85], (_c, i, _b, osz) => { decodeModrm(i); i.fn = osz === 4 && !i.mem ? O.test32RR : O.testRM; return false; });
  on(ONE_BYTE, [0x86], (_c, i) => { i.size = 1; decodeModrm(i); i.fn = O.xchgRM; return false; });
  on(ONE_BYTE, [0x87], (_c, i) => { decodeModrm(i); i.fn = O.xchgRM; return false; });
  on(ONE_BYTE, [0x88], (_c, i) => { i.size = 1; decodeModrm(i); i.fn = i.mem ? O.movMR : O.movRR; return false; });
  on(ONE_BYTE, [0x89], (_c, i, _b, osz) => { decodeModrm(i); i.fn = i.mem ? (osz === 4 ? O.mov32MR : O.movMR) : (osz === 4 ? O.mov32RR : O.movRR); return false; });
  on(ONE_BYTE, [0x8a], (_c, i) => { i.size = 1; decodeModrm(i); i.fn = i.mem ? O.movRM : O.movRRrev; return false; });
  on(ONE_BYTE, [0x8b], (_c, i, _b, osz) => { decodeModrm(i); i.fn = i.mem ? (osz === 4 ? O.mov32RM : O.movRM) : (osz === 4 ? O.mov32RRrev : O.movRRrev); return false; });
  on(ONE_BYTE, [0x8c], (cpu, i) => { decodeModrm(i); if (i.reg > 5) cpu.ud(); i.fn = O.movRmSeg; return false; });
  on(ONE_BYTE, [0x8d], (cpu, i, _b, osz) => { decodeModrm(i); if (!i.mem) cpu.ud(); i.fn = osz === 4 ? O.lea32 : O.lea; return false; });
  on(ONE_BYTE, [0x8e], (cpu, i) => { i.size = 2; decodeModrm(i); if (i.reg > 5 || i.reg === Seg.CS) cpu.ud(); i.fn = O.movSegRm; return true; });
  on(ONE_BYTE, [0x8f], (_c, i) => { decodeModrm(i); i.fn = O.popRm; return false; });
  on(ONE_BYTE, [0x90], plain(O.nop, false));
  on(ONE_BYTE, range(0x91, 0x97), (_c, i, b) => { i.reg = b & 7; i.fn = O.xchgAcc; return false; });
  on(ONE_BYTE, [0x98], plain(O.cbw, false));
  on(ONE_BYTE, [0x99], plain(O.cwd, false));
  on(ONE_BYTE, [0x9a], (_c, i, _b, osz) => { i.imm = D.imm(osz); i.disp = D.word(); i.fn = O.callFar; return true; });
  on(ONE_BYTE, [0x9b], plain(O.fwait, false));
  on(ONE_BYTE, [0x9c], plain(O.pushf, false));
  on(ONE_BYTE, [0x9d], plain(O.popf, true));
  on(ONE_BYTE, [0x9e], plain(O.sahf, false));
  on(ONE_BYTE, [0x9f], plain(O.lahf, false));
  on(ONE_BYTE, range(0xa0, 0xa3), (_c, i, b) => {
    if (!(b & 1)) i.size = 1;
    i.disp = D.a32 ? D.dword() : D.word(); i.ea = eaDisp; i.mem = true; i.reg = 0;
    i.fn = b & 2 ? O.movMR : O.movRM; return false;
  });
  on(ONE_BYTE, [0xa4], stringOp(true, O.movs, true));
  on(ONE_BYTE, [0xa5], stringOp(false, O.movs, true));
  on(ONE_BYTE, [0xa6], stringOp(true, O.cmps, false));
  on(ONE_BYTE, [0xa7], stringOp(false, O.cmps, false));
  on(ONE_BYTE, [0xa8], (_c, i) => { i.size = 1; i.imm = D.byte(); i.fn = O.testAccImm; return false; });
  on(ONE_BYTE, [0xa9], (_c, i, _b, osz) => { i.imm = D.imm(osz); i.fn = O.testAccImm; return false; });
  on(ONE_BYTE, [0xaa], stringOp(true, O.stos, true));
  on(ONE_BYTE, [0xab], stringOp(false, O.stos, true));
  on(ONE_BYTE, [0xac], stringOp(true, O.lods, true));
  on(ONE_BYTE, [0xad], stringOp(false, O.lods, true));
  on(ONE_BYTE, [0xae], stringOp(true, O.scas, false));
  on(ONE_BYTE, [0xaf], stringOp(false, O.scas, false));
  on(ONE_BYTE, range(0xb0, 0xb7), (_c, i, b) => { i.size = 1; i.reg = b & 7; i.imm = D.byte(); i.fn = O.movRImm; return false; });
  on(ONE_BYTE, range(0xb8, 0xbf), (_c, i, b, osz) => { i.reg = b & 7; i.imm = D.imm(osz); i.fn = osz === 4 ? O.mov32RImm : O.movRImm; return false; });
  on(ONE_BYTE, [0xc0], (_c, i) => { i.size = 1; decodeModrm(i); i.imm = D.byte(); i.op = i.reg; i.fn = O.shiftImm; return false; });
  on(ONE_BYTE, [0xc1], (_c, i, _b, osz) => {
    decodeModrm(i); i.imm = D.byte(); i.op = i.reg;
    if (osz === 4 && !i.mem && (i.imm & 31) !== 0) { i.imm &= 31; i.fn = O.SHIFT32_RI[i.op]!; } else i.fn = O.shiftImm;
    return false;
  });
  on(ONE_BYTE, [0xc2], (_c, i) => { i.imm = D.word(); i.fn = O.retImm; return true; });
  on(ONE_BYTE, [0xc3], (_c, i, _b, osz) => { i.fn = osz === 4 ? O.ret32 : O.ret16; return true; });
  on(ONE_BYTE, [0xc4], farPtr(Seg.ES));
  on(ONE_BYTE, [0xc5], farPtr(Seg.DS));
  on(ONE_BYTE, [0xc6], (_c, i) => { i.size = 1; decodeModrm(i); i.imm = D.byte(); i.fn = i.mem ? O.movMImm : O.movRImmRm; return false; });
  on(ONE_BYTE, [0xc7], (_c, i, _b, osz) => { decodeModrm(i); i.imm = D.imm(osz); i.fn = i.mem ? (osz === 4 ? O.mov32MImm : O.movMImm) : O.movRImmRm; return false; });
  on(ONE_BYTE, [0xc8], (_c, i) => { i.imm = D.word(); i.disp = D.byte(); i.fn = O.enter; return false; });
  on(ONE_BYTE, [0xc9], plain(O.leave, false));
  on(ONE_BYTE, [0xca], (_c, i) => { i.imm = D.word(); i.fn = O.retFar; return true; });
  on(ONE_BYTE, [0xcb], (_c, i) => { i.imm = 0; i.fn = O.retFar; return true; });
  on(ONE_BYTE, [0xcc], (_c, i) => { i.imm = 3; i.fn = O.int3; return true; });
  on(ONE_BYTE, [0xcd], (_c, i) => { i.imm = D.byte(); i.fn = O.intN; return true; });
  on(ONE_BYTE, [0xce], plain(O.into, true));
  on(ONE_BYTE, [0xcf], plain(O.iret_, true));
  on(ONE_BYTE, [0xd0], (_c, i) => { i.size = 1; decodeModrm(i); i.imm = 1; i.op = i.reg; i.fn = O.shiftImm; return false; });
  on(ONE_BYTE, [0xd1], (_c, i, _b, osz) => { decodeModrm(i); i.imm = 1; i.op = i.reg; i.fn = osz === 4 && !i.mem ? O.SHIFT32_RI[i.op]! : O.shiftImm; return false; });
  on(ONE_BYTE, [0xd2], (_c, i) => { i.size = 1; decodeModrm(i); i.op = i.reg; i.fn = O.shiftCl; return false; });
  on(ONE_BYTE, [0xd3], (_c, i) => { decodeModrm(i); i.op = i.reg; i.fn = O.shiftCl; return false; });
  on(ONE_BYTE, [0xd4], (_c, i) => { i.imm = D.byte(); i.fn = O.aam; return false; });
  on(ONE_BYTE, [0xd5], (_c, i) => { i.imm = D.byte(); i.fn = O.aad; return false; });
  on(ONE_BYTE, [0xd6], plain(O.salc, false));
  on(ONE_BYTE, [0xd7], plain(O.xlat, false));
  on(ONE_BYTE, range(0xd8, 0xdf), (cpu, i, b) => { i.op = b; decodeModrm(i); if (!x87Valid(b, D.modrm)) cpu.ud(); i.fn = O.fpuEsc; return false; });
  on(ONE_BYTE, range(0xe0, 0xe2), (_c, i, b) => { i.op = b & 3; i.imm = D.sbyte(); i.fn = O.loop; return true; });
  on(ONE_BYTE, [0xe3], (_c, i) => { i.imm = D.sbyte(); i.fn = O.jcxz; return true; });
  on(ONE_BYTE, [0xe4], (_c, i) => { i.size = 1; i.imm = D.byte(); i.fn = O.inImm; return false; });
  on(ONE_BYTE, [0xe5], (_c, i) => { i.imm = D.byte(); i.fn = O.inImm; return false; });
  on(ONE_BYTE, [0xe6], (_c, i) => { i.size = 1; i.imm = D.byte(); i.fn = O.outImm; return true; });
  on(ONE_BYTE, [0xe7], (_c, i) => { i.imm = D.byte(); i.fn = O.outImm; return true; });
  on(ONE_BYTE, [0xe8], (_c, i, _b, osz) => { i.imm = osz === 4 ? D.dword() : D.sword(); i.fn = O.callRel; return true; });
  on(ONE_BYTE, [0xe9], (_c, i, _b, osz) => { i.imm = osz === 4 ? D.dword() : D.sword(); i.fn = O.jmpRel; return true; });
  on(ONE_BYTE, [0xea], (_c, i, _b, osz) => { i.imm = D.imm(osz); i.disp = D.word(); i.fn = O.jmpFar; return true; });
  on(ONE_BYTE, [0xeb], (_c, i) => { i.imm = D.sbyte(); i.fn = O.jmpRel; return true; });
  on(ONE_BYTE, [0xec], (_c, i) => { i.size = 1; i.fn = O.inDx; return false; });
  on(ONE_BYTE, [0xed], plain(O.inDx, false));
  on(ONE_BYTE, [0xee], (_c, i) => { i.size = 1; i.fn = O.outDx; return true; });
  on(ONE_BYTE, [0xef], plain(O.outDx, true));
  on(ONE_BYTE, [0xf1], (_c, i) => { i.imm = 1; i.fn = O.int1; return true; });
  on(ONE_BYTE, [0xf4], plain(S.hlt, true));
  on(ONE_BYTE, [0xf5], plain(O.cmc, false));
  on(ONE_BYTE, [0xf6, 0xf7], (_c, i, b) => {
    if (b === 0xf6) i.size = 1;
    decodeModrm(i); i.op = i.reg;
    if (i.reg < 2) { i.imm = D.imm(i.size); i.fn = O.testRmImm; } else i.fn = O.group3;
    return false;
  });
  on(ONE_BYTE, [0xf8], plain(O.clc, false));
  on(ONE_BYTE, [0xf9], plain(O.stc, false));
  on(ONE_BYTE, [0xfa], plain(S.cli, false));
  on(ONE_BYTE, [0xfb], plain(S.sti, true));
  on(ONE_BYTE, [0xfc], plain(O.cld, false));
  on(ONE_BYTE, [0xfd], plain(O.std, false));
  on(ONE_BYTE, [0xfe], (cpu, i) => { i.size = 1; decodeModrm(i); if (i.reg > 1) cpu.ud(); i.op = i.reg; i.fn = O.incDecRm; return false; });
  on(ONE_BYTE, [0xff], (cpu, i) => {
    decodeModrm(i); i.op = i.reg;
    switch (i.reg) {
      case 0: case 1: i.fn = O.incDecRm; return false;
      case 2: i.fn = O.callRm; return true;
      case 3: if (!i.mem) cpu.ud(); i.fn = O.callFarRm; return true;
      case 4: i.fn = O.jmpRm; return true;
      case 5: if (!i.mem) cpu.ud(); i.fn = O.jmpFarRm; return true;
      case 6: i.fn = O.pushRm; return false;
      default: return cpu.ud();
    }
  });

  // Two-byte opcodes (0F xx).
  on(TWO_BYTE, range(0x80, 0x8f), (_c, i, b, osz) => { i.op = b & 15; i.imm = osz === 4 ? D.dword() : D.sword(); i.fn = osz === 4 ? O.JCC32[i.op]! : O.jcc; return true; });
  on(TWO_BYTE, range(0x90, 0x9f), (_c, i, b) => { i.size = 1; i.op = b & 15; decodeModrm(i); i.fn = i.mem ? O.setcc : O.SETCC_R[i.op]!; return false; });
  on(TWO_BYTE, range(0x40, 0x4f), (_c, i, b, osz) => { i.op = b & 15; decodeModrm(i); i.fn = osz === 4 && !i.mem ? O.CMOVCC32_RR[i.op]! : O.cmovcc; return false; });
  on(TWO_BYTE, range(0xc8, 0xcf), (_c, i, b) => { i.reg = b & 7; i.fn = O.bswap; return false; });
  on(TWO_BYTE, [0x00], (cpu, i) => { i.size = 2; decodeModrm(i); i.op = i.reg; if (i.reg > 5) cpu.ud(); i.fn = S.group6; return true; });
  on(TWO_BYTE, [0x01], (cpu, i) => {
    const save = D.pos;
    const m = D.byte();
    if (m === 0xc1 || m === 0xd9) { i.fn = S.vmcall; return true; }
    D.pos = save;
    decodeModrm(i); i.op = i.reg;
    if (i.reg === 5 || (!i.mem && i.reg !== 4 && i.reg !== 6)) cpu.ud();
    i.fn = S.group7; return true;
  });
  on(TWO_BYTE, [0x02], (_c, i) => { decodeModrm(i); i.fn = S.lar; return false; });
  on(TWO_BYTE, [0x03], (_c, i) => { decodeModrm(i); i.fn = S.lsl; return false; });
  on(TWO_BYTE, [0x06], plain(S.clts, true));
  on(TWO_BYTE, [0x08, 0x09], plain(S.wbinvd, false));
  on(TWO_BYTE, [0x0b], plain(O.ud, true));
  on(TWO_BYTE, [0x0d], (cpu, i) => { decodeModrm(i); if (!i.mem) cpu.ud(); i.fn = O.nop; return false; });
  on(TWO_BYTE, range(0x18, 0x1f), (_c, i) => { decodeModrm(i); i.fn = O.nop; return false; });
  on(TWO_BYTE, range(0x20, 0x23), (_c, i, b) => {
    // MOV to/from control and debug registers: always register operands, mod ignored.
    const m = D.byte();
    i.reg = (m >> 3) & 7; i.rm = m & 7; i.op = b;
    i.fn = b & 1 ? S.movDr : S.movCr; return true;
  });
  on(TWO_BYTE, [0x30], plain(S.wrmsr, true));
  on(TWO_BYTE, [0x31], plain(S.rdtsc, false));
  on(TWO_BYTE, [0x32], plain(S.rdmsr, false));
  on(TWO_BYTE, [0x33], plain(S.rdpmc, false));
  on(TWO_BYTE, [0x34], plain(S.sysenter, true));
  on(TWO_BYTE, [0x35], plain(S.sysexit, true));
  on(TWO_BYTE, [0xa0], (_c, i) => { i.reg = Seg.FS; i.fn = O.pushSeg; return false; });
  on(TWO_BYTE, [0xa1], (_c, i) => { i.reg = Seg.FS; i.fn = O.popSeg; return true; });
  on(TWO_BYTE, [0xa2], plain(S.cpuid, false));
  on(TWO_BYTE, [0xa3], (_c, i) => { decodeModrm(i); i.op = 0; i.fn = O.btReg; return false; });
  on(TWO_BYTE, [0xa4], (_c, i) => { decodeModrm(i); i.imm = D.byte(); i.op = 0; i.fn = O.shldImm; return false; });
  on(TWO_BYTE, [0xa5], (_c, i) => { decodeModrm(i); i.op = 0; i.fn = O.shldCl; return false; });
  on(TWO_BYTE, [0xa8], (_c, i) => { i.reg = Seg.GS; i.fn = O.pushSeg; return false; });
  on(TWO_BYTE, [0xa9], (_c, i) => { i.reg = Seg.GS; i.fn = O.popSeg; return true; });
  on(TWO_BYTE, [0xab], (_c, i) => { decodeModrm(i); i.op = 1; i.fn = O.btReg; return false; });
  on(TWO_BYTE, [0xac], (_c, i) => { decodeModrm(i); i.imm = D.byte(); i.op = 1; i.fn = O.shldImm; return false; });
  on(TWO_BYTE, [0xad], (_c, i) => { decodeModrm(i); i.op = 1; i.fn = O.shldCl; return false; });
  on(TWO_BYTE, [0xae], (cpu, i) => {
    decodeModrm(i);
    // LFENCE/MFENCE/SFENCE order nothing here (memory is strongly ordered); Linux issues MFENCE
    // before TSC-deadline writes on Intel parts even where CPUID shows no SSE2.
    if (!i.mem && i.reg >= 5) { i.fn = O.nop; return false; }
    if (!i.mem || i.reg > 1) cpu.ud();
    i.op = i.reg; i.fn = O.fxsaveRstor; return i.reg === 1;
  });
  on(TWO_BYTE, [0xaf], (_c, i, _b, osz) => { decodeModrm(i); i.fn = osz === 4 && !i.mem ? O.imul2_32R : O.imul2; return false; });
  on(TWO_BYTE, [0xb0], (_c, i) => { i.size = 1; decodeModrm(i); i.fn = O.cmpxchg; return false; });
  on(TWO_BYTE, [0xb1], (_c, i) => { decodeModrm(i); i.fn = O.cmpxchg; return false; });
  on(TWO_BYTE, [0xb2], farPtr(Seg.SS));
  on(TWO_BYTE, [0xb3], (_c, i) => { decodeModrm(i); i.op = 2; i.fn = O.btReg; return false; });
  on(TWO_BYTE, [0xb4], farPtr(Seg.FS));
  on(TWO_BYTE, [0xb5], farPtr(Seg.GS));
  on(TWO_BYTE, [0xb6], (_c, i, _b, osz) => { i.imm = 1; decodeModrm(i); i.fn = osz === 4 ? (i.mem ? O.movzx8_32M : O.movzx8_32R) : O.movzx; return false; });
  on(TWO_BYTE, [0xb7], (_c, i, _b, osz) => { i.imm = 2; decodeModrm(i); i.fn = osz === 4 && i.mem ? O.movzx16_32M : O.movzx; return false; });
  on(TWO_BYTE, [0xba], (cpu, i) => { decodeModrm(i); if (i.reg < 4) cpu.ud(); i.op = i.reg - 4; i.imm = D.byte(); i.fn = O.btImm; return false; });
  on(TWO_BYTE, [0xbb], (_c, i) => { decodeModrm(i); i.op = 3; i.fn = O.btReg; return false; });
  on(TWO_BYTE, [0xbc], (_c, i) => { decodeModrm(i); i.fn = O.bsf; return false; });
  on(TWO_BYTE, [0xbd], (_c, i) => { decodeModrm(i); i.fn = O.bsr; return false; });
  on(TWO_BYTE, [0xbe], (_c, i) => { i.imm = 1; decodeModrm(i); i.fn = O.movsx; return false; });
  on(TWO_BYTE, [0xbf], (_c, i) => { i.imm = 2; decodeModrm(i); i.fn = O.movsx; return false; });
  on(TWO_BYTE, [0xc0], (_c, i) => { i.size = 1; decodeModrm(i); i.fn = O.xadd; return false; });
  on(TWO_BYTE, [0xc1], (_c, i) => { decodeModrm(i); i.fn = O.xadd; return false; });
  on(TWO_BYTE, [0xc7], (cpu, i) => {
    decodeModrm(i);
    if (i.reg === 1 && i.mem) { i.fn = O.cmpxchg8b; return false; }
    if (i.reg === 6 && !i.mem) { i.fn = S.rdrand; return false; }
    return cpu.ud();
  });
}

/** The ModRM operand (and SIB, displacement) of `ins`, with the address size and segment override in D. */
function decodeModrm(ins: Insn): void {
  const a32 = D.a32, segOverride = D.seg;
  const m = D.byte();
  D.modrm = m;
  const mod = m >> 6;
  ins.reg = (m >> 3) & 7;
  ins.rm = m & 7;
  if (mod === 3) { ins.mem = false; return; }
  ins.mem = true;
  let defSS = false;
  if (a32) {
    let base = ins.rm, index = -1, scale = 0;
    if (base === 4) {
      const sib = D.byte();
      scale = sib >> 6; index = (sib >> 3) & 7; base = sib & 7;
      if (index === 4) index = -1;
      if (base === 5 && mod === 0) { base = -1; ins.disp = D.dword(); }
    } else if (base === 5 && mod === 0) { base = -1; ins.disp = D.dword(); }
    if (mod === 1) ins.disp = D.sbyte();
    else if (mod === 2) ins.disp = D.dword();
    defSS = base === 4 || base === 5;
    ins.base = base < 0 ? 0 : base; ins.index = index < 0 ? 0 : index; ins.bits |= scale << 27;
    ins.ea = base < 0 ? (index < 0 ? eaDisp : eaIndex) : (index < 0 ? eaBase : eaBaseIndex);
  } else {
    if (mod === 0 && ins.rm === 6) { ins.disp = D.word(); ins.ea = ea16Disp; }
    else {
      ins.base = EA16_BASE[ins.rm]!;
      const idx = EA16_INDEX[ins.rm]!;
      if (mod === 1) ins.disp = D.sbyte(); else if (mod === 2) ins.disp = D.sword();
      if (idx < 0) ins.ea = ea16Base; else { ins.index = idx; ins.ea = ea16BaseIndex; }
      defSS = ins.rm === 2 || ins.rm === 3 || ins.rm === 6;
    }
  }
  ins.seg = segOverride >= 0 ? segOverride : defSS ? Seg.SS : Seg.DS;
}

/** Every implemented opcode (prefixes aside), for test coverage reports. */
export function implementedOpcodes(): { oneByte: number[]; twoByte: number[] } {
  if (ONE_BYTE[0] === undefinedOpcode) fillTables();
  return {
    oneByte: range(0, 255).filter((b) => ONE_BYTE[b] !== undefinedOpcode && b !== 0x0f),
    twoByte: range(0, 255).filter((b) => TWO_BYTE[b] !== undefinedOpcode),
  };
}
