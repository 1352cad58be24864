/**
 * Software 80-bit extended-precision arithmetic, done the way the x87 does it: 64-bit significand
 * with an explicit integer bit, four rounding modes, precision control, denormals and the masked /
 * unmasked overflow and underflow responses. Significands are handled as two unsigned 32-bit
 * halves (plus a 32-bit extension word carrying guard bits with a sticky bit jammed into bit 0), so
 * the common operations neither allocate nor use BigInt. Words cross function boundaries as int32
 * (`| 0`): a number above 2^31 passed as an argument would be boxed, which allocates.
 *
 * Values live in slots of a small register file (typed arrays): the sign+exponent word and the two
 * significand halves. The x87 keeps its eight physical registers in slots 0..7; 8.. are scratch.
 */

export const IE = 0x01, DE = 0x02, ZE = 0x04, OE = 0x08, UE = 0x10, PE = 0x20, SF = 0x40;
export const RC_NEAREST = 0, RC_DOWN = 1, RC_UP = 2, RC_ZERO = 3;

/** Operand classes */
export const C_ZERO = 0, C_NORMAL = 1, C_DENORMAL = 2, C_INF = 3, C_QNAN = 4, C_SNAN = 5, C_UNSUPPORTED = 6;

/** Target formats for round(): exponent range and bias */
export interface Format { emin: number; emax: number; bias: number }
export const EXTENDED: Format = { emin: -16382, emax: 16383, bias: 16383 };
export const DOUBLE: Format = { emin: -1022, emax: 1023, bias: 1023 };
export const SINGLE: Format = { emin: -126, emax: 127, bias: 127 };

/** Exponent adjustment the x87 applies to a register result on unmasked overflow/underflow */
const BIAS_ADJUST = 24576;
const TWO32 = 0x100000000;
const LIMB = 0x1000000;   // division limbs: 24 bits
const DIGIT = 0x400000;  // division quotient digits: 22 bits
export const NSLOTS = 16;

// Outputs of the helpers below: a typed array, since numbers above 2^31 stored in module
// variables would be boxed (allocated) on every assignment
const OUT = new Float64Array(3);
const H = 0, L = 1, X = 2; // shiftRightJam
const P0 = 0, P1 = 1;      // mul32

/** OUT[P1]:OUT[P0] = a * b for unsigned 32-bit a, b */
function mul32(a: number, b: number): void {
  const t0 = (a & 0xffff) * b, t1 = (a >>> 16) * b;
  OUT[P0] = Math.imul(a, b) >>> 0;
  OUT[P1] = Math.floor((t1 + Math.floor(t0 / 65536)) / 65536);
}

/** OUT[H]:OUT[L]:OUT[X] = (h:l:x) >> n with every bit shifted out jammed into bit 0 of X */
function shiftRightJam(h: number, l: number, x: number, n: number): void {
  let sticky = 0;
  while (n >= 32 && (h | l | x) !== 0) { sticky |= x; x = l; l = h; h = 0; n -= 32; }
  if (n >= 32) n = 0; // everything already shifted out
  if (n > 0) {
    sticky |= x << (32 - n);
    x = (x >>> n) | (l << (32 - n));
    l = (l >>> n) | (h << (32 - n));
    h >>>= n;
  }
  OUT[H] = h >>> 0; OUT[L] = l >>> 0; OUT[X] = (x | (sticky !== 0 ? 1 : 0)) >>> 0;
}

/** Rounding increment decision */
function roundsUp(rc: number, sign: number, guard: number, sticky: boolean, lsb: number): boolean {
  switch (rc) {
    case RC_NEAREST: return guard !== 0 && (sticky || lsb !== 0);
    case RC_DOWN: return sign !== 0 && (guard !== 0 || sticky);
    case RC_UP: return sign === 0 && (guard !== 0 || sticky);
    default: return false;
  }
}

export class F80 {
  readonly se = new Uint16Array(NSLOTS);
  readonly hi = new Uint32Array(NSLOTS);
  readonly lo = new Uint32Array(NSLOTS);

  /** exceptions raised by the current operation, and whether its result was rounded up (-> C1) */
  exc = 0;
  up = false;
  /** rounding control and precision (24, 53 or 64 significand bits) from the control word */
  rc = RC_NEAREST;
  prec = 64;
  /** unmasked OE/UE: a register result is delivered with its exponent adjusted by 24576 */
  oeMasked = true;
  ueMasked = true;
  deMasked = true;

