// fw_cfg items, file directory and DMA interface per QEMU's docs/specs/fw_cfg.rst.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IoBus } from '../../bus/io.js';
import { PhysicalMemory } from '../../bus/memory.js';
import { FW_CFG, FwCfg, type FwCfgOptions } from '../../devices/fw-cfg.js';

function setup(opts: Partial<FwCfgOptions> = {}) {
  const io = new IoBus();
  const mem = new PhysicalMemory(0x200000);
  const logs: string[] = [];
  const fw = new FwCfg(io, mem, { ramSize: 0x8000000, log: (l) => logs.push(l), ...opts });
  const read = (key: number, n: number): number[] => {
    io.write(0x510, 2, key);
    return Array.from({ length: n }, () => io.read(0x511, 1));
  };
  const be = (b: number[]): number => b.reduce((a, x) => a * 256 + x, 0);
  const le = (b: number[]): number => b.reduceRight((a, x) => a * 256 + x, 0);
  /** FWCfgDmaAccess at `desc`: control, length, 64-bit address (all big-endian); returns control after. */
  const dma = (desc: number, control: number, length: number, address: number | bigint): number => {
    const dv = new DataView(mem.ram.buffer);
    dv.setUint32(desc, control, false);
    dv.setUint32(desc + 4, length, false);
    dv.setBigUint64(desc + 8, BigInt(address), false);
    io.write(0x514, 4, 0);
    const swap = (v: number): number => ((v & 0xff) << 24 | (v & 0xff00) << 8 | (v >>> 8) & 0xff00 | v >>> 24) >>> 0;
    io.write(0x518, 4, swap(desc));
    return dv.getUint32(desc, false);
  };
  return { io, mem, fw, logs, read, be, le, dma };
}

test('fixed items: signature, ID, RAM size (u64 LE), CPU counts (u16 LE)', () => {
  const m = setup({ nbCpus: 1, maxCpus: 4 });
  assert.is(String.fromCharCode(...m.read(FW_CFG.SIGNATURE, 4)), 'QEMU');
  assert.is(m.le(m.read(FW_CFG.ID, 4)), 3);
  assert.is(m.le(m.read(FW_CFG.RAM_SIZE, 8)), 0x8000000);
  assert.is(m.le(m.read(FW_CFG.NB_CPUS, 2)), 1);
  assert.is(m.le(m.read(FW_CFG.MAX_CPUS, 2)), 4);
  assert.equal(m.read(FW_CFG.SIGNATURE, 6).slice(4), [0, 0], 'past the end: 0');
  assert.equal(m.read(FW_CFG.KERNEL_SIZE, 2), [0, 0], 'absent item: 0');
  const nodma = setup({ dma: false });
  assert.is(nodma.le(nodma.read(FW_CFG.ID, 4)), 1);
  assert.is(nodma.io.read(0x514, 4), 0xffffffff, 'no DMA register');
});

test('direct kernel boot items: addresses, sizes, data; the command line counts its NUL', () => {
  const kernel = new Uint8Array([1, 2, 3, 4, 5]);
  const initrd = new Uint8Array(300).fill(7);
  const m = setup({ kernel: { addr: 0x100000, data: kernel, entry: 0x100020 }, initrd: { addr: 0x7f00000, data: initrd }, cmdline: { addr: 0x20000, text: 'console=ttyS0' } });
  assert.is(m.le(m.read(FW_CFG.KERNEL_ADDR, 4)), 0x100000);
  assert.is(m.le(m.read(FW_CFG.KERNEL_SIZE, 4)), 5);
  assert.is(m.le(m.read(FW_CFG.KERNEL_ENTRY, 4)), 0x100020);
  assert.equal(m.read(FW_CFG.KERNEL_DATA, 6), [1, 2, 3, 4, 5, 0]);
  assert.is(m.le(m.read(FW_CFG.INITRD_ADDR, 4)), 0x7f00000);
  assert.is(m.le(m.read(FW_CFG.INITRD_SIZE, 4)), 300);
  assert.is(m.le(m.read(FW_CFG.CMDLINE_ADDR, 4)), 0x20000);
  assert.is(m.le(m.read(FW_CFG.CMDLINE_SIZE, 4)), 14);
  assert.is(String.fromCharCode(...m.read(FW_CFG.CMDLINE_DATA, 14)), 'console=ttyS0\0');
});

