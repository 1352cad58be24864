/**
 * Protection: descriptors, segment loads with their checks, interrupt and exception delivery
 * through the IVT/IDT, far control transfers (call gates, privilege changes) and the hardware
 * task switch (32-bit TSS).
 */
import type { CPU } from './cpu.js';
import { Reg, Seg, CR0_PG, CR0_TS } from './cpu.js';
import { IF, TF, NT, RF, VM, AC, IOPL, VIF, VIP, ID, ARITH, DF } from './flags.js';

export const enum Vec { DE = 0, DB = 1, NMI = 2, BP = 3, OF = 4, BR = 5, UD = 6, NM = 7, DF = 8, TS = 10, NP = 11, SS = 12, GP = 13, PF = 14, MF = 16, AC = 17, MC = 18 }

const LDTR = 6, TR = 7;

// The last descriptor read (module scratch: no allocation per load).
let dLo = 0, dHi = 0;

const descBase = (lo: number, hi: number) => ((lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000)) | 0;
export const descLimit = (lo: number, hi: number) => {
  const l = (lo & 0xffff) | (hi & 0xf0000);
  return (hi & 0x800000) ? ((l << 12) | 0xfff) >>> 0 : l;
};
const descAttr = (hi: number) => (hi >>> 8) & 0xf0ff;
const dpl = (hi: number) => (hi >>> 13) & 3;
const present = (hi: number) => (hi & 0x8000) !== 0;
const isSystem = (hi: number) => (hi & 0x1000) === 0;
const isCode = (hi: number) => (hi & 0x1800) === 0x1800;
const isConforming = (hi: number) => (hi & 0x1c00) === 0x1c00;
const sysType = (hi: number) => (hi >>> 8) & 0xf;

/** Supervisor-privileged linear accesses for system structures (GDT, IDT, TSS). */
function sysRead32(cpu: CPU, lin: number): number { return cpu.mem.read(cpu.translate(lin | 0, false, false), 4) | 0; }
function sysRead16(cpu: CPU, lin: number): number { return cpu.mem.read(cpu.translate(lin | 0, false, false), 2); }
function sysWrite32(cpu: CPU, lin: number, v: number): void { cpu.mem.write(cpu.translate(lin | 0, true, false), 4, v); }
function sysWrite16(cpu: CPU, lin: number, v: number): void { cpu.mem.write(cpu.translate(lin | 0, true, false), 2, v); }

/** Reads the descriptor for `sel` into dLo/dHi; returns its linear address (unsigned) or -1 if outside the table. */
function fetchDescriptor(cpu: CPU, sel: number): number {
  let base: number, limit: number;
  if (sel & 4) {
    if ((cpu.sel[LDTR]! & 0xfffc) === 0) return -1;
    base = cpu.segBase[LDTR]!; limit = cpu.segLimit[LDTR]!;
  } else { base = cpu.gdtBase; limit = cpu.gdtLimit; }
  if ((sel | 7) > limit) return -1;
  const lin = (base + (sel & ~7)) >>> 0;
  dLo = sysRead32(cpu, lin);
  dHi = sysRead32(cpu, lin + 4);
  return lin;
}

function setAccessed(cpu: CPU, lin: number): void {
  if (!(dHi & 0x100)) { dHi |= 0x100; sysWrite32(cpu, lin + 4, dHi); }
}

function loadCache(cpu: CPU, s: number, sel: number): void {
  cpu.setSegCache(s, sel, descBase(dLo, dHi), descLimit(dLo, dHi), descAttr(dHi));
}

/** MOV/POP to a segment register (not CS), with all protected-mode checks. */
export function loadSeg(cpu: CPU, s: number, sel: number): void {
  if (!cpu.protectedMode || cpu.v86) {
    cpu.loadRealSeg(s, sel);
    if (s === Seg.SS) cpu.setShadow();
    return;
  }
  if ((sel & 0xfffc) === 0) {
    if (s === Seg.SS) cpu.gp(0);
    cpu.setSegCache(s, sel, 0, 0, 0);
    return;
  }
  const lin = fetchDescriptor(cpu, sel);
  if (lin < 0) cpu.gp(sel & 0xfffc);
  const rpl = sel & 3, d = dpl(dHi);
  if (s === Seg.SS) {
    if (rpl !== cpu.cpl || d !== cpu.cpl || isSystem(dHi) || isCode(dHi) || !(dHi & 0x200)) cpu.gp(sel & 0xfffc);
    if (!present(dHi)) cpu.raise(Vec.SS, sel & 0xfffc);
    setAccessed(cpu, lin);
    loadCache(cpu, s, sel);
    cpu.setShadow();
    return;
  }
  if (isSystem(dHi) || (isCode(dHi) && !(dHi & 0x200))) cpu.gp(sel & 0xfffc);
  if (!isConforming(dHi) && (rpl > d || cpu.cpl > d)) cpu.gp(sel & 0xfffc);
  if (!present(dHi)) cpu.raise(Vec.NP, sel & 0xfffc);
  setAccessed(cpu, lin);
  loadCache(cpu, s, sel);
}

