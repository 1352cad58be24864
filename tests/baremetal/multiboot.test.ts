// Multiboot v1 through the real command line: the ELF kernel mbinfo reports its boot information
// on the debug console and exits through isa-debug-exit. What it must see comes from the Multiboot
// 0.6.96 specification, the options given (-m, --append, the module files) and ts86's documented
// memory map; QEMU's -kernel boots the same file, and its report must match wherever the
// specification leaves the loader no choice.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { build, dataFile, fnv1a, lines, pattern, qemu, qemuAvailable, ts86 } from './harness.js';

const withQemu = qemuAvailable();
const MIB = 128;
const KERNEL = build('mbinfo', 'elf');
// Sizes that are not a multiple of 4 or of a page, so a wrong length or alignment shows.
const MOD_A = pattern(5000, 0x1234), MOD_B = pattern(3, 0x99);
const FILE_A = dataFile('module-a.bin', MOD_A), FILE_B = dataFile('module-b.bin', MOD_B);
const APPEND = 'hello world x=1';
// A module given as "FILE ARGS": the file is loaded, the whole string is its command line (QEMU's -initrd rule).
const SPEC_A = `${FILE_A} arg1 arg2`;

const EXIT_VALUE = 0x20;
const EXIT_STATUS = (EXIT_VALUE << 1) | 1;
/** Info structure flags (Multiboot 0.6.96 §3.3): mem_*, cmdline, mods_*, mmap_*, boot_loader_name. */
const F_MEM = 1 << 0, F_BOOTDEV = 1 << 1, F_CMDLINE = 1 << 2, F_MODS = 1 << 3, F_MMAP = 1 << 6, F_LOADER = 1 << 9;

const hex = (n: number, digits = 8) => n.toString(16).padStart(digits, '0');
const hex64 = (n: number) => hex(n, 16);
const modLine = (i: number, data: Uint8Array, cmdline: string) =>
  `mod ${i} size ${data.length} aligned 1 above_kernel 1 fnv1a ${hex(fnv1a(data))} cmdline "${cmdline}"`;

interface Report { flags: number; memUpper: number; mmap: { base: number; len: number; type: number }[]; rest: string[] }

/** Splits a report into the fields whose values are the loader's choice and the lines that are not. */
function parse(out: string[]): Report {
  const r: Report = { flags: -1, memUpper: -1, mmap: [], rest: [] };
  for (const l of out) {
    let m: RegExpExecArray | null;
    if ((m = /^flags ([0-9a-f]{8})$/.exec(l))) r.flags = parseInt(m[1]!, 16);
    else if ((m = /^mem_upper (\d+)$/.exec(l))) r.memUpper = Number(m[1]);
    else if ((m = /^mmap ([0-9a-f]{16}) ([0-9a-f]{16}) (\d+)$/.exec(l))) r.mmap.push({ base: parseInt(m[1]!, 16), len: parseInt(m[2]!, 16), type: Number(m[3]) });
    else if (!/^loader /.test(l)) r.rest.push(l);
  }
  return r;
}

/** What the specification ties mem_upper to: the RAM from 1 MiB up to the first hole, and no more than -m. */
function checkMemUpper(r: Report, who: string): void {
  const high = r.mmap.find((e) => e.base === 0x100000);
  assert.ok(high && high.type === 1, `${who}: the memory map has RAM at 1 MiB`);
  assert.is(0x100000 + r.memUpper * 1024, high!.base + high!.len, `${who}: mem_upper ends where the RAM at 1 MiB ends`);
  assert.ok(high!.base + high!.len <= MIB << 20, `${who}: no RAM beyond -m`);
}

test('mbinfo (ELF): command line, modules, memory sizes and map through `ts86 --kernel`', () => {
  const r = ts86(['--kernel', KERNEL, '--initrd', SPEC_A, '--initrd', FILE_B, '--append', APPEND, '-m', String(MIB), '--clock', 'virtual']);
  assert.is(r.stderr, '');
  assert.equal(lines(r.stdout), [
    'magic 2badb002',
    `flags ${hex(F_MEM | F_CMDLINE | F_MODS | F_MMAP | F_LOADER)}`,
    'mem_lower 639', // 0x9FC00: the EBDA's 1 KiB is reserved
    `mem_upper ${(MIB - 1) * 1024}`,
    `cmdline "${KERNEL} ${APPEND}"`,
    'mods_count 2',
    modLine(0, MOD_A, SPEC_A),
    modLine(1, MOD_B, FILE_B),
    // README "The platform": RAM 0-639 KiB and 1 MiB-top; EBDA, BIOS area, IOAPIC and LAPIC reserved.
    `mmap ${hex64(0)} ${hex64(0x9fc00)} 1`,
    `mmap ${hex64(0x9fc00)} ${hex64(0x400)} 2`,
    `mmap ${hex64(0xf0000)} ${hex64(0x10000)} 2`,
    `mmap ${hex64(0x100000)} ${hex64((MIB << 20) - 0x100000)} 1`,
    `mmap ${hex64(0xfec00000)} ${hex64(0x1000)} 2`,
    `mmap ${hex64(0xfee00000)} ${hex64(0x1000)} 2`,
    'loader "ts86"',
    `exit ${hex(EXIT_VALUE)}`,
  ]);
  assert.is(r.status, EXIT_STATUS, 'isa-debug-exit: a write of V ends ts86 with status (V << 1) | 1');
  checkMemUpper(parse(lines(r.stdout)), 'ts86');
});