  /** round() result: biased exponent (0 for a denormal or zero) and left-aligned significand */
  rE = 0;
  rH = 0;
  rL = 0;

  // unpacked operands: sign, unbiased exponent, normalized significand (bit 31 of h set unless zero)
  aS = 0; aE = 0; aH = 0; aL = 0;
  bS = 0; bE = 0; bH = 0; bL = 0;

  classify(s: number): number {
    const e = this.se[s] & 0x7fff, h = this.hi[s], l = this.lo[s];
    if (e === 0) return (h | l) === 0 ? C_ZERO : C_DENORMAL;
    if ((h & 0x80000000) === 0) return C_UNSUPPORTED;
    if (e === 0x7fff) {
      if (((h & 0x7fffffff) | l) === 0) return C_INF;
      return (h & 0x40000000) !== 0 ? C_QNAN : C_SNAN;
    }
    return C_NORMAL;
  }

  set(d: number, se: number, h: number, l: number): void {
    this.se[d] = se; this.hi[d] = h; this.lo[d] = l;
  }
  copy(d: number, s: number): void {
    this.se[d] = this.se[s]; this.hi[d] = this.hi[s]; this.lo[d] = this.lo[s];
  }
  setIndefinite(d: number): void { this.set(d, 0xffff, 0xc0000000 | 0, 0); }
  setZero(d: number, sign: number): void { this.set(d, sign << 15, 0, 0); }
  setInf(d: number, sign: number): void { this.set(d, (sign << 15) | 0x7fff, 0x80000000 | 0, 0); }
  sign(s: number): number { return this.se[s] >>> 15; }

  /** Unpack a finite nonzero (normal or denormal) slot into the a- or b-fields, normalized */
  unpackA(s: number): void {
    this.unpack(s);
    this.aS = this.uS; this.aE = this.uE; this.aH = this.uH; this.aL = this.uL;
  }
  unpackB(s: number): void {
    this.unpack(s);
    this.bS = this.uS; this.bE = this.uE; this.bH = this.uH; this.bL = this.uL;
  }
  private uS = 0; private uE = 0; private uH = 0; private uL = 0;
  private unpack(s: number): void {
    const se = this.se[s];
    let h = this.hi[s], l = this.lo[s];
    let e = se & 0x7fff;
    if (e === 0) e = 1; // denormals and pseudo-denormals have the exponent of the smallest normal
    e -= 16383;
    if ((h & 0x80000000) === 0 && (h | l) !== 0) {
      if (h === 0) { h = l; l = 0; e -= 32; }
      const n = Math.clz32(h);
      if (n > 0) { h = ((h << n) | (l >>> (32 - n))) >>> 0; l = (l << n) >>> 0; e -= n; }
    }
    this.uS = se >>> 15; this.uE = e; this.uH = h; this.uL = l;
  }

