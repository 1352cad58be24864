// PCI configuration mechanism #1, BAR sizing and decoding, capabilities and MSI-X, checked
// against the PCI Local Bus spec 3.0 (3.2.2.3.2, 6.2.5, 6.7, 6.8.2) and QEMU's conventions.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IoBus } from '../../bus/io.js';
import { PageKind, PhysicalMemory } from '../../bus/memory.js';
import { HostBridge, PciBus, PciFunction, type BarHandler } from '../../bus/pci/index.js';

const CF8 = 0xcf8, CFC = 0xcfc;
const addr = (dev: number, fn: number, reg: number, bus = 0): number => (0x80000000 | (bus << 16) | (dev << 11) | (fn << 8) | (reg & 0xfc)) >>> 0;

function setup() {
  const io = new IoBus();
  const mem = new PhysicalMemory(0x400000);
  const intx: [number, number, number, boolean][] = [];
  const msis: [number, number, number][] = [];
  const logs: string[] = [];
  const bus = new PciBus({ io, mem, setIntx: (d, f, p, l) => intx.push([d, f, p, l]), sendMsi: (lo, hi, data) => msis.push([lo, hi, data]), log: (l) => logs.push(l) });
  bus.add(new HostBridge(), 0);
  const cfgRead = (dev: number, fn: number, reg: number, size: 1 | 2 | 4 = 4, bus = 0): number => {
    io.write(CF8, 4, addr(dev, fn, reg, bus));
    return io.read(CFC + (reg & 3), size);
  };
  const cfgWrite = (dev: number, fn: number, reg: number, size: 1 | 2 | 4, v: number): void => {
    io.write(CF8, 4, addr(dev, fn, reg));
    io.write(CFC + (reg & 3), size, v);
  };
  return { io, mem, bus, intx, msis, logs, cfgRead, cfgWrite };
}

class Regs implements BarHandler {
  readonly log: string[] = [];
  read(off: number, size: number): number { this.log.push(`r${off}/${size}`); return 0x1000 + off; }
  write(off: number, size: number, v: number): void { this.log.push(`w${off}/${size}=${v.toString(16)}`); }
}

class TestDevice extends PciFunction {
  readonly io = new Regs();
  readonly mmio = new Regs();
  readonly moves: [number, number][] = [];
  readonly msixEvents: (number | null)[] = [];
  constructor() {
    super({ vendorId: 0x1af4, deviceId: 0x1041, classCode: 0x020000, revision: 1, interruptPin: 1 });
    this.defineBar(0, { kind: 'io', size: 0x20, handler: this.io });
    this.defineBar(1, { kind: 'mem', size: 0x1000 });
    this.defineBar(4, { kind: 'mem', size: 0x4000, prefetchable: true, handler: this.mmio });
    this.addVendorCapability(new Uint8Array([0xde, 0xad, 0xbe, 0xef, 0x01]));
    this.addMsix({ vectors: 3, bar: 1, tableOffset: 0, pbaOffset: 0x800 });
  }
  override barMapped(i: number, a: number): void { this.moves.push([i, a]); }
  override msixChanged(v: number | null): void { this.msixEvents.push(v); }
}

test('the memory window claims only pages nothing else decodes', () => {
  const mem = new PhysicalMemory(0x400000);
  const seen: string[] = [];
  const dev = (name: string) => ({ read: () => { seen.push(name); return 0x12345678; }, write: () => {} });
  // Chipset MMIO and a ROM inside the window, one at its very start and one touching its end.
  mem.mapMmio(0xc0000000, 0x2000, dev('first'), 'first');
  mem.mapMmio(0xd0003000, 0x1000, dev('middle'), 'middle');
  mem.mapRom(0xfebff000, new Uint8Array(0x1000).fill(0xab), 'last');
  const naive: [number, number][] = [];
  for (let p = 0xc0000; p < 0xfec00; p++) {
    if (mem.pageKind[p] !== PageKind.Unmapped) continue;
    if (naive.length && naive[naive.length - 1]![1] === p) naive[naive.length - 1]![1] = p + 1; else naive.push([p, p + 1]);
  }
  assert.equal(mem.runsOf(PageKind.Unmapped, 0xc0000, 0xfec00), naive);
  new PciBus({ io: new IoBus(), mem, setIntx: () => {}, sendMsi: () => {} });
  assert.is(mem.read(0xc0001ffc, 4), 0x12345678);
  assert.is(mem.read(0xd0003000, 4), 0x12345678);
  assert.equal(seen, ['first', 'middle']);
  assert.is(mem.read(0xfebffffc, 4), 0xabababab, 'the ROM still decodes');
  // Unclaimed window pages read as all ones through the window, not as unmapped memory.
  for (const a of [0xc0002000, 0xd0002ffc, 0xd0004000, 0xfebfeffc]) {
    assert.is(mem.pageKind[a >>> 12], PageKind.Mmio, `0x${a.toString(16)} is in the window`);
    assert.is(mem.read(a, 4), 0xffffffff);
  }
});

