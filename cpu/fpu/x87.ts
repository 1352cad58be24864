/**
 * The x87 FPU: register stack, control/status/tag words, exceptions and every x87 instruction,
 * with 80-bit arithmetic from f80.ts. The CPU decodes the escape byte and ModRM, computes the
 * operand's linear address, handles #NM (CR0.EM/TS) and #UD (see x87Valid) and calls execute().
 *
 * Memory protocol: all operand reads happen before any state changes and every multi-byte store is
 * preceded by probeWrite(), so a faulting instruction can be restarted.
 */
import {
  F80, IE, DE, ZE, OE, UE, PE, SF, RC_DOWN, RC_UP, RC_ZERO,
  C_ZERO, C_NORMAL, C_DENORMAL, C_INF, C_QNAN, C_SNAN, C_UNSUPPORTED, SINGLE, DOUBLE,
} from './f80.js';
import { Transcendental } from './transcendental.js';

export interface X87Host {
  read8(lin: number): number; read16(lin: number): number; read32(lin: number): number;
  write8(lin: number, v: number): void; write16(lin: number, v: number): void; write32(lin: number, v: number): void;
  /** throws the CPU fault now if any byte of [lin, lin+len) is not writable, so a store is all-or-nothing */
  probeWrite(lin: number, len: number): void;
  /**
   * Offset in `ram` of `lin` when [lin, lin + len) is plain RAM open to this access within one
   * page (faulting as the access would; for a write, with any decoded code there dropped), else -1:
   * FXSAVE and FXRSTOR then copy their area at once.
   */
  ramSpan(lin: number, len: number, write: boolean): number;
  readonly ram: Uint8Array;
  /** raise #MF (called when CR0.NE=1 and an unmasked exception is pending at a waiting FPU instruction); throws */
  raiseMF(): never;
  /** CR0.NE=0: the legacy FERR# -> IRQ13 path */
  signalFerr(): void;
  cr0NE(): boolean;
  /** current EFLAGS, read by FCMOVcc (only CF, ZF, PF matter) */
  eflags(): number;
  /** FCOMI/FUCOMI(P): set ZF, PF, CF to the bits given (mask 0x45 of EFLAGS) and clear OF, SF, AF */
  setFcomiFlags(zpc: number): void;
}

// status word bits
const C0 = 0x100, C1 = 0x200, C2 = 0x400, C3 = 0x4000, ES = 0x80, B = 0x8000;
const CC = C0 | C1 | C2 | C3;
/** internal exception bit: the stack fault was an overflow (C1=1) */
const PUSH_OVERFLOW = 0x100;
// EFLAGS bits for FCOMI / FCMOV
const CF = 0x01, PF = 0x04, ZF = 0x40;

// scratch slots in the F80 register file (0..7 are the physical registers)
const SRC = 8, RES = 9, RES2 = 10, TMP = 11;

// comparison outcomes
const GT = 0, LT = 1, EQ = 2, UN = 3;
const CMP_SW = [0, C0, C3, C3 | C2 | C0];
const CMP_EFLAGS = [0, CF, ZF, ZF | PF | CF];

// arithmetic kinds
const ADD = 0, SUB = 1, MUL = 2, DIV = 3;

/**
 * Whether esc/modrm encodes an x87 instruction this FPU implements (else the CPU raises #UD).
 * The undocumented register-form aliases of the 387 and later (FSTP1, FCOM2, FCOMP3, FXCH4, FCOMP5,
 * FXCH7, FSTP8, FSTP9, FFREEP, FNENI/FNDISI/FSETPM) are included; FISTTP (SSE3) is not.
 */
export function x87Valid(esc: number, modrm: number): boolean {
  const reg = (modrm >>> 3) & 7;
  if (modrm < 0xc0) {
    switch (esc) {
      case 0xd9: return reg !== 1;
      case 0xdb: return reg !== 1 && reg !== 4 && reg !== 6;
      case 0xdd: return reg !== 1 && reg !== 5;
      case 0xdf: return reg !== 1;
      default: return true;
    }
  }
  switch (esc) {
    case 0xd9:
      if (modrm >= 0xd1 && modrm <= 0xd7) return false;
      return !(modrm === 0xe2 || modrm === 0xe3 || modrm === 0xe6 || modrm === 0xe7 || modrm === 0xef);
    case 0xda: return modrm < 0xe0 || modrm === 0xe9;
    case 0xdb: return modrm < 0xe0 || (modrm >= 0xe8 && modrm < 0xf8) || modrm <= 0xe4;
    case 0xdd: return modrm < 0xf0;
    case 0xde: return reg !== 3 || modrm === 0xd9;
    case 0xdf: return modrm < 0xe0 || modrm === 0xe0 || (modrm >= 0xe8 && modrm < 0xf8);
    default: return true;
  }
}

export class X87 {
  readonly f = new F80();
  private readonly tr: Transcendental;
  /** control word, status word without TOP, TOP, and a bit per physical register that is not empty */
  cw = 0x37f;
  sw = 0;
  top = 0;
  valid = 0;
  /** last instruction and data pointers, opcode (11 bits) */
  fip = 0; fcs = 0; fdp = 0; fds = 0; fop = 0;

  constructor(private readonly host: X87Host) {
    this.tr = new Transcendental(this.f);
    this.reset();
  }

  /** Power-on state (SDM table 9-1): FCW 0040H, FSW 0, FTW 5555H (every register +0.0); FNINIT follows in software */
  reset(): void {
    this.init();
    this.setCW(0x40);
    this.valid = 0xff;
    this.f.se.fill(0); this.f.hi.fill(0); this.f.lo.fill(0);
  }

  private init(): void {
    this.setCW(0x37f);
    this.sw = 0; this.top = 0; this.valid = 0;
    this.fip = 0; this.fcs = 0; this.fdp = 0; this.fds = 0; this.fop = 0;
  }

  // ---- state accessors --------------------------------------------------------------------

  getStatusWord(): number { return this.sw | (this.top << 11); }
  getControlWord(): number { return this.cw; }
  /** full tag word (2 bits per physical register: 0 valid, 1 zero, 2 special, 3 empty) */
  getTagWord(): number {
    let tw = 0;
    for (let p = 0; p < 8; p++) {
      let t = 3;
      if (this.valid & (1 << p)) {
        const c = this.f.classify(p);
        t = c === C_ZERO ? 1 : c === C_NORMAL ? 0 : 2;
      }
      tw |= t << (2 * p);
    }
    return tw;
  }
  /** physical register p (0..7) as raw 80 bits */
  regLo(p: number): number { return this.f.lo[p]; }
  regHi(p: number): number { return this.f.hi[p]; }
  regExp(p: number): number { return this.f.se[p]; }
  /** ST(i) -> physical register */
  phys(i: number): number { return (this.top + i) & 7; }

  private setCW(v: number): void {
    this.cw = v & 0x1f7f | 0x40;
    const f = this.f;
    f.rc = (v >>> 10) & 3;
    const pc = (v >>> 8) & 3;
    f.prec = pc === 0 ? 24 : pc === 2 ? 53 : 64;
    f.oeMasked = (v & OE) !== 0;
    f.ueMasked = (v & UE) !== 0;
    f.deMasked = (v & DE) !== 0;
    this.updateES();
  }
  private updateES(): void {
    if (this.sw & ~this.cw & 0x3f) this.sw |= ES | B;
    else this.sw &= ~(ES | B);
  }

  // ---- exceptions -------------------------------------------------------------------------

