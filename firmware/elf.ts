/**
 * ELF32 i386 executables (System V ABI, "ELF" chapter): the loadable segments and the notes, as
 * the Multiboot and PVH loaders read them. Segments load at their physical address (p_paddr).
 */

export interface ElfSegment {
  /** p_paddr: where the segment goes in guest RAM. */
  addr: number;
  vaddr: number;
  data: Uint8Array;
  /** p_memsz: the rest past `data` is zeroed (bss). */
  memSize: number;
}

export interface ElfNote { name: string; type: number; desc: Uint8Array }

export interface Elf32 {
  /** e_entry translated to a physical address through the segment holding it (else as is). */
  entry: number;
  segments: ElfSegment[];
  notes: ElfNote[];
}

const PT_LOAD = 1;
const PT_NOTE = 4;

export function isElf(image: Uint8Array): boolean {
  return image.length >= 4 && image[0] === 0x7f && image[1] === 0x45 && image[2] === 0x4c && image[3] === 0x46;
}

/** Parses an ELF32 i386 executable; `what` names the file in error messages ("Multiboot kernel"). */
export function parseElf32(image: Uint8Array, what: string): Elf32 {
  const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
  if (image.length < 52 || !isElf(image)) throw new Error(`${what} is not an ELF file`);
  if (image[4] !== 1 || image[5] !== 1 || dv.getUint16(18, true) !== 3) throw new Error(`${what} must be a 32-bit little-endian i386 ELF file`);
  const phoff = dv.getUint32(28, true), phentsize = dv.getUint16(42, true), phnum = dv.getUint16(44, true);
  if (phoff + phnum * phentsize > image.length || phentsize < 32) throw new Error('ELF program headers lie outside the file');
  const segments: ElfSegment[] = [];
  const notes: ElfNote[] = [];
  let entry = dv.getUint32(24, true);
  let entryMapped = false;
  for (let i = 0; i < phnum; i++) {
    const p = phoff + i * phentsize;
    const type = dv.getUint32(p, true);
    const offset = dv.getUint32(p + 4, true), vaddr = dv.getUint32(p + 8, true), paddr = dv.getUint32(p + 12, true);
    const fileSize = dv.getUint32(p + 16, true), memSize = dv.getUint32(p + 20, true);
    if ((type === PT_LOAD || type === PT_NOTE) && offset + fileSize > image.length) throw new Error(`ELF segment ${i} lies outside the file`);
    if (type === PT_NOTE) notes.push(...parseNotes(image.subarray(offset, offset + fileSize)));
    if (type !== PT_LOAD) continue;
    if (memSize < fileSize) throw new Error(`ELF segment ${i} has p_memsz below p_filesz`);
    segments.push({ addr: paddr, vaddr, data: image.subarray(offset, offset + fileSize), memSize });
    // A higher-half entry point is translated as its segment is.
    if (!entryMapped && entry >= vaddr && entry < vaddr + memSize) { entry = entry - vaddr + paddr; entryMapped = true; }
  }
  if (!segments.length) throw new Error(`${what} has no loadable (PT_LOAD) segment`);
  return { entry, segments, notes };
}

/** Notes of one PT_NOTE segment: namesz, descsz, type, then name and desc each padded to 4 bytes. */
function parseNotes(bytes: Uint8Array): ElfNote[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const notes: ElfNote[] = [];
  const align4 = (n: number) => (n + 3) & ~3;
  for (let off = 0; off + 12 <= bytes.length;) {
    const namesz = dv.getUint32(off, true), descsz = dv.getUint32(off + 4, true), type = dv.getUint32(off + 8, true);
    const nameAt = off + 12, descAt = nameAt + align4(namesz);
    if (namesz > bytes.length || descsz > bytes.length || descAt + descsz > bytes.length) throw new Error('ELF note runs past the end of its segment');
    // The name is NUL-terminated within namesz.
    const name = String.fromCharCode(...bytes.subarray(nameAt, nameAt + Math.max(0, namesz - 1)));
    notes.push({ name, type, desc: bytes.subarray(descAt, descAt + descsz) });
    off = descAt + align4(descsz);
  }
  return notes;
}
