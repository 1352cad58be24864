/** System instructions: privileged state, descriptor tables, MSRs, CPUID, fast system calls. */
import type { CPU } from './cpu.js';
import { Reg, Seg, CR0_TS, CR0_PE, CR0_MP, CR0_EM, CR4_TSD, CR4_PCE, CR4_DE } from './cpu.js';
import type { Handler, Insn } from './decode.js';
import { IF, IOPL, VM, RF, TF, ZF, CF, ARITH } from './flags.js';
import { loadLdt, loadTr, probeDescriptor, descLimit } from './protect.js';

const iopl = (c: CPU) => (c.flags & IOPL) >>> 12;

/** Privileged instructions: #GP(0) unless CPL 0 (real mode counts as CPL 0; V86 never). */
function needCpl0(c: CPU): void {
  if (c.v86 || (c.protectedMode && c.cpl !== 0)) c.gp(0);
}
function needProtected(c: CPU): void {
  if (!c.protectedMode || c.v86) c.ud();
}

/** IOPL check, then the TSS I/O permission bitmap (SDM vol. 1 §19.5). */
export function ioAllowed(c: CPU, port: number, size: number): void {
  if (!c.protectedMode || (!c.v86 && c.cpl <= iopl(c))) return;
  const trAttr = c.segAttr[7]!;
  const limit = c.segLimit[7]!;
  if ((trAttr & 0xf) !== 0xb && (trAttr & 0xf) !== 0x9 || limit < 0x67) c.gp(0);
  const base = c.segBase[7]!;
  const mapBase = c.mem.read(c.translate((base + 0x66) | 0, false, false), 2);
  const at = mapBase + (port >>> 3);
  if (at + 1 > limit) c.gp(0);
  const bits = c.mem.read(c.translate((base + at) | 0, false, false), 1) | (c.mem.read(c.translate((base + at + 1) | 0, false, false), 1) << 8);
  if ((bits >>> (port & 7)) & ((1 << size) - 1)) c.gp(0);
}

export const hlt: Handler = (c) => { needCpl0(c); c.halt(); };

export const cli: Handler = (c) => {
  if (c.protectedMode && (c.v86 ? iopl(c) < 3 : c.cpl > iopl(c))) c.gp(0);
  c.flags &= ~IF;
};
export const sti: Handler = (c) => {
  if (c.protectedMode && (c.v86 ? iopl(c) < 3 : c.cpl > iopl(c))) c.gp(0);
  if (!(c.flags & IF)) {
    c.flags |= IF;
    // The one-instruction interrupt shadow only matters with an interrupt already waiting (one
    // raised later is requested by its source); single-stepping keeps it as it was.
    if (c.wakeable || (c.flags & TF)) { c.setShadow(); c.requestInterruptCheck(); }
  }
};

export const clts: Handler = (c) => { needCpl0(c); c.cr[0] = c.cr[0]! & ~CR0_TS; };
export const wbinvd: Handler = (c) => needCpl0(c);

export const movCr: Handler = (c, i) => {
  needCpl0(c);
  const n = i.reg;
  if (n === 1 || n > 4) c.ud();
  if (i.op === 0x20) c.regs[i.rm] = c.cr[n]!;
  else c.setCr(n, c.regs[i.rm]!);
};

export const movDr: Handler = (c, i) => {
  needCpl0(c);
  let n = i.reg;
  if (n === 4 || n === 5) {
    if (c.cr[4]! & CR4_DE) c.ud();
    n += 2;
  }
  if (i.op === 0x21) {
    let v = c.dr[n]!;
    if (n === 6) v = (v & 0xf00f) | 0xffff0ff0;
    else if (n === 7) v = (v & ~0xd800) | 0x400;
    c.regs[i.rm] = v;
  } else {
    // Breakpoint registers are stored; hardware breakpoints are not implemented yet.
    c.dr[n] = c.regs[i.rm]!;
  }
};

export const group6: Handler = (c, i) => {
  needProtected(c);
  switch (i.op) {
    case 0: storeSel(c, i, c.sel[6]!); return;
    case 1: storeSel(c, i, c.sel[7]!); return;
    case 2: { needCpl0(c); loadLdt(c, readRm16(c, i)); return; }
    case 3: { needCpl0(c); loadTr(c, readRm16(c, i)); return; }
    default: {
      const d = probeDescriptor(c, readRm16(c, i), i.op === 4 ? 'verr' : 'verw');
      setZf(c, d !== null);
    }
  }
};

function readRm16(c: CPU, i: Insn): number {
  return i.mem ? c.rd16(i.seg, i.ea(c, i)) : c.getReg16(i.rm);
}
function storeSel(c: CPU, i: Insn, v: number): void {
  if (i.mem) c.wr16(i.seg, i.ea(c, i), v);
  else if (i.size === 4) c.regs[i.rm] = v; else c.setReg16(i.rm, v);
}
function setZf(c: CPU, on: boolean): void {
  c.materialize();
  if (on) c.flags |= ZF; else c.flags &= ~ZF;
}