  /** A waiting instruction found an unmasked exception pending */
  private checkPending(): void {
    if (this.sw & ES) {
      if (this.host.cr0NE()) this.host.raiseMF();
      this.host.signalFerr();
    }
  }

  fwait(): void { this.checkPending(); }

  /** true when the current exceptions leave the destination unchanged (unmasked IE, DE or ZE) */
  private aborted(): boolean { return (this.f.exc & ~this.cw & (IE | DE | ZE)) !== 0; }

  /** Record the current operation's exceptions; C1 is the round-up indication unless given */
  private raise(c1 = this.f.up && (this.f.exc & PE) !== 0): void {
    const exc = this.f.exc;
    if (exc & SF) c1 = (exc & PUSH_OVERFLOW) !== 0;
    let sw = (this.sw & ~C1) | (exc & 0x7f) | (c1 ? C1 : 0);
    if (exc & ~this.cw & 0x3f) sw |= ES | B;
    this.sw = sw;
  }

  // ---- stack helpers ----------------------------------------------------------------------

  private isEmpty(p: number): boolean { return (this.valid & (1 << p)) === 0; }
  private push(): number { this.top = (this.top - 1) & 7; const p = this.top; this.valid |= 1 << p; return p; }
  private pop(): void { this.valid &= ~(1 << this.top); this.top = (this.top + 1) & 7; }

  /** stack underflow: IE+SF, C1=0; a masked response delivers the indefinite */
  private underflow(): void { this.f.exc |= IE | SF; this.f.setIndefinite(RES); }
  /** stack overflow (pushing onto a non-empty ST7): IE+SF, C1=1 */
  private overflowed(): boolean {
    if (this.isEmpty((this.top - 1) & 7)) return false;
    this.f.exc |= IE | SF | PUSH_OVERFLOW;
    return true;
  }

  /** Push slot s (or the indefinite on a masked stack overflow); nothing on an unmasked abort */
  private pushResult(s: number): void {
    // a stack overflow replaces the value and any exception its conversion raised
    if (this.overflowed()) { this.f.exc &= ~DE; this.f.setIndefinite(s); }
    // an unmasked DE does not stop a load (this CPU's behaviour)
    if ((this.f.exc & ~this.cw & (IE | ZE)) === 0) this.f.copy(this.push(), s);
    this.raise();
  }

  /** FLD m32/m64: an SNaN is quieted (IE) */
  private pushReal(): void {
    const f = this.f;
    if (f.classify(SRC) === C_SNAN) { f.exc |= IE; f.hi[SRC] |= 0x40000000; }
    if (this.srcDenormal) f.exc |= DE;
    this.pushResult(SRC);
  }

  /** Write slot s to physical register p unless aborted, record exceptions, pop if asked */
  private commit(p: number, s: number, pop: boolean): void {
    const aborted = this.aborted();
    if (!aborted) {
      this.f.copy(p, s);
      this.valid |= 1 << p;
      if (pop) this.pop();
    }
    this.raise();
  }

  // ---- operand conversions ----------------------------------------------------------------

  /** the m32/m64 operand in SRC was a denormal (it is normal in the register format) */
  private srcDenormal = false;
  /** operand class, with a denormal memory operand counted as denormal */
  private cls(s: number): number {
    const c = this.f.classify(s);
    return s === SRC && this.srcDenormal ? C_DENORMAL : c;
  }

  private fromSingle(d: number, v: number): void {
    const f = this.f, sign = v >>> 31, e = (v >>> 23) & 0xff, m = v & 0x7fffff;
    if (e === 0xff) {
      if (m === 0) { f.setInf(d, sign); return; }
      f.set(d, (sign << 15) | 0x7fff, 0x80000000 | (m << 8), 0);
    } else if (e === 0) {
      if (m === 0) { f.setZero(d, sign); return; }
      this.srcDenormal = true;
      f.packInt(d, sign, 0, m, -149);
    } else f.set(d, (sign << 15) | (e - 127 + 16383), 0x80000000 | (m << 8), 0);
  }

  private fromDouble(d: number, hi: number, lo: number): void {
    const f = this.f, sign = hi >>> 31, e = (hi >>> 20) & 0x7ff, mh = hi & 0xfffff;
    const h = (mh << 11) | (lo >>> 21), l = lo << 11;
    if (e === 0x7ff) {
      if ((mh | lo) === 0) { f.setInf(d, sign); return; }
      f.set(d, (sign << 15) | 0x7fff, 0x80000000 | h, l);
    } else if (e === 0) {
      if ((mh | lo) === 0) { f.setZero(d, sign); return; }
      this.srcDenormal = true;
      f.packInt(d, sign, mh, lo, -1074);
    } else f.set(d, (sign << 15) | (e - 1023 + 16383), 0x80000000 | h, l);
  }

  private fromInt64(d: number, hi: number, lo: number): void {
    const sign = hi >>> 31;
    if (sign) { lo = (~lo + 1) | 0; hi = (~hi + (lo === 0 ? 1 : 0)) | 0; }
    this.f.packInt(d, sign, hi, lo, 0);
  }

  private fromInt32(d: number, v: number): void {
    v |= 0;
    this.f.packInt(d, v < 0 ? 1 : 0, 0, Math.abs(v), 0);
  }

  /**
   * Convert slot s to m32 (bits in outLo) or m64 (outHi:outLo); an empty source is the caller's.
   * Raises IE (SNaN, unsupported), DE, OE, UE, PE.
   */
  private outHi = 0; private outLo = 0;
  private toReal(s: number, dbl: boolean): void {
    const f = this.f, sign = f.sign(s), c = f.classify(s);
    let h = f.hi[s], l = f.lo[s];
    switch (c) {
      case C_ZERO: this.packReal(dbl, sign, 0, 0, 0); return;
      case C_INF: this.packReal(dbl, sign, dbl ? 0x7ff : 0xff, 0, 0); return;
      case C_SNAN: f.exc |= IE; // fall through: quieted
      case C_QNAN: this.packReal(dbl, sign, dbl ? 0x7ff : 0xff, h | 0x40000000, l | 0); return;
      case C_UNSUPPORTED: f.exc |= IE; this.packReal(dbl, 1, dbl ? 0x7ff : 0xff, 0xc0000000 | 0, 0); return;
      // an extended denormal source raises no DE here (this CPU's behaviour)
    }
    f.unpackA(s);
    f.round(sign, f.aE, f.aH | 0, f.aL | 0, 0, dbl ? 53 : 24, dbl ? DOUBLE : SINGLE, false);
    this.packReal(dbl, sign, f.rE, f.rH | 0, f.rL | 0);
  }
  private packReal(dbl: boolean, sign: number, e: number, h: number, l: number): void {
    if (dbl) {
      this.outHi = ((sign << 31) | (e << 20) | ((h >>> 11) & 0xfffff)) >>> 0;
      this.outLo = ((h << 21) | (l >>> 11)) >>> 0;
    } else this.outLo = ((sign << 31) | (e << 23) | ((h >>> 8) & 0x7fffff)) >>> 0;
  }

  /** Round finite nonzero slot s to an integer magnitude in outHi:outLo, sign in outSign; false if >= 2^64 */
  private outSign = 0;
  private roundInt(s: number): boolean {
    const f = this.f;
    f.unpackA(s);
    this.outSign = f.aS;
    const ok = f.roundToInt(f.aS, f.aE, f.aH | 0, f.aL | 0);
    this.outHi = f.rH; this.outLo = f.rL;
    return ok;
  }

