/**
 * Runs a class of forms natively and in ts86 and compares the results.
 *
 * Environment: SEED (default 1; "random" picks one), DIFF_SCALE (case-count multiplier, default 1),
 * DIFF_FORM (run only the form with this exact name), DIFF_CASE (only this case index of it).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Form } from './form.js';
import { AF, CF, DF, FLAGS, G, OF, PF, Rng, SF, ZF, hex } from './gen.js';
import { VEC_LANDED, VEC_TIMEOUT, initialData, runNative, type Outcome } from './native.js';
import { Ts86, VEC_LOST, VEC_SHUTDOWN, type Ts86Outcome } from './ts86.js';

export const SEED = (() => {
  const s = process.env.SEED;
  if (s === 'random') return Math.floor(Math.random() * 0x100000000);
  return s ? Number(s) >>> 0 : 1;
})();
const SCALE = Number(process.env.DIFF_SCALE ?? 1);
const ONLY_FORM = process.env.DIFF_FORM;
const ONLY_CASE = process.env.DIFF_CASE === undefined ? undefined : Number(process.env.DIFF_CASE);
/** Reproducer lines printed per form and per class. */
const SHOW_PER_FORM = 3, SHOW_PER_CLASS = 40;

const REG = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'];
const FLAG_NAMES: [number, string][] = [[CF, 'CF'], [PF, 'PF'], [AF, 'AF'], [ZF, 'ZF'], [SF, 'SF'], [DF, 'DF'], [OF, 'OF']];
const flagStr = (f: number) => FLAG_NAMES.filter(([b]) => f & b).map(([, n]) => n).join(' ') || '-';

const VEC_NAMES: Record<number, string> = {
  0: '#DE', 1: '#DB', 3: 'landed', 4: '#OF', 5: '#BR', 6: '#UD', 7: '#NM', 8: '#DF', 12: '#SS', 13: '#GP', 14: '#PF', 17: '#AC',
  [VEC_TIMEOUT]: 'timeout', [VEC_SHUTDOWN]: 'triple fault', [VEC_LOST]: 'stopped outside code and handlers',
};
const vecName = (v: number) => VEC_NAMES[v] ?? `vector ${v}`;

let ts86: Ts86 | undefined;
let ts86Compiled: Ts86 | undefined;

export interface Generated { form: Form; index: number; g: G }

/** The cases of `forms`, reproducible from SEED (each form has its own random stream). */
export function generate(forms: Form[], scale = SCALE, filter = true): Generated[] {
  const out: Generated[] = [];
  for (const form of forms) {
    if (filter && ONLY_FORM !== undefined && form.name !== ONLY_FORM) continue;
    const rng = new Rng(SEED, form.name);
    const n = Math.max(1, Math.round(form.count * scale));
    for (let index = 0; index < n; index++) {
      const g = new G(rng);
      form.gen(g);
      if (!filter || ONLY_CASE === undefined || ONLY_CASE === index) out.push({ form, index, g });
    }
  }
  return out;
}

/** Differences between the native and ts86 outcomes of a case, as short phrases. */
function compare(g: G, n: Outcome, t: Ts86Outcome): string[] {
  const d: string[] = [];
  if (n.vector !== t.vector) return [`${vecName(n.vector)} vs ${vecName(t.vector)} (eip ${hex(n.eip)} vs ${hex(t.eip)})`];
  if (n.eip !== t.eip) d.push(`eip ${hex(n.eip)} vs ${hex(t.eip)}`);
  const faulted = n.vector !== VEC_LANDED;
  for (let i = 0; i < 8; i++) {
    if (((n.regs[i]! ^ t.regs[i]!) & g.regMask[i]!) !== 0) d.push(`${REG[i]} ${hex(n.regs[i]!)} vs ${hex(t.regs[i]!)}`);
  }
  // A faulting instruction must leave every flag alone, undefined-on-completion or not.
  const fm = faulted ? FLAGS : g.flagMask;
  const fd = (n.eflags ^ t.eflags) & fm;
  if (fd) d.push(`eflags ${hex(n.eflags & FLAGS, 3)} vs ${hex(t.eflags & FLAGS, 3)} (${flagStr(fd)} differ)`);
  const init = initialData(g.toInput());
  const offs = new Set([...n.diff.keys(), ...t.diff.keys()]);
  const md: string[] = [];
  for (const o of [...offs].sort((a, b) => a - b)) {
    if (t.frame && o >= t.frame[0] && o < t.frame[1]) continue;
    const nv = n.diff.get(o) ?? init[o]!, tv = t.diff.get(o) ?? init[o]!;
    if (nv !== tv) md.push(`+${hex(o, 3)}:${hex(nv, 2)}/${hex(tv, 2)}`);
  }
  if (md.length) d.push(`data (native/ts86) ${md.slice(0, 12).join(' ')}${md.length > 12 ? ` ...${md.length - 12} more` : ''}`);
  return d;
}

