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

export interface Block {
  key: number;
  insns: Insn[];
  pages: number[];
  valid: boolean;
  /** Decoded for 32-bit code (CS.D). */
  code32: boolean;
  /** Decode mode (the low two bits of the table slot): 1 = 32-bit code, 2 = protected mode. */
  mode: number;
  /** Times run interpreted; at the CPU's compile threshold its region is compiled. */
  hits: number;
  /** The compiled region entered at this block (codegen.ts), if any. */
  region: Region | null;
  /** Every region whose code includes this block (all die when it is invalidated). */
  inRegions: Region[] | null;
  /**
   * In a region being compiled in the background: the blocks of a loop reach the compile threshold
   * in the same iteration, and each would otherwise root a region of the same blocks.
   */
  pending: boolean;
  /**
   * Times a region could not run this block because its page was mapped at another linear address
   * than the region was compiled for (one physical page at several addresses: the vDSO, which Linux
   * maps at a random address in every process). Each time it waits twice as long to compile again.
   */
  aliasMisses: number;
  /**
   * The two most recent successors (block chaining), each with the linear address it was found at
   * and the TLB entry that mapped it then: while that entry is unchanged the link holds, so links
   * survive CR3 writes (global kernel pages keep their entries; user pages come back with the same
   * entry when their process runs again) and CS reloads with the same base.
   */
  s1: Block | null; s1Lin: number; s1Tlb: number;
  s2: Block | null; s2Lin: number; s2Tlb: number;
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
      if (!this.pages.includes(phys)) this.pages.push(phys);
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
  D.cpu = cpu; D.lin = lin; D.pos = 0; D.startEip = cpu.eip; D.csLimit = cpu.segLimit[Seg.CS]!;
  D.pages = [phys >>> 12]; D.lastPage = lin >>> 12;
  const insns: Insn[] = [];
  const startPage = lin >>> 12;
  for (;;) {
    const ins = new Insn();
    D.insStart = D.pos; D.modrm = 0;
    let ends: boolean;
    const savedPages = D.pages.length;
    try {
      ends = decodeInsn(cpu, ins);
    } catch (e) {
      // A fault while decoding a later instruction just ends the block before it; the fault
      // is raised for real when execution reaches that instruction.
      if (e !== FAULT || insns.length === 0) throw e;
      D.pages.length = savedPages;
      break;
    }
    ins.end = D.pos;
    ins.bits |= (D.pos - D.insStart) | (D.modrm << 4) | (D.opcode << 12) | (ends ? 1 << 24 : 0);
    insns.push(ins);
    if (ends || insns.length >= MAX_BLOCK) break;
    if (((lin + D.pos) | 0) >>> 12 !== startPage) break;
  }
  // Field order is layout: what the dispatcher reads on every run comes first.
  const block: Block = {
    // An exact-size copy: the decoded blocks live for good, and a pushed-to array keeps room for
    // 16 (~90 bytes more per block, ~2.5 MiB over a boot, all of it copied by the young GC).
    insns: insns.slice(), region: null, hits: 0, s1: null, s1Lin: 0, s1Tlb: 0, valid: true, mode: Math.floor(key / 4096) & 3,
    s2: null, s2Lin: 0, s2Tlb: 0, key, code32: cpu.code32, pages: D.pages, inRegions: null, pending: false, aliasMisses: 0,
  };
  cpu.addBlock(block);
  if (cpu.compileThreshold === 0) compileRegion(cpu, block, D.startEip);
  return block;
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

  if (b === 0x0f) return decode0F(cpu, ins, osz);

  // ALU block 00-3F (x0-x5 of each row of 8).
  if (b < 0x40 && (b & 7) < 6) {
    const op = b >> 3;
    ins.op = op;
    switch (b & 7) {
      case 0: ins.size = 1; decodeModrm(ins); ins.fn = ins.mem ? O.aluMR : O.aluRR; return false;
      case 1: decodeModrm(ins); ins.fn = ins.mem ? (osz === 4 ? O.ALU_MR32[op]! : O.aluMR) : (osz === 4 ? O.ALU_RR32[op]! : O.aluRR); return false;
      case 2: ins.size = 1; decodeModrm(ins); ins.fn = ins.mem ? O.aluRM : O.aluRRrev; return false;
      case 3: decodeModrm(ins); ins.fn = ins.mem ? (osz === 4 ? O.ALU_RM32[op]! : O.aluRM) : (osz === 4 ? O.ALU_RRREV32[op]! : O.aluRRrev); return false;
      case 4: ins.size = 1; ins.imm = D.byte(); ins.reg = 0; ins.fn = O.aluAccImm; return false;
      case 5: ins.imm = D.imm(osz); ins.reg = 0; ins.fn = osz === 4 ? O.ALU_ACCIMM32[op]! : O.aluAccImm; return false;
    }
  }

