// ts86 side of `npm run bench`: boots a benchmark kernel and times the CPU alone (loading excluded).
// scripts/bench.mjs bundles this file with esbuild, as the production build would.
import { PhysicalMemory } from '../bus/memory.js';
import { IoBus } from '../bus/io.js';
import { Clock } from '../bus/clock.js';
import { CPU } from '../cpu/index.js';
import { loadMultiboot } from '../firmware/multiboot.js';

export interface Ts86Run { ms: number; instructions: number; exit: number | null; output: string }

export function runTs86(kernel: Uint8Array, maxInstructions = 20_000_000_000, compileThreshold?: number, backEnd?: 'wasm' | 'js'): Ts86Run {
  const mem = new PhysicalMemory(64 << 20);
  const io = new IoBus();
  const clock = new Clock('virtual');
  const cpu = new CPU({ mem, io, clock, compileThreshold, backEnd });
  let output = '';
  let exit: number | null = null;
  io.register(0xe9, 1, { read: () => 0xe9, write: (_p, _s, v) => { output += String.fromCharCode(v & 0xff); } }, 'debugcon');
  io.register(0xf4, 4, { read: () => 0, write: (_p, _s, v) => { exit ??= v; } }, 'debug-exit');
  cpu.loadBootState(loadMultiboot(mem, { kernel }));
  const t0 = performance.now();
  while (exit === null && !cpu.halted && !cpu.shutdown && cpu.instructions < maxInstructions) cpu.run(1_000_000);
  const ms = performance.now() - t0;
  return { ms, instructions: cpu.instructions, exit, output };
}
