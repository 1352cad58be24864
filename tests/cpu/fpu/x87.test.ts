// Differential tests of the x87 model against this machine's CPU: seeded random cases per
// instruction form run natively in batches (native/x87run.c) and through cpu/fpu/x87.ts, compared
// bit for bit (FNSAVE image, memory operand, EFLAGS, AX, #MF). Transcendentals are compared within
// a few units in the last place. X87_SEED=n reproduces a run; X87_SCALE=k sets the multiplier of the per-group case counts (default 3).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { X87, x87Valid } from '../../../cpu/fpu/x87.js';
import { runNative, type NativeBatch, type NativeCase, type NativeResult } from './native.js';
import { ModelHost, runModel, compare, describeCase } from './harness.js';
import { Rng, type Ext, type StateSpec } from './gen.js';
import { groups, hashName, mk } from './groups.js';

const SEED = Number(process.env.X87_SEED ?? 0x5eed87);
const SCALE = Number(process.env.X87_SCALE ?? 3);
console.log(`x87 differential tests: X87_SEED=${SEED}`);

const covered = new Set<string>();
const formKey = (code: number[]): string => {
  let i = code[0] === 0x66 ? 1 : 0;
  if (code[i] === 0x9b) return 'fwait';
  if (code[i] === 0x0f) return `0f ae /${(code[i + 2] >>> 3) & 7}`;
  const m = code[i + 1];
  return m >= 0xc0 ? `${code[i].toString(16)} ${m.toString(16)}` : `${code[i].toString(16)} /${(m >>> 3) & 7}`;
};

const host = new ModelHost();
const fpu = new X87(host);
let totalCases = 0;

for (const g of groups) {
  test(g.name, () => {
    const rng = new Rng(SEED ^ hashName(g.name));
    const cases: NativeCase[] = [];
    for (let i = 0; i < g.n * SCALE; i++) cases.push(g.gen(rng));
    const batch = runNative(cases);
    const tol = g.ulps !== undefined ? { ulps: g.ulps } : undefined;
    const check = (c: NativeCase, b: NativeBatch, n: NativeResult): string => compare(c, n, runModel(fpu, host, c, b), tol);
    let differing = cases.map((c, i) => i).filter((i) => check(cases[i], batch, batch.results[i]) !== '');
    // A context switch between the instruction and the FNSAVE makes this AMD CPU lose FIP/FDP/FOP
    // (its XSAVE keeps them only while an exception is pending): run differing cases once more.
    if (differing.length) {
      const again = runNative(differing.map((i) => cases[i]));
      differing = differing.filter((i, k) => check(cases[i], again, again.results[k]) !== '');
    }
    const fails = differing.slice(0, 6).map((i) => `#${i} ${describeCase(cases[i])}\n  ${check(cases[i], batch, batch.results[i])}`);
    const failed = differing.length;
    for (const c of cases) covered.add(formKey(c.code));
    totalCases += cases.length;
    if (failed) console.log(`${g.name}: ${failed}/${cases.length} differ (X87_SEED=${SEED})\n${fails.join('\n')}`);
    assert.is(failed, 0);
  });
}

test('x87Valid matches the CPU (#UD)', () => {
  const cases: NativeCase[] = [], keys: [number, number][] = [];
  const s: StateSpec = { cw: 0x37f, sw: 0, top: 0, empty: 0xc0, regs: Array.from({ length: 8 }, () => [0x3fff, 0x80000000, 0] as Ext) };
  for (let esc = 0xd8; esc <= 0xdf; esc++) {
    for (let m = 0; m < 256; m++) {
      if (m < 0xc0 && (m & 0xc7) !== 6) continue; // one memory form per reg field
      if (m < 0xc0 && (esc === 0xdb || esc === 0xdd || esc === 0xdf) && ((m >>> 3) & 7) === 1) continue; // FISTTP (SSE3)
      if (esc === 0xd9 && m >= 0xc0 && m !== 0xd0 && m < 0xe0) continue; // keep the stack simple
      keys.push([esc, m]);
      cases.push(mk([esc, m], s, new Uint8Array(512)));
    }
  }
  const batch = runNative(cases);
  const wrong = keys.filter(([e, m], i) => (batch.results[i].fault === 2) === x87Valid(e, m));
  assert.equal(wrong.map(([e, m]) => `${e.toString(16)} ${m.toString(16)}`), []);
});

test('coverage', () => {
  let forms = 0;
  const missing: string[] = [];
  for (let esc = 0xd8; esc <= 0xdf; esc++) {
    for (let reg = 0; reg < 8; reg++) {
      if (!x87Valid(esc, (reg << 3) | 6)) continue;
      forms++;
      if (!covered.has(`${esc.toString(16)} /${reg}`)) missing.push(`${esc.toString(16)} /${reg}`);
    }
    for (let m = 0xc0; m < 0x100; m++) {
      if (!x87Valid(esc, m)) continue;
      forms++;
      if (!covered.has(`${esc.toString(16)} ${m.toString(16)}`)) missing.push(`${esc.toString(16)} ${m.toString(16)}`);
    }
  }
  console.log(`x87 coverage: ${forms - missing.length}/${forms} opcode forms (+ FWAIT, FXSAVE, FXRSTOR), ${totalCases} cases` +
    (missing.length ? `; not covered: ${missing.join(', ')}` : ''));
  assert.equal(missing, []);
});

test.run();
