// A WebAssembly region is not entered at a block that only its earlier blocks jump to (forward):
// such a block starts without a merge of the dispatch loop's values. Entered from elsewhere (here:
// a run budget that ends there), it is interpreted up to the next entry, which a long path of such
// blocks has every few blocks. The truth: the loops' x86 results, whatever the slice sizes, and
// which of their blocks the regions can be entered at.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Clock } from '../../bus/clock.js';
import { IoBus } from '../../bus/io.js';
import { PhysicalMemory } from '../../bus/memory.js';
import { CPU, Reg } from '../../cpu/index.js';

const LOOP = 0x1000, ROUNDS = 20_000, THRESHOLD = 100;
const TOP = LOOP + 9, ODD = TOP + 5, EVEN = ODD + 5, JOIN = EVEN + 5;

/** eax += 3 on odd ecx, += 1 on even, for ecx = ROUNDS..1: a diamond of four blocks. */
const CODE = [
  0x31, 0xc0, // xor eax, eax
  0xb9, ROUNDS & 0xff, (ROUNDS >>> 8) & 0xff, ROUNDS >>> 16, 0, // mov ecx, ROUNDS
  0xeb, 0x00, // jmp top (the head is a block of its own from the first round)
  0xf6, 0xc1, 0x01, // top: test cl, 1
  0x74, 0x05, // jz even
  0x83, 0xc0, 0x03, // odd: add eax, 3
  0xeb, 0x05, // jmp join
  0x83, 0xc0, 0x01, // even: add eax, 1
  0xeb, 0x00, // jmp join
  0x49, // join: dec ecx
  0x75, 0xee, // jnz top
  0xf4, // hlt
];
const EAX = (ROUNDS / 2) * 3 + (ROUNDS / 2) * 1;

/** `ecx` rounds of a path of `n` (at most 24) blocks `add eax, k; jmp next` (k = 1..n): eax = rounds * n(n+1)/2. */
function path(n: number, rounds: number): number[] {
  const code = [0x31, 0xc0, 0xb9, rounds & 0xff, (rounds >>> 8) & 0xff, rounds >>> 16, 0, 0xeb, 0x00];
  for (let k = 1; k <= n; k++) code.push(0x83, 0xc0, k, 0xeb, 0x00);
  code.push(0x49, 0x75, (-(n * 5 + 3)) & 0xff, 0xf4); // dec ecx; jnz first; hlt
  return code;
}

/** Runs `code` at LOOP in slices of `slice` instructions; returns the CPU. */
function runLoop(slice: number, code = CODE): CPU {
  const mem = new PhysicalMemory(16 << 20);
  const cpu = new CPU({ mem, io: new IoBus(), clock: new Clock('virtual'), compileThreshold: THRESHOLD, compileAsync: false });
  cpu.loadFlat32();
  mem.writeBytes(LOOP, Uint8Array.from(code));
  cpu.regs[Reg.ESP] = 0x8000;
  cpu.eip = LOOP;
  for (let i = 0; i < 1_000_000 && !cpu.halted; i++) cpu.run(slice);
  return cpu;
}

test('the loops are exact whatever block each slice of their run ends at', () => {
  // Slice sizes that end runs inside the region at each of its blocks in turn.
  for (const slice of [1, 2, 3, 5, 7, 11, 97, 5_000]) {
    for (const [name, code, eax] of [['diamond', CODE, EAX], ['path', path(20, 2_000), 2_000 * 210]] as const) {
      const cpu = runLoop(slice, code);
      assert.ok(cpu.halted, `${name}, slices of ${slice}: the loop did not reach its HLT`);
      assert.is(cpu.regs[Reg.EAX], eax, `${name}, slices of ${slice}`);
      assert.is(cpu.regs[Reg.ECX], 0, `${name}, slices of ${slice}`);
    }
  }
});

test('the region is entered at the loop head, not at the blocks its branch reaches forward', () => {
  const cpu = runLoop(5_000);
  // Flat protected 32-bit code: decode mode 3 in the block table.
  const at = (eip: number) => cpu.blockAt((eip >>> 12) * 4 + 3, eip & 4095)!;
  // The head reaches the threshold first and roots the region.
  const region = at(TOP).region;
  assert.ok(region !== null && region.blocks[0] === at(TOP), 'the loop head roots the region');
  assert.is(region.blocks.length, 4, 'the loop in one region');
  assert.ok(region.entries?.has(at(TOP)), 'the loop head (a backward jump goes there) is an entry');
  for (const [name, eip] of [['odd', ODD], ['even', EVEN], ['join', JOIN]] as const) {
    assert.ok(at(eip).inRegions?.includes(region) && !region.entries?.has(at(eip)), `${name}: in the region, not an entry`);
  }
  // (The join may root a region of its own: a run budget that ends just before it has it run
  // interpreted, and it reaches the threshold with the head.)
  assert.ok(at(ODD).region === null && at(EVEN).region === null, 'the arms run interpreted when entered from elsewhere');
});

test('a long path of blocks has an entry every few blocks', () => {
  const n = 20, cpu = runLoop(5_000, path(n, 2_000));
  const at = (eip: number) => cpu.blockAt((eip >>> 12) * 4 + 3, eip & 4095)!;
  const first = LOOP + 9, region = at(first).region;
  assert.ok(region !== null && region.blocks.length === n + 1, 'the path in one region');
  const entered = Array.from({ length: n + 1 }, (_, k) => region.entries!.has(at(first + 5 * k)));
  let gap = 0, longest = 0;
  for (const e of entered) { gap = e ? 0 : gap + 1; longest = Math.max(longest, gap); }
  assert.ok(longest >= 4, `blocks in a row without an entry: ${longest}`);
  assert.ok(longest <= 8, `blocks in a row without an entry: ${longest}`);
});

test('a block hot from elsewhere that a region cannot be entered at roots a region up to the entries there are', () => {
  // Slices of 7 instructions end most runs inside the path, so its blocks that are not entries run
  // interpreted and reach the threshold there.
  const n = 20, cpu = runLoop(7, path(n, 2_000));
  const at = (eip: number) => cpu.blockAt((eip >>> 12) * 4 + 3, eip & 4095)!;
  const blocks = Array.from({ length: n + 1 }, (_, k) => at(LOOP + 9 + 5 * k));
  const regions = [...new Set(blocks.flatMap((b) => b.inRegions ?? []))];
  const first = regions[0]!;
  const later = regions.filter((r) => first.blocks.includes(r.blocks[0]!) && !first.entries!.has(r.blocks[0]!));
  assert.ok(later.length > 0, 'no region rooted at a block the first cannot be entered at');
  for (const r of later) {
    const shared = r.blocks.slice(1).filter((b) => first.entries!.has(b));
    assert.is(shared.length, 0, `a later region holds ${shared.length} entries of the first`);
  }
});

test.run();
