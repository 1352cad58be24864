// isa-debug-exit, debugcon, pc-testdev and the POST port driven from the host side, against
// QEMU's documented behaviour (hw/misc/debugexit.c, hw/char/debugcon.c, hw/misc/pc-testdev.c).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IoBus } from '../../bus/io.js';
import { PhysicalMemory } from '../../bus/memory.js';
import { DebugExit } from '../../devices/debug-exit.js';
import { Debugcon } from '../../devices/debugcon.js';
import { PcTestdev, TESTDEV_IOMEM_BASE } from '../../devices/pc-testdev.js';
import { PostCode } from '../../devices/post-code.js';

test('isa-debug-exit: any write of V at any of its ports exits with (V << 1) | 1; reads are 0', () => {
  const io = new IoBus();
  const codes: number[] = [];
  const d = new DebugExit(io, (s) => codes.push(s));
  assert.is(d.iobase, 0xf4);
  assert.is(d.iosize, 4);
  io.write(0xf4, 1, 0x00);
  io.write(0xf5, 1, 0x10);
  io.write(0xf4, 2, 0x1234);
  io.write(0xf4, 4, 0xffffffff);
  assert.equal(codes, [1, 0x21, 0x2469, 0x1ffffffff]);
  assert.is(io.read(0xf4, 4), 0);
  assert.is(io.ownerName(0xf8), undefined, 'iosize 4');
  const io2 = new IoBus();
  new DebugExit(io2, (s) => codes.push(s), { iobase: 0x501, iosize: 2 });
  io2.write(0x503, 1, 3);
  assert.is(codes.length, 4, 'QEMU default placement 0x501-0x502, when asked for');
  io2.write(0x502, 1, 3);
  assert.is(codes.at(-1), 7);
});

test('debugcon: bytes to the output, reads return the readback value', () => {
  const io = new IoBus();
  const out: number[] = [];
  new Debugcon(io, (b) => out.push(b));
  for (const c of 'hi\n') io.write(0xe9, 1, c.charCodeAt(0));
  assert.equal(String.fromCharCode(...out), 'hi\n');
  assert.is(io.read(0xe9, 1), 0xe9);
  io.write(0xe9, 2, 0x4142);
  assert.is(out.length, 3, 'QEMU takes byte accesses only');
  const io2 = new IoBus();
  new Debugcon(io2, () => {}, { iobase: 0x402, readback: 0x5a });
  assert.is(io2.read(0x402, 1), 0x5a);
});

test('pc-testdev: IRQ line ports raise and lower lines 0-23 with byte writes', () => {
  const io = new IoBus();
  const mem = new PhysicalMemory(0x100000);
  const lines: [number, boolean][] = [];
  new PcTestdev(io, mem, (irq, level) => lines.push([irq, level]), { log: () => {} });
  io.write(0x2000, 1, 1);
  io.write(0x200e, 1, 0x80);
  io.write(0x200e, 1, 0);
  io.write(0x2017, 1, 1);
  io.write(0x2001, 2, 1); // byte-only region
  assert.equal(lines, [[0, true], [14, true], [14, false], [23, true]]);
  assert.is(io.ownerName(0x2018), undefined);
  assert.is(io.read(0x2000, 1), 0);
});

test('pc-testdev: scratch register and 64 KiB iomem at 0xFF000000', () => {
  const io = new IoBus();
  const mem = new PhysicalMemory(0x100000);
  const t = new PcTestdev(io, mem, () => {}, { log: () => {} });
  io.write(0xe0, 4, 0xa1b2c3d4);
  assert.is(io.read(0xe3, 1), 0xa1);
  io.write(0xe8, 4, 0x01020304); // split into bytes, same register
  assert.is(t.ioportData, 0x01020304);
  io.write(0xea, 2, 0xffee);
  assert.is(io.read(0xe0, 4), 0xffee0304);
  mem.write(TESTDEV_IOMEM_BASE + 0xfffe, 2, 0xbeef);
  assert.is(mem.read(TESTDEV_IOMEM_BASE + 0xffff, 1), 0xbe);
  assert.is(mem.read(TESTDEV_IOMEM_BASE + 0x10000, 1), 0xff, 'window ends at 64 KiB');
});

test('pc-testdev leaves 0xE9 to a debug console created first', () => {
  const io = new IoBus();
  const mem = new PhysicalMemory(0x100000);
  const out: number[] = [];
  new Debugcon(io, (b) => out.push(b));
  new PcTestdev(io, mem, () => {}, { log: () => {} });
  io.write(0xe9, 1, 0x41);
  assert.equal(out, [0x41]);
  assert.is(io.ownerName(0xe8), 'pc-testdev-ioport-byte');
});

test('POST port: bytes reported with their port, reads float; a second port can be added', () => {
  const io = new IoBus();
  const codes: [number, number][] = [];
  const p = new PostCode(io, (c, port) => codes.push([c, port]), { ports: [0x80, 0x84] });
  io.write(0x80, 1, 0x55);
  io.write(0x84, 1, 0xaa);
  io.write(0x80, 2, 0x1234);
  assert.equal(codes, [[0x55, 0x80], [0xaa, 0x84], [0x34, 0x80]]);
  assert.is(p.last, 0x34);
  assert.is(io.read(0x80, 1), 0xff);
});

test.run();