test('mbinfo: without --append or modules the command line is the kernel path and a space, as QEMU gives it', () => {
  const r = ts86(['--kernel', KERNEL, '-m', '64', '--clock', 'virtual']);
  assert.is(r.status, EXIT_STATUS);
  const out = lines(r.stdout);
  assert.ok(out.includes(`cmdline "${KERNEL} "`), out.join('\n'));
  assert.is(parse(out).flags & F_MODS, 0, 'no modules: mods_* not valid');
  assert.ok(out.includes(`mem_upper ${63 * 1024}`));
});

test('mbinfo: QEMU -kernel/-initrd give the same report where the specification fixes it', () => {
  if (!withQemu) { console.log('  (qemu-system-i386 not installed: QEMU comparison skipped)'); return; }
  const args = ['--initrd', SPEC_A, '--initrd', FILE_B, '--append', APPEND, '-m', String(MIB)];
  const t = ts86(['--kernel', KERNEL, ...args, '--clock', 'virtual']);
  const q = qemu(['-kernel', KERNEL, '-initrd', `${SPEC_A},${FILE_B}`, '-append', APPEND, '-m', String(MIB)]);
  assert.is(q.status, EXIT_STATUS, `QEMU status; stderr: ${q.stderr}`);
  assert.is(t.status, q.status);
  const tr = parse(lines(t.stdout)), qr = parse(lines(q.stdout));
  // Magic, mem_lower, command lines, every module byte, the exit: identical.
  assert.equal(tr.rest, qr.rest);
  // QEMU also sets boot_device (flag 1; hw/i386/multiboot.c); ts86 has no BIOS disk to name.
  assert.is(tr.flags, qr.flags & ~F_BOOTDEV);
  // Below 1 MiB the maps agree. Above, QEMU's map is SeaBIOS's e820 (its tables reserved at the top of
  // RAM, its ROM below 4 GiB) and its mem_upper follows that map; ts86 runs no BIOS. Both must obey the
  // specification's rule for mem_upper.
  assert.equal(tr.mmap.filter((e) => e.base < 0x100000), qr.mmap.filter((e) => e.base < 0x100000));
  checkMemUpper(tr, 'ts86');
  checkMemUpper(qr, 'QEMU');
  assert.ok(lines(q.stdout).includes('loader "qemu"'));
});

// QEMU keeps its own info structure at 0x9000 (hw/i386/multiboot.c), so it boots a kernel linked
// at 0x20000 but not one whose image covers 0x9000; ts86 places its structures around the kernel.
for (const at of [0x8000, 0x20000]) {
  test(`mbinfo linked at 0x${at.toString(16)} (below 1 MiB): runs with its modules${at === 0x20000 ? ', and QEMU gives the same report' : ''}`, () => {
    const low = build('mbinfo', 'elf', {}, at);
    const args = ['--initrd', SPEC_A, '--initrd', FILE_B, '--append', APPEND, '-m', String(MIB)];
    const t = ts86(['--kernel', low, ...args, '--clock', 'virtual']);
    assert.is(t.stderr, '');
    assert.is(t.status, EXIT_STATUS);
    const tr = parse(lines(t.stdout));
    assert.ok(tr.rest.includes(modLine(0, MOD_A, SPEC_A)) && tr.rest.includes(modLine(1, MOD_B, FILE_B)), t.stdout);
    assert.ok(tr.rest.includes(`cmdline "${low} ${APPEND}"`), t.stdout);
    if (!withQemu || at !== 0x20000) return;
    const q = qemu(['-kernel', low, '-initrd', `${SPEC_A},${FILE_B}`, '-append', APPEND, '-m', String(MIB)]);
    assert.is(q.status, EXIT_STATUS, `QEMU status; stderr: ${q.stderr}`);
    assert.equal(tr.rest, parse(lines(q.stdout)).rest);
  });
}

test('mbinfo: QEMU without modules — mods_count 0 where ts86 leaves the mods flag clear', () => {
  if (!withQemu) return;
  const t = ts86(['--kernel', KERNEL, '-m', '64', '--clock', 'virtual']);
  const q = qemu(['-kernel', KERNEL, '-m', '64']);
  assert.is(q.status, t.status);
  const tr = parse(lines(t.stdout)), qr = parse(lines(q.stdout));
  // QEMU always sets flag 3 and reports mods_count 0: the same "no modules" the clear flag says.
  assert.ok(qr.rest.includes('mods_count 0'));
  assert.equal(tr.rest, qr.rest.filter((l) => l !== 'mods_count 0'));
  assert.is(tr.flags, qr.flags & ~F_BOOTDEV & ~F_MODS);
});

test.run();