function setCpl(cpu: CPU, cpl: number): void {
  if (cpu.cpl !== cpl) { cpu.cpl = cpl; cpu.updatePrivilege(); }
}

/** After a return to an outer ring: data segments the new CPL may not use become null. */
function dropInaccessibleSegs(cpu: CPU): void {
  for (const s of [Seg.ES, Seg.DS, Seg.FS, Seg.GS]) {
    const attr = cpu.segAttr[s]!;
    const code = (attr & 0x18) === 0x18, conforming = code && (attr & 4) !== 0;
    if ((!code || !conforming) && ((attr >>> 5) & 3) < cpu.cpl) cpu.setSegCache(s, 0, 0, 0, 0);
  }
}

// ------------------------------------------------------------------ interrupts

/**
 * Delivers interrupt/exception `vector`. `software` is INT n/INT3/INTO (gate DPL checked, EIP
 * already past the instruction); faults arrive with EIP at the faulting instruction.
 */
export function deliverInterrupt(cpu: CPU, vector: number, software: boolean, hasCode: boolean, code: number): void {
  cpu.halted = false;
  if (!cpu.protectedMode) { realModeInterrupt(cpu, vector); return; }
  const ext = software ? 0 : 1;
  if (cpu.v86 && software && ((cpu.getEflags() & IOPL) >>> 12) < 3) cpu.gp(0);
  if (vector * 8 + 7 > cpu.idtLimit) cpu.gp(vector * 8 + 2 + ext);
  const glin = (cpu.idtBase + vector * 8) | 0;
  const lo = sysRead32(cpu, glin), hi = sysRead32(cpu, glin + 4);
  const type = sysType(hi);
  if (!(type === 5 || type === 6 || type === 7 || type === 0xe || type === 0xf) || !isSystem(hi)) cpu.gp(vector * 8 + 2 + ext);
  if (software && dpl(hi) < cpu.cpl) cpu.gp(vector * 8 + 2);
  if (!present(hi)) cpu.raise(Vec.NP, vector * 8 + 2 + ext);
  if (type === 5) {
    taskSwitch(cpu, (lo >>> 16) & 0xffff, TaskReason.CallOrInt, ext);
    if (hasCode) {
      if (cpu.segAttr[Seg.CS]! & 0x4000) cpu.push32(code); else cpu.push16(code);
    }
    return;
  }
  const gate32 = (type & 8) !== 0;
  const trap = (type & 1) !== 0;
  const sel = (lo >>> 16) & 0xffff;
  const offset = gate32 ? ((hi & 0xffff0000) | (lo & 0xffff)) >>> 0 : lo & 0xffff;
  if ((sel & 0xfffc) === 0) cpu.gp(ext);
  const dlin = fetchDescriptor(cpu, sel);
  if (dlin < 0) cpu.gp((sel & 0xfffc) + ext);
  const cLo = dLo, cHi = dHi;
  const d = dpl(cHi);
  if (!isCode(cHi) || d > cpu.cpl) cpu.gp((sel & 0xfffc) + ext);
  if (!present(cHi)) cpu.raise(Vec.NP, (sel & 0xfffc) + ext);
  const oldFlags = cpu.getEflags();
  const oldCs = cpu.sel[Seg.CS]!, oldEip = cpu.eip, oldSs = cpu.sel[Seg.SS]!, oldEsp = cpu.regs[Reg.ESP]!;
  const fromV86 = (oldFlags & VM) !== 0;
  const size = gate32 ? 4 : 2;
  if (!isConforming(cHi) && d < cpu.cpl) {
    // Inner ring: new stack from the TSS.
    const [ss, esp] = tssStack(cpu, d, ext);
    const sLin = fetchDescriptor(cpu, ss);
    if (sLin < 0) cpu.raise(Vec.TS, (ss & 0xfffc) + ext);
    if ((ss & 3) !== d || dpl(dHi) !== d || isSystem(dHi) || isCode(dHi) || !(dHi & 0x200)) cpu.raise(Vec.TS, (ss & 0xfffc) + ext);
    if (!present(dHi)) cpu.raise(Vec.SS, (ss & 0xfffc) + ext);
    const sBase = descBase(dLo, dHi), sAttr = descAttr(dHi), sLimit = descLimit(dLo, dHi);
    const big = (sAttr & 0x4000) !== 0;
    const n = (fromV86 ? 9 : 5) + (hasCode ? 1 : 0);
    let sp = (esp - n * size) | 0;
    if (!big) sp &= 0xffff;
    stackRangeCheck(cpu, sp >>> 0, n * size, sLimit, sAttr, (ss & 0xfffc) + ext);
    for (let i = 0; i < n * size; i += 4096) cpu.translate((sBase + sp + i) | 0, true, false);
    cpu.translate((sBase + sp + n * size - 1) | 0, true, false);
    // Commit: from here on nothing can fault.
    setAccessed(cpu, sLin);
    cpu.flags = oldFlags & ~(TF | NT | RF | VM | (trap ? 0 : IF)); cpu.lazyMask = 0;
    setCpl(cpu, d);
    cpu.setSegCache(Seg.SS, (ss & ~3) | d, sBase, sLimit, sAttr);
    if (big) cpu.regs[Reg.ESP] = esp; else cpu.r16[Reg.ESP << 1] = esp;
    if (fromV86) {
      cpu.push(size, cpu.sel[Seg.GS]!); cpu.push(size, cpu.sel[Seg.FS]!);
      cpu.push(size, cpu.sel[Seg.DS]!); cpu.push(size, cpu.sel[Seg.ES]!);
      for (const s of [Seg.ES, Seg.DS, Seg.FS, Seg.GS]) cpu.setSegCache(s, 0, 0, 0, 0);
    }
    cpu.push(size, oldSs); cpu.push(size, oldEsp);
  } else {
    if (fromV86) cpu.gp((sel & 0xfffc) + ext);
    const n = hasCode ? 4 : 3;
    const sp = cpu.stack32 ? (oldEsp - n * size) >>> 0 : (oldEsp - n * size) & 0xffff;
    cpu.segCheckW(Seg.SS, sp, n * size);
    cpu.flags = oldFlags & ~(TF | NT | RF | VM | (trap ? 0 : IF)); cpu.lazyMask = 0;
  }
  try {
    cpu.push(size, oldFlags);
    cpu.push(size, oldCs);
    cpu.push(size, oldEip);
    if (hasCode) cpu.push(size, code);
  } catch (e) {
    // A same-privilege push that faults must leave the old context intact.
    cpu.flags = oldFlags; cpu.regs[Reg.ESP] = oldEsp;
    throw e;
  }
  setAccessed(cpu, dlin);
  dLo = cLo; dHi = cHi;
  const newCpl = isConforming(cHi) ? cpu.cpl : d;
  setCpl(cpu, newCpl);
  cpu.setSegCache(Seg.CS, (sel & ~3) | newCpl, descBase(cLo, cHi), descLimit(cLo, cHi), descAttr(cHi));
  cpu.eip = (gate32 ? offset : offset & 0xffff) | 0;
  cpu.exitBlock = true;
  cpu.requestInterruptCheck();
}