  // ---- arithmetic ---------------------------------------------------------------------------

  /** Propagate NaN operands of a two-operand operation into slot d (IE on an SNaN) */
  private propagateNaN(d: number, a: number, b: number): void {
    const f = this.f, ca = f.classify(a), cb = f.classify(b);
    if (ca === C_SNAN || cb === C_SNAN) f.exc |= IE;
    let r = a;
    const aNaN = ca === C_QNAN || ca === C_SNAN, bNaN = cb === C_QNAN || cb === C_SNAN;
    if (aNaN && bNaN) {
      if (ca !== cb) r = ca === C_QNAN ? a : b;
      else {
        const ah = f.hi[a] & 0x3fffffff, bh = f.hi[b] & 0x3fffffff, al = f.lo[a], bl = f.lo[b];
        if (ah !== bh || al !== bl) r = ah > bh || (ah === bh && al > bl) ? a : b;
        else r = f.sign(a) <= f.sign(b) ? a : b;
      }
    } else if (bNaN) r = b;
    f.set(d, f.se[r], f.hi[r] | 0x40000000, f.lo[r] | 0);
  }

  /** d = a op b with the x87 special-case rules */
  private binop(kind: number, d: number, a: number, b: number): void {
    const f = this.f, ca = this.cls(a), cb = this.cls(b);
    if (ca === C_NORMAL && cb === C_NORMAL) return this.binopFinite(kind, d, a, b);
    if (ca === C_UNSUPPORTED || cb === C_UNSUPPORTED) { f.exc |= IE; f.setIndefinite(d); return; }
    if (ca >= C_QNAN || cb >= C_QNAN) { this.propagateNaN(d, a, b); return; }
    // x/0 is a zero divide even when x is a denormal
    if (kind === DIV && cb === C_ZERO && (ca === C_NORMAL || ca === C_DENORMAL)) { f.exc |= ZE; f.setInf(d, f.sign(a) ^ f.sign(b)); return; }
    if (ca === C_DENORMAL || cb === C_DENORMAL) {
      f.exc |= DE;
      if (this.aborted()) return;
    }
    const sa = f.sign(a), sb = f.sign(b) ^ (kind === SUB ? 1 : 0);
    const za = ca === C_ZERO, zb = cb === C_ZERO, ia = ca === C_INF, ib = cb === C_INF;
    switch (kind) {
      case ADD: case SUB:
        if (ia || ib) {
          if (ia && ib && sa !== sb) { f.exc |= IE; f.setIndefinite(d); }
          else f.setInf(d, ia ? sa : sb);
          return;
        }
        if (za && zb) { f.setZero(d, sa === sb ? sa : f.rc === RC_DOWN ? 1 : 0); return; }
        break;
      case MUL:
        if (ia || ib) {
          if (za || zb) { f.exc |= IE; f.setIndefinite(d); } else f.setInf(d, sa ^ sb);
          return;
        }
        if (za || zb) { f.setZero(d, sa ^ sb); return; }
        break;
      case DIV:
        if (ia) {
          if (ib) { f.exc |= IE; f.setIndefinite(d); } else f.setInf(d, sa ^ sb);
          return;
        }
        if (ib) { f.setZero(d, sa ^ sb); return; }
        if (zb) { f.exc |= IE; f.setIndefinite(d); return; } // 0/0
        if (za) { f.setZero(d, sa ^ sb); return; }
        break;
    }
    this.binopFinite(kind, d, a, b);
  }

  /** a op b for finite operands, at least one nonzero (x + 0 still rounds to the precision control) */
  private binopFinite(kind: number, d: number, a: number, b: number): void {
    const f = this.f;
    if (kind <= SUB && (f.classify(a) === C_ZERO || f.classify(b) === C_ZERO)) {
      const s = f.classify(a) === C_ZERO ? b : a;
      f.unpackA(s);
      f.roundToSlot(d, s === b ? f.aS ^ (kind === SUB ? 1 : 0) : f.aS, f.aE, f.aH | 0, f.aL | 0, 0);
      return;
    }
    f.unpackA(a); f.unpackB(b);
    switch (kind) {
      case ADD: f.addUnpacked(d); break;
      case SUB: f.bS ^= 1; f.addUnpacked(d); break;
      case MUL: f.mulUnpacked(d); break;
      default: f.divUnpacked(d); break;
    }
  }

  /**
   * FADD/FMUL/FSUB/FSUBR/FDIV/FDIVR: op is the ModRM reg field; x is ST(0), y the other operand;
   * /4 computes x-y, /5 y-x, /6 x/y, /7 y/x; the result goes to physical register p.
   */
  private arith(op: number, p: number, x: number, y: number, pop: boolean): void {
    if ((x < 8 && this.isEmpty(x)) || (y < 8 && this.isEmpty(y))) this.underflow();
    else if (!this.aborted()) switch (op) {
      case 0: this.binop(ADD, RES, x, y); break;
      case 1: this.binop(MUL, RES, x, y); break;
      case 4: this.binop(SUB, RES, x, y); break;
      case 5: this.binop(SUB, RES, y, x); break;
      case 6: this.binop(DIV, RES, x, y); break;
      default: this.binop(DIV, RES, y, x); break;
    }
    this.commit(p, RES, pop);
  }

  /** Compare a with b: GT/LT/EQ/UN, raising IE (NaN for FCOM, SNaN for FUCOM, unsupported) and DE */
  private compare(a: number, b: number, quiet: boolean): number {
    const f = this.f, ca = this.cls(a), cb = this.cls(b);
    if (ca === C_UNSUPPORTED || cb === C_UNSUPPORTED) { f.exc |= IE; return UN; }
    if (ca >= C_QNAN || cb >= C_QNAN) {
      if (!quiet || ca === C_SNAN || cb === C_SNAN) f.exc |= IE;
      return UN;
    }
    if (ca === C_DENORMAL || cb === C_DENORMAL) f.exc |= DE;
    const sa = f.sign(a), sb = f.sign(b);
    if (ca === C_ZERO && cb === C_ZERO) return EQ;
    if (ca === C_ZERO) return sb ? GT : LT;
    if (cb === C_ZERO) return sa ? LT : GT;
    if (sa !== sb) return sa ? LT : GT;
    let mag: number; // -1, 0, 1 for |a| vs |b|
    if (ca === C_INF || cb === C_INF) mag = ca === cb ? 0 : ca === C_INF ? 1 : -1;
    else {
      f.unpackA(a); f.unpackB(b);
      mag = f.aE !== f.bE ? (f.aE > f.bE ? 1 : -1)
        : f.aH !== f.bH ? (f.aH > f.bH ? 1 : -1)
        : f.aL !== f.bL ? (f.aL > f.bL ? 1 : -1) : 0;
    }
    if (mag === 0) return EQ;
    return (mag > 0) !== (sa !== 0) ? GT : LT;
  }

  /** FCOM/FUCOM family: compare ST(0) with slot b, set C3/C2/C0 (C1=0), pop n times */
  private fcom(b: number, quiet: boolean, pops: number): void {
    const f = this.f, a = this.phys(0);
    let r = UN;
    if (this.isEmpty(a) || (b < 8 && this.isEmpty(b))) f.exc |= IE | SF;
    else r = this.compare(a, b, quiet);
    // the condition codes are set even when an unmasked exception stops the pop (as this CPU does)
    this.sw = (this.sw & ~CC) | CMP_SW[r];
    if (!this.aborted()) while (pops-- > 0) this.pop();
    this.raise(false);
  }

