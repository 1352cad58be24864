// QEMU's debug devices through the real command line, each as QEMU documents it: isa-debug-exit
// (hw/misc/debugexit.c: status (V << 1) | 1), debugcon on stdout, fw_cfg (docs/specs/fw_cfg.rst),
// pc-testdev (hw/misc/pc-testdev.c) and the POST port with `--debug post`. Expected reports are
// written from those documents; when QEMU is installed it runs the same kernels and must print
// the same reports and exit with the same status.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { build, lines, qemu, qemuAvailable, ts86 } from './harness.js';

const withQemu = qemuAvailable();
const FWCFG = build('fwcfg', 'flat');
const TESTDEV = build('testdev', 'flat');
const hex = (n: number, digits = 8) => n.toString(16).padStart(digits, '0');

function fwcfgReport(mib: number): string[] {
  return [
    'signature "QEMU"',
    'id 00000003', // traditional interface and DMA
    'nb_cpus 1',
    'max_cpus 1',
    `ram_size ${hex(mib * 2 ** 20, 16)}`,
    `dma_ram_size ${hex(mib * 2 ** 20, 16)} control 00000000`, // control 0: the transfer succeeded
    'pci 00:00.0 12378086 00:03.0 ffffffff', // i440FX host bridge; no card in slot 3
    'exit 00000033',
  ];
}

for (const mib of [64, 300]) {
  test(`fwcfg: signature, ID, CPU counts and RAM size (-m ${mib}) through ports and DMA`, () => {
    const r = ts86(['--kernel', FWCFG, '-m', String(mib), '--no-default-devices', '--clock', 'virtual']);
    assert.is(r.stderr, '');
    assert.equal(lines(r.stdout), fwcfgReport(mib));
    assert.is(r.status, (0x33 << 1) | 1, 'a word write of 0x33');
    if (!withQemu) return;
    const q = qemu(['-kernel', FWCFG, '-m', String(mib)]);
    assert.is(q.status, r.status, q.stderr);
    assert.is(q.stdout, r.stdout);
  });
}

const TESTDEV_REPORT = [
  'e0 dword 12345678',
  'e1 byte c0c0c056', // byte 1 of the register; the rest of EAX is untouched by IN AL
  'e2 word c0c01234',
  'e0 after byte write to e3 ab345678',
  'e0 after word write to e0 ab34cdef',
  'e8 byte c0c0c0ef', // 0xE8-0xEB: the same register, byte-wide
  'ea byte c0c0c034',
  'e0 after byte write to eb 5534cdef',
  'iomem 0 dead77ef fffc 01020304', // 0xFF000000: 64 KiB of little-endian scratch memory
  'irq after write 0: 0', // port 0x2000 + n sets ISA line n to (value != 0)
  'irq after write 1: 1',
  'irq after write ff: 2 other vectors: 0',
  'exit 00000042',
];

test('pc-testdev: scratch register, byte window, memory window, IRQ line 3 through the 8259', () => {
  const r = ts86(['--kernel', TESTDEV, '--clock', 'virtual']);
  assert.is(r.stderr, '', 'no POST output without --debug post');
  assert.equal(lines(r.stdout), TESTDEV_REPORT);
  assert.is(r.status, (0x42 << 1) | 1, 'a dword write of 0x42');
  if (!withQemu) return;
  const q = qemu(['-kernel', TESTDEV, '-device', 'pc-testdev', '-m', '128']);
  assert.is(q.status, r.status, q.stderr);
  assert.is(q.stdout, r.stdout);
});

// QEMU has no printer for port 0x80; the codes are what testdev.asm writes.
test('POST codes: --debug post prints each byte written to port 0x80 on stderr, in order', () => {
  const r = ts86(['--kernel', TESTDEV, '--debug', 'post', '--clock', 'virtual']);
  assert.is(r.status, (0x42 << 1) | 1);
  assert.equal(lines(r.stdout), TESTDEV_REPORT, 'the console output is unchanged');
  assert.is(r.stderr, 'POST 0x01\nPOST 0x02\nPOST 0x03\nPOST 0xff\n');
});

// The host sees the low 8 bits of (V << 1) | 1 (QEMU calls exit() with it; so does ts86).
const EXITS: [value: number, width: 1 | 2 | 4, status: number][] = [
  [0x00, 1, 1], [0x7f, 1, 0xff], [0x80, 1, 1], [0x1234, 2, 0x69], [0xffffffff, 4, 0xff],
];

for (const [value, width, status] of EXITS) {
  test(`isa-debug-exit: a ${width}-byte write of 0x${value.toString(16)} ends with status ${status}`, () => {
    const kernel = build('exit', 'flat', { EXIT_VALUE: `0x${value.toString(16)}`, EXIT_WIDTH: width });
    const r = ts86(['--kernel', kernel, '--clock', 'virtual']);
    assert.is(r.stderr, '');
    assert.is(r.stdout, '');
    assert.is(r.status, status);
    if (!withQemu) return;
    assert.is(qemu(['-kernel', kernel, '-m', '128']).status, status);
  });
}

test.run();
