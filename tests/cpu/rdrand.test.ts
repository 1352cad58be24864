// RDRAND (0F C7 /6) against the SDM: CF=1 with a value, OF, SF, ZF, AF and PF cleared, a 16-bit
// destination keeps the register's upper half, and CPUID.1:ECX[30] advertises it. Under the
// virtual clock its values are a fixed stream (a deterministic run stays deterministic); under
// the realtime clock they come from the host and differ between runs. Linux checks that eight
// values are not all the same before it trusts the instruction.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Clock } from '../../bus/clock.js';
import { IoBus } from '../../bus/io.js';
import { PhysicalMemory } from '../../bus/memory.js';
import { CPU, Reg } from '../../cpu/index.js';
import { runFlat32, le32 } from './flat-program.js';

const BUF = 0x2000, READS = 8;
const ARITH = 0x8d5; // OF SF ZF AF PF CF

// mov esi, BUF; mov ecx, READS
// L: push ARITH; popfd; rdrand eax; mov [esi], eax; pushfd; pop edx; mov [esi+32], edx; add esi, 4; dec ecx; jnz L
// mov ebx, 0xdeadbeef; rdrand bx; hlt
const PROGRAM = [
  0xbe, ...le32(BUF), 0xb9, ...le32(READS),
  0x68, ...le32(ARITH), 0x9d, 0x0f, 0xc7, 0xf0, 0x89, 0x06, 0x9c, 0x5a, 0x89, 0x56, 0x20, 0x83, 0xc6, 0x04, 0x49, 0x75, 0xea,
  0xbb, ...le32(0xdeadbeef), 0x66, 0x0f, 0xc7, 0xf3,
  0xf4,
];

function run(clock: Clock, compileThreshold: number): { cpu: CPU; values: number[]; flags: number[] } {
  const cpu = runFlat32(PROGRAM, clock, compileThreshold);
  const view = new DataView(cpu.mem.ram.buffer);
  const at = (k: number) => view.getUint32(BUF + 4 * k, true);
  return { cpu, values: Array.from({ length: READS }, (_, k) => at(k)), flags: Array.from({ length: READS }, (_, k) => at(8 + k)) };
}

for (const [label, threshold] of [['interpreted', 5000], ['compiled', 0]] as const) {
  test(`RDRAND, ${label}: CF set, OF SF ZF AF PF clear, 16-bit form keeps the upper half`, () => {
    const { cpu, values, flags } = run(new Clock('virtual'), threshold);
    for (const f of flags) assert.is(f & ARITH, 0x1);
    assert.ok(new Set(values).size > 1, 'eight values are not all the same');
    assert.is(cpu.regs[Reg.EBX]! >>> 16, 0xdead);
  });

  test(`RDRAND, ${label}: the virtual clock gives the same values in every run, the realtime clock new ones`, () => {
    assert.equal(run(new Clock('virtual'), threshold).values, run(new Clock('virtual'), threshold).values);
    assert.not.equal(run(new Clock('realtime'), threshold).values, run(new Clock('realtime'), threshold).values);
  });
}

test('CPUID leaf 1 advertises RDRAND (ECX bit 30)', () => {
  const cpu = new CPU({ mem: new PhysicalMemory(1 << 20), io: new IoBus(), clock: new Clock('virtual') });
  assert.ok(cpu.cpuid(1, 0)[2] & (1 << 30));
});

test.run();