  /** FCOMI/FUCOMI(P): compare ST(0) with ST(i) into ZF/PF/CF; C1 changes only on a stack fault */
  private fcomi(i: number, quiet: boolean, pop: boolean): void {
    const f = this.f, a = this.phys(0), b = this.phys(i);
    let r = UN;
    if (this.isEmpty(a) || this.isEmpty(b)) f.exc |= IE | SF;
    else r = this.compare(a, b, quiet);
    this.host.setFcomiFlags(CMP_EFLAGS[r]); // set even when an unmasked exception stops the pop
    if (pop && !this.aborted()) this.pop();
    if (f.exc & SF) this.raise(false);
    else this.raise((this.sw & C1) !== 0);
  }

  // ---- instruction execution ----------------------------------------------------------------

  /**
   * Execute one x87 instruction (see x87Valid for the encodings). esc = 0xD8..0xDF, modrm = the
   * ModRM byte, lin = linear address of the memory operand (mod != 3), o32 = 32-bit operand size,
   * realMode = real/V86 layout for FSTENV/FLDENV/FSAVE/FRSTOR, fip/fcs = instruction offset and CS,
   * fdp/fds = operand offset and segment selector.
   * DF E0 (FNSTSW AX) changes nothing here: the CPU writes getStatusWord() to AX.
   */
  execute(esc: number, modrm: number, lin: number, o32: boolean, realMode: boolean, fip: number, fcs: number, fdp: number, fds: number): void {
    const reg = (modrm >>> 3) & 7;
    if (modrm < 0xc0) {
      // control instructions with memory operands: no pointer update
      const op = ((esc & 7) << 3) | reg;
      switch (op) {
        case 0x0c: this.checkPending(); this.fldenv(lin, o32, realMode); return;      // D9 /4 FLDENV
        case 0x0d: this.checkPending(); this.setCW(this.host.read16(lin)); return;   // D9 /5 FLDCW
        case 0x0e: this.fstenv(lin, o32, realMode); this.setCW(this.cw | 0x3f); return; // D9 /6 FNSTENV
        case 0x0f: this.host.write16(lin, this.cw); return;                          // D9 /7 FNSTCW
        case 0x2c: this.checkPending(); this.frstor(lin, o32, realMode); return;     // DD /4 FRSTOR
        case 0x2e: this.fsave(lin, o32, realMode); return;                           // DD /6 FNSAVE
        case 0x2f: this.host.write16(lin, this.getStatusWord()); return;             // DD /7 FNSTSW
      }
      this.checkPending();
      this.execMem(esc, reg, lin);
      this.fop = ((esc & 7) << 8) | modrm;
      this.fip = fip; this.fcs = fcs; this.fdp = fdp; this.fds = fds;
      return;
    }
    // register forms
    switch (esc << 8 | modrm) {
      case 0xdbe2: this.sw &= ~(0xff | B); return;            // FNCLEX
      case 0xdbe3: this.init(); return;                       // FNINIT
      case 0xdfe0: return;                                    // FNSTSW AX
      case 0xdbe0: case 0xdbe1: case 0xdbe4: return;          // FNENI, FNDISI, FSETPM: no-ops since the 387
    }
    this.checkPending();
    this.execReg(esc, modrm);
    this.fop = ((esc & 7) << 8) | modrm;
    this.fip = fip; this.fcs = fcs; this.fdp = 0; this.fds = 0;
  }

  private execMem(esc: number, reg: number, lin: number): void {
    const f = this.f, h = this.host;
    f.exc = 0; f.up = false; this.srcDenormal = false;
    switch (esc) {
      case 0xd8: this.fromSingle(SRC, h.read32(lin)); return this.arithMem(reg);
      case 0xdc: { const lo = h.read32(lin), hi = h.read32(lin + 4); this.fromDouble(SRC, hi, lo); return this.arithMem(reg); }
      case 0xda: this.fromInt32(SRC, h.read32(lin)); return this.arithMem(reg);
      case 0xde: this.fromInt32(SRC, (h.read16(lin) << 16) >> 16); return this.arithMem(reg);
      case 0xd9:
        switch (reg) {
          case 0: this.fromSingle(SRC, h.read32(lin)); return this.pushReal();  // FLD m32
          case 2: return this.storeReal(lin, false, false);
          default: return this.storeReal(lin, false, true);
        }
      case 0xdd:
        switch (reg) {
          case 0: { const lo = h.read32(lin), hi = h.read32(lin + 4); this.fromDouble(SRC, hi, lo); return this.pushReal(); }
          case 2: return this.storeReal(lin, true, false);
          default: return this.storeReal(lin, true, true);
        }
      case 0xdb:
        switch (reg) {
          case 0: this.fromInt32(SRC, h.read32(lin)); return this.pushResult(SRC);   // FILD m32
          case 2: return this.storeInt(lin, 4, false);
          case 3: return this.storeInt(lin, 4, true);
          case 5: { // FLD m80
            const lo = h.read32(lin), hi = h.read32(lin + 4), se = h.read16(lin + 8);
            f.set(SRC, se, hi, lo);
            return this.pushResult(SRC);
          }
          default: return this.storeExtended(lin);                                  // FSTP m80
        }
      default: // 0xdf
        switch (reg) {
          case 0: this.fromInt32(SRC, (h.read16(lin) << 16) >> 16); return this.pushResult(SRC);
          case 2: return this.storeInt(lin, 2, false);
          case 3: return this.storeInt(lin, 2, true);
          case 4: return this.fbld(lin);
          case 5: { const lo = h.read32(lin), hi = h.read32(lin + 4); this.fromInt64(SRC, hi, lo); return this.pushResult(SRC); }
          case 6: return this.fbstp(lin);
          default: return this.storeInt(lin, 8, true);
        }
    }
  }

  /** D8/DA/DC/DE memory forms: the operand is in SRC (srcDenormal tells a denormal m32/m64) */
  private arithMem(reg: number): void {
    const p = this.phys(0);
    if (reg === 2 || reg === 3) this.fcom(SRC, false, reg - 2);
    else this.arith(reg, p, p, SRC, false);
  }

  private execReg(esc: number, modrm: number): void {
    const f = this.f, reg = (modrm >>> 3) & 7, i = modrm & 7;
    const p0 = this.phys(0), pi = this.phys(i);
    f.exc = 0; f.up = false;
    switch (esc) {
      case 0xd8:
        if (reg === 2 || reg === 3) return this.fcom(pi, false, reg - 2);
        return this.arith(reg, p0, p0, pi, false);
      case 0xdc:
        if (reg === 2 || reg === 3) return this.fcom(pi, false, reg - 2);      // FCOM2, FCOMP3
        return this.arith(reg, pi, p0, pi, false);
      case 0xde:
        if (reg === 2) return this.fcom(pi, false, 1);                         // FCOMP5
        if (reg === 3) return this.fcom(this.phys(1), false, 2);               // FCOMPP
        return this.arith(reg, pi, p0, pi, true);
      case 0xd9: return this.execD9(modrm, reg, i);
      case 0xda:
        if (modrm === 0xe9) return this.fcom(this.phys(1), true, 2);           // FUCOMPP
        return this.fcmov(reg, i, false);
      case 0xdb:
        if (reg < 4) return this.fcmov(reg, i, true);
        return this.fcomi(i, reg === 5, false);                                // FUCOMI, FCOMI
      case 0xdd:
        switch (reg) {
          case 0: this.valid &= ~(1 << pi); this.sw &= ~C1; return;            // FFREE
          case 1: return this.fxch(i);                                         // FXCH4
          case 2: return this.fstReg(i, false);
          case 3: return this.fstReg(i, true);
          case 4: return this.fcom(pi, true, 0);                               // FUCOM
          default: return this.fcom(pi, true, 1);                              // FUCOMP
        }
      default: // 0xdf
        switch (reg) {
          case 0: this.valid &= ~(1 << pi); this.pop(); this.sw &= ~C1; return; // FFREEP
          case 1: return this.fxch(i);                                         // FXCH7
          case 2: case 3: return this.fstReg(i, true);                         // FSTP8, FSTP9
          default: return this.fcomi(i, reg === 5, true);                      // FUCOMIP, FCOMIP
        }
    }
  }

