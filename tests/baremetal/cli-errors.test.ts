// Bad input to `ts86` ends it before the guest runs, with one line on stderr naming the problem and
// a non-zero status (2, as for any usage error; README "Running").
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { build, dataFile, pattern, ts86 } from './harness.js';

const KERNEL = build('exit', 'flat', { EXIT_VALUE: 0, EXIT_WIDTH: 1 });
const ROM = build('rom', 'flat', { ROM_KIB: 64 });
const JUNK = dataFile('junk.bin', pattern(4096, 7));
const HALF_ROM = dataFile('rom-32k.bin', pattern(32 * 1024, 8));
// An i386 ELF header with no Multiboot header after it.
const PLAIN_ELF = dataFile('plain.elf', Uint8Array.from([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1, ...new Array(57).fill(0)]));
const EMPTY = dataFile('empty.bin', new Uint8Array(0));
const MISSING = '/nonexistent/ts86-kernel.bin';

const CASES: [name: string, args: string[], message: RegExp][] = [
  ['a kernel that is neither a bzImage nor Multiboot', ['--kernel', JUNK], /kernel .*junk\.bin: .*neither a Linux bzImage nor a Multiboot kernel/],
  ['an ELF kernel without a Multiboot header', ['--kernel', PLAIN_ELF], /ELF file without a Multiboot header/],
  ['a missing kernel', ['--kernel', MISSING], /kernel \/nonexistent\/ts86-kernel\.bin: no such file/],
  ['an empty kernel', ['--kernel', EMPTY], /empty/],
  ['a directory as the kernel', ['--kernel', '/'], /kernel \/: not a regular file/],
  ['a missing module', ['--kernel', KERNEL, '--initrd', MISSING], /initrd \/nonexistent\/ts86-kernel\.bin: no such file/],
  ['a 32 KiB --bios image', ['--bios', HALF_ROM], /BIOS image \S+: must be 64 KiB or 128 KiB, not 32768 bytes/],
  ['a missing --bios image', ['--bios', MISSING], /BIOS image \/nonexistent\/ts86-kernel\.bin: no such file/],
  ['--bios with --kernel', ['--bios', ROM, '--kernel', KERNEL], /--bios and --kernel exclude each other/],
  ['an unknown option', ['--frobnicate'], /unknown option --frobnicate/],
  ['an option without its value', ['--kernel'], /--kernel needs a value/],
  ['a MAC address that is not six octets', ['--kernel', KERNEL, '--mac', '52:54:00:12:34'], /--mac 52:54:00:12:34: give six hex octets/],
  ['a multicast MAC address', ['--kernel', KERNEL, '--mac', '01:00:5e:00:00:01'], /--mac 01:00:5e:00:00:01: a multicast address/],
];

for (const [name, args, message] of CASES) {
  test(`cli: ${name} -> one line, status 2`, () => {
    const r = ts86(['--clock', 'virtual', ...args]);
    assert.is(r.stdout, '');
    assert.match(r.stderr, /^ts86: [^\n]+\n$/, `exactly one line: ${JSON.stringify(r.stderr)}`);
    assert.match(r.stderr, message);
    assert.is(r.status, 2);
  });
}

test.run();
