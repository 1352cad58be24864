/**
 * The native half of the differential test: the memory layout both worlds share, the binary case
 * protocol of native/runner.c, and building/running that runner.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Code page: filled with INT3 natively and HLT in ts86, so any landing ends the case. */
export const CODE_ADDR = 0x00100000;
export const CODE_SIZE = 0x1000;
/** Data area (memory operands and the stack); an unmapped page separates it from the code natively. */
export const DATA_ADDR = 0x00102000;
export const DATA_SIZE = 0x1000;
export const MAX_CODE = 32;
export const MAX_POKES = 6;
/** Vector the native watchdog reports for a case that never ended. */
export const VEC_TIMEOUT = 0xfe;
/** Vector 3 (INT3 from the filler) is how a case that did not fault ends. */
export const VEC_LANDED = 3;

const IN_SIZE = 124;
const OUT_SIZE = 44;

export interface Poke { off: number; size: 1 | 2 | 4; val: number }

export interface CaseInput {
  /** EAX ECX EDX EBX ESP EBP ESI EDI, unsigned. */
  regs: number[];
  eflags: number;
  dataSeed: number;
  codeOff: number;
  code: number[];
  pokes: Poke[];
}

export interface Outcome {
  regs: number[];
  eflags: number;
  /** EIP after the landing INT3/HLT, or of the fault (as pushed for the vector). */
  eip: number;
  vector: number;
  /** Data-area bytes that differ from the initial contents: offset -> value. */
  diff: Map<number, number>;
}

/** The initial data area of a case; must match fill_data() in native/runner.c. */
export function initialData(c: CaseInput): Uint8Array {
  const d = new Uint8Array(DATA_SIZE);
  const v = new DataView(d.buffer);
  let x = (c.dataSeed | 1) >>> 0;
  for (let i = 0; i < DATA_SIZE; i += 4) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    v.setUint32(i, x, true);
  }
  for (const p of c.pokes) {
    for (let i = 0; i < p.size; i++) d[p.off + i] = (p.val >>> (8 * i)) & 0xff;
  }
  return d;
}

function encode(cases: CaseInput[]): Buffer {
  const buf = Buffer.alloc(IN_SIZE * cases.length);
  cases.forEach((c, n) => {
    const o = n * IN_SIZE;
    if (c.code.length > MAX_CODE || c.pokes.length > MAX_POKES) throw new Error('case too large');
    for (let i = 0; i < 8; i++) buf.writeUInt32LE(c.regs[i]! >>> 0, o + 4 * i);
    buf.writeUInt32LE(c.eflags >>> 0, o + 32);
    buf.writeUInt32LE(c.dataSeed >>> 0, o + 36);
    buf.writeUInt16LE(c.codeOff, o + 40);
    buf.writeUInt8(c.code.length, o + 42);
    buf.writeUInt8(c.pokes.length, o + 43);
    c.code.forEach((b, i) => buf.writeUInt8(b, o + 44 + i));
    c.pokes.forEach((p, i) => {
      buf.writeUInt16LE(p.off, o + 76 + 8 * i);
      buf.writeUInt16LE(p.size, o + 78 + 8 * i);
      buf.writeUInt32LE(p.val >>> 0, o + 80 + 8 * i);
    });
  });
  return buf;
}

function decode(out: Buffer, count: number): Outcome[] {
  const res: Outcome[] = [];
  let p = 0;
  for (let n = 0; n < count; n++) {
    if (p + OUT_SIZE > out.length) throw new Error(`native runner returned ${n} of ${count} results`);
    const regs = [];
    for (let i = 0; i < 8; i++) regs.push(out.readUInt32LE(p + 4 * i));
    const ndiff = out.readUInt16LE(p + 42);
    const o: Outcome = { regs, eflags: out.readUInt32LE(p + 32), eip: out.readUInt32LE(p + 36), vector: out.readUInt8(p + 40), diff: new Map() };
    p += OUT_SIZE;
    for (let i = 0; i < ndiff; i++, p += 4) o.diff.set(out.readUInt16LE(p), out.readUInt8(p + 2));
    res.push(o);
  }
  return res;
}

const here = dirname(fileURLToPath(import.meta.url));
let runnerPath: string | undefined;

/** Compiles native/runner.c once per content into node_modules/.cache (outside git). */
export function nativeRunner(): string {
  if (runnerPath) return runnerPath;
  const src = join(here, 'native', 'runner.c');
  const hash = createHash('sha256').update(readFileSync(src)).digest('hex').slice(0, 16);
  const dir = join(here, '..', '..', '..', 'node_modules', '.cache', 'ts86');
  const exe = join(dir, `diff-runner-${hash}`);
  if (!existsSync(exe)) {
    mkdirSync(dir, { recursive: true });
    const tmp = `${exe}.${process.pid}.tmp`;
    try {
      execFileSync('gcc', ['-m32', '-O2', '-no-pie', '-fno-pie', '-Wall', '-Werror', '-o', tmp, src], { stdio: ['ignore', 'inherit', 'pipe'] });
    } catch (e) {
      throw new Error(`cannot build the native runner with gcc -m32 (needs gcc-multilib; npm test installs it): ${(e as { stderr?: Buffer }).stderr?.toString() ?? e}`);
    }
    renameSync(tmp, exe);
  }
  return (runnerPath = exe);
}

/** Runs the cases on this machine's CPU, one runner process per call. */
export function runNative(cases: CaseInput[]): Outcome[] {
  const r = spawnSync(nativeRunner(), [], { input: encode(cases), maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`native runner failed (status ${r.status}, signal ${r.signal}): ${r.stderr?.toString()}`);
  return decode(r.stdout, cases.length);
}