  private execD9(modrm: number, reg: number, i: number): void {
    const f = this.f;
    switch (reg) {
      case 0: // FLD ST(i): an empty source is reported (C1=0) ahead of a stack overflow
        if (this.isEmpty(this.phys(i))) {
          this.underflow();
          if (!this.aborted()) f.copy(this.push(), RES);
          return this.raise();
        }
        f.copy(RES, this.phys(i));
        return this.pushResult(RES);
      case 1: return this.fxch(i);
      case 2: return; // FNOP
      case 3: // FSTP1: like FSTP ST(i), except that an empty ST(0) is just popped (this CPU's behaviour)
        if (this.isEmpty(this.phys(0))) { this.pop(); this.sw &= ~C1; return; }
        return this.fstReg(i, true);
    }
    switch (modrm) {
      case 0xe0: case 0xe1: return this.unaryST0(modrm);
      case 0xe4: return this.fcomZero();
      case 0xe5: return this.fxam();
      case 0xe8: case 0xe9: case 0xea: case 0xeb: case 0xec: case 0xed: case 0xee:
        this.loadConstant(RES, modrm - 0xe8);
        return this.pushResult(RES);
      case 0xf6: this.top = (this.top - 1) & 7; this.sw &= ~C1; return;  // FDECSTP
      case 0xf7: this.top = (this.top + 1) & 7; this.sw &= ~C1; return;  // FINCSTP
      case 0xf0: return this.transUnary(modrm);  // F2XM1
      case 0xf1: return this.transBinary(modrm); // FYL2X
      case 0xf2: return this.transPush(modrm);   // FPTAN
      case 0xf3: return this.transBinary(modrm); // FPATAN
      case 0xf4: return this.fxtract();
      case 0xf5: case 0xf8: return this.fprem(modrm === 0xf5);
      case 0xf9: return this.transBinary(modrm); // FYL2XP1
      case 0xfa: return this.fsqrt();
      case 0xfb: return this.transPush(modrm);   // FSINCOS
      case 0xfc: return this.frndint();
      case 0xfd: return this.fscale();
      default: return this.transUnary(modrm);    // FSIN, FCOS
    }
  }

  // ---- loads and stores -----------------------------------------------------------------

  /** FST/FSTP m32/m64 */
  private storeReal(lin: number, dbl: boolean, pop: boolean): void {
    const f = this.f, p = this.phys(0), h = this.host;
    if (this.isEmpty(p)) {
      f.exc |= IE | SF;
      this.outHi = 0xfff80000; this.outLo = dbl ? 0 : 0xffc00000;
    } else this.toReal(p, dbl);
    // unmasked IE, and unmasked OE/UE on a memory destination (reported without PE), leave memory and stack alone
    if (this.aborted()) { this.raise(); return; }
    if (f.exc & ~this.cw & (OE | UE)) { f.exc &= ~PE; this.raise(false); return; }
    if (dbl) { h.probeWrite(lin, 8); h.write32(lin, this.outLo | 0); h.write32(lin + 4, this.outHi | 0); }
    else h.write32(lin, this.outLo | 0);
    if (pop) this.pop();
    this.raise();
  }

  /** FSTP m80: a raw copy */
  private storeExtended(lin: number): void {
    const f = this.f, p = this.phys(0), h = this.host;
    let s = p;
    if (this.isEmpty(p)) { this.underflow(); s = RES; }
    if (this.aborted()) { this.raise(); return; }
    h.probeWrite(lin, 10);
    h.write32(lin, f.lo[s] | 0); h.write32(lin + 4, f.hi[s] | 0); h.write16(lin + 8, f.se[s]);
    this.pop();
    this.raise();
  }

  /** FST/FSTP ST(i): a raw copy */
  private fstReg(i: number, pop: boolean): void {
    const p = this.phys(0);
    if (this.isEmpty(p)) this.underflow(); else this.f.copy(RES, p);
    this.commit(this.phys(i), RES, pop);
  }

  /** FIST/FISTP m16/m32/m64 */
  private storeInt(lin: number, size: number, pop: boolean): void {
    const f = this.f, p = this.phys(0), h = this.host;
    let hi = 0, lo = 0, invalid = false;
    if (this.isEmpty(p)) { f.exc |= SF; invalid = true; }
    else {
      const c = f.classify(p);
      if (c === C_INF || c >= C_QNAN) invalid = true;
      // a denormal source raises no DE here (this CPU's behaviour)
      else if (c !== C_ZERO && !this.roundInt(p)) invalid = true;
      else if (c !== C_ZERO) {
        let mh = this.outHi, ml = this.outLo;
        const neg = this.outSign !== 0;
        // range -2^(n-1) .. 2^(n-1)-1
        const limH = size === 8 ? 0x80000000 : 0, limL = size === 8 ? 0 : size === 4 ? 0x80000000 : 0x8000;
        if (mh > limH || (mh === limH && (ml > limL || (!neg && ml === limL)))) invalid = true;
        else {
          if (neg) { ml = (~ml + 1) >>> 0; mh = (~mh + (ml === 0 ? 1 : 0)) >>> 0; }
          hi = mh; lo = ml;
        }
      }
    }
    if (invalid) { // the integer indefinite, no PE
      f.exc = (f.exc & ~PE) | IE; f.up = false;
      hi = size === 8 ? 0x80000000 : 0; lo = size === 8 ? 0 : size === 4 ? 0x80000000 : 0x8000;
    }
    if (this.aborted()) { this.raise(); return; }
    if (size === 8) { h.probeWrite(lin, 8); h.write32(lin, lo | 0); h.write32(lin + 4, hi | 0); }
    else if (size === 4) h.write32(lin, lo | 0);
    else h.write16(lin, lo & 0xffff);
    if (pop) this.pop();
    this.raise();
  }

  private fbld(lin: number): void {
    const h = this.host;
    const lo = h.read32(lin), hi = h.read32(lin + 4), top = h.read16(lin + 8);
    let v = 0n;
    for (let d = 17; d >= 0; d--) {
      const nib = d >= 16 ? (top >>> ((d - 16) * 4)) & 15 : d >= 8 ? (hi >>> ((d - 8) * 4)) & 15 : (lo >>> (d * 4)) & 15;
      v = v * 10n + BigInt(nib);
    }
    this.f.packInt(SRC, (top >>> 15) & 1, Number(v >> 32n), Number(v & 0xffffffffn), 0);
    this.pushResult(SRC);
  }