  switch (b) {
    case 0x06: case 0x0e: case 0x16: case 0x1e: ins.reg = b >> 3; ins.fn = O.pushSeg; return false;
    case 0x07: case 0x17: case 0x1f: ins.reg = b >> 3; ins.fn = O.popSeg; return true;
    case 0x27: ins.fn = O.daa; return false;
    case 0x2f: ins.fn = O.das; return false;
    case 0x37: ins.fn = O.aaa; return false;
    case 0x3f: ins.fn = O.aas; return false;
  }
  if (b >= 0x40 && b < 0x60) {
    ins.reg = b & 7;
    switch (b >> 3) {
      case 8: ins.fn = osz === 4 ? O.inc32r : O.incR; return false;
      case 9: ins.fn = osz === 4 ? O.dec32r : O.decR; return false;
      case 10: ins.fn = osz === 4 ? O.push32r : O.pushR; return false;
      default: ins.fn = osz === 4 ? O.pop32r : O.popR; return false;
    }
  }
  if (b >= 0x70 && b < 0x80) {
    ins.op = b & 15; ins.imm = D.sbyte(); ins.fn = osz === 4 ? O.JCC32[ins.op]! : O.jcc; return true;
  }
  if (b >= 0x91 && b <= 0x97) { ins.reg = b & 7; ins.fn = O.xchgAcc; return false; }
  if (b >= 0xb0 && b <= 0xb7) { ins.size = 1; ins.reg = b & 7; ins.imm = D.byte(); ins.fn = O.movRImm; return false; }
  if (b >= 0xb8 && b <= 0xbf) { ins.reg = b & 7; ins.imm = D.imm(osz); ins.fn = osz === 4 ? O.mov32RImm : O.movRImm; return false; }
  if (b >= 0xd8 && b <= 0xdf) { ins.op = b; decodeModrm(ins); if (!x87Valid(b, D.modrm)) cpu.ud(); ins.fn = O.fpuEsc; return false; }

