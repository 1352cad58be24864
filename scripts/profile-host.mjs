// `npm run profile:host`: where ts86's host time goes, beside `npm run profile` (profile-boot.mjs,
// where the guest's instructions go).
//
//   node scripts/profile-host.mjs [--boot | --run 'CMD' [--warm N] | --bench int|mem|rep] [--threshold N] [--backend wasm|js] [--top N] [--cpuprofile FILE]
//
// --boot (default) boots the default guest to its ready line under the virtual clock; --run CMD
// boots it unprofiled, then profiles one shell command typed into it (for example
// --run 'seq 1 20000 | sort -r | md5sum'), after running it N times unprofiled with --warm N (as
// `npm run bench` times warm runs); --bench NAME runs a benchmark kernel from bench/. Prints the host functions with the most self time (V8's
// sampling profiler; generated code shows as "region") and the code generator's counters: regions,
// size, time spent generating, and the instructions it left to interpreter handlers.
// --threshold sets the compile threshold (Infinity: interpreter only); --backend picks the code
// generator's back end (default: WebAssembly); --cpuprofile also writes
// the raw profile for Chrome DevTools.
import { Session } from 'node:inspector/promises';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { spawnSync } from 'node:child_process';
import { readyWatcher } from './ready-line.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CACHE = join(ROOT, 'node_modules', '.cache', 'ts86', 'profile');
const arg = (name, dflt) => { const i = process.argv.indexOf(`--${name}`); return i >= 0 ? process.argv[i + 1] : dflt; };
const bench = arg('bench', null);
const command = arg('run', null);
const top = Number(arg('top', '25'));
const warm = Number(arg('warm', '0'));
if (!(warm >= 0)) { console.error('profile-host: --warm wants a count >= 0'); process.exit(2); }
const threshold = arg('threshold', null) === null ? undefined : Number(arg('threshold'));
if (threshold !== undefined && !(threshold >= 0)) { console.error('profile-host: --threshold wants a number >= 0 or Infinity'); process.exit(2); }
const backEnd = arg('backend', undefined);
if (backEnd !== undefined && backEnd !== 'wasm' && backEnd !== 'js') { console.error('profile-host: --backend wants wasm or js'); process.exit(2); }

mkdirSync(CACHE, { recursive: true });
const esbuild = await import('esbuild');
const outfile = join(CACHE, 'profile-entry.mjs');
await esbuild.build({
  stdin: {
    contents: `export { Machine } from './host/machine.ts'; export { runTs86 } from './bench/ts86-runner.ts'; export { codegenStats } from './cpu/index.ts';`,
    resolveDir: ROOT, loader: 'ts',
  },
  bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile, logLevel: 'warning', sourcemap: false,
});
const { Machine, runTs86, codegenStats } = await import(pathToFileURL(outfile).href);

const session = new Session();
session.connect();
await session.post('Profiler.enable');
await session.post('Profiler.setSamplingInterval', { interval: 200 });

