// Runs NativeCases through the X87 model with an in-memory host laid out like the native helper's
// (same operand and instruction addresses), and compares the results with the real CPU's.
import { X87, X87Host } from '../../../cpu/fpu/x87.js';
import type { NativeBatch, NativeCase, NativeResult } from './native.js';

class MF extends Error {}

const MEM_SIZE = 0x1000;
const STATE_OFF = 0x800; // the FRSTOR/FNSAVE image used to load and read the model's state

export class ModelHost implements X87Host {
  readonly mem = new Uint8Array(MEM_SIZE);
  base = 0;
  flags = 2;
  ferr = 0;
  ne = true;
  private off(lin: number, len: number): number {
    const o = (lin - this.base) >>> 0;
    if (o + len > MEM_SIZE) throw new Error(`model access outside test memory: ${lin.toString(16)}`);
    return o;
  }
  read8(lin: number): number { return this.mem[this.off(lin, 1)]; }
  read16(lin: number): number { const o = this.off(lin, 2); return this.mem[o] | (this.mem[o + 1] << 8); }
  read32(lin: number): number { const o = this.off(lin, 4); return (this.mem[o] | (this.mem[o + 1] << 8) | (this.mem[o + 2] << 16) | (this.mem[o + 3] << 24)) >>> 0; }
  write8(lin: number, v: number): void { this.mem[this.off(lin, 1)] = v; }
  write16(lin: number, v: number): void { const o = this.off(lin, 2); this.mem[o] = v; this.mem[o + 1] = v >>> 8; }
  write32(lin: number, v: number): void { const o = this.off(lin, 4); this.mem[o] = v; this.mem[o + 1] = v >>> 8; this.mem[o + 2] = v >>> 16; this.mem[o + 3] = v >>> 24; }
  probeWrite(lin: number, len: number): void { this.off(lin, len); }
  /** FXSAVE/FXRSTOR copy their area at once (`direct`) or go byte by byte through the calls above. */
  direct = true;
  get ram(): Uint8Array { return this.mem; }
  ramSpan(lin: number, len: number, _write: boolean): number {
    const o = (lin - this.base) >>> 0;
    return this.direct && o + len <= MEM_SIZE ? o : -1;
  }
  raiseMF(): never { throw new MF('#MF'); }
  signalFerr(): void { this.ferr++; }
  cr0NE(): boolean { return this.ne; }
  eflags(): number { return this.flags; }
  setFcomiFlags(zpc: number): void { this.flags = (this.flags & ~0x8d5) | zpc; }
}

export interface ModelResult extends NativeResult {}

