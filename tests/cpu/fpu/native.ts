// Runs batches of x87 instructions on this machine's CPU through the helper in native/x87run.c,
// compiling it into node_modules/.cache/ts86/ when missing or older than its source.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const source = join(here, 'native', 'x87run.c');
const binary = join(here, '..', '..', '..', 'node_modules', '.cache', 'ts86', 'x87run');

export interface NativeCase {
  code: number[];          // instruction bytes; a memory operand is [esi] (ModRM mod=0, rm=6)
  eflags: number;
  eax: number;
  state: Uint8Array;       // 108-byte FRSTOR image, 32-bit protected-mode layout
  mem: Uint8Array;         // memory operand contents (at most 512 bytes)
}
export interface NativeResult {
  fault: number;           // 0 none, 1 #MF (SIGFPE), 2 #UD (SIGILL), 3 SIGSEGV
  state: Uint8Array;       // FNSAVE image right after the instruction
  eflags: number;
  eax: number;
  mem: Uint8Array;
}
export interface NativeBatch { insnAddr: number; memAddr: number; cs: number; ds: number; results: NativeResult[] }

export function nativeHelper(): string {
  if (!existsSync(binary) || statSync(binary).mtimeMs < statSync(source).mtimeMs) {
    mkdirSync(dirname(binary), { recursive: true });
    const r = spawnSync('gcc', ['-m32', '-O1', '-o', binary, source], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error('cannot build the native x87 helper (gcc -m32; install gcc-multilib)');
  }
  return binary;
}

export function runNative(cases: NativeCase[]): NativeBatch {
  let size = 4;
  for (const c of cases) size += 16 + 8 + 2 + 108 + c.mem.length;
  const input = Buffer.alloc(size);
  let p = input.writeUInt32LE(cases.length, 0);
  for (const c of cases) {
    input[p] = c.code.length;
    input.set(c.code, p + 1);
    p = input.writeUInt32LE(c.eflags >>> 0, p + 16);
    p = input.writeUInt32LE(c.eax >>> 0, p);
    p = input.writeUInt16LE(c.mem.length, p);
    input.set(c.state, p); p += 108;
    input.set(c.mem, p); p += c.mem.length;
  }
  const r = spawnSync(nativeHelper(), [], { input, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`x87run failed: ${r.stderr}`);
  const out = r.stdout;
  const results: NativeResult[] = [];
  let q = 12;
  for (const c of cases) {
    const fault = out[q];
    const state = new Uint8Array(out.subarray(q + 1, q + 109));
    const eflags = out.readUInt32LE(q + 109), eax = out.readUInt32LE(q + 113);
    const mem = new Uint8Array(out.subarray(q + 117, q + 117 + c.mem.length));
    q += 117 + c.mem.length;
    results.push({ fault, state, eflags, eax, mem });
  }
  const hdr = out.readUInt32LE(8);
  return { insnAddr: out.readUInt32LE(0), memAddr: out.readUInt32LE(4), cs: hdr & 0xffff, ds: hdr >>> 16, results };
}
