// MP tables parsed independently, per the Intel MultiProcessor Specification 1.4 (chapter 4).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PhysicalMemory } from '../../bus/memory.js';
import { writeMpTable, pciIntxGsi } from '../../firmware/index.js';

const str = (b: Uint8Array, off: number, n: number) => String.fromCharCode(...b.subarray(off, off + n));
const sum = (b: Uint8Array) => b.reduce((a, x) => (a + x) & 0xff, 0);

/** Find and decode the tables the way an OS does: scan 0xF0000–0xFFFFF on 16-byte boundaries. */
function parseMp(mem: PhysicalMemory) {
  const ram = mem.ram;
  const dv = new DataView(ram.buffer);
  let fp = -1;
  for (let a = 0xf0000; a < 0x100000; a += 16) {
    if (str(ram, a, 4) === '_MP_' && ram[a + 8] === 1 && sum(ram.subarray(a, a + 16)) === 0) { fp = a; break; }
  }
  assert.ok(fp >= 0, 'floating pointer found');
  const floating = { addr: fp, table: dv.getUint32(fp + 4, true), length: ram[fp + 8], rev: ram[fp + 9], feature1: ram[fp + 11], feature2: ram[fp + 12] };
  const t = floating.table;
  assert.is(str(ram, t, 4), 'PCMP');
  const baseLength = dv.getUint16(t + 4, true);
  const header = {
    baseLength, rev: ram[t + 6], oem: str(ram, t + 8, 8), product: str(ram, t + 16, 12),
    oemTable: dv.getUint32(t + 28, true), count: dv.getUint16(t + 34, true), lapic: dv.getUint32(t + 36, true),
    extLength: dv.getUint16(t + 40, true), checksumOk: sum(ram.subarray(t, t + baseLength)) === 0,
  };
  const entries: Record<string, number | string>[] = [];
  let p = t + 44;
  for (let i = 0; i < header.count; i++) {
    const type = ram[p]!;
    if (type === 0) {
      entries.push({ type, lapicId: ram[p + 1]!, lapicVer: ram[p + 2]!, flags: ram[p + 3]!, signature: dv.getUint32(p + 4, true), features: dv.getUint32(p + 8, true) });
      p += 20;
    } else {
      const e: Record<string, number | string> = { type };
      if (type === 1) Object.assign(e, { busId: ram[p + 1]!, busType: str(ram, p + 2, 6) });
      else if (type === 2) Object.assign(e, { id: ram[p + 1]!, ver: ram[p + 2]!, flags: ram[p + 3]!, addr: dv.getUint32(p + 4, true) });
      else if (type === 3 || type === 4) {
        Object.assign(e, { irqType: ram[p + 1]!, flags: dv.getUint16(p + 2, true), srcBus: ram[p + 4]!, srcIrq: ram[p + 5]!, dst: ram[p + 6]!, dstPin: ram[p + 7]! });
      } else assert.unreachable(`unknown entry type ${type}`);
      entries.push(e);
      p += 8;
    }
  }
  assert.is(p - t, baseLength, 'entries fill the base table exactly');
  return { floating, header, entries };
}

const CPU_SIG = 0x0633, CPU_FEAT = 0x0383fbff;

test('floating pointer and configuration table header', () => {
  const mem = new PhysicalMemory(32 << 20);
  writeMpTable(mem, { cpuSignature: CPU_SIG, cpuFeatures: CPU_FEAT, pci: true, pciDevices: [{ device: 3, pin: 0 }] });
  const { floating, header, entries } = parseMp(mem);
  assert.is(floating.addr % 16, 0);
  assert.is(floating.rev, 4, 'spec 1.4');
  assert.is(floating.feature1, 0, 'configuration table present, no default configuration');
  assert.is(floating.feature2! & 0x80, 0, 'virtual wire mode (no IMCR)');
  assert.ok(header.checksumOk, 'base table checksum');
  assert.is(header.rev, 4);
  assert.is(header.lapic, 0xfee00000);
  assert.is(header.oemTable, 0);
  assert.is(header.extLength, 0);
  assert.is(header.oem.length, 8);
  assert.is(header.product.length, 12);
  // Entries are ordered by type (spec §4.3).
  const types = entries.map((e) => e.type as number);
  assert.equal(types, [...types].sort((a, b) => a - b));
});

