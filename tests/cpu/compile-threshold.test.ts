// The default compile threshold follows how much new code the guest decodes: WARM_BLOCK in an
// epoch after one that decoded much (a boot), STEADY_BLOCK after one that decoded next to nothing
// (a workload repeating itself); a threshold given in the options never moves. The truth: the
// epochs of a program whose decoding is known (a loop, then 8,192 new instructions, then a loop),
// and the loops' x86 results.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Clock } from '../../bus/clock.js';
import { IoBus } from '../../bus/io.js';
import { PhysicalMemory } from '../../bus/memory.js';
import { CPU, Reg } from '../../cpu/index.js';
import { STEADY_BLOCK, STEADY_EPOCH, STEADY_DECODED, WARM_BLOCK } from '../../cpu/codegen.js';

const E = STEADY_EPOCH, N = (3 * E) / 2, NOPS = 8192, SLICE = 1 << 16;
const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];

/** mov ecx, N; L1: dec ecx; jnz L1; jmp 0x4000 ... 0x4000: NOPS x nop; mov ecx, N; L2: dec ecx; jnz L2; hlt */
function machine(compileThreshold?: number): CPU {
  const mem = new PhysicalMemory(16 << 20);
  const cpu = new CPU({ mem, io: new IoBus(), clock: new Clock('virtual'), compileThreshold });
  cpu.loadFlat32();
  mem.writeBytes(0x1000, Uint8Array.from([0xb9, ...le32(N), 0x49, 0x75, 0xfd, 0xe9, ...le32(0x4000 - 0x100d)]));
  mem.writeBytes(0x4000, Uint8Array.from([...new Array<number>(NOPS).fill(0x90), 0xb9, ...le32(N), 0x49, 0x75, 0xfd, 0xf4]));
  cpu.regs[Reg.ESP] = 0x8000;
  cpu.eip = 0x1000;
  return cpu;
}

/** The threshold each run of SLICE instructions went with, by epoch, until the HLT. */
function thresholds(cpu: CPU): Map<number, Set<number>> {
  const byEpoch = new Map<number, Set<number>>();
  while (!cpu.halted) {
    const at = cpu.instructions;
    cpu.run(SLICE);
    const k = Math.floor(at / E);
    if (!byEpoch.has(k)) byEpoch.set(k, new Set());
    byEpoch.get(k)!.add(cpu.compileThreshold);
  }
  assert.is(cpu.regs[Reg.ECX], 0);
  assert.is(cpu.eip, 0x4000 + NOPS + 9, 'halted after the second loop');
  return byEpoch;
}

test('the default threshold drops in epochs after ones that decoded next to nothing, and rises after new code', () => {
  assert.ok(NOPS > STEADY_DECODED, 'the new code is more than a steady epoch decodes');
  const byEpoch = thresholds(machine());
  // The loop starts in epoch 0 and runs to ~3E + 2; the NOPs are decoded in epoch 3; the second
  // loop runs to ~6E.
  const want = [WARM_BLOCK, STEADY_BLOCK, STEADY_BLOCK, STEADY_BLOCK, WARM_BLOCK, STEADY_BLOCK];
  want.forEach((t, k) => assert.equal([...byEpoch.get(k)!], [t], `epoch ${k}`));
});

test('entering known code at other instructions (interrupt returns) is not new code', () => {
  // 0x4000: NOPS x nop; mov ecx, 1000; L: dec ecx; jnz L; hlt. Run once from the top (all new),
  // then entered again and again at offsets inside the blocks decoded then, each decoding blocks
  // that start there.
  const mem = new PhysicalMemory(16 << 20);
  const cpu = new CPU({ mem, io: new IoBus(), clock: new Clock('virtual') });
  cpu.loadFlat32();
  mem.writeBytes(0x4000, Uint8Array.from([...new Array<number>(NOPS).fill(0x90), 0xb9, ...le32(1000), 0x49, 0x75, 0xfd, 0xf4]));
  cpu.regs[Reg.ESP] = 0x8000;
  let entries = 0;
  const enter = (off: number) => { cpu.halted = false; cpu.eip = 0x4000 + off; entries++; };
  enter(0);
  const seen: number[] = [];
  while (cpu.instructions < 4 * E) {
    if (cpu.halted) enter(1 + ((entries * 37) % (NOPS - 64)));
    const at = cpu.instructions;
    cpu.run(SLICE);
    if (at >= 3 * E) seen.push(cpu.compileThreshold);
  }
  assert.ok(entries > 1000, `entries: ${entries}`);
  assert.ok(seen.length > 0 && seen.every((t) => t === STEADY_BLOCK), `thresholds in the last epoch: ${[...new Set(seen)].join(', ')}`);
});

test('a threshold given in the options stays', () => {
  const byEpoch = thresholds(machine(WARM_BLOCK));
  for (const [k, ts] of byEpoch) assert.equal([...ts], [WARM_BLOCK], `epoch ${k}`);
});

test.run();
