// `npm run bench`: CPU speed of ts86 beside v86 (JIT and interpreter only) and QEMU TCG, on the
// same guest code: the multiboot kernels in bench/, which execute a known number of instructions
// (stated in each binary, checked against the engines' own counters) and exit via port 0xF4.
//
//   node scripts/bench.mjs [--runs N] [--bench int,mem,rep] [--engines ts86,v86-jit,v86-interp,qemu]
//
// Each engine runs in its own Node process (fresh machine per run); the table shows medians.
//
// The `boot` workload boots the default guest (same kernel and initramfs on every engine: the PVH
// vmlinux on ts86 and QEMU, its bzImage on v86, which has no PVH loader) and times
// each engine from process start to the guest's ready line, as a user waits for it (and ts86's
// browser page in headless Chromium, from opening the page):
//
//   node scripts/bench.mjs --bench boot [--boot-runs N]
//
// The `ping` workload (scripts/bench-guest.mjs) times `ping -A -q -c N 10.0.2.2` inside the booted
// guest on ts86 (device model in a worker and inline, MMIO and hypercall kicks), QEMU and v86:
//
//   node scripts/bench.mjs --bench ping [--ping-runs N] [--ping-count N]
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';
import { READY_LINE, readyWatcher } from './ready-line.mjs';
import { ensurePackages } from './deps.mjs';
import { GUEST_ENGINES, TS86_COMMAND, peerUnavailable, pingSection, startV86, workloadSection } from './bench-guest.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CACHE = join(ROOT, 'node_modules', '.cache', 'ts86', 'bench');

const BENCHES = [
  { name: 'int', title: 'integer ALU loop' },
  { name: 'mem', title: 'loads/stores, PUSH/POP, LODSD/STOSD/MOVSB' },
  { name: 'rep', title: 'REP MOVSD + REP STOSD, 64 KiB blocks', bytes: true },
];
const ENGINES = ['ts86', 'v86-jit', 'v86-interp', 'qemu'];
const BOOT = { name: 'boot', title: 'default guest to its ready line' };
/** A boot worker prints this, then a JSON object, once the guest is ready. */
const RESULT_TAG = '@@ts86-bench ';
const EXIT_OK = 0x10;

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

// ---------------------------------------------------------------- guest programs

