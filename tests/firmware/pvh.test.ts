// PVH direct boot (x86/HVM direct boot ABI; struct hvm_start_info from Xen's
// include/xen/interface/hvm/start_info.h) against QEMU, which implements the same ABI: a test
// kernel prints what it was handed under both; the default guest's vmlinux boots in QEMU.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PhysicalMemory } from '../../bus/memory.js';
import {
  detectKernel, e820Map, findPvhEntry, loadPvh, MEMMAP_ENTRY_SIZE, MODLIST_ENTRY_SIZE, START_INFO, XEN_HVM_START_MAGIC_VALUE,
} from '../../firmware/index.js';
import { dataFile, pattern, qemu, qemuAvailable, ts86 } from '../baremetal/harness.js';
import { cachedGuest } from '../../scripts/build-guest.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const MiB = 0x100000;

interface Seg { paddr: number; vaddr?: number; data: Uint8Array; memsz?: number }
interface Note { name: string; type: number; desc: Uint8Array }

/** An ELF32 executable as the System V ABI lays it out: header, program headers, then the bytes. */
function elf32(o: { entry?: number; segments: Seg[]; notes?: Note[]; elfClass?: number; machine?: number }): Uint8Array {
  const align4 = (n: number) => (n + 3) & ~3;
  const noteBytes = (o.notes ?? []).map((n) => {
    const name = new TextEncoder().encode(`${n.name}\0`);
    const b = new Uint8Array(12 + align4(name.length) + align4(n.desc.length));
    const v = new DataView(b.buffer);
    v.setUint32(0, name.length, true); v.setUint32(4, n.desc.length, true); v.setUint32(8, n.type, true);
    b.set(name, 12); b.set(n.desc, 12 + align4(name.length));
    return b;
  });
  const notes = new Uint8Array(noteBytes.reduce((s, b) => s + b.length, 0));
  noteBytes.reduce((off, b) => { notes.set(b, off); return off + b.length; }, 0);
  const phnum = o.segments.length + (notes.length ? 1 : 0);
  let off = 52 + 32 * phnum;
  const placed = o.segments.map((s) => { const at = off; off += s.data.length; return at; });
  const notesAt = off;
  off += notes.length;
  const img = new Uint8Array(off);
  const v = new DataView(img.buffer);
  img.set([0x7f, 0x45, 0x4c, 0x46, o.elfClass ?? 1, 1, 1]);
  v.setUint16(16, 2, true); // ET_EXEC
  v.setUint16(18, o.machine ?? 3, true); // EM_386
  v.setUint32(20, 1, true);
  v.setUint32(24, o.entry ?? o.segments[0]!.vaddr ?? o.segments[0]!.paddr, true);
  v.setUint32(28, 52, true); // e_phoff
  v.setUint16(40, 52, true); v.setUint16(42, 32, true); v.setUint16(44, phnum, true);
  const ph = (i: number, type: number, offset: number, vaddr: number, paddr: number, filesz: number, memsz: number) => {
    const p = 52 + 32 * i;
    [type, offset, vaddr, paddr, filesz, memsz, 7, 0x1000].forEach((x, k) => v.setUint32(p + 4 * k, x, true));
  };
  o.segments.forEach((s, i) => {
    ph(i, 1, placed[i]!, s.vaddr ?? s.paddr, s.paddr, s.data.length, s.memsz ?? s.data.length);
    img.set(s.data, placed[i]!);
  });
  if (notes.length) { ph(o.segments.length, 4, notesAt, 0, 0, notes.length, notes.length); img.set(notes, notesAt); }
  return img;
}

const le32 = (n: number) => Uint8Array.from([n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24]);
const pvhNote = (entry: number): Note => ({ name: 'Xen', type: 18, desc: le32(entry) });

/** A vmlinux-like kernel: code at 16 MiB linked at 0xC1000000, data with bss after it. */
function synthKernel(o: { entry?: number; code?: number; notes?: Note[] } = {}) {
  const code = pattern(0x3000, 11), data = pattern(0x1000, 12);
  return {
    code, data,
    img: elf32({
      entry: 0xc1000000,
      segments: [
        { paddr: o.code ?? 16 * MiB, vaddr: 0xc1000000, data: code },
        { paddr: (o.code ?? 16 * MiB) + 0x4000, vaddr: 0xc1004000, data, memsz: 0x3000 },
      ],
      notes: o.notes ?? [{ name: 'GNU', type: 3, desc: pattern(20, 1) }, { name: 'Xen', type: 17, desc: le32(0xdead) }, pvhNote((o.code ?? 16 * MiB) + 0x2c8)],
    }),
  };
}