test('mechanism #1: CONFIG_ADDRESS is a dword register; disabled or absent targets read all ones', () => {
  const { io, cfgRead } = setup();
  io.write(CF8, 4, 0x80001234);
  assert.is(io.read(CF8, 4), 0x80001234, 'register readback');
  io.write(CF8, 4, 0x80001237);
  assert.is(io.read(CF8, 4), 0x80001234, 'bits 1:0 read 0');
  io.write(CF8, 1, 0x00); // byte writes do not reach CONFIG_ADDRESS
  assert.is(io.read(CF8, 4), 0x80001234);
  io.write(CF8, 4, 0x00000000); // enable bit clear: no configuration cycle
  assert.is(io.read(CFC, 4), 0xffffffff);
  assert.is(cfgRead(5, 0, 0), 0xffffffff, 'empty slot');
  assert.is(cfgRead(0, 3, 0), 0xffffffff, 'absent function');
  assert.is(cfgRead(0, 0, 0, 4, 1), 0xffffffff, 'bus 1 does not exist');
});

test('host bridge at 00:00.0 has the i440FX ids, class 06/00/00', () => {
  const { cfgRead } = setup();
  assert.is(cfgRead(0, 0, 0x00), 0x12378086);
  assert.is(cfgRead(0, 0, 0x08), 0x06000002, 'class 060000, revision 02');
  assert.is(cfgRead(0, 0, 0x0e, 1), 0, 'header type 0, single function');
  // Byte and word reads at every offset of CONFIG_DATA.
  assert.is(cfgRead(0, 0, 0x01, 1), 0x80);
  assert.is(cfgRead(0, 0, 0x02, 2), 0x1237);
  assert.is(cfgRead(0, 0, 0x03, 1), 0x12);
  assert.is(cfgRead(0, 0, 0x0b, 1), 0x06);
});

test('enumeration like Linux (vendor id scan, multi-function via header type bit 7)', () => {
  const m = setup();
  m.bus.add(new TestDevice(), 3);
  const f1 = new PciFunction({ vendorId: 0x8086, deviceId: 0x7000, classCode: 0x060100 });
  const f2 = new PciFunction({ vendorId: 0x8086, deviceId: 0x7010, classCode: 0x010180 });
  m.bus.add(f1, 1, 0);
  m.bus.add(f2, 1, 1);
  const found: string[] = [];
  for (let dev = 0; dev < 32; dev++) {
    for (let fn = 0; fn < 8; fn++) {
      const id = m.cfgRead(dev, fn, 0);
      if ((id & 0xffff) === 0xffff) { if (fn === 0) break; continue; }
      found.push(`${dev}.${fn} ${(id & 0xffff).toString(16)}:${(id >>> 16).toString(16)}`);
      if (fn === 0 && !(m.cfgRead(dev, 0, 0x0e, 1) & 0x80)) break;
    }
  }
  assert.equal(found, ['0.0 8086:1237', '1.0 8086:7000', '1.1 8086:7010', '3.0 1af4:1041']);
});