  switch (b) {
    case 0x60: ins.fn = O.pusha; return false;
    case 0x61: ins.fn = O.popa; return false;
    case 0x62: decodeModrm(ins); if (!ins.mem) cpu.ud(); ins.fn = O.bound; return false;
    case 0x63: ins.size = 2; decodeModrm(ins); ins.fn = S.arpl; return false;
    case 0x68: ins.imm = D.imm(osz); ins.fn = O.pushImm; return false;
    case 0x69: decodeModrm(ins); ins.imm = D.imm(osz); ins.fn = osz === 4 && !ins.mem ? O.imul3_32R : O.imul3; return false;
    case 0x6a: ins.imm = D.sbyte(); ins.fn = O.pushImm; return false;
    case 0x6b: decodeModrm(ins); ins.imm = D.sbyte(); ins.fn = osz === 4 && !ins.mem ? O.imul3_32R : O.imul3; return false;
    case 0x6c: ins.size = 1; ins.fn = O.ins_; return true;
    case 0x6d: ins.fn = O.ins_; return true;
    case 0x6e: ins.size = 1; ins.fn = O.outs; return true;
    case 0x6f: ins.fn = O.outs; return true;
    case 0x80: case 0x82: ins.size = 1; decodeModrm(ins); ins.imm = D.byte(); ins.op = ins.reg; ins.fn = ins.mem ? O.aluMImm : O.aluRImm; return false;
    case 0x81: decodeModrm(ins); ins.imm = D.imm(osz); ins.op = ins.reg;
      ins.fn = osz === 4 ? (ins.mem ? O.ALU_MIMM32[ins.op]! : O.ALU_RIMM32[ins.op]!) : (ins.mem ? O.aluMImm : O.aluRImm); return false;
    case 0x83: decodeModrm(ins); ins.imm = D.sbyte(); ins.op = ins.reg;
      ins.fn = osz === 4 ? (ins.mem ? O.ALU_MIMM32[ins.op]! : O.ALU_RIMM32[ins.op]!) : (ins.mem ? O.aluMImm : O.aluRImm); return false;
    case 0x84: ins.size = 1; decodeModrm(ins); ins.fn = ins.mem ? O.testRM : O.test8RR; return false;
    case 0x85: decodeModrm(ins); ins.fn = osz === 4 && !ins.mem ? O.test32RR : O.testRM; return false;
    case 0x86: ins.size = 1; decodeModrm(ins); ins.fn = O.xchgRM; return false;
    case 0x87: decodeModrm(ins); ins.fn = O.xchgRM; return false;
    case 0x88: ins.size = 1; decodeModrm(ins); ins.fn = ins.mem ? O.movMR : O.movRR; return false;
    case 0x89: decodeModrm(ins); ins.fn = ins.mem ? (osz === 4 ? O.mov32MR : O.movMR) : (osz === 4 ? O.mov32RR : O.movRR); return false;
    case 0x8a: ins.size = 1; decodeModrm(ins); ins.fn = ins.mem ? O.movRM : O.movRRrev; return false;
    case 0x8b: decodeModrm(ins); ins.fn = ins.mem ? (osz === 4 ? O.mov32RM : O.movRM) : (osz === 4 ? O.mov32RRrev : O.movRRrev); return false;
    case 0x8c: decodeModrm(ins); if (ins.reg > 5) cpu.ud(); ins.fn = O.movRmSeg; return false;
    case 0x8d: decodeModrm(ins); if (!ins.mem) cpu.ud(); ins.fn = osz === 4 ? O.lea32 : O.lea; return false;
    case 0x8e: ins.size = 2; decodeModrm(ins); if (ins.reg > 5 || ins.reg === Seg.CS) cpu.ud(); ins.fn = O.movSegRm; return true;
    case 0x8f: decodeModrm(ins); ins.fn = O.popRm; return false;
    case 0x90: ins.fn = O.nop; return false;
    case 0x98: ins.fn = O.cbw; return false;
    case 0x99: ins.fn = O.cwd; return false;
    case 0x9a: ins.imm = D.imm(osz); ins.disp = D.word(); ins.fn = O.callFar; return true;
    case 0x9b: ins.fn = O.fwait; return false;
    case 0x9c: ins.fn = O.pushf; return false;
    case 0x9d: ins.fn = O.popf; return true;
    case 0x9e: ins.fn = O.sahf; return false;
    case 0x9f: ins.fn = O.lahf; return false;
    case 0xa0: case 0xa1: case 0xa2: case 0xa3:
      if (!(b & 1)) ins.size = 1;
      ins.disp = a32 ? D.dword() : D.word(); ins.ea = eaDisp; ins.mem = true; ins.reg = 0;
      ins.fn = b & 2 ? O.movMR : O.movRM; return false;
    case 0xa4: ins.size = 1; ins.fn = O.stringFast(ins, O.movs); return rep !== 0;
    case 0xa5: ins.fn = O.stringFast(ins, O.movs); return rep !== 0;
    case 0xa6: ins.size = 1; ins.fn = O.cmps; return rep !== 0;
    case 0xa7: ins.fn = O.cmps; return rep !== 0;
    case 0xa8: ins.size = 1; ins.imm = D.byte(); ins.fn = O.testAccImm; return false;
    case 0xa9: ins.imm = D.imm(osz); ins.fn = O.testAccImm; return false;
    case 0xaa: ins.size = 1; ins.fn = O.stringFast(ins, O.stos); return rep !== 0;
    case 0xab: ins.fn = O.stringFast(ins, O.stos); return rep !== 0;
    case 0xac: ins.size = 1; ins.fn = O.stringFast(ins, O.lods); return rep !== 0;
    case 0xad: ins.fn = O.stringFast(ins, O.lods); return rep !== 0;
    case 0xae: ins.size = 1; ins.fn = O.scas; return rep !== 0;
    case 0xaf: ins.fn = O.scas; return rep !== 0;
    case 0xc0: ins.size = 1; decodeModrm(ins); ins.imm = D.byte(); ins.op = ins.reg; ins.fn = O.shiftImm; return false;
    case 0xc1: decodeModrm(ins); ins.imm = D.byte(); ins.op = ins.reg;
      if (osz === 4 && !ins.mem && (ins.imm & 31) !== 0) { ins.imm &= 31; ins.fn = O.SHIFT32_RI[ins.op]!; } else ins.fn = O.shiftImm;
      return false;
    case 0xc2: ins.imm = D.word(); ins.fn = O.retImm; return true;
    case 0xc3: ins.fn = osz === 4 ? O.ret32 : O.ret16; return true;
    case 0xc4: decodeModrm(ins); if (!ins.mem) cpu.ud(); ins.op = Seg.ES; ins.fn = O.loadFarPtr; return true;
    case 0xc5: decodeModrm(ins); if (!ins.mem) cpu.ud(); ins.op = Seg.DS; ins.fn = O.loadFarPtr; return true;
    case 0xc6: ins.size = 1; decodeModrm(ins); ins.imm = D.byte(); ins.fn = ins.mem ? O.movMImm : O.movRImmRm; return false;
    case 0xc7: decodeModrm(ins); ins.imm = D.imm(osz); ins.fn = ins.mem ? (osz === 4 ? O.mov32MImm : O.movMImm) : O.movRImmRm; return false;
    case 0xc8: ins.imm = D.word(); ins.disp = D.byte(); ins.fn = O.enter; return false;
    case 0xc9: ins.fn = O.leave; return false;
    case 0xca: ins.imm = D.word(); ins.fn = O.retFar; return true;
    case 0xcb: ins.imm = 0; ins.fn = O.retFar; return true;
    case 0xcc: ins.imm = 3; ins.fn = O.int3; return true;
    case 0xcd: ins.imm = D.byte(); ins.fn = O.intN; return true;
    case 0xce: ins.fn = O.into; return true;
    case 0xcf: ins.fn = O.iret_; return true;
    case 0xd0: ins.size = 1; decodeModrm(ins); ins.imm = 1; ins.op = ins.reg; ins.fn = O.shiftImm; return false;
    case 0xd1: decodeModrm(ins); ins.imm = 1; ins.op = ins.reg; ins.fn = osz === 4 && !ins.mem ? O.SHIFT32_RI[ins.op]! : O.shiftImm; return false;
    case 0xd2: ins.size = 1; decodeModrm(ins); ins.op = ins.reg; ins.fn = O.shiftCl; return false;
    case 0xd3: decodeModrm(ins); ins.op = ins.reg; ins.fn = O.shiftCl; return false;
    case 0xd4: ins.imm = D.byte(); ins.fn = O.aam; return false;
    case 0xd5: ins.imm = D.byte(); ins.fn = O.aad; return false;
    case 0xd6: ins.fn = O.salc; return false;
    case 0xd7: ins.fn = O.xlat; return false;
    case 0xe0: case 0xe1: case 0xe2: ins.op = b & 3; ins.imm = D.sbyte(); ins.fn = O.loop; return true;
    case 0xe3: ins.imm = D.sbyte(); ins.fn = O.jcxz; return true;
    case 0xe4: ins.size = 1; ins.imm = D.byte(); ins.fn = O.inImm; return false;
    case 0xe5: ins.imm = D.byte(); ins.fn = O.inImm; return false;
    case 0xe6: ins.size = 1; ins.imm = D.byte(); ins.fn = O.outImm; return true;
    case 0xe7: ins.imm = D.byte(); ins.fn = O.outImm; return true;
    case 0xe8: ins.imm = osz === 4 ? D.dword() : D.sword(); ins.fn = O.callRel; return true;
    case 0xe9: ins.imm = osz === 4 ? D.dword() : D.sword(); ins.fn = O.jmpRel; return true;
    case 0xea: ins.imm = D.imm(osz); ins.disp = D.word(); ins.fn = O.jmpFar; return true;
    case 0xeb: ins.imm = D.sbyte(); ins.fn = O.jmpRel; return true;
    case 0xec: ins.size = 1; ins.fn = O.inDx; return false;
    case 0xed: ins.fn = O.inDx; return false;
    case 0xee: ins.size = 1; ins.fn = O.outDx; return true;
    case 0xef: ins.fn = O.outDx; return true;
    case 0xf1: ins.imm = 1; ins.fn = O.int1; return true;
    case 0xf4: ins.fn = S.hlt; return true;
    case 0xf5: ins.fn = O.cmc; return false;
    case 0xf6: case 0xf7: {
      if (b === 0xf6) ins.size = 1;
      decodeModrm(ins); ins.op = ins.reg;
      if (ins.reg < 2) { ins.imm = D.imm(ins.size); ins.fn = O.testRmImm; }
      else ins.fn = O.group3;
      return false;
    }
    case 0xf8: ins.fn = O.clc; return false;
    case 0xf9: ins.fn = O.stc; return false;
    case 0xfa: ins.fn = S.cli; return false;
    case 0xfb: ins.fn = S.sti; return true;
    case 0xfc: ins.fn = O.cld; return false;
    case 0xfd: ins.fn = O.std; return false;
    case 0xfe: ins.size = 1; decodeModrm(ins); if (ins.reg > 1) cpu.ud(); ins.op = ins.reg; ins.fn = O.incDecRm; return false;
    case 0xff: {
      decodeModrm(ins); ins.op = ins.reg;
      switch (ins.reg) {
        case 0: case 1: ins.fn = O.incDecRm; return false;
        case 2: ins.fn = O.callRm; return true;
        case 3: if (!ins.mem) cpu.ud(); ins.fn = O.callFarRm; return true;
        case 4: ins.fn = O.jmpRm; return true;
        case 5: if (!ins.mem) cpu.ud(); ins.fn = O.jmpFarRm; return true;
        case 6: ins.fn = O.pushRm; return false;
        default: cpu.ud();
      }
    }
  }
  cpu.ud();
}

