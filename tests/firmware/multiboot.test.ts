// Multiboot 0.6.96 loader: kernels assembled with nasm, info structure decoded per spec §3.3.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PhysicalMemory } from '../../bus/memory.js';
import { bootKernel, detectKernel, loadMultiboot } from '../../firmware/index.js';

const MiB = 0x100000;
const dir = mkdtempSync(join(tmpdir(), 'ts86-mb-'));

function nasm(name: string, src: string, format: 'bin' | 'elf32'): string {
  const asm = join(dir, `${name}.asm`), out = join(dir, `${name}.${format === 'bin' ? 'bin' : 'o'}`);
  writeFileSync(asm, src);
  execFileSync('nasm', ['-f', format, '-o', out, asm]);
  return out;
}

const ELF_SRC = `
bits 32
section .multiboot
align 4
  dd 0x1BADB002, 0x00000003, -(0x1BADB002 + 3)
section .text
global start
start:
  mov esp, stack_top
  hlt
  jmp start
section .data
msg: db 'elf-data', 0
section .bss
  resb 8192
stack_top:
`;
const LDS = 'ENTRY(start) SECTIONS { . = 0x100000; .text : { *(.multiboot) *(.text) } . = ALIGN(4096); .data : { *(.data) } .bss : { *(.bss) } }';

function elfKernel(): { image: Uint8Array; entry: number } {
  const obj = nasm('elf', ELF_SRC, 'elf32');
  writeFileSync(join(dir, 'k.lds'), LDS);
  const out = join(dir, 'k.elf');
  execFileSync('ld', ['-m', 'elf_i386', '-T', join(dir, 'k.lds'), '-o', out, obj]);
  const sym = execFileSync('nm', [out]).toString().split('\n').find((l) => / T start$/.test(l))!;
  return { image: new Uint8Array(readFileSync(out)), entry: parseInt(sym.split(' ')[0]!, 16) };
}

// a.out kludge: code before the header, trailing bytes past load_end_addr that must not be loaded.
const AOUT_SRC = `
bits 32
org 0x200000
start: jmp entry
  times 64 - ($ - $$) db 0x90
header:
  dd 0x1BADB002, 0x00010003, -(0x1BADB002 + 0x00010003)
  dd header, start, load_end, bss_end, entry
entry:
  hlt
  jmp entry
  db 'aout-data'
load_end:
  db 'TRAILING GARBAGE'
bss_end equ load_end + 0x3000
`;

const dv = (m: PhysicalMemory) => new DataView(m.ram.buffer);
const cstr = (m: PhysicalMemory, a: number) => { let s = ''; while (m.ram[a]) s += String.fromCharCode(m.ram[a++]!); return s; };

/** Decode the boot information structure (Multiboot 0.6.96 §3.3). */
function readInfo(m: PhysicalMemory, addr: number) {
  const v = dv(m);
  const u = (o: number) => v.getUint32(addr + o, true);
  const flags = u(0);
  const mods = [];
  if (flags & (1 << 3)) {
    for (let i = 0; i < u(20); i++) {
      const e = u(24) + i * 16;
      mods.push({ start: v.getUint32(e, true), end: v.getUint32(e + 4, true), string: cstr(m, v.getUint32(e + 8, true)) });
    }
  }
  const mmap = [];
  if (flags & (1 << 6)) {
    // Each entry starts with its size, which does not count the size field itself.
    for (let p = u(48); p < u(48) + u(44); p += v.getUint32(p, true) + 4) {
      mmap.push({ base: Number(v.getBigUint64(p + 4, true)), length: Number(v.getBigUint64(p + 12, true)), type: v.getUint32(p + 20, true) });
    }
  }
  return {
    flags, memLower: u(4), memUpper: u(8), cmdline: flags & (1 << 2) ? cstr(m, u(16)) : undefined,
    mods, mmap, loaderName: flags & (1 << 9) ? cstr(m, u(64)) : undefined,
  };
}