const err = (fn: () => unknown, re: RegExp) => assert.throws(fn, (e: Error) => re.test(e.message), String(re));

test('loader: PT_LOAD at p_paddr, bss zeroed, EBX = start info at the start_info.h offsets', () => {
  const mem = new PhysicalMemory(128 * MiB);
  mem.writeBytes(16 * MiB + 0x5000, pattern(0x2000, 99)); // stale bytes where the bss goes
  const { img, code, data } = synthKernel();
  const initrd = pattern(10_000, 5);
  const st = loadPvh(mem, { kernel: img, initrd, cmdline: 'console=ttyS0 x=1' });
  assert.is(detectKernel(img), 'pvh');
  assert.is(st.eip, 16 * MiB + 0x2c8, 'the note, not e_entry');
  assert.is(st.regs.ebx, st.layout.startInfo);
  assert.is(st.cr0 & 0x80000001, 1, 'PE on, paging off');
  assert.is(st.eflags & 0x200, 0, 'IF clear');
  assert.ok(Buffer.compare(mem.ram.subarray(16 * MiB, 16 * MiB + code.length), code) === 0);
  assert.ok(Buffer.compare(mem.ram.subarray(16 * MiB + 0x4000, 16 * MiB + 0x5000), data) === 0);
  assert.ok(mem.ram.subarray(16 * MiB + 0x5000, 16 * MiB + 0x7000).every((b) => b === 0), 'bss zeroed');

  const dv = new DataView(mem.ram.buffer);
  const si = st.regs.ebx;
  const u64 = (a: number) => Number(dv.getBigUint64(a, true));
  assert.is(dv.getUint32(si + START_INFO.magic, true), XEN_HVM_START_MAGIC_VALUE);
  assert.is(dv.getUint32(si + START_INFO.version, true), 1);
  assert.is(dv.getUint32(si + START_INFO.nrModules, true), 1);
  assert.is(u64(si + START_INFO.rsdpPaddr), 0);
  let cmd = '';
  for (let a = u64(si + START_INFO.cmdlinePaddr); mem.ram[a]; a++) cmd += String.fromCharCode(mem.ram[a]!);
  assert.is(cmd, 'console=ttyS0 x=1');
  const mod = u64(si + START_INFO.modlistPaddr);
  const [addr, size] = [u64(mod), u64(mod + 8)];
  assert.is(size, initrd.length);
  assert.is(addr % 4096, 0);
  assert.ok(addr >= st.layout.kernel.end && addr + size <= 128 * MiB);
  assert.ok(Buffer.compare(mem.ram.subarray(addr, addr + size), initrd) === 0);
  const map = Array.from({ length: dv.getUint32(si + START_INFO.memmapEntries, true) }, (_, i) => {
    const e = u64(si + START_INFO.memmapPaddr) + i * MEMMAP_ENTRY_SIZE;
    return { addr: u64(e), size: u64(e + 8), type: dv.getUint32(e + 16, true) };
  });
  assert.equal(map, e820Map(128 * MiB));
  assert.is(START_INFO.size, 56);
  assert.is(MODLIST_ENTRY_SIZE, 32);
});

test('loader: no initrd means no modules; the default command line', () => {
  const mem = new PhysicalMemory(64 * MiB);
  const st = loadPvh(mem, { kernel: synthKernel().img });
  const dv = new DataView(mem.ram.buffer);
  assert.is(dv.getUint32(st.regs.ebx + START_INFO.nrModules, true), 0);
  assert.is(st.layout.initrd, undefined);
  assert.is(String.fromCharCode(...mem.ram.subarray(st.layout.cmdline, st.layout.cmdline + 13)), 'console=ttyS0');
});

