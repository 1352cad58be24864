// Seeded random operands and machine states for the x87 differential tests: the value classes
// chosen to reach every special case (zeros, denormals, pseudo-denormals, unnormals, infinities,
// NaNs, extreme exponents, integers, halfway and near-halfway significands).

export class Rng {
  private s: number;
  constructor(seed: number) { this.s = seed >>> 0 || 1; }
  u32(): number { // xorshift32
    let x = this.s;
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    this.s = x;
    return x;
  }
  int(n: number): number { return this.u32() % n; }
  chance(p: number): boolean { return this.u32() / 0x100000000 < p; }
  pick<T>(a: readonly T[]): T { return a[this.int(a.length)]; }
}

export type Ext = [se: number, hi: number, lo: number];

/** A significand whose low bits sit around a rounding boundary (24, 53 or 64 bits, or an integer) */
function roundingSig(r: Rng): [number, number] {
  let hi = (r.u32() | 0x80000000) >>> 0, lo = r.u32();
  const keep = r.pick([24, 53, 64, 23, 52, 63, 1 + r.int(63)]);
  const cut = 64 - keep; // bits below the boundary
  if (cut > 0) {
    const pattern = r.int(5); // exact, half, just below half, just above half, all ones
    const below = (i: number): number => (pattern === 0 ? 0 : pattern === 1 ? (i === cut - 1 ? 1 : 0)
      : pattern === 2 ? (i === cut - 1 ? 0 : 1) : pattern === 3 ? (i === cut - 1 || i === 0 ? 1 : 0) : 1);
    for (let i = 0; i < cut; i++) {
      const b = below(i);
      if (i < 32) lo = b ? (lo | (1 << i)) >>> 0 : (lo & ~(1 << i)) >>> 0;
      else hi = b ? (hi | (1 << (i - 32))) >>> 0 : (hi & ~(1 << (i - 32))) >>> 0;
    }
  }
  return [(hi | 0x80000000) >>> 0, lo];
}

export function randExt(r: Rng): Ext {
  const s = r.chance(0.5) ? 0x8000 : 0;
  const k = r.int(100);
  if (k < 25) return [s | (0x3fff + r.int(81) - 40), (r.u32() | 0x80000000) >>> 0, r.u32()];
  if (k < 40) { const [h, l] = roundingSig(r); return [s | (0x3fff + r.int(129) - 64), h, l]; }
  if (k < 47) return [s | (1 + r.int(0x7ffe)), (r.u32() | 0x80000000) >>> 0, r.u32()];
  if (k < 53) { const [h, l] = roundingSig(r); return [s | (r.chance(0.5) ? 1 + r.int(80) : 0x7ffe - r.int(80)), h, l]; }
  if (k < 58) return [s, 0, 0];
  if (k < 63) return [s, r.u32() >>> r.int(32), r.chance(0.2) ? 0 : r.u32()];             // denormal
  if (k < 64) return [s, (r.u32() | 0x80000000) >>> 0, r.u32()];                            // pseudo-denormal
  if (k < 68) return [s | 0x7fff, 0x80000000, 0];                                            // infinity
  if (k < 72) return [s | 0x7fff, (r.u32() | 0xc0000000) >>> 0, r.chance(0.3) ? 0 : r.u32()]; // QNaN
  if (k < 76) return [s | 0x7fff, ((r.u32() & 0x3fffffff) | 0x80000000 | (r.chance(0.5) ? 0 : 1)) >>> 0, r.u32() | 1]; // SNaN
  if (k < 78) return [s | (r.chance(0.5) ? 0x7fff : 1 + r.int(0x7ffe)), r.u32() & 0x7fffffff, r.u32()]; // unsupported
  if (k < 90) { // small integers and simple fractions
    const v = r.int(1 << r.int(20)) + 1;
    const n = 31 - Math.clz32(v);
    return [s | (0x3fff + n - (r.chance(0.3) ? r.int(4) : 0)), (v << (31 - n)) >>> 0, 0];
  }
  // values exactly representable as double or single
  const dbl = r.chance(0.5);
  return [s | (0x3fff + r.int(dbl ? 200 : 60) - (dbl ? 100 : 30)), (r.u32() | 0x80000000) >>> 0, dbl ? r.u32() & 0xfffff800 : 0];
}

/** A second operand, often related to the first (equal, nearby, same binade) to reach cancellation */
export function relatedExt(r: Rng, a: Ext): Ext {
  const k = r.int(10);
  if (k === 0) return [a[0] ^ (r.chance(0.5) ? 0x8000 : 0), a[1], a[2]];
  if (k === 1) return [(a[0] & 0x8000) | ((a[0] & 0x7fff) + r.int(5) - 2) & 0x7fff, a[1], (a[2] + r.int(7) - 3) >>> 0];
  if (k === 2) return [(a[0] ^ (r.chance(0.5) ? 0x8000 : 0)), (r.u32() | 0x80000000) >>> 0, r.u32()];
  if (k === 3) return [(a[0] & 0x8000) ^ 0x8000 | ((a[0] & 0x7fff) - 64 - r.int(3)) & 0x7fff, (r.u32() | 0x80000000) >>> 0, r.u32()];
  return randExt(r);
}

