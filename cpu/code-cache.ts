// The decoded-block cache: blocks by (physical page, decode mode) slot and page offset, sized by use.
import type { Block } from './decode.js';

/**
 * The blocks of one slot by page offset: an open-addressing table (linear probing, offsets as their
 * own hash), grown at half load. A page holds tens of blocks, so this is a few hundred bytes where
 * a 4096-entry array would be 32 KiB.
 */
class BlockTable {
  /**
   * Page offset of each entry, -1 when empty. A plain array of small integers: a typed array of more
   * than 64 bytes has its memory outside the heap, ~0.5 us to allocate at every growth.
   */
  keys: number[] = new Array<number>(16).fill(-1);
  blocks: (Block | undefined)[] = new Array<Block | undefined>(16).fill(undefined);
  private count = 0;

  get(off: number): Block | undefined {
    const keys = this.keys, mask = keys.length - 1;
    for (let h = off & mask; ; h = (h + 1) & mask) {
      const k = keys[h]!;
      if (k === off) return this.blocks[h];
      if (k < 0) return undefined;
    }
  }

  set(off: number, b: Block): void {
    if ((this.count + 1) * 2 > this.keys.length) this.grow();
    const keys = this.keys, mask = keys.length - 1;
    let h = off & mask;
    while (keys[h]! >= 0 && keys[h] !== off) h = (h + 1) & mask;
    if (keys[h]! < 0) this.count++;
    keys[h] = off;
    this.blocks[h] = b;
  }

  private grow(): void {
    const keys = this.keys, blocks = this.blocks;
    this.keys = new Array<number>(keys.length * 2).fill(-1);
    this.blocks = new Array<Block | undefined>(keys.length * 2).fill(undefined);
    this.count = 0;
    for (let h = 0; h < keys.length; h++) if (keys[h]! >= 0) this.set(keys[h]!, blocks[h]!);
  }
}

/**
 * Slot = physical page * 4 + decode mode. The slots of RAM pages are indexed directly (the hot
 * path: no hashing, no allocation); slots above RAM (the BIOS ROM at the top of the 4 GiB space,
 * option ROMs, MMIO) are few and live in a Map.
 */
export class CodeCache {
  private readonly ram: (BlockTable | null)[];
  private readonly high = new Map<number, BlockTable>();

  constructor(ramBytes: number) {
    // fill() keeps V8's fast (non-dictionary) elements, as pushing each element does, at a
    // quarter of the cost (6 ms of every start with 128 MiB).
    this.ram = new Array<BlockTable | null>(Math.ceil(ramBytes / 4096) * 4).fill(null);
  }

  private table(slot: number): BlockTable | null | undefined {
    return slot < this.ram.length ? this.ram[slot] : this.high.get(slot);
  }

  get(slot: number, off: number): Block | undefined {
    const t = this.table(slot);
    return t ? t.get(off) : undefined;
  }

  add(slot: number, off: number, b: Block): void {
    let t = this.table(slot);
    if (!t) {
      t = new BlockTable();
      if (slot < this.ram.length) this.ram[slot] = t; else this.high.set(slot, t);
    }
    t.set(off, b);
  }

  /** Forgets every block of a slot. */
  drop(slot: number): void {
    if (slot < this.ram.length) this.ram[slot] = null; else this.high.delete(slot);
  }
}
