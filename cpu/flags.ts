/** EFLAGS bits and the lazy arithmetic-flag state shared by all instruction handlers. */
export const CF = 0x1, PF = 0x4, AF = 0x10, ZF = 0x40, SF = 0x80, TF = 0x100, IF = 0x200, DF = 0x400, OF = 0x800;
export const IOPL = 0x3000, NT = 0x4000, RF = 0x10000, VM = 0x20000, AC = 0x40000, VIF = 0x80000, VIP = 0x100000, ID = 0x200000;
export const ARITH = CF | PF | AF | ZF | SF | OF;
/** Bits software can change at all on this i686 (bit 1 reads as one). */
export const EFLAGS_WRITABLE = ARITH | TF | IF | DF | IOPL | NT | RF | VM | AC | VIF | VIP | ID;

/** Lazy flag kinds: how CF/OF/AF follow from (a, b, result). */
export const enum Lazy { Add = 0, Sub = 1 }

/** PF for each low result byte: set when the byte has an even number of one bits. */
export const PARITY = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  let b = i; b ^= b >> 4; b ^= b >> 2; b ^= b >> 1;
  PARITY[i] = (b & 1) ? 0 : PF;
}