function stackRangeCheck(cpu: CPU, sp: number, len: number, limit: number, attr: number, errCode: number): void {
  const expandDown = (attr & 0x1c) === 0x14;
  const top = expandDown ? ((attr & 0x4000) ? 0xffffffff : 0xffff) : limit;
  const bottom = expandDown ? limit + 1 : 0;
  if (sp < bottom || sp + len - 1 > top) cpu.raise(Vec.SS, errCode);
}

function realModeInterrupt(cpu: CPU, vector: number): void {
  if (vector * 4 + 3 > cpu.idtLimit) cpu.gp(0);
  const ent = cpu.mem.read((cpu.idtBase + vector * 4) >>> 0, 4);
  const f = cpu.getEflags();
  cpu.push16(f);
  cpu.push16(cpu.sel[Seg.CS]!);
  cpu.push16(cpu.eip);
  cpu.flags = f & ~(IF | TF | AC | RF); cpu.lazyMask = 0;
  cpu.loadRealSeg(Seg.CS, ent >>> 16);
  cpu.eip = (ent & 0xffff) | 0;
  cpu.exitBlock = true;
}

/** SS:ESP for ring `ring` from the current 32-bit TSS. */
function tssStack(cpu: CPU, ring: number, ext: number): [number, number] {
  const tss32 = (cpu.segAttr[TR]! & 8) !== 0;
  const off = tss32 ? 4 + ring * 8 : 2 + ring * 4;
  const len = tss32 ? 8 : 4;
  if (off + len - 1 > cpu.segLimit[TR]!) cpu.raise(Vec.TS, (cpu.sel[TR]! & 0xfffc) + ext);
  const base = cpu.segBase[TR]!;
  if (tss32) return [sysRead16(cpu, base + off + 4), sysRead32(cpu, base + off)];
  return [sysRead16(cpu, base + off + 2), sysRead16(cpu, base + off)];
}

// ------------------------------------------------------------------ far transfers

export const enum Far { Jmp, Call }