  /**
   * Round sign * (h:l:x) * 2^(e-63) (h bit 31 set; x holds further bits, sticky in bit 0) to `prec`
   * significand bits within format `f`. Sets rE/rH/rL and raises PE/UE/OE, sets `up`.
   * regDest: the result goes to a register, so unmasked OE/UE rescale it by 2^-/+24576 instead of
   * leaving the destination alone.
   */
  round(sign: number, e: number, h: number, l: number, x: number, prec: number, f: Format, regDest: boolean): void {
    h >>>= 0; l >>>= 0; x >>>= 0;
    let tiny = false;
    if (e < f.emin) {
      // tininess is detected before rounding
      tiny = true;
      if (regDest && !this.ueMasked) {
        this.exc |= UE;
        e += BIAS_ADJUST;
        if (e < f.emin) { // too small even rescaled: zero
          this.exc |= PE; this.up = false;
          this.rE = 0; this.rH = 0; this.rL = 0;
          return;
        }
      } else {
        if (!this.ueMasked) this.exc |= UE;
        shiftRightJam(h, l, x, f.emin - e);
        h = OUT[H]; l = OUT[L]; x = OUT[X]; e = f.emin;
      }
    }
    let guard: number, sticky: boolean, lsb: number;
    if (prec === 64) {
      guard = x >>> 31; sticky = (x & 0x7fffffff) !== 0; lsb = l & 1;
    } else if (prec === 53) {
      guard = (l >>> 10) & 1; sticky = (l & 0x3ff) !== 0 || x !== 0; lsb = (l >>> 11) & 1;
      l = (l & 0xfffff800) >>> 0;
    } else {
      guard = (h >>> 7) & 1; sticky = (h & 0x7f) !== 0 || l !== 0 || x !== 0; lsb = (h >>> 8) & 1;
      h = (h & 0xffffff00) >>> 0; l = 0;
    }
    this.up = false;
    if (guard !== 0 || sticky) {
      this.exc |= PE;
      if (tiny) this.exc |= UE;
      if (roundsUp(this.rc, sign, guard, sticky, lsb)) {
        this.up = true;
        if (prec === 64) l += 1; else if (prec === 53) l += 0x800; else h += 0x100;
        if (l >= TWO32) { l -= TWO32; h += 1; }
        if (h >= TWO32) { h = 0x80000000; e += 1; }
      }
    }
    if (e > f.emax) {
      if (regDest && !this.oeMasked) {
        this.exc |= OE;
        e -= BIAS_ADJUST;
        if (e > f.emax) { // too large even rescaled: infinity
          this.exc |= PE; this.up = true;
          e = f.emax + 1; h = 0x80000000; l = 0;
        }
      } else {
        this.exc |= OE | PE;
        const toInf = this.rc === RC_NEAREST || (this.rc === RC_UP ? sign === 0 : this.rc === RC_DOWN && sign !== 0);
        this.up = toInf;
        if (toInf) { e = f.emax + 1; h = 0x80000000; l = 0; }
        else {
          e = f.emax;
          h = prec === 24 ? 0xffffff00 : 0xffffffff;
          l = prec === 64 ? 0xffffffff : prec === 53 ? 0xfffff800 : 0;
        }
      }
    }
    this.rE = (h & 0x80000000) !== 0 ? e + f.bias : 0;
    this.rH = h; this.rL = l;
  }

  /** Round to the register format with the current precision control into slot d */
  roundToSlot(d: number, sign: number, e: number, h: number, l: number, x: number): void {
    this.round(sign, e, h, l, x, this.prec, EXTENDED, true);
    this.set(d, (sign << 15) | (this.rE & 0x7fff), this.rH | 0, this.rL | 0);
  }

  /** A value of at most 64 significant bits into slot d, ignoring precision control (a tiny one still underflows) */
  packExact(d: number, sign: number, e: number, h: number, l: number): void {
    const prec = this.prec;
    this.prec = 64;
    this.roundToSlot(d, sign, e, h, l, 0);
    this.prec = prec;
  }

  /** Round sign * (h:l) * 2^(e-63) to an integer magnitude in rH:rL per RC (PE, up); false when e > 63 */
  roundToInt(sign: number, e: number, h: number, l: number): boolean {
    h >>>= 0; l >>>= 0;
    this.up = false;
    if (e >= 63) {
      this.rH = h; this.rL = l;
      return e === 63;
    }
    shiftRightJam(h, l, 0, 63 - e);
    h = OUT[H]; l = OUT[L];
    const x = OUT[X];
    if (x !== 0) {
      this.exc |= PE;
      if (roundsUp(this.rc, sign, x >>> 31, (x & 0x7fffffff) !== 0, l & 1)) {
        this.up = true;
        l += 1;
        if (l >= TWO32) { l = 0; h += 1; }
      }
    }
    this.rH = h; this.rL = l;
    return true;
  }

  /** Normalize and pack a 64-bit magnitude h:l times 2^scale (exact, no rounding needed) */
  packInt(d: number, sign: number, h: number, l: number, scale: number): void {
    if ((h | l) === 0) { this.setZero(d, sign); return; }
    let e = 63 + scale;
    if (h === 0) { h = l; l = 0; e -= 32; }
    const n = Math.clz32(h);
    if (n > 0) { h = (h << n) | (l >>> (32 - n)); l <<= n; e -= n; }
    this.set(d, (sign << 15) | (e + 16383), h, l);
  }