test('read-only, writable and write-1-to-clear header fields', () => {
  const m = setup();
  const d = new TestDevice();
  m.bus.add(d, 3);
  m.cfgWrite(3, 0, 0x00, 4, 0);
  assert.is(m.cfgRead(3, 0, 0x00), 0x10411af4, 'ids are read-only');
  m.cfgWrite(3, 0, 0x3c, 1, 0x0b);
  assert.is(m.cfgRead(3, 0, 0x3c), 0x0000010b, 'interrupt line writable, pin 1 (INTA#) read-only');
  m.cfgWrite(3, 0, 0x04, 2, 0xffff);
  assert.is(m.cfgRead(3, 0, 0x04, 2), 0x0547, 'command: I/O, memory, master, parity, SERR, INTx disable');
  d.config[0x07] |= 0x20; // received master abort (bit 13)
  m.cfgWrite(3, 0, 0x06, 2, 0x0000);
  assert.is(m.cfgRead(3, 0, 0x07, 1) & 0x20, 0x20, 'writing 0 leaves a W1C bit');
  m.cfgWrite(3, 0, 0x06, 2, 0x2000);
  assert.is(m.cfgRead(3, 0, 0x07, 1) & 0x20, 0, 'writing 1 clears it');
  assert.is(m.cfgRead(3, 0, 0x2c), 0x11001af4, 'QEMU default subsystem ids');
});

test('capability list: pointer at 0x34, vendor-specific (0x09) and MSI-X (0x11)', () => {
  const m = setup();
  m.bus.add(new TestDevice(), 3);
  assert.is(m.cfgRead(3, 0, 0x06, 2) & 0x10, 0x10, 'status: capabilities list');
  const caps: [number, number][] = [];
  for (let p = m.cfgRead(3, 0, 0x34, 1) & 0xfc, n = 0; p && n < 48; p = m.cfgRead(3, 0, p + 1, 1) & 0xfc, n++) caps.push([p, m.cfgRead(3, 0, p, 1)]);
  assert.equal(caps.map((c) => c[1]), [0x09, 0x11]);
  const v = caps[0]![0];
  assert.is(m.cfgRead(3, 0, v + 2, 1), 8, 'vendor capability length covers header and payload');
  assert.equal([3, 4, 5, 6, 7].map((k) => m.cfgRead(3, 0, v + k, 1)), [0xde, 0xad, 0xbe, 0xef, 0x01]);
  const x = caps[1]![0];
  assert.is(m.cfgRead(3, 0, x + 2, 2), 2, 'table size N-1, disabled, unmasked');
  assert.is(m.cfgRead(3, 0, x + 4), 0x00000001, 'table at BAR1 + 0');
  assert.is(m.cfgRead(3, 0, x + 8), 0x00000801, 'PBA at BAR1 + 0x800');
  m.cfgWrite(3, 0, x + 4, 4, 0x12345678);
  assert.is(m.cfgRead(3, 0, x + 4), 1, 'table offset/BIR read-only');
});

test('BAR sizing: write all ones, read back the size mask with the type bits', () => {
  const m = setup();
  m.bus.add(new TestDevice(), 3);
  const sizes: number[] = [];
  for (let i = 0; i < 6; i++) {
    const reg = 0x10 + i * 4;
    const orig = m.cfgRead(3, 0, reg);
    m.cfgWrite(3, 0, reg, 4, 0xffffffff);
    sizes.push(m.cfgRead(3, 0, reg));
    m.cfgWrite(3, 0, reg, 4, orig);
    assert.is(m.cfgRead(3, 0, reg), orig, `BAR${i} restored`);
  }
  // I/O 32 bytes: bit 0 set; memory 4 KiB; unused; unused; memory 16 KiB prefetchable (bit 3).
  assert.equal(sizes, [0xffffffe1, 0xfffff000, 0, 0, 0xffffc008, 0]);
  // Size as Linux computes it: lowest set bit of the address mask.
  const size = (v: number, mask: number): number => { const a = (v & mask) >>> 0; return (a & -a) >>> 0; };
  assert.is(size(sizes[0]!, 0xfffffffc), 0x20);
  assert.is(size(sizes[4]!, 0xfffffff0), 0x4000);
});