/** Far JMP/CALL to sel:offset in protected mode (code segment, call gate, TSS or task gate). */
export function farTransfer(cpu: CPU, kind: Far, sel: number, offset: number, size: number): void {
  if (!cpu.protectedMode || cpu.v86) {
    if (kind === Far.Call) {
      const sp = cpu.stack32 ? (cpu.regs[Reg.ESP]! - 2 * size) >>> 0 : (cpu.regs[Reg.ESP]! - 2 * size) & 0xffff;
      cpu.segCheckW(Seg.SS, sp, 2 * size);
      cpu.push(size, cpu.sel[Seg.CS]!); cpu.push(size, cpu.eip);
    }
    cpu.loadRealSeg(Seg.CS, sel);
    cpu.eip = (size === 4 ? offset >>> 0 : offset & 0xffff) | 0;
    cpu.exitBlock = true;
    return;
  }
  if ((sel & 0xfffc) === 0) cpu.gp(0);
  const lin = fetchDescriptor(cpu, sel);
  if (lin < 0) cpu.gp(sel & 0xfffc);
  const hi = dHi, lo = dLo;
  const d = dpl(hi), rpl = sel & 3;
  if (!isSystem(hi)) {
    if (!isCode(hi)) cpu.gp(sel & 0xfffc);
    if (isConforming(hi) ? d > cpu.cpl : (rpl > cpu.cpl || d !== cpu.cpl)) cpu.gp(sel & 0xfffc);
    if (!present(hi)) cpu.raise(Vec.NP, sel & 0xfffc);
    const limit = descLimit(lo, hi);
    if ((offset >>> 0) > limit) cpu.gp(0);
    if (kind === Far.Call) {
      const sp = cpu.stack32 ? (cpu.regs[Reg.ESP]! - 2 * size) >>> 0 : (cpu.regs[Reg.ESP]! - 2 * size) & 0xffff;
      cpu.segCheckW(Seg.SS, sp, 2 * size);
      cpu.probeWrite((cpu.segBase[Seg.SS]! + sp) | 0, 2 * size);
      cpu.push(size, cpu.sel[Seg.CS]!); cpu.push(size, cpu.eip);
    }
    setAccessed(cpu, lin);
    cpu.setSegCache(Seg.CS, (sel & ~3) | cpu.cpl, descBase(lo, hi), limit, descAttr(hi));
    cpu.eip = (offset >>> 0) | 0;
    cpu.exitBlock = true;
    return;
  }
  const type = sysType(hi);
  if (type === 1 || type === 9) {
    if (d < cpu.cpl || d < rpl) cpu.gp(sel & 0xfffc);
    taskSwitch(cpu, sel, kind === Far.Call ? TaskReason.CallOrInt : TaskReason.Jmp, 0);
    return;
  }
  if (type === 5) {
    if (d < cpu.cpl || d < rpl) cpu.gp(sel & 0xfffc);
    if (!present(hi)) cpu.raise(Vec.NP, sel & 0xfffc);
    taskSwitch(cpu, (lo >>> 16) & 0xffff, kind === Far.Call ? TaskReason.CallOrInt : TaskReason.Jmp, 0);
    return;
  }
  if (type !== 4 && type !== 0xc) cpu.gp(sel & 0xfffc);
  // Call gate.
  if (d < cpu.cpl || d < rpl) cpu.gp(sel & 0xfffc);
  if (!present(hi)) cpu.raise(Vec.NP, sel & 0xfffc);
  const gate32 = type === 0xc;
  const gsize = gate32 ? 4 : 2;
  const tsel = (lo >>> 16) & 0xffff;
  const toff = gate32 ? ((hi & 0xffff0000) | (lo & 0xffff)) >>> 0 : lo & 0xffff;
  const params = hi & 0x1f;
  if ((tsel & 0xfffc) === 0) cpu.gp(0);
  const clin = fetchDescriptor(cpu, tsel);
  if (clin < 0) cpu.gp(tsel & 0xfffc);
  const cLo = dLo, cHi = dHi;
  const cd = dpl(cHi);
  if (!isCode(cHi) || cd > cpu.cpl) cpu.gp(tsel & 0xfffc);
  if (kind === Far.Jmp && !isConforming(cHi) && cd !== cpu.cpl) cpu.gp(tsel & 0xfffc);
  if (!present(cHi)) cpu.raise(Vec.NP, tsel & 0xfffc);
  const cLimit = descLimit(cLo, cHi);
  if (toff > cLimit) cpu.gp(0);
  const oldCs = cpu.sel[Seg.CS]!, oldEip = cpu.eip;
  if (kind === Far.Call && !isConforming(cHi) && cd < cpu.cpl) {
    const [ss, esp] = tssStack(cpu, cd, 0);
    const sLin = fetchDescriptor(cpu, ss);
    if (sLin < 0) cpu.raise(Vec.TS, ss & 0xfffc);
    if ((ss & 3) !== cd || dpl(dHi) !== cd || isSystem(dHi) || isCode(dHi) || !(dHi & 0x200)) cpu.raise(Vec.TS, ss & 0xfffc);
    if (!present(dHi)) cpu.raise(Vec.SS, ss & 0xfffc);
    const sBase = descBase(dLo, dHi), sAttr = descAttr(dHi), sLimit = descLimit(dLo, dHi);
    // Copy parameters from the old stack before switching.
    const oldSs = cpu.sel[Seg.SS]!, oldEsp = cpu.regs[Reg.ESP]!;
    const args: number[] = [];
    for (let i = params - 1; i >= 0; i--) args.push(cpu.peek(gsize, i * gsize));
    const total = (4 + params) * gsize;
    const big = (sAttr & 0x4000) !== 0;
    const sp = big ? (esp - total) >>> 0 : (esp - total) & 0xffff;
    if (sp + total - 1 > sLimit) cpu.raise(Vec.SS, ss & 0xfffc);
    cpu.translate((sBase + sp) | 0, true, cd === 3);
    cpu.translate((sBase + sp + total - 1) | 0, true, cd === 3);
    setAccessed(cpu, sLin);
    setCpl(cpu, cd);
    cpu.setSegCache(Seg.SS, (ss & ~3) | cd, sBase, sLimit, sAttr);
    if (big) cpu.regs[Reg.ESP] = esp; else cpu.r16[Reg.ESP << 1] = esp;
    cpu.push(gsize, oldSs); cpu.push(gsize, oldEsp);
    for (const a of args) cpu.push(gsize, a);
    cpu.push(gsize, oldCs); cpu.push(gsize, oldEip);
    cpu.setSegCache(Seg.CS, (tsel & ~3) | cd, descBase(cLo, cHi), cLimit, descAttr(cHi));
  } else {
    if (kind === Far.Call) {
      const sp = cpu.stack32 ? (cpu.regs[Reg.ESP]! - 2 * gsize) >>> 0 : (cpu.regs[Reg.ESP]! - 2 * gsize) & 0xffff;
      cpu.segCheckW(Seg.SS, sp, 2 * gsize);
      cpu.probeWrite((cpu.segBase[Seg.SS]! + sp) | 0, 2 * gsize);
      cpu.push(gsize, oldCs); cpu.push(gsize, oldEip);
    }
    cpu.setSegCache(Seg.CS, (tsel & ~3) | cpu.cpl, descBase(cLo, cHi), cLimit, descAttr(cHi));
  }
  cpu.eip = (toff) | 0;
  cpu.exitBlock = true;
}

