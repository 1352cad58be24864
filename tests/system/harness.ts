/**
 * Runs the bare-metal system test programs (tests/system/asm) under ts86 and, for comparison,
 * under QEMU. A program reports text on port 0xE9 and its result on port 0xF4 (QEMU's
 * isa-debug-exit at iobase 0xf4: QEMU then exits with status (value << 1) | 1).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { PhysicalMemory } from '../../bus/memory.js';
import { IoBus } from '../../bus/io.js';
import { Clock } from '../../bus/clock.js';
import { CPU } from '../../cpu/index.js';
import { loadMultiboot } from '../../firmware/multiboot.js';

export const ASM_DIR = join(dirname(fileURLToPath(import.meta.url)), 'asm');
const CACHE_DIR = join(dirname(fileURLToPath(import.meta.url)), '../../node_modules/.cache/ts86/system');

/** Exit values the programs write to port 0xF4 (common.inc). */
export const EXIT_PASS = 0x10;
export const EXIT_FAIL = 0x11;

export const RAM_SIZE = 64 << 20;

/** Assembles `name`.asm (cached by the hash of its sources): the flat binary and its path. */
export function assemble(name: string): { image: Uint8Array; path: string } {
  const src = join(ASM_DIR, `${name}.asm`);
  const hash = createHash('sha256');
  for (const f of [src, join(ASM_DIR, 'common.inc'), join(ASM_DIR, 'common_end.inc')]) hash.update(readFileSync(f));
  const out = join(CACHE_DIR, `${name}-${hash.digest('hex').slice(0, 16)}.bin`);
  if (!existsSync(out)) {
    mkdirSync(CACHE_DIR, { recursive: true });
    const r = spawnSync('nasm', ['-f', 'bin', '-w+error', `-I${ASM_DIR}/`, '-o', out, src], { encoding: 'utf8' });
    if (r.error) throw new Error(`nasm is needed to build the system tests: ${r.error.message}`);
    if (r.status !== 0) throw new Error(`nasm failed on ${name}.asm:\n${r.stderr}`);
  }
  return { image: new Uint8Array(readFileSync(out)), path: out };
}

export interface RunResult {
  /** Text written to port 0xE9. */
  output: string;
  /** Value written to port 0xF4, or null. */
  exit: number | null;
  /** The CPU shut down (triple fault); the reason given to onShutdown. */
  shutdown: string | null;
  /** Why the run ended. */
  stop: 'exit' | 'shutdown' | 'halt' | 'budget';
  instructions: number;
  /** Where the CPU was when the run ended, for messages. */
  eip: number;
}

export interface Machine {
  mem: PhysicalMemory;
  cpu: CPU;
  run(budget?: number): RunResult;
}

/** A bare machine: RAM, port 0xE9 debug console, port 0xF4 exit, virtual clock, the CPU. */
export function createMachine(compileThreshold?: number): Machine {
  const mem = new PhysicalMemory(RAM_SIZE);
  const io = new IoBus();
  const clock = new Clock('virtual');
  const cpu = new CPU({ mem, io, clock, compileThreshold });
  let output = '';
  let exit: number | null = null;
  let shutdown: string | null = null;
  io.register(0xe9, 1, {
    read: () => 0xe9, // what QEMU's and Bochs' debug console return
    write: (_port, _size, value) => { output += String.fromCharCode(value & 0xff); },
  }, 'debugcon');
  io.register(0xf4, 4, {
    read: () => 0,
    write: (_port, _size, value) => { if (exit === null) exit = value; },
  }, 'debug-exit');
  cpu.onShutdown = (reason) => { shutdown = reason; };
  return {
    mem, cpu,
    run(budget = 50_000_000) {
      const chunk = 100_000;
      let stop: RunResult['stop'] = 'budget';
      while (cpu.instructions < budget) {
        cpu.run(chunk);
        if (exit !== null) { stop = 'exit'; break; }
        if (shutdown !== null) { stop = 'shutdown'; break; }
        if (cpu.halted) { stop = 'halt'; break; }
      }
      return { output, exit, shutdown, stop, instructions: cpu.instructions, eip: cpu.eip };
    },
  };
}

/** Boots a multiboot kernel image in ts86 and runs it to its exit, shutdown, halt or the budget. */
export function runKernelTs86(image: Uint8Array, budget?: number, compileThreshold?: number): RunResult {
  const m = createMachine(compileThreshold);
  const state = loadMultiboot(m.mem, { kernel: image });
  m.cpu.loadBootState(state);
  return m.run(budget);
}

/** Maps a 64 KiB ROM at 0xF0000 and below 4 GiB and starts the CPU at the reset vector. */
export function runRomTs86(rom: Uint8Array, budget?: number, compileThreshold?: number): RunResult {
  const m = createMachine(compileThreshold);
  m.mem.mapRom(0xf0000, rom, 'rom');
  m.mem.mapRom(0x100000000 - rom.length, rom, 'rom-high');
  m.cpu.reset();
  return m.run(budget);
}

export const qemuAvailable = (): boolean => spawnSync('qemu-system-i386', ['--version'], { stdio: 'ignore' }).status === 0;

export interface QemuResult {
  output: string;
  /** QEMU's exit status: (value << 1) | 1 after a port 0xF4 write, 0 after a triple fault with -no-reboot. */
  status: number | null;
}

/** Runs the image under QEMU TCG: as a multiboot kernel, or as the BIOS for a ROM. */
export function runQemu(file: string, kind: 'kernel' | 'bios'): QemuResult {
  const r = spawnSync('qemu-system-i386', [
    kind === 'kernel' ? '-kernel' : '-bios', file,
    '-display', 'none', '-monitor', 'none', '-serial', 'none', '-parallel', 'none',
    '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04',
    '-debugcon', 'stdio', '-no-reboot', '-m', '64',
  ], { encoding: 'latin1', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error) throw new Error(`qemu-system-i386: ${r.error.message}`);
  return { output: r.stdout, status: r.status };
}