const report = [];
let t0 = performance.now();
if (!bench) {
  const { ensureGuest } = await import(pathToFileURL(join(ROOT, 'scripts', 'build-guest.mjs')).href);
  const guest = await ensureGuest({ quiet: true });
  let ready = false, out = '';
  const onReady = readyWatcher(() => { ready = true; });
  const m = new Machine({
    clock: 'virtual', kernel: new Uint8Array(readFileSync(guest.kernel)), initrd: new Uint8Array(readFileSync(guest.initrd)),
    compileThreshold: threshold, backEnd,
    onSerial: (b) => { onReady(b); if (command !== null) out += String.fromCharCode(b); },
  });
  /**
   * Runs the machine until `done()`; a guest that stops first ends the profile. Yields to the event
   * loop now and then, as the CLI does, so regions compiled in the background attach.
   */
  const runUntil = async (done) => {
    for (let slices = 1; !done(); slices++) {
      const r = m.runSlice(100_000);
      if (r === 'shutdown' || r === 'idle') { console.error(`profile-host: the guest stopped (${m.shutdownReason ?? r})`); process.exit(1); }
      if (slices % 10 === 0) await new Promise((res) => setImmediate(res));
    }
  };
  if (command === null) {
    await session.post('Profiler.start');
    await runUntil(() => ready);
    report.push(`boot to the ready line: ${m.cpu.instructions.toLocaleString('en-US')} guest instructions, ${((performance.now() - t0) / 1000).toFixed(2)} s in-process (virtual clock, profiler on)`);
  } else {
    await runUntil(() => ready);
    for (let i = 0; i < warm; i++) {
      out = '';
      m.serialInput(new TextEncoder().encode(`${command}; echo @@ts86-''warm-done\n`));
      await runUntil(() => out.includes('@@ts86-warm-done'));
    }
    // The marker is split in the typed line, so only the command's completion prints it whole.
    const mark = '@@ts86-profile-done';
    m.serialInput(new TextEncoder().encode(`${command}; echo @@ts86-''profile-done\n`));
    out = '';
    const i0 = m.cpu.instructions;
    t0 = performance.now();
    await session.post('Profiler.start');
    await runUntil(() => out.includes(mark));
    const n = m.cpu.instructions - i0, ms = performance.now() - t0;
    report.push(`${command}: ${n.toLocaleString('en-US')} guest instructions, ${(ms / 1000).toFixed(2)} s (${(n / ms / 1000).toFixed(1)} MIPS; virtual clock, profiler on)`);
  }
} else {
  await session.post('Profiler.start');
  const out = join(CACHE, `${bench}.bin`);
  const r = spawnSync('nasm', ['-f', 'bin', `-I${join(ROOT, 'bench')}/`, '-o', out, join(ROOT, 'bench', `${bench}.asm`)], { encoding: 'utf8' });
  if (r.status !== 0) { console.error(`profile-host: cannot assemble bench/${bench}.asm: ${r.stderr || r.error}`); process.exit(2); }
  const res = runTs86(new Uint8Array(readFileSync(out)), undefined, threshold, backEnd);
  report.push(`bench ${bench}: ${res.instructions.toLocaleString('en-US')} instructions in ${(res.ms / 1000).toFixed(2)} s (${(res.instructions / res.ms / 1000).toFixed(1)} MIPS)`);
}
const { profile } = await session.post('Profiler.stop');
if (arg('cpuprofile', null)) writeFileSync(arg('cpuprofile'), JSON.stringify(profile));

// Self time per function (summed over nodes with the same name and location).
const dt = new Map();
const ids = profile.samples;
for (let i = 0; i < ids.length; i++) dt.set(ids[i], (dt.get(ids[i]) ?? 0) + (profile.timeDeltas[i] ?? 0));
const self = new Map();
let total = 0;
for (const node of profile.nodes) {
  const t = dt.get(node.id) ?? 0;
  total += t;
  const f = node.callFrame;
  const key = `${f.functionName || '(anonymous)'} ${f.url ? `${f.url.split('/').pop()}:${f.lineNumber + 1}` : ''}`.trim();
  self.set(key, (self.get(key) ?? 0) + t);
}
console.log(report.join('\n'));
console.log(`\nhost self time, top ${top} of ${(total / 1000).toFixed(0)} ms (generated code shows as "region")`);
for (const [k, t] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${(t / 1000).toFixed(0).padStart(7)} ms ${((100 * t) / total).toFixed(1).padStart(5)}%  ${k}`);
const s = codegenStats;
const calls = [...s.handlerCalls].sort((a, b) => b[1] - a[1]).slice(0, 12).map(([k, v]) => `${k} ${v}`).join(', ');
console.log(`\ncode generator: ${s.regions} regions, ${s.blocks} blocks, ${s.instructions} instructions, ${(s.bytes / 1024).toFixed(0)} KiB generated, ${s.ms.toFixed(0)} ms generating`);
console.log(`  instructions compiled as handler calls (handler/opcode, sites): ${calls}`);