/** RETF/IRET target code segment checks; leaves its descriptor in dLo/dHi. */
function checkReturnCs(cpu: CPU, sel: number): void {
  const rpl = sel & 3;
  if ((sel & 0xfffc) === 0) cpu.gp(0);
  if (fetchDescriptor(cpu, sel) < 0) cpu.gp(sel & 0xfffc);
  if (!isCode(dHi) || rpl < cpu.cpl) cpu.gp(sel & 0xfffc);
  if (isConforming(dHi) ? dpl(dHi) > rpl : dpl(dHi) !== rpl) cpu.gp(sel & 0xfffc);
  if (!present(dHi)) cpu.raise(Vec.NP, sel & 0xfffc);
}

/** The outer stack of a return to ring `rpl`; leaves its descriptor in dLo/dHi, returns its address. */
function checkReturnSs(cpu: CPU, ss: number, rpl: number): number {
  if ((ss & 0xfffc) === 0) cpu.gp(0);
  const lin = fetchDescriptor(cpu, ss);
  if (lin < 0) cpu.gp(ss & 0xfffc);
  if ((ss & 3) !== rpl || dpl(dHi) !== rpl || isSystem(dHi) || isCode(dHi) || !(dHi & 0x200)) cpu.gp(ss & 0xfffc);
  if (!present(dHi)) cpu.raise(Vec.SS, ss & 0xfffc);
  return lin;
}

