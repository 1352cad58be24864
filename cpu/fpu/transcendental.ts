/**
 * x87 transcendental instructions (F2XM1, FYL2X, FYL2XP1, FPTAN, FPATAN, FSIN, FCOS, FSINCOS),
 * evaluated in a 160-bit BigInt floating point and rounded once to the 64-bit register format.
 * FSIN/FCOS/FSINCOS/FPTAN reduce their argument exactly by the 66-bit pi the hardware uses
 * (0xC90FDAA22168C234C * 2^-66): that is what makes real x87 results drift from the true sine for
 * large arguments, and this CPU's results match that reduction to the last bit in our tests.
 * These instructions are rare and slow on real hardware too, so BigInt allocation is acceptable.
 *
 * The X87 class deals with empty registers, NaNs, unsupported formats and denormal-operand
 * exceptions before calling in here; operands are zero, normal, denormal or infinite.
 */
import { F80, IE, DE, ZE, C_ZERO, C_DENORMAL, C_INF } from './f80.js';

const P = 160;
const BP = BigInt(P);

/** value = m * 2^e, with |m| normalized to P bits (or m = 0) */
interface BF { m: bigint; e: number }

const ZERO: BF = { m: 0n, e: 0 };

function bitLength(a: bigint): number {
  let n = 0;
  while (a >= 1n << 1024n) { a >>= 1024n; n += 1024; }
  return n + a.toString(2).length;
}

function bf(m: bigint, e: number): BF {
  if (m === 0n) return ZERO;
  const neg = m < 0n;
  let a = neg ? -m : m;
  const n = bitLength(a) - P;
  if (n > 0) a >>= BigInt(n); else if (n < 0) a <<= BigInt(-n);
  return { m: neg ? -a : a, e: e + n };
}

function add(a: BF, b: BF): BF {
  if (a.m === 0n) return b;
  if (b.m === 0n) return a;
  if (a.e < b.e) { const t = a; a = b; b = t; }
  const d = a.e - b.e;
  if (d > P + 8) return a;
  return bf((a.m << BigInt(d)) + b.m, b.e);
}
const neg = (a: BF): BF => ({ m: -a.m, e: a.e });
const sub = (a: BF, b: BF): BF => add(a, neg(b));
const mul = (a: BF, b: BF): BF => bf(a.m * b.m, a.e + b.e);
const div = (a: BF, b: BF): BF => bf((a.m << BP) / b.m, a.e - b.e - P);
const scale = (a: BF, n: number): BF => (a.m === 0n ? a : { m: a.m, e: a.e + n });
const int = (n: number): BF => bf(BigInt(n), 0);
const abs = (a: BF): BF => (a.m < 0n ? neg(a) : a);
const isNeg = (a: BF): boolean => a.m < 0n;
/** compare magnitudes of nonzero normalized values */
const cmpAbs = (a: BF, b: BF): number => {
  const ma = a.m < 0n ? -a.m : a.m, mb = b.m < 0n ? -b.m : b.m;
  return a.e !== b.e ? (a.e > b.e ? 1 : -1) : ma === mb ? 0 : ma > mb ? 1 : -1;
};

function sqrt(a: BF): BF {
  // isqrt of m * 2^(P + odd) by Newton's method
  const shift = P + ((a.e + P) & 1);
  const n = a.m << BigInt(shift);
  let x = 1n << BigInt(Math.ceil(bitLength(n) / 2));
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) break;
    x = y;
  }
  return bf(x, (a.e - shift) / 2);
}

/** sum of a series: term(k) until it no longer changes the sum */
function series(first: BF, next: (t: BF, k: number) => BF): BF {
  let sum = first, t = first;
  for (let k = 1; k < 400; k++) {
    t = next(t, k);
    if (t.m === 0n || sum.e - t.e > P + 4) break;
    sum = add(sum, t);
  }
  return sum;
}