export function randSingle(r: Rng): number {
  const s = r.chance(0.5) ? 0x80000000 : 0, k = r.int(20);
  if (k < 8) return (s | ((r.int(254) + 1) << 23) | (r.u32() & 0x7fffff)) >>> 0;
  if (k < 11) return (s | ((127 + r.int(20) - 10) << 23) | (r.u32() & 0x7fffff & ~((1 << r.int(23)) - 1))) >>> 0;
  if (k < 12) return s;
  if (k < 14) return (s | (r.u32() & 0x7fffff)) >>> 0;                   // denormal (or zero)
  if (k < 15) return (s | 0x7f800000) >>> 0;
  if (k < 16) return (s | 0x7fc00000 | (r.u32() & 0x3fffff)) >>> 0;      // QNaN
  if (k < 17) return (s | 0x7f800000 | (r.u32() & 0x3fffff) | 1) >>> 0;  // SNaN
  return (s | ((r.int(254) + 1) << 23) | (r.u32() & 0x7fffff)) >>> 0;
}

export function randDouble(r: Rng): [hi: number, lo: number] {
  const s = r.chance(0.5) ? 0x80000000 : 0, k = r.int(20);
  const lo = r.u32();
  if (k < 8) return [(s | ((r.int(2046) + 1) << 20) | (r.u32() & 0xfffff)) >>> 0, lo];
  if (k < 11) return [(s | ((1023 + r.int(40) - 20) << 20) | (r.u32() & 0xfffff)) >>> 0, lo & ~((1 << r.int(32)) - 1)];
  if (k < 12) return [s, 0];
  if (k < 14) return [(s | (r.u32() & 0xfffff >>> r.int(20))) >>> 0, lo];
  if (k < 15) return [(s | 0x7ff00000) >>> 0, 0];
  if (k < 16) return [(s | 0x7ff80000 | (r.u32() & 0x7ffff)) >>> 0, lo];
  if (k < 17) return [(s | 0x7ff00000 | (r.u32() & 0x7ffff)) >>> 0, lo | 1];
  return [(s | ((r.int(2046) + 1) << 20) | (r.u32() & 0xfffff)) >>> 0, lo];
}

export function randInt(r: Rng, bits: 16 | 32 | 64): [hi: number, lo: number] {
  const k = r.int(8);
  if (bits === 64) {
    if (k === 0) return r.pick([[0, 0], [0xffffffff, 0xffffffff], [0x80000000, 0], [0x7fffffff, 0xffffffff], [0, 1]] as [number, number][]);
    if (k < 3) { const v = r.u32() >>> r.int(32); return r.chance(0.5) ? [0, v] : [0xffffffff, (-v) >>> 0]; }
    return [r.u32() >>> r.int(32), r.u32()];
  }
  const mask = bits === 32 ? 0xffffffff : 0xffff;
  if (k === 0) return [0, r.pick([0, mask, bits === 32 ? 0x80000000 : 0x8000, bits === 32 ? 0x7fffffff : 0x7fff, 1])];
  return [0, (r.u32() >>> r.int(bits)) & mask];
}

/** The register state an instruction starts from */
export interface StateSpec {
  cw: number; sw: number; top: number;
  empty: number;          // bit per ST(i) that is empty
  regs: Ext[];            // ST(0..7)
}

export function randCW(r: Rng): number {
  const masks = r.chance(0.7) ? 0x3f : r.u32() & 0x3f;
  const pc = r.chance(0.5) ? 3 : r.pick([0, 2, 3, 1]);
  return 0x40 | masks | (pc << 8) | (r.int(4) << 10);
}

/** A state whose pending flags are all masked (so the instruction runs instead of raising #MF) */
export function randState(r: Rng, cw = randCW(r), emptyP = 0.1): StateSpec {
  const regs: Ext[] = [];
  for (let i = 0; i < 8; i++) regs.push(i > 0 && r.chance(0.3) ? relatedExt(r, regs[0]) : randExt(r));
  let empty = 0;
  for (let i = 0; i < 8; i++) if (r.chance(i === 7 ? 0.6 : emptyP)) empty |= 1 << i;
  const flags = r.chance(0.5) ? 0 : r.u32() & 0x7f & cw;
  const sw = flags | (r.u32() & 0x4700);
  return { cw, sw, top: r.int(8), empty, regs };
}

/** The 108-byte FRSTOR image (32-bit protected-mode layout) of a state */
export function stateImage(s: StateSpec): Uint8Array {
  const img = new Uint8Array(108), v = new DataView(img.buffer);
  v.setUint16(0, s.cw, true);
  v.setUint16(4, (s.sw & ~0x3800) | (s.top << 11), true);
  let tw = 0;
  for (let i = 0; i < 8; i++) if (s.empty & (1 << i)) tw |= 3 << (2 * ((s.top + i) & 7));
  v.setUint16(8, tw, true);
  s.regs.forEach((x, i) => {
    v.setUint32(28 + i * 10, x[2], true); v.setUint32(32 + i * 10, x[1], true); v.setUint16(36 + i * 10, x[0], true);
  });
  return img;
}

export function extBytes(x: Ext): Uint8Array {
  const b = new Uint8Array(10), v = new DataView(b.buffer);
  v.setUint32(0, x[2], true); v.setUint32(4, x[1], true); v.setUint16(8, x[0], true);
  return b;
}
export function u32Bytes(...w: number[]): Uint8Array {
  const b = new Uint8Array(w.length * 4), v = new DataView(b.buffer);
  w.forEach((x, i) => v.setUint32(i * 4, x >>> 0, true));
  return b;
}