/** RETF [imm]: same ring or to an outer ring. */
export function farReturn(cpu: CPU, size: number, imm: number): void {
  if (!cpu.protectedMode || cpu.v86) {
    const ip = cpu.peek(size, 0), cs = cpu.peek(size, size) & 0xffff;
    cpu.adjustSp(2 * size + imm);
    cpu.loadRealSeg(Seg.CS, cs);
    cpu.eip = (ip) | 0;
    cpu.exitBlock = true;
    return;
  }
  const eip = cpu.peek(size, 0) >>> 0;
  const sel = cpu.peek(size, size) & 0xffff;
  const rpl = sel & 3;
  checkReturnCs(cpu, sel);
  const cLo = dLo, cHi = dHi;
  const limit = descLimit(cLo, cHi);
  if (rpl === cpu.cpl) {
    if (eip > limit) cpu.gp(0);
    cpu.adjustSp(2 * size + imm);
    cpu.setSegCache(Seg.CS, sel, descBase(cLo, cHi), limit, descAttr(cHi));
    cpu.eip = (eip) | 0;
    cpu.exitBlock = true;
    return;
  }
  const esp = cpu.peek(size, 2 * size + imm);
  const ss = cpu.peek(size, 3 * size + imm) & 0xffff;
  const sLin = checkReturnSs(cpu, ss, rpl);
  if (eip > limit) cpu.gp(0);
  setAccessed(cpu, sLin);
  const sBase = descBase(dLo, dHi), sLimit = descLimit(dLo, dHi), sAttr = descAttr(dHi);
  setCpl(cpu, rpl);
  cpu.setSegCache(Seg.CS, sel, descBase(cLo, cHi), limit, descAttr(cHi));
  cpu.setSegCache(Seg.SS, ss, sBase, sLimit, sAttr);
  if (cpu.stack32) cpu.regs[Reg.ESP] = (esp + imm) | 0; else cpu.r16[Reg.ESP << 1] = esp + imm;
  cpu.eip = (eip) | 0;
  dropInaccessibleSegs(cpu);
  cpu.exitBlock = true;
}

/** IRET/IRETD in every mode. */
export function iret(cpu: CPU, size: number): void {
  const cur = cpu.getEflags();
  if (!cpu.protectedMode || cpu.v86) {
    if (cpu.v86 && ((cur & IOPL) >>> 12) < 3) cpu.gp(0);
    const ip = cpu.peek(size, 0), cs = cpu.peek(size, size) & 0xffff, fl = cpu.peek(size, 2 * size);
    cpu.adjustSp(3 * size);
    cpu.loadRealSeg(Seg.CS, cs);
    cpu.eip = (size === 4 ? ip >>> 0 : ip & 0xffff) | 0;
    const keep = cpu.v86 ? (IOPL | VM | VIF | VIP) : VM | VIF | VIP;
    const mask = size === 4 ? 0x3f7fd5 : 0xffff;
    cpu.setEflags(((fl & mask & ~keep) | (cur & (keep | (size === 4 ? 0 : 0xffff0000)))));
    cpu.nmiBlocked = false;
    cpu.exitBlock = true;
    return;
  }
  cpu.nmiBlocked = false;
  if (cur & NT) {
    const back = sysRead16(cpu, cpu.segBase[TR]!);
    taskSwitch(cpu, back, TaskReason.Iret, 0);
    return;
  }
  const eip = cpu.peek(size, 0) >>> 0;
  const sel = cpu.peek(size, size) & 0xffff;
  const fl = size === 4 ? cpu.peek(4, 8) : (cur & 0xffff0000) | cpu.peek(2, 4);
  if ((fl & VM) && cpu.cpl === 0 && size === 4) { iretToV86(cpu, eip, sel, fl); return; }
  const rpl = sel & 3;
  checkReturnCs(cpu, sel);
  const cLo = dLo, cHi = dHi;
  const limit = descLimit(cLo, cHi);
  const oldCpl = cpu.cpl;
  let ss = 0, esp = 0, sBase = 0, sLimit = 0, sAttr = 0;
  if (rpl > oldCpl) {
    esp = cpu.peek(size, 3 * size);
    ss = cpu.peek(size, 4 * size) & 0xffff;
    setAccessed(cpu, checkReturnSs(cpu, ss, rpl));
    sBase = descBase(dLo, dHi); sLimit = descLimit(dLo, dHi); sAttr = descAttr(dHi);
  }
  if (eip > limit) cpu.gp(0);
  // EFLAGS: IOPL only at CPL 0, IF only when CPL <= IOPL; VM/VIP/VIF untouched here.
  let mask = ARITH | TF | DF | NT | RF | AC | ID;
  if (oldCpl === 0) mask |= IOPL | VIF | VIP;
  if (oldCpl <= ((cur & IOPL) >>> 12)) mask |= IF;
  if (size === 2) mask &= 0xffff;
  cpu.setEflags((cur & ~mask) | (fl & mask));
  cpu.setSegCache(Seg.CS, sel, descBase(cLo, cHi), limit, descAttr(cHi));
  cpu.eip = (size === 4 ? eip : eip & 0xffff) | 0;
  if (rpl > oldCpl) {
    setCpl(cpu, rpl);
    cpu.setSegCache(Seg.SS, ss, sBase, sLimit, sAttr);
    if (cpu.stack32) cpu.regs[Reg.ESP] = esp; else cpu.r16[Reg.ESP << 1] = esp;
    dropInaccessibleSegs(cpu);
  } else {
    cpu.adjustSp(3 * size);
  }
  cpu.exitBlock = true;
  cpu.requestInterruptCheck();
}

