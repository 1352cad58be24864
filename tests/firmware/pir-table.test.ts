// The $PIR table checked the way Linux finds it (arch/x86/pci/irq.c pirq_find_routing_table and
// pirq_check_routing_table) and against the layout of the PCI IRQ Routing Table Specification 1.0.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PhysicalMemory } from '../../bus/memory.js';
import { writeMpTable, writePirTable, buildMpTable, PIR_TABLE_BASE, MP_TABLE_BASE } from '../../firmware/index.js';

const str = (b: Uint8Array, off: number, n: number) => String.fromCharCode(...b.subarray(off, off + n));

/** Linux's scan: 16-byte steps over 0xF0000-0xFFFFF; signature, version 1.0, size a multiple of 16
 * and at least the 32-byte header, inside the area, bytes summing to 0. */
function findPir(ram: Uint8Array): number {
  for (let a = 0xf0000; a < 0x100000 - 32; a += 16) {
    if (str(ram, a, 4) !== '$PIR' || ram[a + 4] !== 0 || ram[a + 5] !== 1) continue;
    const size = ram[a + 6]! | (ram[a + 7]! << 8);
    if (size % 16 || size < 32 || size > 0x100000 - a) continue;
    let sum = 0;
    for (let i = 0; i < size; i++) sum += ram[a + i]!;
    if ((sum & 0xff) === 0) return a;
  }
  return -1;
}

test('found where Linux looks, after the MP tables, with no slots and no router to program', () => {
  const mem = new PhysicalMemory(32 << 20);
  writeMpTable(mem, { cpuSignature: 0x6a0, cpuFeatures: 0x0781abfd, pci: true, pciDevices: [{ device: 3, pin: 0 }] });
  writePirTable(mem);
  const ram = mem.ram;
  const at = findPir(ram);
  assert.is(at, PIR_TABLE_BASE);
  const dv = new DataView(ram.buffer, at);
  assert.is(dv.getUint16(6, true), 32, 'header only: no slot entries');
  assert.is(ram[at + 8], 0, 'router on bus 0');
  assert.is(ram[at + 9], 0, 'router devfn 00.0 (the host bridge)');
  assert.is(dv.getUint16(10, true), 0, 'no IRQs reserved for PCI');
  assert.is(dv.getUint32(12, true), 0, 'no compatible router: Linux keeps its generic one and routes by the MP table');
  // The MP floating pointer is still the first thing at the start of the area.
  assert.is(str(ram, MP_TABLE_BASE, 4), '_MP_');
});

test('the MP tables keep to the room before the $PIR table', () => {
  const devices = Array.from({ length: 32 }, (_, d) => ({ device: d, pin: 0 }));
  assert.ok(MP_TABLE_BASE + buildMpTable({ cpuSignature: 0, cpuFeatures: 0, pci: true, pciDevices: devices }).length <= PIR_TABLE_BASE);
  assert.throws(() => writePirTable(new PhysicalMemory(32 << 20), PIR_TABLE_BASE + 8), /16-byte aligned/);
});

test.run();
