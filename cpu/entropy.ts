/**
 * Where RDRAND's values come from. With the realtime clock: the host's random generator (Web
 * Crypto, in Node and in browsers), drawn 64 values at a time. With the virtual clock a fixed-seed
 * xorshift128 stream, so a deterministic run stays deterministic: RDRAND there is a reproducible
 * source, not a secure one.
 */
export class Entropy {
  private readonly buf = new Int32Array(64);
  private left = 0;
  private s0 = 0x243f6a88; private s1 = 0x85a308d3; private s2 = 0x13198a2e; private s3 = 0x03707344;

  constructor(private readonly host: boolean) {}

  /** The next 32 random bits. */
  next(): number {
    if (this.host) {
      if (this.left === 0) { globalThis.crypto.getRandomValues(this.buf); this.left = this.buf.length; }
      return this.buf[--this.left]!;
    }
    // xorshift128 (Marsaglia 2003).
    let t = this.s3;
    const s = this.s0;
    this.s3 = this.s2; this.s2 = this.s1; this.s1 = s;
    t ^= t << 11; t ^= t >>> 8;
    this.s0 = t ^ s ^ (s >>> 19);
    return this.s0;
  }
}
