/**
 * A minimal virtio 1.x driver for the tests: split rings laid out in guest RAM as the virtio 1.2
 * specification describes (2.7), written byte by byte through a DataView, independent of the
 * device's own ring code.
 */
export const F_NEXT = 1, F_WRITE = 2, F_INDIRECT = 4;

export class TestRing {
  constructor(readonly ram: Uint8Array, readonly size: number, readonly desc: number, readonly avail: number, readonly used: number) {}
  private get dv(): DataView { return new DataView(this.ram.buffer, this.ram.byteOffset, this.ram.byteLength); }
  availIdx = 0;
  lastUsed = 0;

  /** Ring addresses for a queue of `size` at `base` (desc, avail, used each aligned). */
  static at(ram: Uint8Array, size: number, base: number): TestRing {
    const desc = base, avail = desc + 16 * size, used = (avail + 6 + 2 * size + 3) & ~3;
    return new TestRing(ram, size, desc, avail, used);
  }

  setDesc(i: number, addr: number, len: number, flags: number, next = 0, table = this.desc): void {
    const d = this.dv, o = table + 16 * i;
    d.setUint32(o, addr, true); d.setUint32(o + 4, 0, true);
    d.setUint32(o + 8, len, true); d.setUint16(o + 12, flags, true); d.setUint16(o + 14, next, true);
  }

  /** Make head `head` available and publish the new avail index. */
  offer(head: number): void {
    const d = this.dv;
    d.setUint16(this.avail + 4 + 2 * (this.availIdx % this.size), head, true);
    this.availIdx = (this.availIdx + 1) & 0xffff;
    d.setUint16(this.avail + 2, this.availIdx, true);
  }

  setAvailIdx(v: number): void { this.availIdx = v & 0xffff; this.dv.setUint16(this.avail + 2, this.availIdx, true); }
  setAvailFlags(v: number): void { this.dv.setUint16(this.avail, v, true); }
  setUsedEvent(v: number): void { this.dv.setUint16(this.avail + 4 + 2 * this.size, v, true); }
  get availEvent(): number { return this.dv.getUint16(this.used + 4 + 8 * this.size, true); }
  get usedIdx(): number { return this.dv.getUint16(this.used + 2, true); }

  /** Used elements published since the last call: [id, len]. */
  takeUsed(): [number, number][] {
    const out: [number, number][] = [];
    const d = this.dv;
    while (this.lastUsed !== this.usedIdx) {
      const e = this.used + 4 + 8 * (this.lastUsed % this.size);
      out.push([d.getUint32(e, true), d.getUint32(e + 4, true)]);
      this.lastUsed = (this.lastUsed + 1) & 0xffff;
    }
    return out;
  }
}

/** Deterministic PRNG (xorshift32) for seeded tests. */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
}