function iretToV86(cpu: CPU, eip: number, cs: number, fl: number): void {
  const vals: number[] = [];
  for (let i = 3; i < 9; i++) vals.push(cpu.peek(4, i * 4));
  const [esp, ss, es, ds, fs, gs] = vals as [number, number, number, number, number, number];
  cpu.setEflags(fl);
  cpu.cpl = 3;
  for (const [s, v] of [[Seg.CS, cs], [Seg.SS, ss], [Seg.ES, es], [Seg.DS, ds], [Seg.FS, fs], [Seg.GS, gs]] as const) {
    cpu.setSegCache(s, v & 0xffff, (v & 0xffff) << 4, 0xffff, 0xf3);
  }
  cpu.code32 = false; cpu.stack32 = false;
  cpu.regs[Reg.ESP] = esp;
  cpu.eip = (eip & 0xffff) | 0;
  cpu.updatePrivilege();
  cpu.exitBlock = true;
}

// ------------------------------------------------------------------ tasks

export const enum TaskReason { Jmp, CallOrInt, Iret }

/** Hardware task switch to the TSS named by `sel` (SDM vol. 3 §7.3). 16-bit TSSs are refused with #TS. */
export function taskSwitch(cpu: CPU, sel: number, reason: TaskReason, ext: number): void {
  if (sel & 4) cpu.raise(Vec.TS, (sel & 0xfffc) + ext);
  const lin = fetchDescriptor(cpu, sel);
  if (lin < 0) cpu.raise(Vec.TS, (sel & 0xfffc) + ext);
  const nLo = dLo, nHi = dHi;
  const type = sysType(nHi);
  const busy = (type & 2) !== 0;
  if (!isSystem(nHi) || (type !== 9 && type !== 0xb)) cpu.gp((sel & 0xfffc) + ext);
  if (reason === TaskReason.Iret ? !busy : busy) cpu.gp((sel & 0xfffc) + ext);
  if (!present(nHi)) cpu.raise(Vec.NP, (sel & 0xfffc) + ext);
  const nBase = descBase(nLo, nHi), nLimit = descLimit(nLo, nHi);
  if (nLimit < 0x67) cpu.raise(Vec.TS, (sel & 0xfffc) + ext);

  // Save the outgoing state into the current TSS.
  const oBase = cpu.segBase[TR]!;
  let flags = cpu.getEflags();
  if (reason === TaskReason.Iret) flags &= ~NT;
  sysWrite32(cpu, oBase + 0x20, cpu.eip);
  sysWrite32(cpu, oBase + 0x24, flags);
  for (let r = 0; r < 8; r++) sysWrite32(cpu, oBase + 0x28 + r * 4, cpu.regs[r]!);
  for (let s = 0; s < 6; s++) sysWrite16(cpu, oBase + 0x48 + s * 4, cpu.sel[s]!);
  if (reason !== TaskReason.CallOrInt) {
    // The old task is no longer busy.
    const oLin = fetchDescriptor(cpu, cpu.sel[TR]!);
    if (oLin >= 0) sysWrite32(cpu, oLin + 4, dHi & ~0x200);
  }

  // Read the incoming state.
  const nEip = sysRead32(cpu, nBase + 0x20);
  let nFlags = sysRead32(cpu, nBase + 0x24);
  const nRegs: number[] = [];
  for (let r = 0; r < 8; r++) nRegs.push(sysRead32(cpu, nBase + 0x28 + r * 4));
  const nSel: number[] = [];
  for (let s = 0; s < 6; s++) nSel.push(sysRead16(cpu, nBase + 0x48 + s * 4));
  const nLdt = sysRead16(cpu, nBase + 0x60);
  const nCr3 = sysRead32(cpu, nBase + 0x1c);
  if (reason === TaskReason.CallOrInt) {
    sysWrite16(cpu, nBase, cpu.sel[TR]!);
    nFlags |= NT;
  }
  if (reason !== TaskReason.Iret) sysWrite32(cpu, lin + 4, nHi | 0x200);

  cpu.setSegCache(TR, sel, nBase, nLimit, descAttr(nHi | 0x200));
  if (cpu.cr[0]! & CR0_PG) cpu.setCr(3, nCr3);
  cpu.setCr(0, cpu.cr[0]! | CR0_TS);
  cpu.setEflags(nFlags);
  cpu.eip = (nEip) | 0;
  for (let r = 0; r < 8; r++) cpu.regs[r] = nRegs[r]!;

  // Segment loads in the new context fault as #TS.
  if ((nLdt & 0xfffc) === 0) cpu.setSegCache(LDTR, nLdt, 0, 0, 0);
  else {
    const l = fetchDescriptor(cpu, nLdt);
    if (l < 0 || (nLdt & 4) || sysType(dHi) !== 2 || !isSystem(dHi)) cpu.raise(Vec.TS, (nLdt & 0xfffc) + ext);
    loadCache(cpu, LDTR, nLdt);
  }
  if (nFlags & VM) {
    cpu.cpl = 3;
    for (let s = 0; s < 6; s++) cpu.setSegCache(s, nSel[s]!, nSel[s]! << 4, 0xffff, 0xf3);
    cpu.code32 = false; cpu.stack32 = false;
  } else {
    const cs = nSel[Seg.CS]!;
    const newCpl = cs & 3;
    cpu.cpl = newCpl;
    cpu.updatePrivilege();
    const c = fetchDescriptor(cpu, cs);
    if (c < 0 || !isCode(dHi) || (cs & 0xfffc) === 0) cpu.raise(Vec.TS, (cs & 0xfffc) + ext);
    if (!present(dHi)) cpu.raise(Vec.NP, (cs & 0xfffc) + ext);
    loadCache(cpu, Seg.CS, cs);
    for (const s of [Seg.SS, Seg.DS, Seg.ES, Seg.FS, Seg.GS]) {
      const v = nSel[s]!;
      try { loadSeg(cpu, s, v); } catch (e) {
        if (cpu.faultVector === Vec.GP || cpu.faultVector === Vec.SS && s === Seg.SS) cpu.raise(Vec.TS, (v & 0xfffc) + ext);
        throw e;
      }
    }
  }
  cpu.updatePrivilege();
  cpu.exitBlock = true;
  cpu.requestInterruptCheck();
}

