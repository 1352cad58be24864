// RDTSC against the clock's guarantee (README, time base): the TSC runs at 1 GHz and, under the
// virtual clock, guest time is 1 ns per retired instruction, so two reads differ by exactly the
// instructions retired between them, also inside one block and in compiled blocks. Under the
// realtime clock a host clock that does not move between two reads must still not give the same
// value twice.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Clock } from '../../bus/clock.js';
import { CPU, Reg } from '../../cpu/index.js';
import { runFlat32, le32 } from './flat-program.js';

const BUF = 0x2000, READS = 8;

// mov esi, BUF; mov ecx, READS; L: rdtsc; mov [esi], eax; add esi, 4; dec ecx; jnz L; hlt
// (the loop body is one block of 5 instructions).
const LOOP = [
  0xbe, ...le32(BUF), 0xb9, ...le32(READS),
  0x0f, 0x31, 0x89, 0x06, 0x83, 0xc6, 0x04, 0x49, 0x75, 0xf6,
  0xf4,
];
// rdtsc; mov ebx, eax; mov ecx, edx; rdtsc; hlt — back to back in one block.
const PAIR = [0x0f, 0x31, 0x89, 0xc3, 0x89, 0xd1, 0x0f, 0x31, 0xf4];

const reads = (cpu: CPU) => Array.from({ length: READS }, (_, k) => new DataView(cpu.mem.ram.buffer).getUint32(BUF + 4 * k, true));
const frozenHost = () => new Clock('realtime', { hostNowNs: () => 42e9 });

for (const [label, threshold] of [['interpreted', 5000], ['compiled', 0]] as const) {
  test(`RDTSC back to back in one block, virtual clock, ${label}: differ by the instructions between them`, () => {
    const cpu = runFlat32(PAIR, new Clock('virtual'), threshold);
    assert.is(cpu.regs[Reg.EAX]! - cpu.regs[Reg.EBX]!, 3);
  });

  test(`RDTSC in a loop, virtual clock, ${label}: one loop iteration (5 instructions) apart`, () => {
    const t = reads(runFlat32(LOOP, new Clock('virtual'), threshold));
    for (let k = 1; k < READS; k++) assert.is(t[k]! - t[k - 1]!, 5, `read ${k}`);
  });

  test(`RDTSC back to back, realtime clock with a host clock that stands still, ${label}: still advances`, () => {
    const cpu = runFlat32(PAIR, frozenHost(), threshold);
    assert.ok(cpu.regs[Reg.EAX]! - cpu.regs[Reg.EBX]! >= 1);
    const t = reads(runFlat32(LOOP, frozenHost(), threshold));
    for (let k = 1; k < READS; k++) assert.ok(t[k]! > t[k - 1]!, `read ${k}: ${t[k]} after ${t[k - 1]}`);
  });
}

test('RDTSC after WRMSR to the TSC reads the written value (a write may move the TSC back)', () => {
  // rdtsc; mov ecx, 0x10; mov eax, 1000; xor edx, edx; wrmsr; rdtsc; hlt (under a clock that stands still)
  const cpu = runFlat32([0x0f, 0x31, 0xb9, ...le32(0x10), 0xb8, ...le32(1000), 0x31, 0xd2, 0x0f, 0x30, 0x0f, 0x31, 0xf4], frozenHost(), 5000);
  assert.is(cpu.regs[Reg.EAX], 1000);
});

test.run();
