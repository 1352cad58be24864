/**
 * What a device model's data path sees of guest memory: the RAM array (possibly a
 * SharedArrayBuffer, when the data path runs in a worker), which pages are RAM, and where its DMA
 * writes must be reported so decoded CPU code over them is dropped.
 *
 * Every guest-supplied range is checked with `ok` before it is touched, so no access ever leaves
 * RAM (the legacy hole and anything above the top of RAM are refused).
 */
export interface DmaWriteSink {
  /** RAM in [addr, addr + length) was written by the device. */
  written(addr: number, length: number): void;
}

export class DmaRam {
  readonly u8: Uint8Array;
  readonly u16: Uint16Array;
  readonly u32: Uint32Array;
  readonly view: DataView;
  readonly size: number;

  /**
   * `ramPages[p]` is non-zero when physical page p is RAM (pages past its end are not).
   * `sink` hears of every write; in-thread it is PhysicalMemory.invalidateCode, from a worker a
   * shared dirty-page bitmap (`SharedDirtyPages`).
   */
  constructor(ram: Uint8Array, private readonly ramPages: Uint8Array, readonly sink: DmaWriteSink) {
    this.u8 = ram;
    this.size = ram.length;
    const buf = ram.buffer, off = ram.byteOffset;
    this.u16 = new Uint16Array(buf, off, ram.length >>> 1);
    this.u32 = new Uint32Array(buf, off, ram.length >>> 2);
    this.view = new DataView(buf, off, ram.length);
  }

  /** Is [addr, addr + length) plain RAM? `addr` and `length` are unsigned 32-bit values. */
  ok(addr: number, length: number): boolean {
    const end = addr + length;
    if (addr < 0 || length < 0 || end > this.size) return false;
    const last = (Math.max(end, addr + 1) - 1) >>> 12;
    for (let p = addr >>> 12; p <= last; p++) if (this.ramPages[p] !== 1) return false;
    return true;
  }
}

/** Pages of guest RAM as a byte map (1 = RAM), from the runs of RAM pages in the memory map. */
export function ramPageMap(ramRuns: [number, number][], ramSize: number, shared: boolean): Uint8Array {
  const n = ramSize >>> 12;
  const out = new Uint8Array(shared ? new SharedArrayBuffer(n) : new ArrayBuffer(n));
  for (const [p, q] of ramRuns) out.fill(1, p, Math.min(q, n));
  return out;
}

/**
 * DMA writes from a worker: one bit per RAM page in a SharedArrayBuffer plus a summary flag. The
 * worker marks pages; the CPU thread drains them before it runs guest code again and drops
 * decoded code on those pages (the guest only executes DMA'd bytes after the device told it so,
 * and that notification reaches the CPU thread after the drain).
 */
export class SharedDirtyPages implements DmaWriteSink {
  readonly words: Int32Array;

  constructor(ramSize: number, sab?: SharedArrayBuffer) {
    const words = 1 + ((ramSize >>> 12) + 31 >>> 5);
    this.words = new Int32Array(sab ?? new SharedArrayBuffer(words * 4));
  }

  get buffer(): SharedArrayBuffer { return this.words.buffer as SharedArrayBuffer; }

  written(addr: number, length: number): void {
    if (length <= 0) return;
    const w = this.words;
    const last = (addr + length - 1) >>> 12;
    for (let p = addr >>> 12; p <= last; p++) {
      const i = 1 + (p >>> 5), bit = 1 << (p & 31);
      if ((w[i]! & bit) === 0) Atomics.or(w, i, bit);
    }
    if (w[0] === 0) Atomics.store(w, 0, 1);
  }

  /** CPU thread: call `fn(page)` for every page marked since the last drain. */
  drain(fn: (page: number) => void): void {
    const w = this.words;
    if (Atomics.exchange(w, 0, 0) === 0) return;
    for (let i = 1; i < w.length; i++) {
      if (w[i] === 0) continue;
      let bits = Atomics.exchange(w, i, 0);
      while (bits !== 0) {
        const b = 31 - Math.clz32(bits & -bits);
        bits &= bits - 1;
        fn(((i - 1) << 5) + b);
      }
    }
  }
}
