// A short program in flat 32-bit protected mode on a bare CPU (1 MiB of RAM, code at CODE, stack
// below 0x8000), run to its HLT: the harness of the single-instruction CPU tests (RDTSC, RDRAND).
import * as assert from 'uvu/assert';
import type { Clock } from '../../bus/clock.js';
import { IoBus } from '../../bus/io.js';
import { PhysicalMemory } from '../../bus/memory.js';
import { CPU, Reg } from '../../cpu/index.js';

export const CODE = 0x1000;

export function le32(v: number): number[] { return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24]; }

/** Runs `code` to its HLT in slices (so loops reach `compileThreshold` on the way); fails the test if it never halts. */
export function runFlat32(code: number[], clock: Clock, compileThreshold: number): CPU {
  const mem = new PhysicalMemory(1 << 20);
  const cpu = new CPU({ mem, io: new IoBus(), clock, compileThreshold });
  mem.ram.set(code, CODE);
  cpu.loadFlat32();
  cpu.eip = CODE;
  cpu.regs[Reg.ESP] = 0x8000;
  for (let k = 0; k < 100 && !cpu.halted; k++) cpu.run(1000);
  assert.ok(cpu.halted, 'the program ends in HLT');
  return cpu;
}