function checkCommon(m: PhysicalMemory, st: ReturnType<typeof loadMultiboot>) {
  assert.is(st.regs.eax, 0x2badb002);
  assert.is(st.regs.ebx, st.info);
  assert.is(st.eflags & 0x200, 0, 'IF clear');
  assert.is(st.cr0 & 0x80000001, 1, 'PE set, PG clear');
  // CS and DS: base 0, limit 4 GiB (G=1, limit 0xFFFFF), code execute/read and data read/write.
  const v = dv(m);
  for (const [sel, type] of [[st.cs, 0xa], [st.ds, 0x2]] as const) {
    const lo = v.getUint32(st.gdt.base + sel, true), hi = v.getUint32(st.gdt.base + sel + 4, true);
    assert.is(lo, 0x0000ffff);
    assert.is(hi & 0xff0f00ff, 0x000f0000, 'base 0, limit high nibble F');
    assert.is((hi >>> 23) & 1, 1, 'G');
    assert.is((hi >>> 22) & 1, 1, 'D/B 32-bit');
    assert.is((hi >>> 15) & 1, 1, 'present');
    assert.is((hi >>> 8) & 0xa, type);
  }
  const info = readInfo(m, st.info);
  assert.is(info.flags & (1 << 0), 1, 'mem_* valid');
  assert.is(info.flags & (1 << 1), 0, 'no boot device');
  assert.ok(info.memLower <= 640);
  assert.is(info.memLower, 0x9fc00 / 1024);
  assert.is(info.memUpper, (m.ramSize - MiB) / 1024);
  assert.is(info.loaderName, 'ts86');
  // Memory map: available RAM covers [0, mem_lower KiB) and [1 MiB, 1 MiB + mem_upper KiB).
  const avail = info.mmap.filter((e) => e.type === 1);
  assert.ok(avail.some((e) => e.base === 0 && e.length === info.memLower * 1024));
  assert.ok(avail.some((e) => e.base === MiB && e.length === info.memUpper * 1024));
  assert.ok(info.mmap.some((e) => e.type !== 1 && e.base === 0xfec00000));
  assert.ok(info.mmap.some((e) => e.type !== 1 && e.base === 0xfee00000));
  return info;
}

test('ELF kernel: PT_LOAD segments at p_paddr, bss zeroed, info structure', () => {
  const { image, entry } = elfKernel();
  assert.is(detectKernel(image), 'multiboot');
  const m = new PhysicalMemory(32 * MiB);
  m.ram.fill(0xcc);
  const mod1 = new Uint8Array(5000).fill(0x11), mod2 = new Uint8Array(10).fill(0x22);
  const st = loadMultiboot(m, { kernel: image, cmdline: 'kernel arg=1', modules: [{ data: mod1, cmdline: 'mod one' }, { data: mod2, cmdline: 'mod two' }] });
  assert.is(st.eip, entry);

  // Program headers read straight from the file (ELF32: e_phoff 28, e_phentsize 42, e_phnum 44).
  const v = new DataView(image.buffer, image.byteOffset);
  let kernelEnd = 0, sawBss = false;
  for (let i = 0; i < v.getUint16(44, true); i++) {
    const p = v.getUint32(28, true) + i * v.getUint16(42, true);
    if (v.getUint32(p, true) !== 1) continue;
    const off = v.getUint32(p + 4, true), paddr = v.getUint32(p + 12, true), filesz = v.getUint32(p + 16, true), memsz = v.getUint32(p + 20, true);
    assert.ok(Buffer.compare(m.ram.subarray(paddr, paddr + filesz), image.subarray(off, off + filesz)) === 0, `segment ${i} contents`);
    if (memsz > filesz) { sawBss = true; assert.ok(m.ram.subarray(paddr + filesz, paddr + memsz).every((b) => b === 0), 'bss zeroed'); }
    kernelEnd = Math.max(kernelEnd, paddr + memsz);
  }
  assert.ok(sawBss);
  assert.is(cstr(m, 0x101000), 'elf-data');

  const info = checkCommon(m, st);
  assert.is(info.flags & ((1 << 2) | (1 << 3) | (1 << 6) | (1 << 9)), (1 << 2) | (1 << 3) | (1 << 6) | (1 << 9));
  assert.is(info.cmdline, 'kernel arg=1');
  assert.is(info.mods.length, 2);
  for (const [i, data] of [mod1, mod2].entries()) {
    const md = info.mods[i]!;
    assert.is(md.start % 4096, 0, 'page aligned (header flag 0)');
    assert.is(md.end - md.start, data.length);
    assert.ok(Buffer.compare(m.ram.subarray(md.start, md.end), data) === 0);
  }
  assert.ok(info.mods[0]!.start >= kernelEnd, 'modules above the kernel, bss included');
  assert.ok(info.mods[1]!.start >= info.mods[0]!.end);
  assert.is(info.mods[0]!.string, 'mod one');
  assert.is(info.mods[1]!.string, 'mod two');
});

test('a.out kludge: load_addr..load_end_addr from the header offset, bss to bss_end_addr', () => {
  const image = new Uint8Array(readFileSync(nasm('aout', AOUT_SRC, 'bin')));
  const m = new PhysicalMemory(32 * MiB);
  m.ram.fill(0xcc);
  const st = bootKernel(m, image, { cmdline: '' }) as ReturnType<typeof loadMultiboot>;
  // Addresses per the header: header at file offset 64 = 0x200040; entry right after the 32-byte header.
  const hv = new DataView(image.buffer, image.byteOffset + 64);
  const [headerAddr, loadAddr, loadEnd, bssEnd, entryAddr] = [12, 16, 20, 24, 28].map((o) => hv.getUint32(o, true));
  assert.is(headerAddr, 0x200040);
  assert.is(loadAddr, 0x200000);
  assert.is(st.eip, entryAddr);
  assert.is(entryAddr, 0x200060);
  assert.ok(Buffer.compare(m.ram.subarray(loadAddr, loadEnd!), image.subarray(0, loadEnd! - loadAddr!)) === 0);
  assert.ok(m.ram.subarray(loadEnd!, bssEnd!).every((b) => b === 0), 'bss zeroed, trailing file bytes not loaded');
  assert.is(m.ram[bssEnd!], 0xcc, 'nothing written past bss_end_addr');
  const info = checkCommon(m, st);
  assert.is(info.flags & (1 << 3), 0, 'no modules');
  assert.is(info.cmdline, '');
});