/** Decode the few prefixes the tests use and run one case through the model */
export function runModel(fpu: X87, host: ModelHost, c: NativeCase, batch: NativeBatch): ModelResult {
  const memOff = 0x400;
  host.base = (batch.memAddr - memOff) >>> 0;
  const stateLin = (host.base + STATE_OFF) >>> 0;
  host.mem.fill(0);
  host.mem.set(c.mem, memOff);
  host.mem.set(c.state, STATE_OFF);
  fpu.execute(0xdb, 0xe3, 0, true, false, 0, 0, 0, 0); // FNINIT: the previous case may have left #MF pending
  fpu.execute(0xdd, 0x20, stateLin, true, false, 0, 0, 0, 0); // FRSTOR
  host.flags = c.eflags;
  let eax = c.eax, fault = 0;
  let i = 0, o32 = true;
  if (c.code[0] === 0x66) { o32 = false; i++; }
  try {
    const b0 = c.code[i];
    if (b0 === 0x9b) fpu.fwait();
    else if (b0 === 0x0f) { // 0F AE /0 FXSAVE, /1 FXRSTOR
      if (((c.code[i + 2] >>> 3) & 7) === 0) fpu.fxsave(batch.memAddr);
      else if (!fpu.fxrstor(batch.memAddr)) fault = 3;
    } else {
      fpu.execute(b0, c.code[i + 1], batch.memAddr, o32, false, batch.insnAddr, batch.cs, batch.memAddr, batch.ds);
      if (b0 === 0xdf && c.code[i + 1] === 0xe0) eax = ((eax & 0xffff0000) | fpu.getStatusWord()) >>> 0;
    }
  } catch (e) {
    if (!(e instanceof MF)) throw e;
    fault = 1;
  }
  if (fault) return { fault, state: new Uint8Array(108), eflags: 0, eax: 0, mem: c.mem };
  const fl = host.flags;
  fpu.execute(0xdd, 0x30, stateLin, true, false, 0, 0, 0, 0); // FNSAVE
  return {
    fault, state: host.mem.slice(STATE_OFF, STATE_OFF + 108), eflags: fl, eax,
    mem: host.mem.slice(memOff, memOff + c.mem.length),
  };
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Describe an FNSAVE image compactly: env words and ST(0..7) */
export function describeState(s: Uint8Array): string {
  const v = new DataView(s.buffer, s.byteOffset, 108);
  const h = (x: number, n: number): string => x.toString(16).padStart(n, '0');
  let o = `cw=${h(v.getUint16(0, true), 4)} sw=${h(v.getUint16(4, true), 4)} tw=${h(v.getUint16(8, true), 4)}`;
  o += ` fip=${h(v.getUint32(12, true), 8)} fop|cs=${h(v.getUint32(16, true), 8)} fdp=${h(v.getUint32(20, true), 8)} fds=${h(v.getUint32(24, true), 8)}`;
  for (let i = 0; i < 8; i++) o += ` st${i}=${h(v.getUint16(36 + i * 10, true), 4)}:${h(v.getUint32(32 + i * 10, true), 8)}${h(v.getUint32(28 + i * 10, true), 8)}`;
  return o;
}

/** A one-line reproducer of a case */
export function describeCase(c: NativeCase): string {
  return `code=${hex(Uint8Array.from(c.code))} eflags=${c.eflags.toString(16)} eax=${c.eax.toString(16)} mem=${hex(c.mem)} state=${hex(c.state)}`;
}

/**
 * Transcendentals: registers may differ by a few units in the last place (then PE may differ too),
 * and C1 is not compared: its round-up indication reflects the CPU's internal approximation.
 */
export interface Tolerance { ulps: number }

/** Compare; returns a description of the differences or '' */
export function compare(c: NativeCase, n: NativeResult, m: ModelResult, tol?: Tolerance): string {
  if (n.fault !== m.fault) return `fault native=${n.fault} model=${m.fault}`;
  if (n.fault) return '';
  const diffs: string[] = [];
  // user mode cannot change IF and the like: compare the arithmetic flags
  if ((n.eflags & 0x8d5) !== (m.eflags & 0x8d5)) diffs.push(`eflags native=${n.eflags.toString(16)} model=${m.eflags.toString(16)}`);
  if (n.eax !== m.eax) diffs.push(`eax native=${n.eax.toString(16)} model=${m.eax.toString(16)}`);
  let nm = n.mem;
  if (c.code[0] === 0x0f && c.code[2] === 0x06) nm = fxsaveView(n.mem, m.mem);
  if (hex(nm) !== hex(m.mem)) diffs.push(`mem native=${hex(n.mem)} model=${hex(m.mem)}`);
  let a = n.state, b = m.state;
  if (tol) { a = a.slice(); b = b.slice(); relax(a, b, tol.ulps); }
  if (hex(a) !== hex(b)) diffs.push(`\n  native ${describeState(n.state)}\n  model  ${describeState(m.state)}`);
  return diffs.join('; ');
}

/**
 * FXSAVE differences that are this CPU's and not the model's: AMD stores FOP/FIP/FDP only while an
 * exception is pending (ES=1) and supports more MXCSR bits; the XMM area holds the host's registers.
 */
function fxsaveView(native: Uint8Array, model: Uint8Array): Uint8Array {
  const n = native.slice();
  if (!(n[2] & 0x80)) n.set(model.subarray(6, 24), 6);
  n.set(model.subarray(28, 32), 28);
  n.set(model.subarray(160), 160);
  return n;
}

/** For results allowed to differ by a few ulps: equalize close registers and the C1/PE bits in both images */
function relax(a: Uint8Array, b: Uint8Array, ulps: number): void {
  const va = new DataView(a.buffer), vb = new DataView(b.buffer);
  let differed = false;
  for (let i = 0; i < 8; i++) {
    const o = 28 + i * 10;
    const ea = va.getUint16(o + 8, true), eb = vb.getUint16(o + 8, true);
    const ma = va.getBigUint64(o, true), mb = vb.getBigUint64(o, true);
    if (ea === eb && ma === mb) continue;
    const ka = (BigInt(ea & 0x7fff) << 64n) + ma, kb = (BigInt(eb & 0x7fff) << 64n) + mb;
    // adjacent binades: the key (exponent, significand) is monotonic except across the integer bit
    const d = ka > kb ? ka - kb : kb - ka;
    const adj = ea !== eb ? d - (1n << 63n) : d;
    if ((ea & 0x8000) === (eb & 0x8000) && (adj <= BigInt(ulps) || d <= BigInt(ulps))) {
      b.set(a.subarray(o, o + 10), o);
      differed = true;
    }
  }
  const swa = va.getUint16(4, true), swb = vb.getUint16(4, true);
  const free = differed ? 0x220 : 0x200; // C1, and PE when the last bits differ
  vb.setUint16(4, (swb & ~free) | (swa & free), true);
}
