// Firmware ROMs through `ts86 --bios`: a 64 or 128 KiB image mapped at the top of the first MiB and
// at the top of 4 GiB, the CPU starting at F000:FFF0 in real mode with the reset state the SDM gives
// (Vol. 3A 9.1.1: CR0 60000010H, EFLAGS 2, EDX the processor signature). The ROM reaches protected
// mode and reports what it saw; QEMU's -bios runs the same image and must report the same.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { build, lines, qemu, qemuAvailable, ts86 } from './harness.js';

const withQemu = qemuAvailable();

for (const kib of [64, 128]) {
  test(`rom (${kib} KiB): reset vector in real mode, protected mode, both ROM mappings`, () => {
    const rom = build('rom', 'flat', { ROM_KIB: kib });
    const image = readFileSync(rom);
    assert.is(image.length, kib * 1024);
    const resetBytes = image.readUInt32LE(image.length - 16).toString(16).padStart(8, '0');
    const first = image.subarray(0, 4).toString('latin1'); // "LOW!" in a 128 KiB ROM's lower half
    const r = ts86(['--bios', rom, '--clock', 'virtual']);
    assert.is(r.stderr, '');
    assert.equal(lines(r.stdout), [
      'reset cs 0000f000 cr0 60000010 eflags 00000002 edx=cpuid(1).eax 1',
      'protected mode cr0.pe 1 cs 00000008',
      `rom start below 1 MiB "${first}" below 4 GiB "${first}"`,
      `reset vector below 4 GiB ${resetBytes} below 1 MiB ${resetBytes}`,
      'rom after write 600dc0de', // writes to the ROM are dropped
      'exit 0000002a',
    ]);
    assert.is(r.status, (0x2a << 1) | 1);
    if (!withQemu) return;
    const q = qemu(['-bios', rom, '-m', '128']);
    assert.is(q.status, r.status, q.stderr);
    assert.is(q.stdout, r.stdout);
  });
}

test.run();