test('64-bit memory BAR: type 10b, the high dword sizes to all ones, decoded only below 4 GiB', () => {
  const m = setup();
  class Dev64 extends PciFunction {
    readonly regs = new Regs();
    readonly moves: [number, number][] = [];
    constructor() {
      super({ vendorId: 0x1af4, deviceId: 0x1041, classCode: 0x020000 });
      this.defineBar(2, { kind: 'mem', size: 0x4000, is64: true, prefetchable: true, handler: this.regs });
    }
    override barMapped(i: number, a: number): void { this.moves.push([i, a]); }
  }
  const d = new Dev64();
  m.bus.add(d, 4);
  assert.is(m.cfgRead(4, 0, 0x18), 0x0c, 'prefetchable, type 10b (64-bit), address 0');
  assert.is(m.cfgRead(4, 0, 0x1c), 0);
  // Linux's __pci_read_base: all ones to both halves, read back, restore.
  m.cfgWrite(4, 0, 0x18, 4, 0xffffffff);
  m.cfgWrite(4, 0, 0x1c, 4, 0xffffffff);
  const lo = m.cfgRead(4, 0, 0x18), hi = m.cfgRead(4, 0, 0x1c);
  assert.is(lo, 0xffffc00c);
  assert.is(hi, 0xffffffff);
  const mask = (BigInt(hi) << 32n) | BigInt((lo & ~0xf) >>> 0);
  assert.is(Number(mask & -mask), 0x4000, 'size from the combined 64-bit mask');
  m.cfgWrite(4, 0, 0x18, 4, 0xc0010000);
  m.cfgWrite(4, 0, 0x1c, 4, 0x00000001); // 0x1_C0010000: above 4 GiB
  m.cfgWrite(4, 0, 0x04, 2, 0x0002);
  assert.equal(d.moves, [], 'not reachable from a 32-bit physical address space');
  assert.is(m.mem.read(0xc0010000, 4), 0xffffffff);
  m.cfgWrite(4, 0, 0x1c, 4, 0);
  assert.equal(d.moves, [[2, 0xc0010000]]);
  assert.is(m.mem.read(0xc0010008, 4), 0x1008);
  assert.is(m.cfgRead(4, 0, 0x18), 0xc001000c);
  // The upper half is not a BAR of its own.
  assert.throws(() => d.defineBar(3, { kind: 'mem', size: 0x1000 }), RangeError);
  assert.throws(() => new PciFunction({ vendorId: 1, deviceId: 1, classCode: 0 }).defineBar(5, { kind: 'mem', size: 0x1000, is64: true }), RangeError);
  assert.throws(() => new PciFunction({ vendorId: 1, deviceId: 1, classCode: 0 }).defineBar(0, { kind: 'io', size: 0x10, is64: true }), RangeError);
});

test('Bus Master Enable gates MSI-X messages (they are memory writes); Memory Space gates the table', () => {
  const m = setup();
  const d = new TestDevice();
  m.bus.add(d, 3);
  m.cfgWrite(3, 0, 0x14, 4, 0xc0020000);
  m.cfgWrite(3, 0, 0x04, 2, 0x0002); // memory decode only
  assert.is(d.busMaster, false);
  m.cfgWrite(3, 0, 0x48 + 2, 2, 0x8000);
  m.mem.write(0xc0020000, 4, 0xfee00000);
  m.mem.write(0xc0020008, 4, 0x41);
  m.mem.write(0xc002000c, 4, 0);
  assert.ok(d.msixNotify(0));
  assert.equal(m.msis, [], 'bus mastering off: no message');
  m.cfgWrite(3, 0, 0x04, 2, 0x0006);
  assert.ok(d.msixNotify(0));
  assert.equal(m.msis, [[0xfee00000, 0, 0x41]]);
  m.cfgWrite(3, 0, 0x04, 2, 0x0004);
  assert.is(m.mem.read(0xc0020008, 4), 0xffffffff, 'table not decoded without Memory Space');
});