function decode0F(cpu: CPU, ins: Insn, osz: number): boolean {
  const b = D.byte();
  D.opcode = 0x0f00 | b;
  if (b >= 0x80 && b <= 0x8f) { ins.op = b & 15; ins.imm = osz === 4 ? D.dword() : D.sword(); ins.fn = osz === 4 ? O.JCC32[ins.op]! : O.jcc; return true; }
  if (b >= 0x90 && b <= 0x9f) { ins.size = 1; ins.op = b & 15; decodeModrm(ins); ins.fn = ins.mem ? O.setcc : O.SETCC_R[ins.op]!; return false; }
  if (b >= 0x40 && b <= 0x4f) { ins.op = b & 15; decodeModrm(ins); ins.fn = osz === 4 && !ins.mem ? O.CMOVCC32_RR[ins.op]! : O.cmovcc; return false; }
  if (b >= 0xc8 && b <= 0xcf) { ins.reg = b & 7; ins.fn = O.bswap; return false; }
  switch (b) {
    case 0x00: ins.size = 2; decodeModrm(ins); ins.op = ins.reg; if (ins.reg > 5) cpu.ud(); ins.fn = S.group6; return true;
    case 0x01: {
      const save = D.pos;
      const m = D.byte();
      if (m === 0xc1 || m === 0xd9) { ins.fn = S.vmcall; return true; }
      D.pos = save;
      decodeModrm(ins); ins.op = ins.reg;
      if (ins.reg === 5 || (!ins.mem && ins.reg !== 4 && ins.reg !== 6)) cpu.ud();
      ins.fn = S.group7; return true;
    }
    case 0x02: decodeModrm(ins); ins.fn = S.lar; return false;
    case 0x03: decodeModrm(ins); ins.fn = S.lsl; return false;
    case 0x06: ins.fn = S.clts; return true;
    case 0x08: case 0x09: ins.fn = S.wbinvd; return false;
    case 0x0b: ins.fn = O.ud; return true;
    case 0x0d: decodeModrm(ins); if (!ins.mem) cpu.ud(); ins.fn = O.nop; return false;
    case 0x18: case 0x19: case 0x1a: case 0x1b: case 0x1c: case 0x1d: case 0x1e: case 0x1f: decodeModrm(ins); ins.fn = O.nop; return false;
    case 0x20: case 0x21: case 0x22: case 0x23: {
      // MOV to/from control and debug registers: always register operands, mod ignored.
      const m = D.byte();
      ins.reg = (m >> 3) & 7; ins.rm = m & 7; ins.op = b;
      ins.fn = b & 1 ? S.movDr : S.movCr; return true;
    }
    case 0x30: ins.fn = S.wrmsr; return true;
    case 0x31: ins.fn = S.rdtsc; return false;
    case 0x32: ins.fn = S.rdmsr; return false;
    case 0x33: ins.fn = S.rdpmc; return false;
    case 0x34: ins.fn = S.sysenter; return true;
    case 0x35: ins.fn = S.sysexit; return true;
    case 0xa0: ins.reg = Seg.FS; ins.fn = O.pushSeg; return false;
    case 0xa1: ins.reg = Seg.FS; ins.fn = O.popSeg; return true;
    case 0xa2: ins.fn = S.cpuid; return false;
    case 0xa3: decodeModrm(ins); ins.op = 0; ins.fn = O.btReg; return false;
    case 0xa4: decodeModrm(ins); ins.imm = D.byte(); ins.op = 0; ins.fn = O.shldImm; return false;
    case 0xa5: decodeModrm(ins); ins.op = 0; ins.fn = O.shldCl; return false;
    case 0xa8: ins.reg = Seg.GS; ins.fn = O.pushSeg; return false;
    case 0xa9: ins.reg = Seg.GS; ins.fn = O.popSeg; return true;
    case 0xab: decodeModrm(ins); ins.op = 1; ins.fn = O.btReg; return false;
    case 0xac: decodeModrm(ins); ins.imm = D.byte(); ins.op = 1; ins.fn = O.shldImm; return false;
    case 0xad: decodeModrm(ins); ins.op = 1; ins.fn = O.shldCl; return false;
    case 0xae: {
      decodeModrm(ins);
      // LFENCE/MFENCE/SFENCE order nothing here (memory is strongly ordered); Linux issues MFENCE
      // before TSC-deadline writes on Intel parts even where CPUID shows no SSE2.
      if (!ins.mem && ins.reg >= 5) { ins.fn = O.nop; return false; }
      if (!ins.mem || ins.reg > 1) cpu.ud();
      ins.op = ins.reg; ins.fn = O.fxsaveRstor; return ins.reg === 1;
    }
    case 0xaf: decodeModrm(ins); ins.fn = osz === 4 && !ins.mem ? O.imul2_32R : O.imul2; return false;
    case 0xb0: ins.size = 1; decodeModrm(ins); ins.fn = O.cmpxchg; return false;
    case 0xb1: decodeModrm(ins); ins.fn = O.cmpxchg; return false;
    case 0xb2: decodeModrm(ins); if (!ins.mem) cpu.ud(); ins.op = Seg.SS; ins.fn = O.loadFarPtr; return true;
    case 0xb3: decodeModrm(ins); ins.op = 2; ins.fn = O.btReg; return false;
    case 0xb4: decodeModrm(ins); if (!ins.mem) cpu.ud(); ins.op = Seg.FS; ins.fn = O.loadFarPtr; return true;
    case 0xb5: decodeModrm(ins); if (!ins.mem) cpu.ud(); ins.op = Seg.GS; ins.fn = O.loadFarPtr; return true;
    case 0xb6: ins.imm = 1; decodeModrm(ins); ins.fn = osz === 4 ? (ins.mem ? O.movzx8_32M : O.movzx8_32R) : O.movzx; return false;
    case 0xb7: ins.imm = 2; decodeModrm(ins); ins.fn = osz === 4 && ins.mem ? O.movzx16_32M : O.movzx; return false;
    case 0xba: decodeModrm(ins); if (ins.reg < 4) cpu.ud(); ins.op = ins.reg - 4; ins.imm = D.byte(); ins.fn = O.btImm; return false;
    case 0xbb: decodeModrm(ins); ins.op = 3; ins.fn = O.btReg; return false;
    case 0xbc: decodeModrm(ins); ins.fn = O.bsf; return false;
    case 0xbd: decodeModrm(ins); ins.fn = O.bsr; return false;
    case 0xbe: ins.imm = 1; decodeModrm(ins); ins.fn = O.movsx; return false;
    case 0xbf: ins.imm = 2; decodeModrm(ins); ins.fn = O.movsx; return false;
    case 0xc0: ins.size = 1; decodeModrm(ins); ins.fn = O.xadd; return false;
    case 0xc1: decodeModrm(ins); ins.fn = O.xadd; return false;
    case 0xc7:
      decodeModrm(ins);
      if (ins.reg === 1 && ins.mem) { ins.fn = O.cmpxchg8b; return false; }
      if (ins.reg === 6 && !ins.mem) { ins.fn = S.rdrand; return false; }
      cpu.ud();
  }
  cpu.ud();
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

/** One line per implemented opcode form, for test coverage reports. */
export const IMPLEMENTED_ONE_BYTE: readonly number[] = (() => {
  const list: number[] = [];
  for (let b = 0; b < 256; b++) {
    if ([0x0f, 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3].includes(b)) continue;
    list.push(b);
  }
  return list;
})();

export const IMPLEMENTED_TWO_BYTE: readonly number[] = [
  0x00, 0x01, 0x02, 0x03, 0x06, 0x08, 0x09, 0x0b, 0x0d, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
  0x20, 0x21, 0x22, 0x23, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35,
  ...Array.from({ length: 16 }, (_, i) => 0x40 + i), ...Array.from({ length: 16 }, (_, i) => 0x80 + i),
  ...Array.from({ length: 16 }, (_, i) => 0x90 + i),
  0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa8, 0xa9, 0xab, 0xac, 0xad, 0xae, 0xaf,
  0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf, 0xc0, 0xc1, 0xc7,
  ...Array.from({ length: 8 }, (_, i) => 0xc8 + i),
];