  /** d = a + b for unpacked finite nonzero a, b (for a subtraction the caller flips bS) */
  addUnpacked(d: number): void {
    let aS = this.aS, aE = this.aE, aH = this.aH, aL = this.aL;
    let bS = this.bS, bE = this.bE, bH = this.bH, bL = this.bL;
    if (aE < bE || (aE === bE && (aH < bH || (aH === bH && aL < bL)))) {
      let t = aS; aS = bS; bS = t;
      t = aE; aE = bE; bE = t;
      t = aH; aH = bH; bH = t;
      t = aL; aL = bL; bL = t;
    }
    shiftRightJam(bH, bL, 0, aE - bE);
    bH = OUT[H]; bL = OUT[L]; const bX = OUT[X];
    if (aS === bS) {
      let l = aL + bL, h = aH + bH, x = bX;
      if (l >= TWO32) { l -= TWO32; h += 1; }
      if (h >= TWO32) {
        h -= TWO32;
        shiftRightJam(h, l, x, 1);
        h = (OUT[H] | 0x80000000) >>> 0; l = OUT[L]; x = OUT[X];
        aE += 1;
      }
      this.roundToSlot(d, aS, aE, h | 0, l | 0, x | 0);
      return;
    }
    // magnitude subtraction, |a| >= |b|
    let x = -bX, l = aL - bL, h = aH - bH;
    if (x < 0) { x += TWO32; l -= 1; }
    if (l < 0) { l += TWO32; h -= 1; }
    if ((h | l | x) === 0) {
      this.setZero(d, this.rc === RC_DOWN ? 1 : 0);
      return;
    }
    while (h === 0) { h = l; l = x; x = 0; aE -= 32; }
    const n = Math.clz32(h);
    if (n > 0) {
      h = ((h << n) | (l >>> (32 - n))) >>> 0;
      l = ((l << n) | (x >>> (32 - n))) >>> 0;
      x = (x << n) >>> 0;
      aE -= n;
    }
    this.roundToSlot(d, aS, aE, h | 0, l | 0, x | 0);
  }

  /** d = a * b for unpacked finite nonzero a, b */
  mulUnpacked(d: number): void {
    const aH = this.aH, aL = this.aL, bH = this.bH, bL = this.bL;
    mul32(aL, bL); const w0 = OUT[P0]; let w1 = OUT[P1];
    mul32(aL, bH); w1 += OUT[P0]; let w2 = OUT[P1];
    mul32(aH, bL); w1 += OUT[P0]; w2 += OUT[P1];
    mul32(aH, bH); w2 += OUT[P0]; let w3 = OUT[P1];
    let c = Math.floor(w1 / TWO32); w1 -= c * TWO32; w2 += c;
    c = Math.floor(w2 / TWO32); w2 -= c * TWO32; w3 += c;
    let e = this.aE + this.bE, sticky = w0;
    if (w3 >= 0x80000000) e += 1;
    else {
      w3 = ((w3 << 1) | (w2 >>> 31)) >>> 0;
      w2 = ((w2 << 1) | (w1 >>> 31)) >>> 0;
      w1 = ((w1 << 1) | (w0 >>> 31)) >>> 0;
      sticky = w0 << 1;
    }
    const x = (w1 | (sticky !== 0 ? 1 : 0)) >>> 0;
    this.roundToSlot(d, this.aS ^ this.bS, e, w3 | 0, w2 | 0, x | 0);
  }