  private fbstp(lin: number): void {
    const f = this.f, p = this.phys(0), h = this.host;
    let lo = 0, hi = 0, top = 0, invalid = false;
    if (this.isEmpty(p)) { f.exc |= SF; invalid = true; }
    else {
      const c = f.classify(p);
      if (c === C_ZERO) top = f.sign(p) << 15;
      else if (c === C_INF || c >= C_QNAN || !this.roundInt(p)) invalid = true;
      else {
        let v = (BigInt(this.outHi) << 32n) | BigInt(this.outLo);
        if (v >= 1000000000000000000n) invalid = true;
        else {
          top = this.outSign << 15;
          for (let d = 0; d < 18; d++) {
            const nib = Number(v % 10n); v /= 10n;
            if (d < 8) lo |= nib << (d * 4); else if (d < 16) hi |= nib << ((d - 8) * 4); else top |= nib << ((d - 16) * 4);
          }
          lo >>>= 0; hi >>>= 0;
        }
      }
    }
    if (invalid) { // the packed BCD indefinite, no PE
      f.exc = (f.exc & ~PE) | IE; f.up = false;
      lo = 0; hi = 0xc0000000; top = 0xffff;
    }
    if (this.aborted()) { this.raise(); return; }
    h.probeWrite(lin, 10);
    h.write32(lin, lo); h.write32(lin + 4, hi); h.write16(lin + 8, top);
    this.pop();
    this.raise();
  }

  // ---- register-only operations -----------------------------------------------------------

  private fxch(i: number): void {
    const f = this.f, p0 = this.phys(0), pi = this.phys(i);
    if (this.isEmpty(p0) || this.isEmpty(pi)) {
      f.exc |= IE | SF;
      if (this.aborted()) { this.raise(false); return; }
      if (this.isEmpty(p0)) f.setIndefinite(p0);
      if (this.isEmpty(pi)) f.setIndefinite(pi);
      this.valid |= (1 << p0) | (1 << pi);
    }
    f.copy(TMP, p0); f.copy(p0, pi); f.copy(pi, TMP);
    this.raise(false);
  }

  /** FCHS, FABS */
  private unaryST0(modrm: number): void {
    const f = this.f, p = this.phys(0);
    if (this.isEmpty(p)) { this.underflow(); this.commit(p, RES, false); return; }
    f.se[p] = modrm === 0xe0 ? f.se[p] ^ 0x8000 : f.se[p] & 0x7fff;
    this.raise(false);
  }

  private fcomZero(): void {
    this.f.setZero(TMP, 0);
    this.fcom(TMP, false, 0);
  }

  private fxam(): void {
    const f = this.f, p = this.phys(0);
    let cc: number;
    if (this.isEmpty(p)) cc = C3 | C0;
    else switch (f.classify(p)) {
      case C_ZERO: cc = C3; break;
      case C_NORMAL: cc = C2; break;
      case C_DENORMAL: cc = C3 | C2; break;
      case C_INF: cc = C2 | C0; break;
      case C_QNAN: case C_SNAN: cc = C0; break;
      default: cc = 0;
    }
    this.sw = (this.sw & ~CC) | cc | (f.sign(p) ? C1 : 0);
  }

  /** FLD1, FLDL2T, FLDL2E, FLDPI, FLDLG2, FLDLN2, FLDZ: 66-bit internal constants rounded per RC */
  private loadConstant(d: number, k: number): void {
    const f = this.f, c = CONSTANTS[k];
    let lo = c[2];
    if (c[3] !== 0) {
      // c[3]: 1 = rounded-to-nearest value was rounded up (so DOWN/ZERO take one less), 2 = rounded down
      if (c[3] === 1 && (f.rc === RC_DOWN || f.rc === RC_ZERO)) lo -= 1;
      if (c[3] === 2 && f.rc === RC_UP) lo += 1;
    }
    f.set(d, c[0], c[1], lo >>> 0);
  }

  private fcmov(reg: number, i: number, negate: boolean): void {
    const fl = this.host.eflags();
    let cond: boolean;
    switch (reg) {
      case 0: cond = (fl & CF) !== 0; break;
      case 1: cond = (fl & ZF) !== 0; break;
      case 2: cond = (fl & (CF | ZF)) !== 0; break;
      default: cond = (fl & PF) !== 0; break;
    }
    if (negate) cond = !cond;
    const f = this.f, p0 = this.phys(0), pi = this.phys(i);
    if (this.isEmpty(p0) || this.isEmpty(pi)) {
      this.underflow();
      this.commit(p0, RES, false);
      return;
    }
    if (cond) f.copy(p0, pi);
    this.raise((this.sw & C1) !== 0); // C1 is left alone (this CPU's behaviour)
  }

  private fsqrt(): void {
    const f = this.f, p = this.phys(0);
    if (this.isEmpty(p)) this.underflow();
    else {
      const c = f.classify(p), s = f.sign(p);
      if (c === C_UNSUPPORTED) { f.exc |= IE; f.setIndefinite(RES); }
      else if (c >= C_QNAN) this.propagateNaN(RES, p, p);
      else if (c === C_ZERO) f.copy(RES, p);
      else if (s) { f.exc |= IE; f.setIndefinite(RES); }
      else if (c === C_INF) f.copy(RES, p);
      else {
        if (c === C_DENORMAL) f.exc |= DE;
        if (!this.aborted()) { f.unpackA(p); f.sqrtUnpacked(RES); }
      }
    }
    this.commit(p, RES, false);
  }

  private frndint(): void {
    const f = this.f, p = this.phys(0);
    if (this.isEmpty(p)) this.underflow();
    else {
      const c = f.classify(p);
      if (c === C_UNSUPPORTED) { f.exc |= IE; f.setIndefinite(RES); }
      else if (c >= C_QNAN) this.propagateNaN(RES, p, p);
      else if (c === C_ZERO || c === C_INF) f.copy(RES, p);
      else {
        if (c === C_DENORMAL) f.exc |= DE;
        f.unpackA(p);
        if (f.aE >= 63) f.copy(RES, p);
        else if (!this.aborted()) {
          this.roundInt(p);
          f.packInt(RES, this.outSign, this.outHi | 0, this.outLo | 0, 0);
        }
      }
    }
    this.commit(p, RES, false);
  }

  private fxtract(): void {
    const f = this.f, p = this.phys(0);
    // two results: exponent replaces ST(0), significand is pushed
    if (this.isEmpty(p)) { this.underflow(); f.copy(RES2, RES); }
    else if (this.overflowed()) { f.setIndefinite(RES); f.setIndefinite(RES2); }
    else {
      const c = f.classify(p), s = f.sign(p);
      if (c === C_UNSUPPORTED) { f.exc |= IE; f.setIndefinite(RES); f.setIndefinite(RES2); }
      else if (c >= C_QNAN) { this.propagateNaN(RES, p, p); f.copy(RES2, RES); }
      else if (c === C_ZERO) { f.exc |= ZE; f.setInf(RES, 1); f.setZero(RES2, s); }
      else if (c === C_INF) { f.setInf(RES, 0); f.setInf(RES2, s); }
      else {
        if (c === C_DENORMAL) f.exc |= DE;
        f.unpackA(p);
        const e = f.aE;
        f.packInt(RES, e < 0 ? 1 : 0, 0, Math.abs(e), 0);
        f.set(RES2, (s << 15) | 16383, f.aH | 0, f.aL | 0);
      }
    }
    if (!this.aborted()) {
      f.copy(p, RES);
      this.valid |= 1 << p;
      f.copy(this.push(), RES2);
    }
    this.raise();
  }

