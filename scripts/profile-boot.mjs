#!/usr/bin/env node
// Where the boot of a Linux guest to its ready line goes: guest instructions and host wall time per
// phase, and the kernel functions (and initcalls) the instructions are spent in.
//
//   node scripts/profile-boot.mjs [--kernel FILE --initrd FILE] [--map System.map] [--every N] [--top N]
//                                 [--under FUNC]   (also: top functions of samples with FUNC in their chain)
//                                 [--callers FUNC] (also: the call chains that samples in FUNC were reached by)
//                                 [--run CMD [--warm N]]
//   (npm run profile; with no --kernel it profiles the default guest and its System.map)
//
// With --run, the boot is not profiled: CMD is typed into the booted guest's shell, run N times
// unsampled (default 1, as `npm run bench` times warm runs), then once sampled the same way; it
// prints the shares of kernel, user mode and halted, the kernel functions and the user-mode code
// pages the instructions are spent in (for example --run 'seq 1 20000 | sort -r | md5sum').
//
// Two runs of the same boot under the virtual clock, so both see the same guest execution:
// 1. sampled: every N guest instructions (default 1000) the script reads EIP, CPL and paging state,
//    names the kernel function through System.map and guesses the call chain by scanning the kernel
//    stack for return addresses (the kernel has no frame pointers: a word counts as a return address
//    when it points into kernel text just after a CALL). The chain gives the phase (decompressor,
//    early kernel, start_kernel, kernel_init and its initcalls, userspace) and the initcall each
//    sample belongs to. Guest time at each phase change is recorded.
// 2. timed: the boot again in ordinary 100 k-instruction slices, cut at the recorded phase changes,
//    so the host wall time per phase is measured without the sampling overhead.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { READY_LINE, readyWatcher } from './ready-line.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/** i386 PAGE_OFFSET = __START_KERNEL_map: the kernel's virtual = physical + this. */
const PAGE_OFFSET = 0xc0000000;

function usage(msg) {
  console.error(`profile-boot: ${msg}`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = { every: 1000, top: 15, warm: 1 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => { if (argv[i + 1] === undefined) usage(`${a} needs a value`); return argv[++i]; };
    if (a === '--kernel') o.kernel = v();
    else if (a === '--initrd') o.initrd = v();
    else if (a === '--map') o.map = v();
    else if (a === '--append') o.append = v();
    else if (a === '--under') o.under = v();
    else if (a === '--callers') o.callers = v();
    else if (a === '--run') o.run = v();
    else if (a === '--every' || a === '--top' || a === '--warm') {
      const n = Number(v());
      if (!Number.isInteger(n) || n < (a === '--warm' ? 0 : 1)) usage(`${a} takes a ${a === '--warm' ? 'non-negative' : 'positive'} whole number`);
      o[a.slice(2)] = n;
    } else if (a === '-h' || a === '--help') { console.log(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1, 6).map((l) => l.slice(3)).join('\n')); process.exit(0); }
    else usage(`unknown option ${a}`);
  }
  return o;
}

/** System.map → sorted addresses and names, and the kernel text ranges. */
function loadSymbols(path) {
  const syms = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = /^([0-9a-f]{8}) (\w) (\S+)$/.exec(line);
    if (m) syms.push({ addr: parseInt(m[1], 16), type: m[2], name: m[3] });
  }
  syms.sort((a, b) => a.addr - b.addr);
  const at = (name) => syms.find((s) => s.name === name)?.addr;
  const ranges = [[at('_stext'), at('_etext')], [at('_sinittext'), at('_einittext')]];
  if (ranges.flat().some((x) => x === undefined)) usage(`${path} lacks _stext/_etext/_sinittext/_einittext: not a Linux System.map`);
  const addrs = Uint32Array.from(syms, (s) => s.addr);
  return {
    isText: (va) => ranges.some(([a, b]) => va >= a && va < b),
    name(va) {
      let lo = 0, hi = addrs.length - 1;
      if (va < addrs[0]) return null;
      while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (addrs[mid] <= va) lo = mid; else hi = mid - 1; }
      return syms[lo].name;
    },
  };
}

const PHASES = ['decompressor', 'early kernel (to start_kernel)', 'start_kernel (to kernel_init)', 'kernel_init (initcalls, /init exec)', 'userspace (to the ready line)'];