export const group7: Handler = (c, i) => {
  switch (i.op) {
    case 0: case 1: {
      const off = i.ea(c, i);
      const limit = i.op === 0 ? c.gdtLimit : c.idtLimit;
      let base = i.op === 0 ? c.gdtBase : c.idtBase;
      if (i.size === 2) base &= 0xffffff;
      c.segCheckW(i.seg, off >>> 0, 6);
      c.wr16(i.seg, off, limit);
      c.wr32(i.seg, (off + 2) | 0, base);
      return;
    }
    case 2: case 3: {
      needCpl0(c);
      const off = i.ea(c, i);
      const limit = c.rd16(i.seg, off);
      let base = c.rd32(i.seg, (off + 2) | 0);
      if (i.size === 2) base &= 0xffffff;
      if (i.op === 2) { c.gdtBase = base; c.gdtLimit = limit; } else { c.idtBase = base; c.idtLimit = limit; }
      return;
    }
    case 4: {
      const v = c.cr[0]!;
      if (i.mem) c.wr16(i.seg, i.ea(c, i), v); else c.setReg(i.size, i.rm, v);
      return;
    }
    case 6: {
      needCpl0(c);
      const v = readRm16(c, i);
      // LMSW loads PE/MP/EM/TS and cannot clear PE.
      const keep = c.cr[0]! & ~(CR0_MP | CR0_EM | CR0_TS);
      c.setCr(0, keep | (v & (CR0_PE | CR0_MP | CR0_EM | CR0_TS)) | (c.cr[0]! & CR0_PE));
      return;
    }
    case 7: {
      needCpl0(c);
      const off = i.ea(c, i);
      c.invlpg((c.segBase[i.seg]! + off) | 0);
      return;
    }
    default: c.ud();
  }
};

export const lar: Handler = (c, i) => {
  needProtected(c);
  const d = probeDescriptor(c, readRm16(c, i), 'lar');
  if (d) c.setReg(i.size, i.reg, d.hi & 0x00ffff00);
  setZf(c, d !== null);
};
export const lsl: Handler = (c, i) => {
  needProtected(c);
  const d = probeDescriptor(c, readRm16(c, i), 'lsl');
  if (d) c.setReg(i.size, i.reg, descLimit(d.lo, d.hi));
  setZf(c, d !== null);
};
export const arpl: Handler = (c, i) => {
  needProtected(c);
  const off = i.mem ? i.ea(c, i) : 0;
  const dst = i.mem ? c.rd16(i.seg, off) : c.getReg16(i.rm);
  const src = c.getReg16(i.reg);
  if ((dst & 3) < (src & 3)) {
    const v = (dst & ~3) | (src & 3);
    if (i.mem) c.wr16(i.seg, off, v); else c.setReg16(i.rm, v);
    setZf(c, true);
  } else setZf(c, false);
};

// ---------------------------------------------------------------- MSRs, TSC, CPUID

export const rdmsr: Handler = (c) => {
  needCpl0(c);
  const v = c.msr.read(c.regs[Reg.ECX]! >>> 0);
  if (v === undefined) return c.gp(0);
  c.regs[Reg.EAX] = Number(v & 0xffffffffn);
  c.regs[Reg.EDX] = Number(v >> 32n);
};
export const wrmsr: Handler = (c) => {
  needCpl0(c);
  const v = (BigInt(c.regs[Reg.EDX]! >>> 0) << 32n) | BigInt(c.regs[Reg.EAX]! >>> 0);
  if (!c.msr.write(c.regs[Reg.ECX]! >>> 0, v)) c.gp(0);
  c.exitBlock = true;
};
export const rdtsc: Handler = (c) => {
  if ((c.cr[4]! & CR4_TSD) && c.protectedMode && c.cpl !== 0) c.gp(0);
  const t = c.readTsc();
  c.regs[Reg.EAX] = t % 0x100000000;
  c.regs[Reg.EDX] = Math.floor(t / 0x100000000);
};
export const rdpmc: Handler = (c) => {
  if (!(c.cr[4]! & CR4_PCE) && c.protectedMode && c.cpl !== 0) c.gp(0);
  // No performance counters are implemented (CPUID advertises none); ECX must name counter 0 or 1.
  if ((c.regs[Reg.ECX]! >>> 0) > 1) c.gp(0);
  c.regs[Reg.EAX] = 0; c.regs[Reg.EDX] = 0;
};

export const cpuid: Handler = (c) => {
  const leaf = c.regs[Reg.EAX]! >>> 0;
  const r = c.cpuid(leaf, c.regs[Reg.ECX]! >>> 0);
  c.regs[Reg.EAX] = r[0]; c.regs[Reg.EBX] = r[1]; c.regs[Reg.ECX] = r[2]; c.regs[Reg.EDX] = r[3];
};

/** RDRAND r16/r32 (0F C7 /6): a random value (cpu/entropy.ts) with CF=1, as it never runs dry; OF, SF, ZF, AF and PF cleared. */
export const rdrand: Handler = (c, i) => {
  c.setReg(i.size, i.rm, c.entropy.next());
  c.materialize();
  c.flags = (c.flags & ~ARITH) | CF;
};

export const sysenter: Handler = (c) => {
  const cs = c.msr.sysenter[0]! & 0xfffc;
  if (!c.protectedMode || cs === 0) c.gp(0);
  c.flags &= ~(VM | IF | RF);
  c.cpl = 0;
  c.setSegCache(Seg.CS, cs, 0, 0xffffffff, 0xc09b);
  c.setSegCache(Seg.SS, cs + 8, 0, 0xffffffff, 0xc093);
  c.regs[Reg.ESP] = c.msr.sysenter[1]!;
  c.eip = c.msr.sysenter[2]!;
  c.updatePrivilege();
};
export const sysexit: Handler = (c) => {
  const cs = c.msr.sysenter[0]! & 0xfffc;
  if (!c.protectedMode || c.v86 || c.cpl !== 0 || cs === 0) c.gp(0);
  c.cpl = 3;
  c.setSegCache(Seg.CS, (cs + 16) | 3, 0, 0xffffffff, 0xc0fb);
  c.setSegCache(Seg.SS, (cs + 24) | 3, 0, 0xffffffff, 0xc0f3);
  c.regs[Reg.ESP] = c.regs[Reg.ECX]!;
  c.eip = c.regs[Reg.EDX]!;
  c.updatePrivilege();
};

export const vmcall: Handler = (c) => {
  if (!c.onHypercall(c)) c.ud();
};