/** Loads a segment register from its descriptor without privilege checks (boot loaders, resets). */
export function loadSegUnchecked(cpu: CPU, s: number, sel: number): void {
  if (fetchDescriptor(cpu, sel) < 0 || !present(dHi)) throw new Error(`boot selector 0x${sel.toString(16)} has no present descriptor`);
  loadCache(cpu, s, sel);
}

// ------------------------------------------------------------------ system instructions support

/** LLDT. */
export function loadLdt(cpu: CPU, sel: number): void {
  if ((sel & 0xfffc) === 0) { cpu.setSegCache(LDTR, sel, 0, 0, 0); return; }
  if (sel & 4) cpu.gp(sel & 0xfffc);
  const lin = fetchDescriptor(cpu, sel);
  if (lin < 0 || !isSystem(dHi) || sysType(dHi) !== 2) cpu.gp(sel & 0xfffc);
  if (!present(dHi)) cpu.raise(Vec.NP, sel & 0xfffc);
  loadCache(cpu, LDTR, sel);
}

/** LTR: marks the TSS busy. */
export function loadTr(cpu: CPU, sel: number): void {
  if ((sel & 0xfffc) === 0 || (sel & 4)) cpu.gp(sel & 0xfffc);
  const lin = fetchDescriptor(cpu, sel);
  const t = sysType(dHi);
  if (lin < 0 || !isSystem(dHi) || (t !== 1 && t !== 9)) cpu.gp(sel & 0xfffc);
  if (!present(dHi)) cpu.raise(Vec.NP, sel & 0xfffc);
  dHi |= 0x200;
  sysWrite32(cpu, lin + 4, dHi);
  loadCache(cpu, TR, sel);
}

/** LAR/LSL/VERR/VERW: returns the descriptor's high dword if visible at CPL/RPL, else null. */
export function probeDescriptor(cpu: CPU, sel: number, op: 'lar' | 'lsl' | 'verr' | 'verw'): { lo: number; hi: number } | null {
  if ((sel & 0xfffc) === 0) return null;
  if (fetchDescriptor(cpu, sel) < 0) return null;
  const hi = dHi, lo = dLo;
  const d = dpl(hi), rpl = sel & 3;
  if (isSystem(hi)) {
    if (op === 'verr' || op === 'verw') return null;
    const t = sysType(hi);
    const ok = op === 'lar' ? [1, 2, 3, 4, 5, 9, 0xb, 0xc].includes(t) : [1, 2, 3, 9, 0xb].includes(t);
    if (!ok) return null;
  } else {
    if (op === 'verr' && isCode(hi) && !(hi & 0x200)) return null;
    if (op === 'verw' && (isCode(hi) || !(hi & 0x200))) return null;
    if (isConforming(hi) && op !== 'verw') return { lo, hi };
  }
  if (d < cpu.cpl || d < rpl) return null;
  return { lo, hi };
}

