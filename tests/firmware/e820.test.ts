// The memory map against design.md §2: RAM 0-640K and 1M-top, firmware area and APICs reserved.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { e820Map, E820_RAM, E820_RESERVED } from '../../firmware/index.js';

const MiB = 0x100000;

test('128 MiB map', () => {
  const map = e820Map(128 * MiB);
  for (let i = 1; i < map.length; i++) assert.ok(map[i]!.addr >= map[i - 1]!.addr + map[i - 1]!.size, 'sorted, no overlap');
  const ram = map.filter((e) => e.type === E820_RAM).map((e) => [e.addr, e.addr + e.size]);
  assert.equal(ram, [[0, 0x9fc00], [MiB, 128 * MiB]]);
  const reserved = map.filter((e) => e.type === E820_RESERVED);
  const covers = (a: number) => reserved.some((e) => a >= e.addr && a < e.addr + e.size);
  assert.ok(covers(0x9fc00) && covers(0x9ffff), 'EBDA');
  assert.ok(covers(0xf0000) && covers(0xfffff), 'firmware tables');
  assert.ok(covers(0xfec00000), 'IOAPIC');
  assert.ok(covers(0xfee00000), 'LAPIC');
  assert.not.ok(covers(0xa0000), 'VGA hole is neither RAM nor reserved');
});

test('RAM top follows the machine size; silly sizes refused', () => {
  assert.is(e820Map(2 * MiB).find((e) => e.addr === MiB)!.size, MiB);
  assert.throws(() => e820Map(MiB));
  assert.throws(() => e820Map(0xfec00001));
});

test.run();
