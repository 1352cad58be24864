/**
 * Builds the bare-metal programs of tests/baremetal with nasm (and ld for the ELF kernel) into
 * node_modules/.cache/ts86/baremetal, and runs them through the real `ts86` command and through
 * qemu-system-i386 as child processes: stdout (the debug console), stderr and the exit status.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
export const ROOT = join(HERE, '..', '..');
export const CACHE_DIR = join(ROOT, 'node_modules', '.cache', 'ts86', 'baremetal');
export const TS86 = join(ROOT, 'host', 'bin', 'ts86');

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error) throw new Error(`${cmd} is needed to build the bare-metal tests: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed:\n${r.stderr}`);
}

/**
 * Assembles `name`.asm: `flat` is a raw image (a.out-kludge kernel or ROM), `elf` an ELF32 kernel
 * linked by kernel.ld at `linkAt` (default 1 MiB). `defines` become nasm -D options. Cached by the
 * hash of every input.
 */
export function build(name: string, form: 'flat' | 'elf', defines: Record<string, string | number> = {}, linkAt = 0x100000): string {
  const inputs = [`${name}.asm`, 'lib.inc', ...(form === 'elf' ? ['kernel.ld'] : [])];
  const hash = createHash('sha256');
  for (const f of inputs) hash.update(readFileSync(join(HERE, f)));
  const dflags = Object.entries(defines).map(([k, v]) => `-D${k}=${v}`);
  hash.update(dflags.join(' ') + (form === 'elf' ? ` at ${linkAt}` : ''));
  const out = join(CACHE_DIR, `${name}-${hash.digest('hex').slice(0, 16)}.${form === 'elf' ? 'elf' : 'bin'}`);
  if (existsSync(out)) return out;
  mkdirSync(CACHE_DIR, { recursive: true });
  // Build under a private name and rename, so a concurrent run never sees a half-written file.
  const tmp = `${out}.${process.pid}`;
  const src = join(HERE, `${name}.asm`);
  if (form === 'flat') run('nasm', ['-f', 'bin', '-w+error', `-I${HERE}/`, ...dflags, '-o', tmp, src]);
  else {
    run('nasm', ['-f', 'elf32', '-w+error', `-I${HERE}/`, ...dflags, '-o', `${tmp}.o`, src]);
    run('ld', ['-m', 'elf_i386', '-z', 'max-page-size=0x1000', `--defsym=LINK_AT=${linkAt}`, '-T', join(HERE, 'kernel.ld'), '-o', tmp, `${tmp}.o`]);
    rmSync(`${tmp}.o`);
  }
  renameSync(tmp, out);
  return out;
}

export interface ProcResult {
  stdout: string;
  stderr: string;
  status: number | null;
}

function spawn(cmd: string, args: string[], timeoutMs: number): ProcResult {
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'latin1', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

/** `ts86 ARGS` as a user runs it (host/bin/ts86, whose ts86.mjs rebuilds the bundle when stale). */
export function ts86(args: string[]): ProcResult {
  return spawn(TS86, args, 120_000);
}

export const qemuAvailable = (): boolean => spawnSync('qemu-system-i386', ['--version'], { stdio: 'ignore' }).status === 0;

/**
 * `qemu-system-i386 ARGS` with the debug devices at the addresses ts86 has them: debugcon on
 * stdout, isa-debug-exit at 0xF4; no display, monitor, serial, parallel port or network, and a
 * guest reset ends QEMU (as it ends ts86).
 */
export function qemu(args: string[]): ProcResult {
  return spawn('qemu-system-i386', [
    ...args, '-display', 'none', '-monitor', 'none', '-serial', 'none', '-parallel', 'none', '-net', 'none',
    '-debugcon', 'stdio', '-device', 'isa-debug-exit,iobase=0xf4,iosize=4', '-no-reboot',
  ], 60_000);
}

/** FNV-1a (32-bit) of `data`, as the kernels compute it over a module. */
export function fnv1a(data: Uint8Array): number {
  let h = 0x811c9dc5;
  for (const b of data) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h >>> 0;
}

/** A deterministic byte pattern of `size` bytes (xorshift32 from `seed`). */
export function pattern(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** Writes `data` to the cache directory under `name` (once per content) and returns its path. */
export function dataFile(name: string, data: Uint8Array): string {
  const path = join(CACHE_DIR, `${createHash('sha256').update(data).digest('hex').slice(0, 16)}-${name}`);
  if (existsSync(path)) return path;
  mkdirSync(CACHE_DIR, { recursive: true });
  writeFileSync(`${path}.${process.pid}`, data);
  renameSync(`${path}.${process.pid}`, path);
  return path;
}

/** The report a program printed, one line each, without the final newline. */
export const lines = (stdout: string): string[] => stdout.replace(/\n$/, '').split('\n');
