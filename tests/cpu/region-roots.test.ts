// Background compilation roots one region per loop. The blocks of a loop body run equally often, so
// they reach the compile threshold in the same iteration; while the first one's region is being
// compiled off the thread, the others must not each start a region of the same blocks (a kernel
// boot once compiled every hot block 14 times over). The truth: the loop's x86 result, and one
// region for the loop's blocks, with the compile finishing in the background meanwhile (forced
// there: regions this small otherwise compile at once, as the last case checks).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Clock } from '../../bus/clock.js';
import { IoBus } from '../../bus/io.js';
import { PhysicalMemory } from '../../bus/memory.js';
import { CPU, Reg, codegenStats } from '../../cpu/index.js';

const LOOP = 0x1000, ROUNDS = 200_000, THRESHOLD = 100;

/** eax += 4 on odd ecx, += 1 on even, for ecx = ROUNDS..1: three blocks, two of them every round. */
const CODE = [
  0x31, 0xc0, // xor eax, eax
  0xb9, ROUNDS & 0xff, (ROUNDS >>> 8) & 0xff, ROUNDS >>> 16, 0, // mov ecx, ROUNDS
  0xf6, 0xc1, 0x01, // top: test cl, 1
  0x74, 0x03, // jz even
  0x83, 0xc0, 0x03, // add eax, 3
  0x83, 0xc0, 0x01, // even: add eax, 1
  0x49, // dec ecx
  0x75, 0xf2, // jnz top
  0xf4, // hlt
];
const SUM = (ROUNDS / 2) * 4 + (ROUNDS / 2) * 1;

/** A CPU at the loop, compiling in the background all modules over `syncCompileBytes` (default SYNC_BYTES). */
function loopCpu(syncCompileBytes?: number): CPU {
  const mem = new PhysicalMemory(16 << 20);
  const cpu = new CPU({ mem, io: new IoBus(), clock: new Clock('virtual'), compileThreshold: THRESHOLD, compileAsync: true, syncCompileBytes });
  cpu.loadFlat32();
  mem.writeBytes(LOOP, Uint8Array.from(CODE));
  cpu.regs[Reg.ESP] = 0x8000;
  cpu.eip = LOOP;
  return cpu;
}

/** The 32-bit protected-mode block decoded at `eip` (identity-mapped, no paging). */
const blockAt = (cpu: CPU, eip: number) => cpu.blockAt((eip >>> 12) * 4 + 3, eip & 4095)!;

test('the blocks of a loop compiled in the background make one region, and the loop stays exact', async () => {
  const cpu = loopCpu(0);
  const regions0 = codegenStats.regions;
  // Slices with event-loop turns between them, so the background compile can finish and attach.
  for (let i = 0; i < 1000 && !cpu.halted; i++) {
    cpu.run(5_000);
    await new Promise((r) => setTimeout(r, 1));
  }
  assert.ok(cpu.halted, 'the loop did not reach its HLT');
  assert.is(cpu.regs[Reg.EAX], SUM);
  // One region holds the loop. A slice that ends inside it resumes at a block the region cannot be
  // entered at. Those blocks passed the threshold while the region was being compiled; they count
  // again from a quarter below it, so hot from the slice ends they root regions of their own, which
  // stop at the loop region's entries (tests/cpu/region-entries.test.ts): none holds the loop again.
  const loop = [LOOP + 7, LOOP + 12, LOOP + 15].map((eip) => blockAt(cpu, eip));
  const holders = loop[0]!.inRegions ?? [];
  assert.is(holders.length, 1, 'regions holding the loop head');
  const region = holders[0]!;
  assert.ok(loop.every((b) => region.blocks.includes(b)), 'the loop in one region');
  const others = new Set(loop.flatMap((b) => b.inRegions ?? []).filter((r) => r !== region));
  assert.ok(others.size > 0, 'no region rooted at a block the loop region cannot be entered at');
  assert.ok(codegenStats.regions - regions0 === 1 + others.size, 'regions compiled, other than for these blocks');
  for (const r of others) assert.ok(r.blocks.every((b) => !region.entries!.has(b)), 'a later region holds an entry of the loop region');
});

test('a small region asked for in the background compiles at once (SYNC_BYTES)', () => {
  const cpu = loopCpu();
  // No turn of the event loop: a region compiled in the background could not have attached.
  cpu.run(THRESHOLD * 20);
  assert.ok(blockAt(cpu, LOOP + 7).region !== null, 'the loop head runs in a region');
  while (!cpu.halted) cpu.run(1_000_000);
  assert.is(cpu.regs[Reg.EAX], SUM);
});

test.run();