async function loadMachine() {
  const esbuild = await import('esbuild');
  const outfile = join(ROOT, 'dist', 'profile', 'machine.mjs');
  await esbuild.build({ entryPoints: [join(ROOT, 'host', 'machine.ts')], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile, logLevel: 'warning' });
  return (await import(pathToFileURL(outfile).href)).Machine;
}

/** The guest under the virtual clock; `onReady` at its ready line, `onByte` for every serial byte. */
function newMachine(Machine, inputs, onReady, onByte = () => {}) {
  const watch = readyWatcher(onReady);
  return new Machine({
    clock: 'virtual', kernel: inputs.kernel, initrd: inputs.initrd, cmdline: inputs.append,
    onSerial: (b) => { watch(b); onByte(b); },
  });
}

/** Where the CPU is: halted, user mode, a kernel function (System.map), or outside its text. */
function placeOf(cpu, syms) {
  const eip = cpu.eip >>> 0;
  if (cpu.halted) return '(halted, waiting for an interrupt)';
  if (cpu.cpl === 3) return '(user mode)';
  // Before paging (and in the identity-mapped PVH entry) the kernel runs at its physical address.
  const va = eip >= PAGE_OFFSET ? eip : eip + PAGE_OFFSET;
  if (syms.isText(va)) return syms.name(va);
  return (cpu.cr[0] & 0x80000000) !== 0 ? `(kernel, not in System.map text: 0x${eip.toString(16)})` : '(decompressor)';
}

/**
 * --run: boots unsampled, runs `cmd` `warm` times, then samples one more run of it. Samples are
 * kernel functions, "(halted...)", or the user-mode code page.
 */
async function commandRun(Machine, inputs, syms, every, cmd, warm) {
  let ready = false, out = '';
  const m = newMachine(Machine, inputs, () => { ready = true; }, (b) => { out += String.fromCharCode(b); });
  const slices = async (done, budget, each) => {
    for (let k = 1; !done(); k++) {
      const r = m.runSlice(budget);
      if (r === 'shutdown' || r === 'idle') throw new Error(`the guest stopped (${m.shutdownReason ?? 'halted, nothing to wake it'})`);
      each?.();
      // Background compiles attach when the event loop turns, as in the CLI.
      if (k % 10 === 0) await new Promise((res) => setImmediate(res));
    }
  };
  await slices(() => ready, 100_000);
  // The marker is split in the typed line, so only the command's completion prints it whole.
  const type = () => { out = ''; m.serialInput(new TextEncoder().encode(`${cmd}; echo @@ts86-''run-done\n`)); };
  const finished = () => out.includes('@@ts86-run-done');
  for (let i = 0; i < warm; i++) { type(); await slices(finished, 100_000); }
  const self = new Map();
  let samples = 0;
  const i0 = m.cpu.instructions, t0 = m.clock.now();
  type();
  await slices(finished, every, () => {
    const cpu = m.cpu;
    const where = cpu.cpl === 3 && !cpu.halted ? `(user) page 0x${((cpu.segBase[1] + cpu.eip) >>> 12 << 12 >>> 0).toString(16)}` : placeOf(cpu, syms);
    self.set(where, (self.get(where) ?? 0) + 1);
    samples++;
  });
  return { self, samples, instructions: m.cpu.instructions - i0, guestNs: m.clock.now() - t0 };
}