/** atanh(z) = z + z^3/3 + z^5/5 + ... for |z| < 0.2 */
function atanh(z: BF): BF {
  const z2 = mul(z, z);
  let p = z;
  return series(z, (_t, k) => { p = mul(p, z2); return div(p, int(2 * k + 1)); });
}

/** atan(t) for |t| <= 1: three argument halvings, then the Taylor series */
function atan(t: BF): BF {
  for (let i = 0; i < 3; i++) t = div(t, add(int(1), sqrt(add(int(1), mul(t, t)))));
  const t2 = neg(mul(t, t));
  let p = t;
  return scale(series(t, (_x, k) => { p = mul(p, t2); return div(p, int(2 * k + 1)); }), 3);
}

/** e^y - 1 for |y| < 1 */
function expm1(y: BF): BF {
  return series(y, (t, k) => div(mul(t, y), int(k + 1)));
}

/** sin(r) and cos(r) for |r| <= pi/4 */
function sinSeries(r: BF): BF {
  const r2 = neg(mul(r, r));
  return series(r, (t, k) => div(mul(t, r2), int((2 * k) * (2 * k + 1))));
}
function cosSeries(r: BF): BF {
  const r2 = neg(mul(r, r));
  return series(int(1), (t, k) => div(mul(t, r2), int((2 * k - 1) * (2 * k))));
}

// constants, computed once in fixed point with 480 fractional bits
const CF = 480n;
function fixedAtanInv(n: bigint): bigint { // atan(1/n)
  let sum = 0n, p = (1n << CF) / n, k = 0n;
  const n2 = n * n;
  while (p !== 0n) { sum += (k & 1n ? -p : p) / (2n * k + 1n); p /= n2; k++; }
  return sum;
}
/** pi / 2 with 480 fractional bits (Machin's formula) */
const HALF_PI_FIXED = (16n * fixedAtanInv(5n) - 4n * fixedAtanInv(239n)) / 2n;
const HALF_PI = bf(HALF_PI_FIXED, -480);
/** the x87's 66-bit pi / 2 for trigonometric argument reduction, same scale */
const HALF_PI66_FIXED = 0xc90fdaa22168c234cn << (CF - 67n);
const PI = scale(HALF_PI, 1);
const LN2 = (() => { // ln 2 = 2 atanh(1/3)
  let sum = 0n, p = (1n << CF) / 3n, k = 0n;
  while (p !== 0n) { sum += p / (2n * k + 1n); p /= 9n; k++; }
  return bf(2n * sum, -480);
})();

export class Transcendental {
  constructor(private readonly f: F80) {}

  private get(s: number): BF {
    const f = this.f;
    if (f.classify(s) === C_ZERO) return ZERO;
    f.unpackA(s);
    const m = (BigInt(f.aH) << 32n) | BigInt(f.aL);
    return bf(f.aS ? -m : m, f.aE - 63);
  }

  /**
   * Round x to the 64-bit register format (precision control does not apply) into slot d. Results
   * are irrational unless `exact`: the sticky bit stands for the terms too small to reach x.
   */
  private put(d: number, x: BF, exact = false, zeroSign = 0): void {
    const f = this.f;
    if (x.m === 0n) { f.setZero(d, zeroSign); return; }
    const sign = x.m < 0n ? 1 : 0, m = sign ? -x.m : x.m;
    const h = Number(m >> (BP - 32n)), l = Number((m >> (BP - 64n)) & 0xffffffffn);
    const rest = m & ((1n << (BP - 64n)) - 1n);
    const xw = Number(rest >> (BP - 96n)) | ((rest & ((1n << (BP - 96n)) - 1n)) !== 0n || !exact ? 1 : 0);
    const prec = f.prec;
    f.prec = 64;
    f.roundToSlot(d, sign, x.e + P - 1, h, l, xw >>> 0);
    f.prec = prec;
  }

  /** DE for denormal operands, raised after the invalid-operand checks; true when it is unmasked */
  private denormal(a: number, b = a): boolean {
    const f = this.f;
    if (f.classify(a) !== C_DENORMAL && f.classify(b) !== C_DENORMAL) return false;
    f.exc |= DE;
    return !f.deMasked;
  }