test('BAR decoding follows the command register and moves with the BAR; devices are told', () => {
  const m = setup();
  const d = new TestDevice();
  m.bus.add(d, 3);
  m.cfgWrite(3, 0, 0x10, 4, 0xc040);
  m.cfgWrite(3, 0, 0x20, 4, 0xc0004000);
  assert.is(m.io.read(0xc044, 2), 0xffff, 'not decoded while I/O space is disabled');
  assert.is(m.mem.read(0xc0004000, 4), 0xffffffff);
  m.cfgWrite(3, 0, 0x04, 2, 0x0003);
  assert.is(m.io.read(0xc044, 2), 0x1004, 'I/O BAR: offset 4');
  m.io.write(0xc05f, 1, 0x5a);
  assert.is(m.mem.read(0xc0004010, 4), 0x1010, 'memory BAR: offset 0x10');
  m.mem.write(0xc0007ffc, 4, 0xabcd);
  assert.equal(d.io.log, ['r4/2', 'w31/1=5a']);
  assert.equal(d.mmio.log, ['r16/4', 'w16380/4=abcd']);
  assert.equal(d.moves, [[0, 0xc040], [4, 0xc0004000]]);
  // Move the I/O BAR: the old ports float, the new ones decode.
  m.cfgWrite(3, 0, 0x10, 4, 0xd000);
  assert.is(m.io.read(0xc044, 2), 0xffff);
  assert.is(m.io.read(0xd000, 1), 0x00, 'low byte of 0x1000');
  assert.equal(d.moves.at(-1), [0, 0xd000]);
  // Sizing with decoding on: all ones puts the BAR at the top of the space, where it is not decoded.
  m.cfgWrite(3, 0, 0x20, 4, 0xffffffff);
  assert.equal(d.moves.at(-1), [4, -1]);
  m.cfgWrite(3, 0, 0x20, 4, 0xc0008000);
  assert.equal(d.moves.at(-1), [4, 0xc0008000]);
  m.cfgWrite(3, 0, 0x04, 2, 0);
  assert.equal(d.moves.slice(-2), [[0, -1], [4, -1]]);
  assert.is(m.mem.read(0xc0008000, 4), 0xffffffff);
});

test('BARs over RAM, outside the window or over other decoders stay unmapped (logged)', () => {
  const m = setup();
  const d = new TestDevice();
  m.bus.add(d, 3);
  m.io.register(0x3f8, 8, { read: () => 0x55, write: () => {} }, 'uart');
  m.cfgWrite(3, 0, 0x10, 4, 0x3e0); // 0x3e0-0x3ff overlaps the UART
  m.cfgWrite(3, 0, 0x20, 4, 0x00100000); // RAM
  m.cfgWrite(3, 0, 0x04, 2, 0x0003);
  assert.equal(d.moves, [], 'never decoded, so no change to report');
  assert.is(m.io.read(0x3f8, 1), 0x55);
  m.mem.write(0x100000, 4, 0x11223344);
  assert.is(m.mem.read(0x100000, 4), 0x11223344, 'RAM still RAM');
  assert.is(m.logs.length, 2);
  // Two BARs on the same page: the second loses, and is not retried on unrelated writes.
  m.cfgWrite(3, 0, 0x20, 4, 0xc0010000);
  m.cfgWrite(3, 0, 0x14, 4, 0xc0012000);
  m.cfgWrite(3, 0, 0x04, 2, 0x0003);
  assert.equal(d.moves, [[4, 0xc0010000]]);
  assert.is(m.logs.length, 3);
  assert.is(m.mem.read(0xc0012000, 4), 0x1000 + 0x2000, 'BAR4 keeps the page');
});