/** Pass 1: samples. Returns per-phase and per-function counts and the guest times of phase changes. */
function sampledRun(Machine, inputs, syms, every, under, callers) {
  let ready = false;
  const m = newMachine(Machine, inputs, () => { ready = true; });
  const cpu = m.cpu, ram = m.mem.ram, ramSize = m.mem.ramSize;
  const rd32 = (p) => (ram[p] | (ram[p + 1] << 8) | (ram[p + 2] << 16) | (ram[p + 3] << 24)) >>> 0;
  const afterCall = (p) => p >= 7 && (ram[p - 5] === 0xe8
    || (ram[p - 2] === 0xff && (ram[p - 1] & 0x38) === 0x10) || (ram[p - 3] === 0xff && (ram[p - 2] & 0x38) === 0x10)
    || (ram[p - 6] === 0xff && (ram[p - 5] & 0x38) === 0x10) || (ram[p - 7] === 0xff && (ram[p - 6] & 0x38) === 0x10));
  /** Guessed call chain, innermost first: return addresses on the kernel stack up to its 8 KiB top. */
  const chain = (esp) => {
    const out = [];
    const p0 = (esp >>> 0) - PAGE_OFFSET;
    if (p0 < 0 || p0 >= ramSize) return out;
    const top = Math.min((p0 | 0x1fff) + 1, ramSize);
    for (let p = p0 & ~3; p + 4 <= top; p += 4) {
      const va = rd32(p);
      if (syms.isText(va) && va - PAGE_OFFSET < ramSize && afterCall(va - PAGE_OFFSET)) out.push(syms.name(va));
    }
    return out;
  };
  const phases = PHASES.map(() => ({ samples: 0, self: new Map() }));
  const initcalls = new Map();
  const underSelf = new Map();
  const callerChains = new Map();
  const changes = []; // guest ns at which phase i+1 begins
  let phase = 0;
  const bump = (map, k) => map.set(k, (map.get(k) ?? 0) + 1);
  while (!ready) {
    const r = m.runSlice(every);
    if (r === 'shutdown' || r === 'idle') throw new Error(`the guest stopped before its ready line (${m.shutdownReason ?? 'halted, nothing to wake it'})`);
    const where = placeOf(cpu, syms);
    const eip = cpu.eip >>> 0;
    const paging = (cpu.cr[0] & 0x80000000) !== 0;
    const calls = paging && cpu.cpl !== 3 && !cpu.halted && eip >= PAGE_OFFSET && syms.isText(eip) ? chain(cpu.regs[4]) : [];
    let p = phase;
    if (where !== '(decompressor)' && p < 1) p = 1;
    const inChain = (n) => where === n || calls.includes(n);
    if (p < 2 && inChain('start_kernel')) p = 2;
    if (p < 3 && (inChain('kernel_init') || inChain('kernel_init_freeable') || inChain('do_one_initcall'))) p = 3;
    if (p < 4 && cpu.cpl === 3) p = 4;
    while (phase < p) { changes.push(m.clock.now()); phase++; }
    phases[phase].samples++;
    bump(phases[phase].self, where);
    if (under && inChain(under)) bump(underSelf, where);
    if (callers && where === callers) bump(callerChains, calls.slice(0, 8).join(' < ') || '(no caller found)');
    const k = calls.indexOf('do_one_initcall');
    if (k >= 0 || where === 'do_one_initcall') bump(initcalls, k > 0 ? calls[k - 1] : k === 0 ? where : '(do_one_initcall itself)');
    else if (inChain('do_populate_rootfs')) bump(initcalls, 'do_populate_rootfs (async initramfs unpack)');
  }
  return { phases, initcalls, underSelf, callerChains, changes, total: m.cpu.instructions, guestNs: m.clock.now() };
}

/** Pass 2: the same boot in ordinary slices, cut at the phase changes; wall ms per phase. */
function timedRun(Machine, inputs, changes) {
  let ready = false;
  const t0 = performance.now();
  const m = newMachine(Machine, inputs, () => { ready = true; });
  const setup = performance.now() - t0;
  const wall = [];
  let last = performance.now(), next = 0;
  while (!ready) {
    const to = changes[next] ?? Infinity;
    const budget = Math.max(1, Math.min(100_000, Math.ceil((to - m.clock.now()) / m.clock.nsPerInstruction)));
    const r = m.runSlice(budget);
    if (r === 'shutdown' || r === 'idle') throw new Error('the timed run stopped before the ready line');
    while (m.clock.now() >= (changes[next] ?? Infinity)) { const t = performance.now(); wall.push(t - last); last = t; next++; }
  }
  wall.push(performance.now() - last);
  return { setup, wall, total: performance.now() - t0 };
}