  /** pi * k / 4 with a sign, rounded */
  private putPi(d: number, quarters: number, sign: number): void {
    const v = scale(mul(PI, int(quarters)), -2);
    this.put(d, sign ? neg(v) : v);
  }

  /**
   * sin/cos of slot s: returns [sin, cos] as BF, or null when |x| >= 2^63 (C2, operand unchanged)
   */
  private sinCos(s: number): [BF, BF] | null {
    const f = this.f;
    if (f.classify(s) === C_ZERO) return [ZERO, int(1)];
    f.unpackA(s);
    if (f.aE >= 63) return null;
    const x = this.get(s);
    if (f.aE < -2) return [sinSeries(x), cosSeries(x)];
    // exact reduction by the hardware's pi/2: x = k * pi/2 + r
    const sig = (BigInt(f.aH) << 32n) | BigInt(f.aL), sh = f.aE - 63 + 480; // x * 2^480 = sig << sh
    const X = sh >= 0 ? sig << BigInt(sh) : sig >> BigInt(-sh);
    const k = (2n * X + HALF_PI66_FIXED) / (2n * HALF_PI66_FIXED);
    const r = bf(X - k * HALF_PI66_FIXED, -480);
    const q = Number(k & 3n);
    let sn = sinSeries(r), cs = cosSeries(r);
    if (q & 1) { const t = sn; sn = cs; cs = neg(t); }
    if (q & 2) { sn = neg(sn); cs = neg(cs); }
    if (f.aS) sn = neg(sn);
    return [sn, cs];
  }

  /** F2XM1, FSIN, FCOS on slot s into slot d; false: operand out of range (C2=1) */
  unary(modrm: number, d: number, s: number): boolean {
    const f = this.f, c = f.classify(s), sign = f.sign(s);
    if (c === C_INF) {
      if (modrm === 0xf0) { if (sign) this.put(d, int(-1), true); else f.setInf(d, 0); } // 2^-inf - 1 = -1
      else { f.exc |= IE; f.setIndefinite(d); }
      return true;
    }
    if (c === C_ZERO) {
      if (modrm === 0xff) this.put(d, int(1), true); else f.copy(d, s);
      return true;
    }
    if (this.denormal(s)) return true;
    if (modrm === 0xf0) {
      // 2^x - 1 = 2^k * 2^f - 1 with k = trunc(x), so the series argument stays below ln 2
      const x = this.get(s);
      f.unpackA(s);
      if (f.aE >= 15) { if (sign) this.put(d, int(-1)); else f.setInf(d, 0); return true; }
      const k = f.aE < 0 ? 0 : Math.trunc(Number((x.m << 64n) >> BigInt(-x.e)) / 2 ** 64);
      const frac = sub(x, int(k));
      const e = frac.m === 0n ? ZERO : expm1(mul(frac, LN2));
      this.put(d, k === 0 ? e : sub(scale(add(e, int(1)), k), int(1))); // inexact even for +-1, as the CPU reports
      return true;
    }
    const sc = this.sinCos(s);
    if (!sc) return false;
    this.put(d, modrm === 0xfe ? sc[0] : sc[1], false, sign);
    return true;
  }

  /** FPTAN (tan, then 1.0) and FSINCOS (sin, then cos) of slot s; false: out of range */
  pair(modrm: number, d1: number, d2: number, s: number): boolean {
    const f = this.f, c = f.classify(s);
    if (c === C_INF) { f.exc |= IE; f.setIndefinite(d1); f.setIndefinite(d2); return true; }
    if (this.denormal(s)) return true;
    const sc = this.sinCos(s);
    if (!sc) return false;
    if (modrm === 0xf2) {
      if (c === C_ZERO) f.copy(d1, s); else this.put(d1, div(sc[0], sc[1]));
      const exc = f.exc, up = f.up;
      f.set(d2, 0x3fff, 0x80000000, 0);
      f.exc = exc; f.up = up;
    } else {
      if (c === C_ZERO) f.copy(d1, s); else this.put(d1, sc[0]);
      const exc = f.exc, up = f.up;
      this.put(d2, sc[1], c === C_ZERO);
      f.exc |= exc; f.up = up || f.up;
    }
    return true;
  }