test('refused: no header, bad checksum, video mode requirement, ELF without header', () => {
  const m = new PhysicalMemory(8 * MiB);
  const err = (f: () => unknown, re: RegExp) => { try { f(); assert.unreachable(); } catch (e) { assert.instance(e, Error); assert.match((e as Error).message, re); } };
  err(() => loadMultiboot(m, { kernel: new Uint8Array(9000) }), /not a Multiboot kernel/);
  const bad = new Uint8Array(readFileSync(nasm('bad', AOUT_SRC.replace('-(0x1BADB002 + 0x00010003)', '-(0x1BADB002 + 0x00010002)'), 'bin')));
  err(() => detectKernel(bad), /neither a Linux bzImage nor a Multiboot kernel/);
  const video = new Uint8Array(readFileSync(nasm('video', AOUT_SRC.replaceAll('0x00010003', '0x00010007'), 'bin')));
  err(() => loadMultiboot(m, { kernel: video }), /video mode/);
  // Header beyond the first 8192 bytes is not found.
  const late = new Uint8Array(readFileSync(nasm('late', AOUT_SRC.replace('times 64 -', 'times 8192 -'), 'bin')));
  err(() => loadMultiboot(m, { kernel: late }), /first 8192 bytes/);
  const elf = elfKernel().image.slice();
  const off = Buffer.from(elf).indexOf(Buffer.from([0x02, 0xb0, 0xad, 0x1b]));
  elf[off] = 0;
  err(() => detectKernel(elf), /ELF file without a Multiboot header/);
});

/** The a.out test kernel loaded at `org` with its bss ending `bss` bytes after the image. */
const aoutAt = (name: string, org: number, bss: number) =>
  new Uint8Array(readFileSync(nasm(name, AOUT_SRC.replace('org 0x200000', `org 0x${org.toString(16)}`).replace('load_end + 0x3000', `load_end + 0x${bss.toString(16)}`), 'bin')));

test('below 1 MiB: a kernel filling low RAM loads; modules and the loader structures go where it is not', () => {
  const m = new PhysicalMemory(32 * MiB);
  // 0x1000 up to 0x9F000: every low page the memory map offers except the last one.
  const image = aoutAt('low', 0x1000, 0x9e000 - 0x1000 - 0x40);
  const mod = new Uint8Array(5000).fill(0x5a);
  const st = loadMultiboot(m, { kernel: image, modules: [{ data: mod, cmdline: 'm' }], cmdline: 'c' });
  const kernel: [number, number] = [0x1000, 0x9e000];
  const info = checkCommon(m, st);
  assert.is(info.cmdline, 'c');
  assert.is(info.mods[0]!.string, 'm');
  const overlaps = (a: number, len: number) => a < kernel[1] && a + len > kernel[0];
  assert.not.ok(overlaps(st.info, 88), 'info block');
  assert.not.ok(overlaps(st.gdt.base, st.gdt.limit + 1), 'boot GDT');
  assert.not.ok(overlaps(info.mods[0]!.start, mod.length), 'module');
  assert.is(info.mods[0]!.start % 4096, 0, 'module page-aligned');
  assert.ok(m.ram.subarray(info.mods[0]!.start, info.mods[0]!.end).every((b) => b === 0x5a));
  assert.ok(m.ram.subarray(0x1000 + image.length, 0x9e000).every((b) => b === 0), 'the kernel bss is intact');
});

test('below 1 MiB: refused only where a segment meets a firmware area or leaves RAM', () => {
  const m = new PhysicalMemory(8 * MiB);
  const err = (f: () => unknown) => { try { f(); assert.unreachable(); } catch (e) { assert.match((e as Error).message, /is not in usable RAM/); } };
  err(() => loadMultiboot(m, { kernel: aoutAt('ebda', 0x9f000, 0x1000) })); // bss into the EBDA at 0x9FC00
  err(() => loadMultiboot(m, { kernel: aoutAt('hole', 0xa0000, 0x100) })); // the legacy hole
  err(() => loadMultiboot(m, { kernel: aoutAt('page0', 0x0, 0x100) })); // the IVT and BIOS data area
  assert.is(loadMultiboot(m, { kernel: aoutAt('low8k', 0x8000, 0x100) }).eip, 0x8060);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