const o = parseArgs(process.argv.slice(2));
if (Boolean(o.kernel) !== Boolean(o.initrd)) usage('give --kernel and --initrd together (or neither, for the default guest)');
let kernelPath = o.kernel, initrdPath = o.initrd, mapPath = o.map;
if (!kernelPath) {
  const { ensureGuest } = await import(pathToFileURL(join(ROOT, 'scripts', 'build-guest.mjs')).href);
  const g = await ensureGuest({ quiet: false });
  kernelPath = g.kernel; initrdPath = g.initrd; mapPath ??= g.systemMap;
}
if (!mapPath) usage('--map System.map is needed with --kernel');
for (const f of [kernelPath, initrdPath, mapPath]) if (!existsSync(f)) usage(`${f}: no such file`);
const inputs = { kernel: new Uint8Array(readFileSync(kernelPath)), initrd: new Uint8Array(readFileSync(initrdPath)), append: o.append };
const syms = loadSymbols(mapPath);
const Machine = await loadMachine();
const M = (n) => `${(n / 1e6).toFixed(1)} M`;
const pct = (a, b) => `${((100 * a) / b).toFixed(1)}%`;

if (o.run !== undefined) {
  process.stderr.write(`profile-boot: booting, ${o.warm} unsampled run(s), then sampling every ${o.every} instructions...\n`);
  const r = await commandRun(Machine, inputs, syms, o.every, o.run, o.warm);
  const share = (test) => [...r.self].filter(([k]) => test(k)).reduce((n, [, v]) => n + v, 0);
  const user = share((k) => k.startsWith('(user)')), halted = share((k) => k.startsWith('(halted'));
  console.log(`${o.run}: ${M(r.instructions)} instructions, ${(r.guestNs / 1e6).toFixed(1)} ms guest time (virtual clock)`);
  console.log(`kernel ${pct(r.samples - user - halted, r.samples)}, user mode ${pct(user, r.samples)}, halted ${pct(halted, r.samples)} of the samples`);
  console.log(`\ntop kernel functions and user-mode code pages (self)`);
  for (const [name, n] of [...r.self].sort((a, b) => b[1] - a[1]).slice(0, o.top)) console.log(`  ${pct(n, r.samples).padStart(6)}  ${name}`);
  process.exit(0);
}

process.stderr.write(`profile-boot: sampling every ${o.every} instructions...\n`);
const s = sampledRun(Machine, inputs, syms, o.every, o.under, o.callers);
process.stderr.write('profile-boot: timing the phases...\n');
const t = timedRun(Machine, inputs, s.changes);

const samples = s.phases.reduce((n, p) => n + p.samples, 0);
console.log(`boot of ${kernelPath} to "${READY_LINE}" (virtual clock): ${M(s.total)} instructions, ${(s.guestNs / 1e6).toFixed(1)} ms guest time, ` +
  `${(t.total / 1000).toFixed(2)} s host wall (machine setup ${t.setup.toFixed(0)} ms)`);
console.log(`\n${'phase'.padEnd(40)}${'instructions'.padStart(14)}${'share'.padStart(8)}${'wall ms'.padStart(10)}`);
s.phases.forEach((p, i) => {
  console.log(`${PHASES[i].padEnd(40)}${M(p.samples * o.every).padStart(14)}${pct(p.samples, samples).padStart(8)}${(t.wall[i] ?? 0).toFixed(0).padStart(10)}`);
});
s.phases.forEach((p, i) => {
  if (!p.samples) return;
  console.log(`\n${PHASES[i]}: top functions (self)`);
  for (const [name, n] of [...p.self].sort((a, b) => b[1] - a[1]).slice(0, o.top)) console.log(`  ${M(n * o.every).padStart(8)}  ${pct(n, p.samples).padStart(6)}  ${name}`);
});
/** A count per key, largest first, under a title that gets the total. */
function printCounts(title, counts) {
  const all = [...counts.values()].reduce((a, b) => a + b, 0);
  console.log(`\n${title(M(all * o.every))}`);
  for (const [key, n] of [...counts].sort((a, b) => b[1] - a[1]).slice(0, o.top)) console.log(`  ${M(n * o.every).padStart(8)}  ${key}`);
}
if (s.initcalls.size) printCounts((all) => `initcalls (inclusive, ${all} in all)`, s.initcalls);
if (o.under) printCounts((all) => `under ${o.under} (${all} in all): top functions (self)`, s.underSelf);
if (o.callers) printCounts((all) => `${o.callers} (${all} in all): call chains, innermost caller first`, s.callerChains);