  private fscale(): void {
    const f = this.f, p0 = this.phys(0), p1 = this.phys(1);
    if (this.isEmpty(p0) || this.isEmpty(p1)) this.underflow();
    else {
      const ca = f.classify(p0), cb = f.classify(p1), sa = f.sign(p0), sb = f.sign(p1);
      if (ca === C_UNSUPPORTED || cb === C_UNSUPPORTED) { f.exc |= IE; f.setIndefinite(RES); }
      else if (ca >= C_QNAN || cb >= C_QNAN) this.propagateNaN(RES, p0, p1);
      else {
        if (ca === C_DENORMAL || cb === C_DENORMAL) f.exc |= DE;
        if (cb === C_INF) {
          if (sb) { // x * 2^-inf
            if (ca === C_INF) { f.exc |= IE; f.setIndefinite(RES); } else f.setZero(RES, sa);
          } else if (ca === C_ZERO) { f.exc |= IE; f.setIndefinite(RES); } else f.setInf(RES, sa);
        } else if (ca === C_ZERO || ca === C_INF) f.copy(RES, p0);
        else if (!this.aborted()) {
          // the scale is ST(1) truncated toward zero; beyond +-2^16 it saturates the result anyway
          let n = 0;
          if (cb !== C_ZERO) {
            f.unpackB(p1);
            n = f.bE >= 16 ? 0x10000 : Math.floor(f.bH / 2 ** (31 - f.bE));
            if (f.bE < 0) n = 0;
            if (sb) n = -n;
          }
          f.unpackA(p0);
          const prec = f.prec;
          f.prec = 64;
          f.roundToSlot(RES, sa, f.aE + n, f.aH | 0, f.aL | 0, 0);
          f.prec = prec;
        }
      }
    }
    this.commit(p0, RES, false);
  }

  /** FPREM (truncating quotient) / FPREM1 (IEEE, round-to-nearest quotient): exact partial remainder */
  private fprem(ieee: boolean): void {
    const f = this.f, p0 = this.phys(0), p1 = this.phys(1);
    let cc = this.sw & (C0 | C3), partial = false;
    if (this.isEmpty(p0) || this.isEmpty(p1)) this.underflow();
    else {
      const ca = f.classify(p0), cb = f.classify(p1);
      if (ca === C_UNSUPPORTED || cb === C_UNSUPPORTED) { f.exc |= IE; f.setIndefinite(RES); }
      else if (ca >= C_QNAN || cb >= C_QNAN) this.propagateNaN(RES, p0, p1);
      else if (ca === C_INF || cb === C_ZERO) { f.exc |= IE; f.setIndefinite(RES); }
      else {
        if (ca === C_DENORMAL || cb === C_DENORMAL) f.exc |= DE;
        if (this.aborted()) { /* unmasked DE */ }
        else if (ca === C_ZERO) { f.copy(RES, p0); cc = 0; }
        else if (cb === C_INF) { f.unpackA(p0); f.packExact(RES, f.aS, f.aE, f.aH | 0, f.aL | 0); cc = 0; } // denormals renormalized
        else {
          f.unpackA(p0); f.unpackB(p1);
          const a = (BigInt(f.aH) << 32n) | BigInt(f.aL), b = (BigInt(f.bH) << 32n) | BigInt(f.bL);
          const d = f.aE - f.bE;
          let sign = f.aS;
          if (d >= 64) {
            // partial remainder: the exponent difference drops to 32..63 (as this CPU does)
            partial = true;
            const n = 32 + (d & 31), num = a << BigInt(n);
            this.packBig(RES, sign, num % b, f.bE + d - n);
            cc = 0;
          } else {
            // remainder r (value r * 2^(e-63)) and the low quotient bits
            let q = 0n, r = a, e = f.aE;
            if (d >= 0) {
              const num = a << BigInt(d);
              q = num / b; r = num - q * b; e = f.bE;
              if (ieee && (2n * r > b || (2n * r === b && (q & 1n) === 1n))) { r = b - r; q += 1n; sign ^= 1; }
            } else if (ieee && d === -1 && a > b) { q = 1n; r = 2n * b - a; sign ^= 1; }
            this.packBig(RES, sign, r, e);
            cc = ((q & 4n) ? C0 : 0) | ((q & 2n) ? C3 : 0) | ((q & 1n) ? C1 : 0);
          }
        }
      }
    }
    this.commit(p0, RES, false);
    this.sw = (this.sw & ~CC) | cc | (partial ? C2 : 0);
  }

  /** Pack a BigInt significand m (value m * 2^(e-63)) exactly into slot d; zero keeps the sign */
  private packBig(d: number, sign: number, m: bigint, e: number): void {
    const f = this.f;
    if (m === 0n) { f.setZero(d, sign); return; }
    const n = m.toString(2).length - 64;
    if (n > 0) m >>= BigInt(n); else m <<= BigInt(-n);
    f.packExact(d, sign, e + n, Number(m >> 32n), Number(m & 0xffffffffn));
  }

  // ---- transcendentals --------------------------------------------------------------------

  /** Operand checks shared by the transcendentals: false when the result (in d) is already settled */
  private transOperands(d: number, a: number, b: number): boolean {
    const f = this.f, ca = f.classify(a), cb = f.classify(b);
    if (ca === C_UNSUPPORTED || cb === C_UNSUPPORTED) { f.exc |= IE; f.setIndefinite(d); return false; }
    if (ca >= C_QNAN || cb >= C_QNAN) { this.propagateNaN(d, a, b); return false; }
    return true;
  }

  /** F2XM1, FSIN, FCOS: for FSIN/FCOS C2 = 1 leaves an out-of-range operand unchanged */
  private transUnary(modrm: number): void {
    const p = this.phys(0);
    let incomplete = false;
    if (this.isEmpty(p)) this.underflow();
    else if (this.transOperands(RES, p, p)) incomplete = !this.tr.unary(modrm, RES, p);
    if (incomplete) { this.sw &= ~(C1 | C2); this.sw |= C2; return; }
    this.commit(p, RES, false);
    if (modrm !== 0xf0) this.sw &= ~C2;
  }

  /** FYL2X, FPATAN, FYL2XP1: ST(1) = f(ST(1), ST(0)), pop */
  private transBinary(modrm: number): void {
    const p0 = this.phys(0), p1 = this.phys(1);
    if (this.isEmpty(p0) || this.isEmpty(p1)) this.underflow();
    else if (this.transOperands(RES, p1, p0)) this.tr.binary(modrm, RES, p1, p0);
    this.commit(p1, RES, false);
    if (!this.aborted()) this.pop();
  }

  /** FPTAN, FSINCOS: ST(0) replaced by the first result, the second pushed */
  private transPush(modrm: number): void {
    const f = this.f, p = this.phys(0);
    let incomplete = false;
    if (this.isEmpty(p)) { this.underflow(); f.copy(RES2, RES); }
    else if (this.overflowed()) { f.setIndefinite(RES); f.setIndefinite(RES2); }
    else if (this.transOperands(RES, p, p)) incomplete = !this.tr.pair(modrm, RES, RES2, p);
    else f.copy(RES2, RES);
    if (incomplete) { this.sw &= ~(C1 | C2); this.sw |= C2; return; }
    if (!this.aborted()) {
      f.copy(p, RES); this.valid |= 1 << p;
      f.copy(this.push(), RES2);
    }
    this.raise();
    this.sw &= ~C2;
  }

  // ---- environment ------------------------------------------------------------------------