test('file directory: big-endian count, 64-byte entries sorted by name, selectors in that order', () => {
  const m = setup({
    e820: [{ addr: 0, size: 0x9fc00, type: 1 }, { addr: 0x100000, size: 0x7f00000, type: 1 }],
    files: { 'opt/b': new Uint8Array([0xbb]), 'bootorder': new Uint8Array([0x41, 0]) },
  });
  const count = m.be(m.read(FW_CFG.FILE_DIR, 4));
  assert.is(count, 3);
  const dir = m.read(FW_CFG.FILE_DIR, 4 + 64 * count).slice(4);
  const entries = Array.from({ length: count }, (_, i) => {
    const e = dir.slice(i * 64, i * 64 + 64);
    const name = String.fromCharCode(...e.slice(8, 64)).replace(/\0.*$/s, '');
    return { size: m.be(e.slice(0, 4)), select: m.be(e.slice(4, 6)), name };
  });
  assert.equal(entries, [
    { size: 2, select: 0x20, name: 'bootorder' },
    { size: 40, select: 0x21, name: 'etc/e820' },
    { size: 1, select: 0x22, name: 'opt/b' },
  ]);
  // etc/e820: packed { u64 address; u64 length; u32 type } little-endian.
  const e820 = m.read(0x21, 40);
  assert.is(m.le(e820.slice(20, 28)), 0x100000);
  assert.is(m.le(e820.slice(28, 36)), 0x7f00000);
  assert.is(m.le(e820.slice(36, 40)), 1);
  assert.is(m.fw.fileSelector('opt/b'), 0x22);
  m.fw.addFile('a', new Uint8Array([9]));
  assert.is(m.fw.fileSelector('a'), 0x20, 'adding a file keeps the directory sorted');
  assert.equal(m.read(0x20, 1), [9]);
  assert.equal(m.read(0x60, 1), [0], 'beyond the file slots');
});

test('DMA: select + read, reads past the end zero-fill, skip, write rejected, register reads 0 after', () => {
  const m = setup({ files: { 'opt/x': new Uint8Array([1, 2, 3, 4, 5, 6]) } });
  const sel = m.fw.fileSelector('opt/x')!;
  m.mem.ram.fill(0xee, 0x3000, 0x3010);
  assert.is(m.dma(0x1000, (sel << 16) | 8 | 2, 3, 0x3000), 0);
  assert.is(m.dma(0x1000, 4, 1, 0), 0, 'skip one byte');
  assert.is(m.dma(0x1000, 2, 6, 0x3003), 0, 'read on from offset 4, then zero-fill');
  assert.equal([...m.mem.ram.subarray(0x3000, 0x300a)], [1, 2, 3, 5, 6, 0, 0, 0, 0, 0xee]);
  assert.is(m.dma(0x1000, (sel << 16) | 8 | 16, 2, 0x3000), 1, 'items are read-only: error bit');
  assert.is(m.dma(0x1000, 0, 100, 0x3000), 0, 'no operation bits: nothing done');
});

test('DMA: guest mistakes set the error bit or are dropped, never touching memory outside RAM', () => {
  const m = setup();
  assert.is(m.dma(0x1000, 8 | 2, 0x10, 0x1ffff8), 1, 'destination runs past RAM');
  assert.is(m.dma(0x1000, 8 | 2, 0xffffffff, 0x0), 1, '4 GiB read');
  assert.is(m.dma(0x1000, 8 | 2, 4, 0x100000000n), 1, 'destination above 4 GiB');
  // A descriptor outside RAM is ignored.
  m.io.write(0x514, 4, 0);
  m.io.write(0x518, 4, 0x0000e0fe); // 0xfee00000 big-endian
  // High half set: the descriptor is above 4 GiB.
  m.io.write(0x514, 4, 0x01000000);
  m.io.write(0x518, 4, 0x00100000);
  assert.ok(m.logs.length >= 5);
  assert.is(m.io.read(0x514, 4), 0x554d4551, 'DMA register reads "QEMU CFG"');
});

test('selector reset: reset() selects the signature again', () => {
  const m = setup();
  m.io.write(0x510, 2, FW_CFG.ID);
  m.fw.reset();
  assert.is(m.io.read(0x511, 1), 0x51);
});

test.run();
