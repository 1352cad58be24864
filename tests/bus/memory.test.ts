// The physical memory map's page kinds: the runs of each kind, and the RAM page map a device model
// validates DMA against, checked against a page-by-page scan of the same map.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PageKind, PhysicalMemory } from '../../bus/memory.js';
import { DmaRam, ramPageMap } from '../../devices/virtio-net/dma.js';

const RAM = 16 << 20;

/** A PC-like map: RAM with the 640 KiB-1 MiB hole, an option ROM in it, RAM to 16 MiB, MMIO and the BIOS ROM at the top of 4 GiB. */
function pcMap(): PhysicalMemory {
  const mem = new PhysicalMemory(RAM);
  const dev = { read: () => 0, write: () => {} };
  mem.unmap(0xa0000, 0x60000);
  mem.mapRom(0xc0000, new Uint8Array(0x8000), 'option-rom');
  mem.mapMmio(0xfec00000, 0x1000, dev, 'ioapic');
  mem.mapMmio(0xfee00000, 0x1000, dev, 'lapic');
  mem.mapRom(0xfffe0000, new Uint8Array(0x20000), 'bios');
  return mem;
}

function naiveRuns(mem: PhysicalMemory, kind: PageKind, first: number, end: number): [number, number][] {
  const runs: [number, number][] = [];
  for (let p = first; p < end; p++) {
    if (mem.pageKind[p] !== kind) continue;
    if (runs.length && runs[runs.length - 1]![1] === p) runs[runs.length - 1]![1] = p + 1; else runs.push([p, p + 1]);
  }
  return runs;
}

test('runsOf: every page kind over all 4 GiB and over windows cut inside runs, as a page-by-page scan', () => {
  const mem = pcMap();
  for (const kind of [PageKind.Unmapped, PageKind.Ram, PageKind.Rom, PageKind.Mmio]) {
    for (const [first, end] of [[0, 1 << 20], [0x50, 0xc4], [0xa0, 0xa1], [0xfee00, 0xfffff], [0x1000, 0x1000]] as const) {
      assert.equal(mem.runsOf(kind, first, end), naiveRuns(mem, kind, first, end), `kind ${kind}, pages 0x${first.toString(16)}-0x${end.toString(16)}`);
    }
  }
  assert.equal(mem.runsOf(PageKind.Ram, 0, RAM >>> 12), [[0, 0xa0], [0x100, RAM >>> 12]]);
});

test('ramPageMap from the RAM runs: 1 on RAM pages, 0 in the hole and its ROM; DMA into the hole refused', () => {
  const mem = pcMap();
  for (const shared of [false, true]) {
    const map = ramPageMap(mem.runsOf(PageKind.Ram, 0, RAM >>> 12), RAM, shared);
    assert.is(map.length, RAM >>> 12);
    assert.is(map.buffer instanceof SharedArrayBuffer, shared);
    for (let p = 0; p < map.length; p++) assert.is(map[p], mem.pageKind[p] === PageKind.Ram ? 1 : 0, `page 0x${p.toString(16)}`);
    const dma = new DmaRam(mem.ram, map, { written: () => {} });
    assert.ok(dma.ok(0x9f000, 0x1000), 'the last page below 640 KiB');
    assert.not.ok(dma.ok(0x9f000, 0x1001), 'one byte into the hole');
    assert.not.ok(dma.ok(0xc0000, 4), 'the option ROM');
    assert.ok(dma.ok(0x100000, RAM - 0x100000), 'RAM above 1 MiB to its end');
  }
});

test.run();