  /**
   * d = a / b for unpacked finite nonzero a, b: three 22-bit quotient digits, each estimated in
   * double precision and corrected with exact base-2^24 limb arithmetic, then the sticky remainder.
   */
  divUnpacked(d: number): void {
    const bH = this.bH, bL = this.bL, aH = this.aH, aL = this.aL;
    const b0 = bL & 0xffffff, b1 = ((bL >>> 24) | (bH << 8)) & 0xffffff, b2 = bH >>> 16;
    const bd = bH * TWO32 + bL;
    let e = this.aE - this.bE;
    // remainder R in base-2^24 limbs; R = a, doubled when a < b so that every R < 2b
    let r0 = aL & 0xffffff, r1 = ((aL >>> 24) | (aH << 8)) & 0xffffff, r2 = aH >>> 16, r3 = 0;
    if (aH < bH || (aH === bH && aL < bL)) {
      e -= 1;
      r0 *= 2; r1 *= 2; r2 *= 2;
      if (r0 >= LIMB) { r0 -= LIMB; r1 += 1; }
      if (r1 >= LIMB) { r1 -= LIMB; r2 += 1; }
    }
    let q1 = 0, q2 = 0, q3 = 0;
    for (let k = 0; k < 3; k++) {
      let q = Math.floor((((r2 * LIMB) + r1) * LIMB + r0) * DIGIT / bd);
      // R = R * 2^22 - q * b
      let t = r0 * DIGIT - q * b0, c = Math.floor(t / LIMB);
      r0 = t - c * LIMB;
      t = r1 * DIGIT - q * b1 + c; c = Math.floor(t / LIMB); r1 = t - c * LIMB;
      t = r2 * DIGIT - q * b2 + c; c = Math.floor(t / LIMB); r2 = t - c * LIMB;
      r3 = c;
      while (r3 < 0) { // estimate one too high
        q -= 1;
        r0 += b0; if (r0 >= LIMB) { r0 -= LIMB; r1 += 1; }
        r1 += b1; if (r1 >= LIMB) { r1 -= LIMB; r2 += 1; }
        r2 += b2; if (r2 >= LIMB) { r2 -= LIMB; r3 += 1; }
      }
      while (r3 > 0 || r2 > b2 || (r2 === b2 && (r1 > b1 || (r1 === b1 && r0 >= b0)))) { // one too low
        q += 1;
        r0 -= b0; if (r0 < 0) { r0 += LIMB; r1 -= 1; }
        r1 -= b1; if (r1 < 0) { r1 += LIMB; r2 -= 1; }
        r2 -= b2; if (r2 < 0) { r2 += LIMB; r3 -= 1; }
      }
      if (k === 0) q1 = q; else if (k === 1) q2 = q; else q3 = q;
    }
    // quotient q1:q2:q3 = 67 bits (bit 66 set); the significand is bits 66..3
    const w0 = q3 | (q2 << 22), w1 = (q2 >>> 10) | (q1 << 12), w2 = q1 >>> 20;
    const h = (w2 << 29) | (w1 >>> 3), l = (w1 << 29) | (w0 >>> 3);
    const x = (w0 << 29) | ((r0 + r1 + r2) !== 0 ? 1 : 0);
    this.roundToSlot(d, this.aS ^ this.bS, e, h, l, x);
  }

  /** d = sqrt(a) for an unpacked finite positive a: 65-bit digit-by-digit root of sig * 2^(65|66) */
  sqrtUnpacked(d: number): void {
    const odd = this.aE & 1, shift = 65 + odd, sigH = this.aH, sigL = this.aL;
    // remainder r (< 2^68) and root q (65 bits) as three words each
    let r2 = 0, r1 = 0, r0 = 0, q2 = 0, q1 = 0, q0 = 0;
    for (let k = 64; k >= 0; k--) {
      // radicand bits 2k+1 and 2k are significand bits 2k+1-shift and 2k-shift
      const j = 2 * k - shift;
      const two = (bitOf(sigH, sigL, j + 1) << 1) | bitOf(sigH, sigL, j);
      r2 = ((r2 << 2) | (r1 >>> 30)) >>> 0; r1 = ((r1 << 2) | (r0 >>> 30)) >>> 0; r0 = ((r0 << 2) | two) >>> 0;
      // trial t = 4q + 1
      const t2 = ((q2 << 2) | (q1 >>> 30)) >>> 0, t1 = ((q1 << 2) | (q0 >>> 30)) >>> 0, t0 = ((q0 << 2) | 1) >>> 0;
      const ge = r2 > t2 || (r2 === t2 && (r1 > t1 || (r1 === t1 && r0 >= t0)));
      q2 = ((q2 << 1) | (q1 >>> 31)) >>> 0; q1 = ((q1 << 1) | (q0 >>> 31)) >>> 0; q0 = ((q0 << 1) | (ge ? 1 : 0)) >>> 0;
      if (ge) {
        let x0 = r0 - t0, x1 = r1 - t1, x2 = r2 - t2;
        if (x0 < 0) { x0 += TWO32; x1 -= 1; }
        if (x1 < 0) { x1 += TWO32; x2 -= 1; }
        r0 = x0; r1 = x1; r2 = x2 >>> 0;
      }
    }
    const e = (this.aE - odd) / 2;
    // q: 65 bits, bit 64 in q2 bit 0
    const h = ((q2 << 31) | (q1 >>> 1)) >>> 0;
    const l = ((q1 << 31) | (q0 >>> 1)) >>> 0;
    const x = (((q0 & 1) << 31) | ((r2 | r1 | r0) !== 0 ? 1 : 0)) >>> 0;
    this.roundToSlot(d, 0, e, h | 0, l | 0, x | 0);
  }
}

function bitOf(h: number, l: number, b: number): number {
  if (b < 0 || b > 63) return 0;
  return b >= 32 ? (h >>> (b - 32)) & 1 : (l >>> b) & 1;
}