  /** FYL2X, FPATAN, FYL2XP1: d = op(y = ST(1), x = ST(0)) */
  binary(modrm: number, d: number, ys: number, xs: number): void {
    const f = this.f, cy = f.classify(ys), cx = f.classify(xs), sy = f.sign(ys), sx = f.sign(xs);
    const invalid = (): void => { f.exc |= IE; f.setIndefinite(d); };
    if (modrm === 0xf3) { // FPATAN: atan2(y, x)
      if (this.denormal(ys, xs)) return;
      if (cy === C_ZERO) { if (sx) this.putPi(d, 4, sy); else f.setZero(d, sy); return; }
      if (cy === C_INF) { this.putPi(d, cx === C_INF ? (sx ? 3 : 1) : 2, sy); return; }
      if (cx === C_ZERO) { this.putPi(d, 2, sy); return; }
      if (cx === C_INF) { if (sx) this.putPi(d, 4, sy); else f.setZero(d, sy); return; }
      const y = abs(this.get(ys)), x = abs(this.get(xs));
      let r = cmpAbs(y, x) <= 0 ? atan(div(y, x)) : sub(HALF_PI, atan(div(x, y)));
      if (sx) r = sub(PI, r);
      this.put(d, sy ? neg(r) : r);
      return;
    }
    const p1 = modrm === 0xf9; // FYL2XP1: y * log2(1 + x), else FYL2X: y * log2(x)
    // negative x and the zero divide of log2(0) are reported before DE (FYL2XP1: only x = -inf)
    if (p1 && cx === C_INF && sx) { invalid(); return; }
    if (!p1) {
      if (sx && cx !== C_ZERO) { invalid(); return; }
      if (cx === C_ZERO) {
        if (cy === C_ZERO) invalid();
        else { if (cy !== C_INF) f.exc |= ZE; f.setInf(d, sy ^ 1); }
        return;
      }
    }
    if (this.denormal(ys, xs)) return;
    if (cx === C_INF) {
      if (sx || cy === C_ZERO) invalid(); else f.setInf(d, sy);
      return;
    }
    if (cx === C_ZERO) { // FYL2XP1 only
      if (cy === C_INF) invalid(); else f.setZero(d, sx ^ sy);
      return;
    }
    const x = this.get(xs);
    let lg: BF;
    if (!p1) lg = ln(x);
    else if (cmpAbs(x, QUARTER) < 0) lg = scale(atanh(div(x, add(int(2), x))), 1); // the documented domain
    else {
      const v = add(int(1), x);
      if (v.m <= 0n) { invalid(); return; }
      lg = ln(v);
    }
    lg = div(lg, LN2);
    const sl = isNeg(lg) ? 1 : 0;
    if (cy === C_INF) { if (lg.m === 0n) invalid(); else f.setInf(d, sy ^ sl); return; }
    if (cy === C_ZERO || lg.m === 0n) { f.setZero(d, sy ^ sl); return; }
    this.put(d, mul(this.get(ys), lg)); // inexact even when log2(x) is an integer, as the CPU reports
  }
}

/** natural logarithm of v > 0: v = m * 2^k with m in [sqrt(2)/2, sqrt(2)], ln m = 2 atanh((m-1)/(m+1)) */
function ln(v: BF): BF {
  let k = v.e + P - 1;
  let m = bf(v.m, -(P - 1));
  if (cmpAbs(m, SQRT2) > 0) { m = scale(m, -1); k++; }
  return add(mul(int(k), LN2), scale(atanh(div(sub(m, int(1)), add(m, int(1)))), 1));
}

const QUARTER = bf(1n, -2);
const SQRT2 = sqrt(int(2));