test('MSI-X: table writes, enable, per-vector and function masks, pending bits', () => {
  const m = setup();
  const d = new TestDevice();
  m.bus.add(d, 3);
  m.cfgWrite(3, 0, 0x14, 4, 0xc0020000);
  m.cfgWrite(3, 0, 0x04, 2, 0x0006);
  const T = 0xc0020000, PBA = 0xc0020800;
  const x = 0x40 + 8; // MSI-X follows the 8-byte vendor capability
  assert.is(m.cfgRead(3, 0, x, 1), 0x11);
  // Reset state: every vector masked, address/data 0.
  for (let v = 0; v < 3; v++) assert.is(m.mem.read(T + v * 16 + 12, 4), 1);
  assert.is(d.msixNotify(0), false, 'MSI-X disabled: the device falls back to INTx');
  m.cfgWrite(3, 0, x + 2, 2, 0x8000); // enable
  assert.equal(d.msixEvents, [null]);
  // Program vector 1 as Linux does: address, upper address, data, then unmask.
  m.mem.write(T + 16, 4, 0xfee01000);
  m.mem.write(T + 20, 4, 0);
  m.mem.write(T + 24, 4, 0x4041);
  assert.equal(d.msixVector(1), { addressLo: 0xfee01000, addressHi: 0, data: 0x4041, masked: true });
  assert.ok(d.msixNotify(1));
  assert.equal(m.msis, [], 'masked: held');
  assert.is(m.mem.read(PBA, 4), 0b10, 'pending bit 1');
  m.mem.write(T + 28, 4, 0);
  assert.equal(m.msis, [[0xfee01000, 0, 0x4041]], 'unmasking delivers the pending message');
  assert.is(m.mem.read(PBA, 4), 0);
  assert.equal(d.msixEvents, [null, 1, 1, 1]);
  assert.is(m.mem.read(T + 16, 4), 0xfee01000, 'table reads back');
  assert.is(m.mem.read(T + 24, 2), 0x4041, 'sub-dword read');
  // Function mask holds every vector.
  m.cfgWrite(3, 0, x + 2, 2, 0xc000);
  assert.ok(d.msixNotify(1));
  assert.is(m.msis.length, 1);
  assert.is(m.mem.read(PBA, 4), 0b10);
  m.mem.write(PBA, 4, 0); // PBA is read-only
  assert.is(m.mem.read(PBA, 4), 0b10);
  m.cfgWrite(3, 0, x + 2, 2, 0x8000);
  assert.equal(m.msis.at(-1), [0xfee01000, 0, 0x4041]);
  assert.is(d.msixNotify(5), false, 'no such vector');
  // Vector control bits other than the mask are reserved (read 0).
  m.mem.write(T + 12, 4, 0xfffffffe);
  assert.is(m.mem.read(T + 12, 4), 0);
});

test('INTx: level, Interrupt Disable, status bit 3, suppressed while MSI-X is enabled', () => {
  const m = setup();
  const d = new TestDevice();
  m.bus.add(d, 3);
  d.setIntx(true);
  assert.equal(m.intx, [[3, 0, 1, true]]);
  assert.is(m.cfgRead(3, 0, 0x06, 1) & 0x08, 0x08, 'interrupt status');
  m.cfgWrite(3, 0, 0x04, 2, 0x0400);
  assert.equal(m.intx.at(-1), [3, 0, 1, false], 'Interrupt Disable deasserts');
  assert.is(m.cfgRead(3, 0, 0x06, 1) & 0x08, 0x08, 'status still shows the request');
  m.cfgWrite(3, 0, 0x04, 2, 0x0000);
  assert.equal(m.intx.at(-1), [3, 0, 1, true]);
  m.cfgWrite(3, 0, 0x48 + 2, 2, 0x8000);
  assert.equal(m.intx.at(-1), [3, 0, 1, false], 'MSI-X enable deasserts INTx');
  d.setIntx(false);
  assert.is(m.cfgRead(3, 0, 0x06, 1) & 0x08, 0);
  assert.is(m.intx.length, 4);
});

test('accesses running past 0xCFF and past the end of a BAR are clipped, not passed on', () => {
  const m = setup();
  const d = new TestDevice();
  m.bus.add(d, 3);
  m.io.write(CF8, 4, addr(0, 0, 0));
  assert.is(m.io.read(0xcfe, 4), 0xffff1237, 'bytes beyond 0xCFF float');
  m.cfgWrite(3, 0, 0x10, 4, 0xc0e0);
  m.cfgWrite(3, 0, 0x04, 2, 0x0001);
  assert.is(m.io.read(0xc0fe, 4), 0xffff1f1e, 'dword at the last two ports of a 32-port BAR');
  assert.equal(d.io.log, ['r30/1', 'r31/1']);
});

test.run();