/** Assembles bench/NAME.asm; returns the binary's path and the counts it declares. */
function buildKernel(name) {
  mkdirSync(CACHE, { recursive: true });
  const out = join(CACHE, `${name}.bin`);
  const r = spawnSync('nasm', ['-f', 'bin', '-w+error', `-I${join(ROOT, 'bench')}/`, '-o', out, join(ROOT, 'bench', `${name}.asm`)], { encoding: 'utf8' });
  if (r.error) throw new Error(`nasm is needed for the benchmark kernels: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`nasm failed on bench/${name}.asm:\n${r.stderr}`);
  const image = readFileSync(out);
  const at = image.indexOf('TS86BNCH');
  if (at < 0) throw new Error(`bench/${name}.asm has no TS86BNCH descriptor`);
  return { path: out, instructions: image.readUInt32LE(at + 8), bytes: image.readUInt32LE(at + 12) };
}

// ---------------------------------------------------------------- engines (worker side)

async function ts86Runner() {
  if (!existsSync(join(ROOT, 'cpu', 'index.ts'))) return null;
  const esbuild = await import('esbuild');
  const outfile = join(CACHE, 'ts86-runner.mjs');
  await esbuild.build({
    entryPoints: [join(ROOT, 'bench', 'ts86-runner.ts')],
    bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile, logLevel: 'warning',
  });
  return (await import(pathToFileURL(outfile).href)).runTs86;
}

async function runTs86(path, runs) {
  const run = await ts86Runner();
  if (!run) return { unavailable: 'cpu/index.ts not present' };
  const kernel = new Uint8Array(readFileSync(path));
  const results = [];
  for (let i = 0; i < runs; i++) {
    const r = run(kernel);
    results.push({ ms: r.ms, counted: r.instructions, exit: r.exit, output: r.output });
  }
  return { results };
}

function v86Once(V86, wasmPath, kernel, jit) {
  return new Promise((resolve, reject) => {
    const emulator = new V86({
      wasm_path: wasmPath,
      memory_size: 64 << 20,
      multiboot: { buffer: kernel.buffer.slice(kernel.byteOffset, kernel.byteOffset + kernel.byteLength) },
      autostart: false, disable_jit: !jit, log_level: 0,
      disable_keyboard: true, disable_mouse: true, disable_speaker: true,
    });
    const timer = setTimeout(() => reject(new Error('v86 did not reach port 0xF4 within 10 minutes')), 600_000);
    let t0 = 0, output = '';
    emulator.add_listener('emulator-loaded', () => {
      // v86's own multiboot test device throws on port 0xF4; take over both debug ports.
      const io = emulator.v86.cpu.io;
      io.register_write(0xe9, {}, (v) => { output += String.fromCharCode(v); });
      io.register_write(0xf4, {}, (v) => {
        const ms = performance.now() - t0;
        const counted = emulator.get_instruction_counter();
        clearTimeout(timer);
        emulator.stop().then(() => { emulator.destroy(); resolve({ ms, counted, exit: v, output }); });
      });
      t0 = performance.now();
      emulator.run();
    });
  });
}

async function runV86(path, runs, jit) {
  let mod;
  try { mod = await import('v86'); } catch (e) { return { unavailable: `npm package v86 not installed (${e.message})` }; }
  const wasmPath = join(dirname(createRequire(import.meta.url).resolve('v86')), 'v86.wasm');
  const kernel = readFileSync(path);
  const results = [];
  for (let i = 0; i < runs; i++) results.push(await v86Once(mod.V86, wasmPath, kernel, jit));
  return { results };
}

function qemuOnce(path) {
  const t0 = performance.now();
  const r = spawnSync('qemu-system-i386', [
    '-kernel', path, '-display', 'none', '-monitor', 'none', '-serial', 'none', '-parallel', 'none',
    '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04', '-debugcon', 'stdio', '-no-reboot', '-m', '64',
  ], { encoding: 'latin1', timeout: 600_000 });
  const ms = performance.now() - t0;
  if (r.error) throw r.error;
  return { ms, exit: r.status === null ? null : r.status >> 1, output: r.stdout };
}

function runQemu(path, runs, nullPath) {
  const unavailable = peerUnavailable('qemu');
  if (unavailable) return { unavailable };
  // Wall time includes QEMU's start-up and firmware; subtract the median for an empty kernel.
  const base = median(Array.from({ length: runs }, () => qemuOnce(nullPath).ms));
  const results = Array.from({ length: runs }, () => {
    const r = qemuOnce(path);
    return { ...r, wall: r.ms, ms: Math.max(r.ms - base, 0.001) };
  });
  return { results, startupMs: base };
}


// ---------------------------------------------------------------- boot workers

/** Watches serial bytes for the ready line. */

/** v86 with Debian's SeaBIOS boots the guest; serial output goes to stdout, line by line. */
async function bootV86(kernelPath, initrdPath, jit) {
  const emulator = await startV86(kernelPath, initrdPath, { disable_jit: !jit });
  let pending = '';
  const watch = readyWatcher(() => {
    process.stdout.write(pending);
    process.stdout.write(`\n${RESULT_TAG}${JSON.stringify({ instructions: emulator.get_instruction_counter() })}\n`);
    process.exit(0);
  });
  emulator.add_listener('serial0-output-byte', (b) => {
    pending += String.fromCharCode(b);
    if (b === 10) { process.stdout.write(pending); pending = ''; }
    watch(b);
  });
  // The ready listener ends the process; until then the rest of this script must not run.
  return new Promise(() => {});
}

/**
 * ts86's guest instructions to the ready line, in-process through the Machine class. With the
 * virtual clock the count is the same on any host; with the realtime clock guest spin-waits
 * (timer calibration) retire as many instructions as the host runs in that time.
 */
async function countTs86Boot(kernelPath, initrdPath, clock) {
  const esbuild = await import('esbuild');
  const outfile = join(CACHE, 'ts86-machine.mjs');
  await esbuild.build({
    entryPoints: [join(ROOT, 'host', 'machine.ts')],
    bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile, logLevel: 'warning',
  });
  const { Machine } = await import(pathToFileURL(outfile).href);
  let instructions = null;
  const m = new Machine({
    clock, kernel: new Uint8Array(readFileSync(kernelPath)), initrd: new Uint8Array(readFileSync(initrdPath)),
    onSerial: readyWatcher(() => { instructions = m.cpu.instructions; }),
  });
  const t0 = performance.now();
  while (instructions === null) {
    const r = m.runSlice(100_000);
    if (r === 'shutdown' || (r === 'idle' && clock === 'virtual')) throw new Error(`ts86 stopped before the ready line (${m.shutdownReason ?? 'halted, no timer'})`);
    // Realtime: a halted guest waits for its next timer, as the CLI does.
    if (r === 'idle') await new Promise((res) => setTimeout(res, Math.max(0, Math.min(10, (m.clock.nextDeadline() - m.clock.now()) / 1e6))));
  }
  process.stdout.write(`${RESULT_TAG}${JSON.stringify({ instructions, guestMs: m.clock.now() / 1e6, ms: performance.now() - t0 })}\n`);
  process.exit(0);
}

// ---------------------------------------------------------------- driver

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
}

if (process.argv[2] === '--boot-worker') {
  const [, , , engine, kernelPath, initrdPath] = process.argv;
  if (engine.startsWith('ts86-count-')) await countTs86Boot(kernelPath, initrdPath, engine.slice('ts86-count-'.length));
  else await bootV86(kernelPath, initrdPath, engine === 'v86-jit');
} else if (process.argv[2] === '--worker') {
  const [, , , engine, path, runs] = process.argv;
  const n = Number(runs);
  const res = engine === 'ts86' ? await runTs86(path, n)
    : engine === 'v86-jit' ? await runV86(path, n, true)
    : await runV86(path, n, false);
  process.stdout.write(`${JSON.stringify(res)}\n`);
  process.exit(0);
}

const runs = Number(arg('runs', '5'));
const wanted = arg('bench', [...BENCHES, BOOT].map((x) => x.name).concat('guest', 'ping').join(',')).split(',');
const benches = BENCHES.filter((b) => wanted.includes(b.name));
const engines = arg('engines', ENGINES.join(',')).split(',');
// What the asked-for sections need from Debian: nasm for the CPU kernels, the peers compared
// against (QEMU TCG; SeaBIOS for v86) and Chromium for the page's boot.
ensurePackages([
  ...(benches.length ? ['nasm'] : []),
  ...(engines.includes('qemu') ? ['qemu-system-x86'] : []),
  ...(engines.some((e) => e.startsWith('v86')) ? ['seabios'] : []),
  ...(wanted.includes(BOOT.name) ? ['chromium'] : []),
], 'the benchmarks');
const nullKernel = benches.length ? buildKernel('null') : null;

function measure(engine, kernel) {
  if (engine === 'qemu') return runQemu(kernel.path, runs, nullKernel.path);
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--worker', engine, kernel.path, String(runs)], {
    encoding: 'utf8', timeout: 30 * 60_000, maxBuffer: 1 << 24, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const line = r.stdout.trim().split('\n').pop();
  try { return JSON.parse(line); } catch { return { unavailable: `failed: ${(r.stderr || r.stdout || String(r.error)).trim().split('\n').slice(-3).join(' | ')}` }; }
}

const fmtInt = (n) => n.toLocaleString('en-US');
const pad = (s, n) => String(s).padEnd(n);
const lpad = (s, n) => String(s).padStart(n);


// ---------------------------------------------------------------- boot to the ready line

/**
 * Starts `cmd` and resolves with the wall time from spawning it to the ready line on its stdout;
 * with `result`, also waits for the worker's result line. The process is killed either way.
 */
function timeToReady(cmd, args, { result = false, env = process.env, timeoutMs = 300_000 } = {}) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
    let out = '', err = '', ms = null, extra = {}, rss = null;
    const timer = setTimeout(() => { err += `\nno ready line within ${timeoutMs / 1000} s`; child.kill('SIGKILL'); }, timeoutMs);
    child.stdout.setEncoding('latin1').on('data', (d) => {
      out += d;
      if (ms === null && out.includes(READY_LINE)) { ms = performance.now() - t0; rss = residentMiB(child.pid); if (!result) child.kill('SIGKILL'); }
      const m = ms !== null && result ? new RegExp(`${RESULT_TAG}(.*)\n`).exec(out) : null;
      if (m) { extra = JSON.parse(m[1]); child.kill('SIGKILL'); }
    });
    child.stderr.setEncoding('utf8').on('data', (d) => { err += d; });
    child.on('error', (e) => { err += e.message; });
    child.on('close', () => {
      clearTimeout(timer);
      const tail = (err.trim() || out.trim()).split('\n').slice(-3).join(' | ');
      resolve(ms === null ? { error: tail || 'exited before the ready line' } : { ms, rss, ...extra });
    });
  });
}

/** Resident memory of a process (all its threads: ts86's device-model worker counts), from /proc. */
function residentMiB(pid) {
  try { return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024; } catch { return null; }
}

/** How each engine is started to boot the guest; null with a reason when it is not installed. */
function bootCommand(engine, guest) {
  const self = fileURLToPath(import.meta.url);
  // ts86 as its `ts86` command starts it. The v86 harness makes no TLS connection either, so it
  // too starts without parsing a NODE_EXTRA_CA_CERTS bundle (as host/bin/ts86 does).
  if (engine === 'ts86') return { cmd: TS86_COMMAND, args: [] };
  const unavailable = peerUnavailable(engine === 'qemu' ? 'qemu' : 'v86');
  if (unavailable) return { unavailable };
  if (engine === 'qemu') {
    // The same card as ts86's default machine (virtio-net on the user-mode network): without it the
    // guest would skip the driver's probe and /init's network setup (QEMU's default e1000 has no
    // driver in the guest), ~50 ms of QEMU's boot here.
    return {
      cmd: 'qemu-system-i386',
      args: ['-kernel', guest.kernel, '-initrd', guest.initrd, '-append', 'console=ttyS0', '-nographic', '-m', '128', '-no-reboot',
        '-netdev', 'user,id=n0', '-device', 'virtio-net-pci,netdev=n0'],
    };
  }
  // v86 has no PVH loader: it boots the same kernel as a bzImage through SeaBIOS.
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  return { cmd: process.execPath, args: [self, '--boot-worker', engine, guest.bzImage, guest.initrd], result: true, env };
}

async function bootSection() {
  const bootRuns = Number(arg('boot-runs', '5'));
  const { ensureGuest } = await import(pathToFileURL(join(ROOT, 'scripts', 'build-guest.mjs')).href);
  const guest = await ensureGuest({ quiet: false });
  const cells = {}, commands = new Map(), results = new Map();
  for (const e of engines) {
    const c = bootCommand(e, guest);
    if (c.unavailable) cells[e] = { note: 'not available', why: c.unavailable };
    else { commands.set(e, c); results.set(e, []); }
  }
  // The engines take turns, one boot each per round: a change in this shared machine's load during
  // the section then falls on every engine alike, not on whichever was booting at the time.
  for (let i = 0; i < bootRuns; i++) {
    for (const [e, c] of commands) {
      if (cells[e]) continue;
      process.stderr.write(`  booting the guest on ${e} (${i + 1}/${bootRuns})...\n`);
      const r = await timeToReady(c.cmd, c.args, { result: c.result, env: c.env });
      if (r.error) cells[e] = { error: r.error };
      else results.get(e).push(r);
    }
  }
  for (const [e, rs] of results) {
    if (cells[e]) continue;
    const ms = rs.map((r) => r.ms);
    const rss = rs.map((r) => r.rss).filter((x) => x !== null);
    cells[e] = { ms: median(ms), min: Math.min(...ms), max: Math.max(...ms), counted: rs[0].instructions, rss: rss.length ? median(rss) : undefined };
  }
  if (engines.includes('ts86') && !cells.ts86.error) {
    cells.ts86.counts = {};
    for (const clock of ['virtual', 'realtime']) {
      process.stderr.write(`  counting ts86 guest instructions to the ready line (${clock} clock)...\n`);
      const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--boot-worker', `ts86-count-${clock}`, guest.kernel, guest.initrd], { encoding: 'utf8', timeout: 600_000 });
      const m = new RegExp(`${RESULT_TAG}(.*)\n`).exec(r.stdout ?? '');
      if (m) cells.ts86.counts[clock] = JSON.parse(m[1]);
      else cells.ts86.countError = (r.stderr || String(r.error)).trim().split('\n').slice(-2).join(' | ');
    }
  }

  console.log(`\nboot of the default guest: wall time from process start to its ready line, medians of ${bootRuns} runs (min-max)`);
  console.log('(ts86 with the realtime clock, as `ts86` starts; QEMU TCG -nographic with the same virtio-net card; v86 with SeaBIOS; same initramfs, vmlinux by PVH on ts86 and QEMU, the bzImage on v86)');
  console.log(pad('workload', 44) + engines.map((e) => lpad(e, W)).join(''));
  const secs = (ms) => (ms / 1000).toFixed(ms < 10_000 ? 2 : 1);
  console.log(pad(`boot: ${BOOT.title}`, 44) + engines.map((e) => {
    const c = cells[e];
    if (c.note) return lpad(c.note, W);
    if (c.error) return lpad('FAILED', W);
    return lpad(`${secs(c.ms)} s (${secs(c.min)}-${secs(c.max)})`, W);
  }).join(''));
  const t = cells.ts86;
  if (t && t.ms !== undefined) {
    const parts = engines.filter((e) => e !== 'ts86' && cells[e]?.ms !== undefined).map((e) => `${e} ${(cells[e].ms / t.ms).toFixed(2)}x`);
    console.log(`  ratios (other / ts86 time; above 1 means ts86 is faster): ${parts.join(', ') || '-'}`);
  }
  const rss = engines.filter((e) => cells[e]?.rss !== undefined).map((e) => `${e} ${cells[e].rss.toFixed(0)} MiB`);
  if (rss.length) console.log(`  resident memory at the ready line (128 MiB guest, median): ${rss.join(', ')}`);
  const counts = Object.entries(cells.ts86?.counts ?? {})
    .map(([clock, c]) => `ts86 ${fmtInt(c.instructions)} (${clock} clock, ${c.guestMs.toFixed(0)} ms guest time, ${(c.ms / 1000).toFixed(2)} s in-process)`)
    .concat(engines.filter((e) => e !== 'ts86' && cells[e]?.counted !== undefined).map((e) => `${e} ${fmtInt(cells[e].counted)} (SeaBIOS included)`));
  if (counts.length) console.log(`  guest instructions to the ready line:\n    ${counts.join('\n    ')}`);
  for (const e of engines) {
    const c = cells[e];
    if (c.why) console.log(`  ${e}: ${c.why}`);
    if (c.error) console.log(`  ${e} FAILED: ${c.error}`);
    if (c.countError) console.log(`  ${e} instruction count FAILED: ${c.countError}`);
  }
  const browser = engines.includes('ts86') ? await browserBoot(bootRuns) : null;
  if (browser?.ms) console.log(`  ts86 in Chromium (the page from \`ts86 serve\`, from opening it to the ready line, downloads included): ${secs(browser.ms)} s (${secs(browser.min)}-${secs(browser.max)}) beside ${cells.ts86?.ms ? secs(cells.ts86.ms) : '-'} s in Node`);
  else if (browser) console.log(`  ts86 in Chromium: ${browser.error}`);
  return Object.values(cells).some((c) => c.error || c.countError) || Boolean(browser?.failed);
}

/**
 * The default guest booted by the browser page in headless Chromium: \`ts86 serve\` serves it, a
 * fresh page per run, timed by the page itself from navigation start to the ready line.
 */
async function browserBoot(runs) {
  if (!existsSync('/usr/bin/chromium')) return { error: 'not available (Debian package chromium)' };
  let chromium;
  try { ({ chromium } = await import('playwright-core')); } catch (e) { return { error: `not available (npm package playwright-core: ${e.message})` }; }
  const serve = spawn(TS86_COMMAND, ['serve', '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let browser = null;
  try {
    const url = await new Promise((resolve, reject) => {
      let out = '';
      serve.stdout.setEncoding('utf8').on('data', (d) => { out += d; const m = /open (http\S+)/.exec(out); if (m) resolve(m[1]); });
      serve.on('close', (code) => reject(new Error(`ts86 serve exited with status ${code}`)));
    });
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
    const ms = [];
    for (let i = 0; i < runs; i++) {
      process.stderr.write(`  booting the guest in Chromium (${i + 1}/${runs})...\n`);
      const page = await browser.newPage();
      await page.goto(url);
      await page.waitForSelector('#stage[data-ready-ms]', { timeout: 300_000 });
      ms.push(Number(await page.getAttribute('#stage', 'data-ready-ms')));
      await page.close();
    }
    return { ms: median(ms), min: Math.min(...ms), max: Math.max(...ms) };
  } catch (e) {
    return { error: `FAILED: ${e.message.split('\n')[0]}`, failed: true };
  } finally {
    await browser?.close();
    serve.kill();
  }
}

const W = 22;
const table = [];
let disagree = false;
let bootFailed = false;
if (benches.length) {
  console.log(`ts86 CPU benchmark: ${runs} runs per engine, medians; guest instructions per second of wall time`);
  console.log(`(ts86: CPU loop only; v86: from emulator start to the port 0xF4 write; QEMU TCG: process wall time minus that of an empty kernel)\n`);

  for (const b of benches) {
    const kernel = buildKernel(b.name);
    const row = { bench: b, kernel, cells: {} };
    for (const e of engines) {
      process.stderr.write(`  running ${b.name} on ${e}...\n`);
      const res = measure(e, kernel);
      if (res.unavailable) { row.cells[e] = { note: 'not available', why: res.unavailable }; continue; }
      const ms = median(res.results.map((x) => x.ms));
      const bad = res.results.find((x) => x.exit !== EXIT_OK);
      const outputs = [...new Set(res.results.map((x) => x.output))];
      row.cells[e] = {
        ms, rate: b.bytes ? kernel.bytes / (ms / 1000) / 1e6 : kernel.instructions / (ms / 1000) / 1e6,
        counted: res.results[0].counted, output: outputs.join('|').trim(), error: bad ? `exit ${bad.exit}` : undefined,
        startupMs: res.startupMs,
      };
    }
    table.push(row);
  }

  const unit = (b) => (b.bytes ? 'MB/s' : 'MIPS');
  console.log(pad('workload', 44) + engines.map((e) => lpad(e, W)).join(''));
  for (const { bench: b, kernel, cells } of table) {
    const work = b.bytes ? `${fmtInt(kernel.bytes / 2 ** 20)} MiB` : `${fmtInt(kernel.instructions)} insns`;
    console.log(pad(`${b.name}: ${b.title}`, 44) + engines.map((e) => {
      const c = cells[e];
      if (c.note) return lpad(c.note, W);
      if (c.error) return lpad(`FAILED (${c.error})`, W);
      return lpad(`${c.rate.toFixed(1)} ${unit(b)} ${(c.ms / 1000).toFixed(2)}s`, W);
    }).join(''));
    console.log(pad(`   ${work}`, 44));
  }

  console.log('\nratios (ts86 / other; above 1 means ts86 is faster)');
  for (const { bench: b, cells } of table) {
    const t = cells.ts86;
    if (!t || t.note || t.error) { console.log(`  ${b.name}: ts86 ${t?.why ?? 'not run'}`); continue; }
    const parts = engines.filter((e) => e !== 'ts86' && cells[e] && !cells[e].note && !cells[e].error)
      .map((e) => `${e} ${(t.rate / cells[e].rate).toFixed(2)}x`);
    console.log(`  ${b.name}: ${parts.join(', ') || '-'}`);
  }

  console.log('\ninstruction counts (declared by the kernel; engines\' own counters; REP counted once in the declared count)');
  for (const { bench: b, kernel, cells } of table) {
    const parts = engines.filter((e) => cells[e] && cells[e].counted !== undefined).map((e) => `${e} ${fmtInt(cells[e].counted)}`);
    console.log(`  ${b.name}: declared ${fmtInt(kernel.instructions)}; ${parts.join(', ')}`);
  }

  console.log('\nguest checksums (must agree)');
  for (const { bench: b, cells } of table) {
    const outs = engines.filter((e) => cells[e] && cells[e].output !== undefined).map((e) => `${e} ${cells[e].output}`);
    const distinct = new Set(engines.filter((e) => cells[e]?.output !== undefined).map((e) => cells[e].output));
    if (distinct.size > 1) disagree = true;
    console.log(`  ${b.name}: ${outs.join(', ')}${distinct.size > 1 ? '  <-- MISMATCH' : ''}`);
  }
  const qemuStart = table.map((r) => r.cells.qemu?.startupMs).find((x) => x !== undefined);
  if (qemuStart !== undefined) console.log(`\nQEMU start-up + exit of an empty kernel: ${qemuStart.toFixed(0)} ms (subtracted)`);
  for (const e of engines) {
    const why = table.map((r) => r.cells[e]).find((c) => c?.why)?.why;
    if (why) console.log(`${e}: ${why}`);
  }
}
if (wanted.includes('boot')) bootFailed = await bootSection();
let guestFailed = false;
if (wanted.includes('guest')) {
  guestFailed = await workloadSection({ engines: arg('guest-engines', 'ts86,v86-jit,qemu').split(','), runs: Number(arg('guest-runs', '3')) });
}
if (wanted.includes('ping')) {
  const pingEngines = arg('ping-engines', Object.keys(GUEST_ENGINES).filter((e) => e !== 'ts86').join(',')).split(',');
  guestFailed = (await pingSection({ engines: pingEngines, runs: Number(arg('ping-runs', '3')), count: Number(arg('ping-count', '2000')) })) || guestFailed;
}
process.exit(disagree || bootFailed || guestFailed || table.some((r) => Object.values(r.cells).some((c) => c.error)) ? 1 : 0);