  private fstenv(lin: number, o32: boolean, realMode: boolean): void {
    const h = this.host, tw = this.getTagWord(), sw = this.getStatusWord();
    const size = o32 ? 28 : 14;
    h.probeWrite(lin, size);
    const w = o32 ? (a: number, v: number): void => h.write32(lin + a * 4, v >>> 0) : (a: number, v: number): void => h.write16(lin + a * 2, v & 0xffff);
    const hi = o32 ? 0xffff0000 : 0;
    w(0, hi | this.cw); w(1, hi | sw); w(2, hi | tw);
    if (realMode) {
      const ip = (this.fcs << 4) + this.fip, dp = (this.fds << 4) + this.fdp;
      w(3, hi | (ip & 0xffff)); w(4, ((ip >>> 16) << 12) | this.fop); w(5, hi | (dp & 0xffff)); w(6, (dp >>> 16) << 12);
    } else {
      w(3, this.fip); w(4, (this.fop << 16) | this.fcs); w(5, this.fdp); w(6, hi | this.fds);
    }
  }

  /** the seven environment words (16- or 32-bit each) */
  private readEnv(lin: number, o32: boolean): number[] {
    const h = this.host, v: number[] = [];
    for (let i = 0; i < 7; i++) v.push(o32 ? h.read32(lin + i * 4) : h.read16(lin + i * 2));
    return v;
  }

  private fldenv(lin: number, o32: boolean, realMode: boolean): void {
    this.loadEnv(this.readEnv(lin, o32), o32, realMode);
  }

  private loadEnv(v: number[], o32: boolean, realMode: boolean): void {
    const sw = v[1] & 0xffff, tw = v[2] & 0xffff;
    this.sw = sw & ~0x3800; this.top = (sw >>> 11) & 7;
    let valid = 0;
    for (let p = 0; p < 8; p++) if (((tw >>> (2 * p)) & 3) !== 3) valid |= 1 << p;
    this.valid = valid;
    if (realMode) {
      this.fcs = 0; this.fds = 0;
      this.fip = (v[3] & 0xffff) | ((v[4] >>> 12 & (o32 ? 0xffff : 0xf)) << 16);
      this.fop = v[4] & 0x7ff;
      this.fdp = (v[5] & 0xffff) | ((v[6] >>> 12 & (o32 ? 0xffff : 0xf)) << 16);
    } else {
      this.fip = o32 ? v[3] >>> 0 : v[3] & 0xffff;
      this.fcs = v[4] & 0xffff;
      this.fop = o32 ? (v[4] >>> 16) & 0x7ff : 0;
      this.fdp = o32 ? v[5] >>> 0 : v[5] & 0xffff;
      this.fds = v[6] & 0xffff;
    }
    this.setCW(v[0] & 0xffff);
  }

  private fsave(lin: number, o32: boolean, realMode: boolean): void {
    const h = this.host, f = this.f, base = o32 ? 28 : 14;
    h.probeWrite(lin, base + 80);
    this.fstenv(lin, o32, realMode);
    for (let i = 0; i < 8; i++) {
      const p = this.phys(i), a = lin + base + i * 10;
      h.write32(a, f.lo[p]); h.write32(a + 4, f.hi[p]); h.write16(a + 8, f.se[p]);
    }
    this.init();
  }

  private frstor(lin: number, o32: boolean, realMode: boolean): void {
    const h = this.host, f = this.f, base = o32 ? 28 : 14;
    const v = this.readEnv(lin, o32); // every read before any change
    const regs = new Uint32Array(24);
    for (let i = 0; i < 8; i++) {
      const a = lin + base + i * 10;
      regs[i * 3] = h.read32(a); regs[i * 3 + 1] = h.read32(a + 4); regs[i * 3 + 2] = h.read16(a + 8);
    }
    this.loadEnv(v, o32, realMode);
    for (let i = 0; i < 8; i++) {
      const p = this.phys(i);
      f.set(p, regs[i * 3 + 2], regs[i * 3 + 1], regs[i * 3]);
    }
  }

  /**
   * FXSAVE: 512-byte area (32-bit layout); MXCSR is saved as its reset value 0x1F80 (no SSE). The
   * image is built in a scratch buffer and copied at once when the area's first 288 bytes (all it
   * writes) are in one page of RAM: Linux saves and restores the FPU at context switches, ~130 k
   * times per run of the sort.
   */
  fxsave(lin: number): void {
    const h = this.host, f = this.f, v = FX_VIEW;
    const at = h.ramSpan(lin, FX_LEN, true);
    if (at < 0) h.probeWrite(lin, FX_LEN);
    FX_BYTES.fill(0);
    v.setUint16(0, this.cw, true); v.setUint16(2, this.getStatusWord(), true);
    v.setUint16(4, this.valid, true); v.setUint16(6, this.fop, true);
    v.setInt32(8, this.fip, true); v.setInt32(12, this.fcs, true);
    v.setInt32(16, this.fdp, true); v.setInt32(20, this.fds, true);
    v.setInt32(24, 0x1f80, true); v.setInt32(28, 0xffbf, true);
    for (let i = 0; i < 8; i++) {
      const p = this.phys(i), a = 32 + i * 16;
      v.setInt32(a, f.lo[p]!, true); v.setInt32(a + 4, f.hi[p]!, true); v.setUint16(a + 8, f.se[p]!, true);
    }
    if (at >= 0) h.ram.set(FX_BYTES, at);
    else for (let a = 0; a < FX_LEN; a += 4) h.write32(lin + a, v.getInt32(a, true));
  }

  /** FXRSTOR: returns false (changing nothing) when MXCSR has reserved bits set: the CPU raises #GP(0) */
  fxrstor(lin: number): boolean {
    const h = this.host, f = this.f, v = FX_VIEW;
    const at = h.ramSpan(lin, FX_LEN, false);
    if (at >= 0) FX_BYTES.set(h.ram.subarray(at, at + FX_LEN));
    else for (let a = 0; a < FX_LEN; a += 4) v.setInt32(a, h.read32(lin + a), true);
    if (v.getUint32(24, true) & ~0xffbf) return false;
    const sw = v.getUint16(2, true);
    this.sw = sw & ~0x3800; this.top = (sw >>> 11) & 7;
    this.valid = v.getUint8(4);
    this.fop = v.getUint16(6, true) & 0x7ff; this.fip = v.getInt32(8, true); this.fcs = v.getUint16(12, true);
    this.fdp = v.getInt32(16, true); this.fds = v.getUint16(20, true);
    this.setCW(v.getUint16(0, true));
    for (let i = 0; i < 8; i++) {
      const a = 32 + i * 16;
      f.set(this.phys(i), v.getUint16(a + 8, true), v.getInt32(a + 4, true), v.getInt32(a, true));
    }
    return true;
  }
}

/** The bytes of the FXSAVE area that ts86 writes and reads (legacy x87 state and MXCSR; no XMM). */
const FX_LEN = 288;
const FX_BYTES = new Uint8Array(FX_LEN), FX_VIEW = new DataView(FX_BYTES.buffer);

/** [sign/exponent, hi, lo, adjustment] of FLD1, FLDL2T, FLDL2E, FLDPI, FLDLG2, FLDLN2, FLDZ */
const CONSTANTS: [number, number, number, number][] = [
  [0x3fff, 0x80000000, 0x00000000, 0],
  [0x4000, 0xd49a784b, 0xcd1b8afe, 2],
  [0x3fff, 0xb8aa3b29, 0x5c17f0bc, 1],
  [0x4000, 0xc90fdaa2, 0x2168c235, 1],
  [0x3ffd, 0x9a209a84, 0xfbcff799, 1],
  [0x3ffe, 0xb17217f7, 0xd1cf79ac, 1],
  [0x0000, 0x00000000, 0x00000000, 0],
];