test('processor, buses, IOAPIC, ISA and PCI interrupt routing, local interrupts', () => {
  const mem = new PhysicalMemory(32 << 20);
  writeMpTable(mem, { cpuSignature: CPU_SIG, cpuFeatures: CPU_FEAT, pci: true, pciDevices: [{ device: 3, pin: 0 }, { device: 5, pin: 2 }] });
  const { entries } = parseMp(mem);
  const cpus = entries.filter((e) => e.type === 0);
  assert.is(cpus.length, 1);
  assert.equal(cpus[0], { type: 0, lapicId: 0, lapicVer: 0x14, flags: 0x3 /* EN | BP */, signature: CPU_SIG, features: CPU_FEAT });

  const buses = entries.filter((e) => e.type === 1);
  const pci = buses.find((b) => b.busType === 'PCI   ');
  const isa = buses.find((b) => b.busType === 'ISA   ');
  assert.ok(pci && isa);
  assert.is(pci!.busId, 0, 'MP bus id of PCI bus 0 is its bus number');
  assert.is.not(isa!.busId, pci!.busId);

  const ioapics = entries.filter((e) => e.type === 2);
  assert.is(ioapics.length, 1);
  const io = ioapics[0]!;
  assert.is(io.ver, 0x11);
  assert.is((io.flags as number) & 1, 1, 'usable');
  assert.is(io.addr, 0xfec00000);
  assert.is.not(io.id, 0, 'IOAPIC id distinct from the local APIC id');

  const ints = entries.filter((e) => e.type === 3);
  const isaInts = ints.filter((e) => e.srcBus === isa!.busId);
  for (const e of ints) { assert.is(e.irqType, 0, 'INT'); assert.is(e.dst, io.id); }
  const isaRoute = new Map(isaInts.map((e) => [e.srcIrq as number, e]));
  assert.is(isaRoute.get(0)?.dstPin, 2, 'PIT IRQ 0 -> pin 2');
  assert.not.ok(isaRoute.has(2), 'IRQ 2 is the cascade');
  for (const irq of [1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]) assert.is(isaRoute.get(irq)?.dstPin, irq, `IRQ ${irq}`);
  for (const e of isaInts) assert.is(e.flags, 0, 'conforming polarity and trigger (ISA: active high, edge)');
  assert.is(isaInts.length, 15);

  // PCI source bus IRQ: bits 1:0 = pin (0 = INTA#), bits 6:2 = device number.
  const pciInts = ints.filter((e) => e.srcBus === pci!.busId);
  assert.is(pciInts.length, 2);
  const [a, c] = pciInts;
  assert.is((a!.srcIrq as number) & 3, 0); assert.is((a!.srcIrq as number) >> 2, 3);
  assert.is((c!.srcIrq as number) & 3, 2); assert.is((c!.srcIrq as number) >> 2, 5);
  for (const e of pciInts) {
    assert.is((e.flags as number) & 3, 3, 'active low');
    assert.is(((e.flags as number) >> 2) & 3, 3, 'level triggered');
    assert.ok((e.dstPin as number) >= 16 && (e.dstPin as number) <= 23);
  }
  assert.is(a!.dstPin, pciIntxGsi(3, 0));
  assert.is(c!.dstPin, pciIntxGsi(5, 2));

  const locals = entries.filter((e) => e.type === 4);
  const extint = locals.find((e) => e.irqType === 3), nmi = locals.find((e) => e.irqType === 1);
  assert.is(extint?.dstPin, 0, 'ExtINT on LINT0');
  assert.ok(extint!.dst === 0 || extint!.dst === 0xff);
  assert.is(nmi?.dstPin, 1, 'NMI on LINT1');
  assert.ok(nmi!.dst === 0 || nmi!.dst === 0xff);
});

test('without PCI: ISA only', () => {
  const mem = new PhysicalMemory(32 << 20);
  writeMpTable(mem, { cpuSignature: CPU_SIG, cpuFeatures: CPU_FEAT, pci: false, pciDevices: [{ device: 3, pin: 0 }] });
  const { header, entries } = parseMp(mem);
  assert.ok(header.checksumOk);
  const buses = entries.filter((e) => e.type === 1);
  assert.equal(buses.map((b) => b.busType), ['ISA   ']);
  const ints = entries.filter((e) => e.type === 3);
  assert.is(ints.length, 15);
  for (const e of ints) assert.is(e.srcBus, buses[0]!.busId);
});

test('PCI INTx GSIs stay in 16-23', () => {
  for (let d = 0; d < 32; d++) for (let p = 0; p < 4; p++) { const g = pciIntxGsi(d, p); assert.ok(g >= 16 && g <= 23); }
});

test.run();