function disassemble(code: number[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'ts86-dis-'));
  try {
    const f = join(dir, 'c.bin');
    writeFileSync(f, Uint8Array.from(code));
    const r = spawnSync('objdump', ['-D', '-b', 'binary', '-m', 'i386', '-M', 'intel', f], { encoding: 'utf8' });
    if (r.status !== 0) return '?';
    const lines = r.stdout.split('\n').filter((l) => /^\s+[0-9a-f]+:\t/.test(l)).map((l) => l.split('\t')[2]?.trim().replace(/\s+/g, ' '));
    return lines[0] ?? '?';
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function reproducer(cls: string, x: Generated, n: Outcome, diffs: string[]): string {
  const { g } = x;
  const inRegs = g.regs.map((v, i) => `${REG[i]}=${hex(v)}`).join(' ');
  const pokes = g.pokes.map((p) => ` [+${hex(p.off, 3)}]${p.size}=${hex(p.val, p.size * 2)}`).join('');
  return `[${cls}] SEED=${SEED} DIFF_FORM='${x.form.name}' DIFF_CASE=${x.index}: ${g.code.map((b) => hex(b, 2)).join(' ')} (${disassemble(g.code)})` +
    ` @${hex(g.eip)} | in ${inRegs} fl=${hex(g.eflags, 3)} (${flagStr(g.eflags)})${pokes} | native ${vecName(n.vector)} | native vs ts86: ${diffs.join('; ')}`;
}

export interface ClassResult { cases: number; mismatches: number; keys: Set<string>; lines: string[] }

/** Runs every case of the forms in both worlds; returns counts and reproducer lines. */
export function runClass(cls: string, forms: Form[]): ClassResult {
  const t0 = performance.now();
  const cases = generate(forms);
  const keys = new Set<string>();
  for (const c of cases) for (const k of c.g.keys) keys.add(k);
  const native: Outcome[] = [];
  const CHUNK = 20000;
  for (let i = 0; i < cases.length; i += CHUNK) native.push(...runNative(cases.slice(i, i + CHUNK).map((c) => c.g.toInput())));
  const t1 = performance.now();
  ts86 ??= new Ts86();
  ts86Compiled ??= new Ts86(0);
  const lines: string[] = [];
  const perForm = new Map<Form, number>();
  let mismatches = 0;
  cases.forEach((c, i) => {
    // Each case runs interpreted and compiled; both must match the native CPU.
    const input = c.g.toInput();
    let d = compare(c.g, native[i]!, ts86!.run(input));
    if (d.length === 0) d = compare(c.g, native[i]!, ts86Compiled!.run(input)).map((x) => `compiled: ${x}`);
    if (d.length === 0) return;
    mismatches++;
    const k = (perForm.get(c.form) ?? 0) + 1;
    perForm.set(c.form, k);
    if (k <= SHOW_PER_FORM && lines.length < SHOW_PER_CLASS) lines.push(reproducer(cls, c, native[i]!, d));
  });
  const t2 = performance.now();
  const bad = [...perForm].map(([f, k]) => `${f.name}: ${k}`);
  console.log(`[${cls}] SEED=${SEED}: ${cases.length} cases, ${forms.length} forms, native ${((t1 - t0) / 1000).toFixed(1)} s, ts86 ${((t2 - t1) / 1000).toFixed(1)} s; ` +
    `opcodes ${[...keys].sort().join(' ')}`);
  if (mismatches) console.log(`[${cls}] ${mismatches} mismatches in ${perForm.size} forms: ${bad.join('; ')}`);
  return { cases: cases.length, mismatches, keys, lines };
}

/** One uvu test for a class: fails with the reproducer lines when any case differs. */
export function diffTest(cls: string, title: string, forms: Form[]): void {
  const t = suite(cls);
  t(title, () => {
    const r = runClass(cls, forms);
    if (r.mismatches) assert.unreachable(`${r.mismatches} of ${r.cases} cases differ from the native CPU:\n${r.lines.join('\n')}`);
  });
  t.run();
}