test('detection and refusals', () => {
  const mem = () => new PhysicalMemory(32 * MiB);
  const noNote = elf32({ segments: [{ paddr: MiB, data: pattern(64, 1) }] });
  err(() => detectKernel(noNote), /ELF file without a Multiboot header or a PVH entry note/);
  assert.is(findPvhEntry(noNote), null);
  // A 64-bit or non-i386 ELF is not a kernel this machine can run, note or not.
  const elf64 = elf32({ elfClass: 2, segments: [{ paddr: MiB, data: pattern(64, 1) }], notes: [pvhNote(MiB)] });
  assert.is(findPvhEntry(elf64), null);
  err(() => detectKernel(elf64), /64-bit ELF file .* 32-bit \(i686\) machine/);
  assert.is(findPvhEntry(elf32({ machine: 62, segments: [{ paddr: MiB, data: pattern(64, 1) }], notes: [pvhNote(MiB)] })), null);
  // A note whose descriptor runs past its segment.
  const cut = elf32({ segments: [{ paddr: MiB, data: pattern(64, 1) }], notes: [pvhNote(MiB)] });
  assert.is(findPvhEntry(cut.subarray(0, cut.length - 2)), null);
  // As in QEMU, a Multiboot header wins over the note.
  const mb = new Uint8Array(64);
  new DataView(mb.buffer).setUint32(0, 0x1badb002, true);
  new DataView(mb.buffer).setUint32(8, (-0x1badb002) >>> 0, true);
  assert.is(detectKernel(elf32({ segments: [{ paddr: MiB, data: mb }], notes: [pvhNote(MiB)] })), 'multiboot');

  err(() => loadPvh(new PhysicalMemory(16 * MiB), { kernel: synthKernel().img }), /segment 0x1000000-0x1003000 is not in RAM between 1 MiB and 16\.0 MiB/);
  err(() => loadPvh(mem(), { kernel: synthKernel({ code: 0x80000 }).img }), /not in RAM between 1 MiB/);
  err(() => loadPvh(mem(), { kernel: synthKernel({ code: 4 * MiB, notes: [pvhNote(4 * MiB + 0x3800)] }).img }), /entry point 0x403800 is not inside the kernel's loaded code/);
  err(() => loadPvh(mem(), { kernel: synthKernel({ code: 4 * MiB, notes: [pvhNote(4 * MiB)] }).img, cmdline: 'x'.repeat(2048) }), /2048 bytes; a PVH Linux kernel accepts at most 2047/);
  err(() => loadPvh(mem(), { kernel: synthKernel({ code: 4 * MiB, notes: [pvhNote(4 * MiB)] }).img, initrd: new Uint8Array(30 * MiB) }), /initrd of 30\.0 MiB does not fit/);
});

// ---------------------------------------------------------------- against QEMU

const CACHE = join(HERE, '..', '..', 'node_modules', '.cache', 'ts86', 'firmware');

/** pvhinfo.asm linked by pvh.ld (lib.inc from tests/baremetal). */
function buildPvhinfo(): string {
  mkdirSync(CACHE, { recursive: true });
  const out = join(CACHE, 'pvhinfo.elf');
  const tmp = `${out}.${process.pid}`;
  const run = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.error?.message ?? r.stderr}`);
  };
  run('nasm', ['-f', 'elf32', '-w+error', `-I${join(HERE, '..', 'baremetal')}/`, '-o', `${tmp}.o`, join(HERE, 'pvhinfo.asm')]);
  run('ld', ['-m', 'elf_i386', '-z', 'max-page-size=0x1000', '--no-warn-rwx-segments', '-T', join(HERE, 'pvh.ld'), '-o', tmp, `${tmp}.o`]);
  rmSync(`${tmp}.o`);
  renameSync(tmp, out);
  return out;
}

const MODULE = dataFile('pvh-module.bin', pattern(5000, 3));

test('pvhinfo: what the kernel is handed, in ts86 and in QEMU', () => {
  const kernel = buildPvhinfo();
  const args = ['--kernel', kernel, '--initrd', MODULE, '--append', 'a b=c'];
  const t = ts86([...args, '--clock', 'virtual']);
  assert.is(t.status, 1, t.stderr);
  const sum = pattern(5000, 3).reduce((s, b) => s + b, 0).toString(16).padStart(8, '0');
  const hex64 = (n: number) => n.toString(16).padStart(16, '0');
  assert.is(t.stdout, [
    'magic 336ec578 version 1 flags 00000000 rsdp 00000000',
    'cmdline "a b=c"',
    'modules 1',
    `module size 5000 sum ${sum} page-aligned 1`,
    ...e820Map(128 * MiB).map((e) => `mem ${hex64(e.addr)} ${hex64(e.size)} ${e.type}`),
    'entry if 0 pe 1 pg 0',
    'exit 00000000', '',
  ].join('\n'));
  if (!qemuAvailable()) { console.log('  (qemu-system-i386 not installed: ts86 output checked alone)'); return; }
  const q = qemu(['-kernel', kernel, '-initrd', MODULE, '-append', 'a b=c', '-m', '128']);
  assert.is(q.status, 1, q.stderr);
  // QEMU has ACPI tables (rsdp) and SeaBIOS's memory map above 1 MiB; everything else agrees.
  const common = (s: string) => s.split('\n').filter((l) => !l.startsWith('mem ') || parseInt(l.slice(4, 20), 16) < MiB).join('\n').replace(/rsdp \w+/, 'rsdp -');
  assert.is(common(t.stdout), common(q.stdout));
});

test('cli: a PVH kernel takes one --initrd; a kernel that cannot load is one line, status 2', () => {
  const kernel = buildPvhinfo();
  for (const [args, re] of [
    [['--kernel', kernel, '--initrd', MODULE, '--initrd', MODULE], /a Linux kernel takes one --initrd/],
    [['--kernel', dataFile('pvh-high.elf', synthKernel({ code: 200 * MiB, notes: [pvhNote(200 * MiB)] }).img)], /PVH kernel segment 0xc800000-0xc803000 is not in RAM between 1 MiB and 128\.0 MiB/],
    [['--kernel', dataFile('elf-no-note.elf', elf32({ segments: [{ paddr: MiB, data: pattern(64, 1) }] }))], /without a Multiboot header or a PVH entry note/],
  ] as const) {
    const r = ts86(['--clock', 'virtual', ...args]);
    assert.is(r.stdout, '');
    assert.match(r.stderr, /^ts86: [^\n]+\n$/, `exactly one line: ${JSON.stringify(r.stderr)}`);
    assert.match(r.stderr, re);
    assert.is(r.status, 2);
  }
});

// ---------------------------------------------------------------- the default guest's vmlinux

const guest = cachedGuest();
if (!guest) console.log('  (the default guest is not built: run `node scripts/build-guest.mjs` to test its vmlinux)');
else {
  test('default guest: vmlinux carries the PVH note readelf and System.map agree on', () => {
    const img = new Uint8Array(readFileSync(guest.kernel));
    assert.is(detectKernel(img), 'pvh');
    const r = spawnSync('readelf', ['-n', guest.kernel], { encoding: 'utf8' });
    // binutils prints the Xen note as "Unknown note type: (0x00000012)" followed by its bytes.
    const m = /Xen\s+0x00000004\s+Unknown note type: \(0x00000012\)\s+description data: ((?:[0-9a-f]{2} ){4})/.exec(r.stdout);
    assert.ok(m, r.stdout);
    const bytes = m![1]!.trim().split(' ').map((b) => parseInt(b, 16));
    assert.is(findPvhEntry(img), (bytes[0]! | (bytes[1]! << 8) | (bytes[2]! << 16) | (bytes[3]! << 24)) >>> 0);
    const sym = /^([0-9a-f]{8}) t pvh_start_xen$/m.exec(readFileSync(guest.systemMap, 'utf8'));
    assert.ok(sym, 'pvh_start_xen in System.map');
    assert.is(findPvhEntry(img), parseInt(sym![1]!, 16) - 0xc0000000);
  });

  test('default guest: QEMU boots the vmlinux through PVH to the ready line', async () => {
    if (!qemuAvailable()) { console.log('  (qemu-system-i386 not installed)'); return; }
    const out = await new Promise<string>((resolve) => {
      const q = spawn('qemu-system-i386', ['-kernel', guest.kernel, '-initrd', guest.initrd, '-append', 'console=ttyS0', '-nographic', '-m', '128', '-no-reboot'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      const timer = setTimeout(() => q.kill('SIGKILL'), 60_000);
      q.stdout.setEncoding('latin1').on('data', (d: string) => { text += d; if (text.includes('ts86-guest: ready')) q.kill('SIGKILL'); });
      q.on('close', () => { clearTimeout(timer); resolve(text); });
    });
    assert.match(out, /ts86-guest: ready/);
    assert.not.match(out, /Unexpected magic value|Could not find memory map/);
  });
}

test.run();
