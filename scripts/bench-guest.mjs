// Benchmarks that run inside the booted default guest, on every engine, through its serial shell:
// the ping section of `npm run bench` (and any other guest workload). Each engine boots the same
// bzImage + initramfs; a command is timed on the host from the moment it is sent to the moment the
// shell prints a marker after it, so every engine is measured the same way.
//
//   node scripts/bench.mjs --bench ping [--ping-runs N] [--ping-count N]
//   node scripts/bench.mjs --bench guest [--guest-runs N]
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { READY_LINE } from './ready-line.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/** The `ts86` command: every ts86 run of the bench starts as users start it. */
export const TS86_COMMAND = join(ROOT, 'host', 'bin', 'ts86');
const SELF = fileURLToPath(import.meta.url);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

/**
 * The engines of the guest sections. ts86 runs as its CLI (realtime clock, as people use it) with
 * the device-model placement and kick path under test; QEMU TCG with its user network and
 * virtio-net-pci; v86 (JIT) with SeaBIOS, virtio-net and its built-in "fetch" router, which answers
 * the gateway's pings.
 */
export const GUEST_ENGINES = {
  ts86: { kind: 'ts86', args: [] },
  'ts86 worker/mmio': { kind: 'ts86', args: ['--device-model', 'worker', '--virtio-notify', 'mmio'] },
  'ts86 inline/mmio': { kind: 'ts86', args: ['--device-model', 'inline', '--virtio-notify', 'mmio'] },
  'ts86 worker/hcall': { kind: 'ts86', args: ['--device-model', 'worker', '--virtio-notify', 'hypercall'] },
  'ts86 inline/hcall': { kind: 'ts86', args: ['--device-model', 'inline', '--virtio-notify', 'hypercall'] },
  qemu: { kind: 'qemu' },
  'v86-jit': { kind: 'v86' },
};

/** Why a peer emulator cannot run here ('qemu' or 'v86'), or null when it can. */
export function peerUnavailable(kind) {
  if (kind === 'qemu') return spawnSync('qemu-system-i386', ['--version'], { stdio: 'ignore' }).status === 0 ? null : 'qemu-system-i386 not installed';
  try { createRequire(import.meta.url).resolve('v86'); } catch (err) { return `npm package v86 not installed (${err.message})`; }
  const missing = ['bios.bin', 'vgabios-stdvga.bin'].map((f) => `/usr/share/seabios/${f}`).filter((f) => !existsSync(f));
  return missing.length ? `SeaBIOS missing (${missing.join(', ')}; Debian package seabios)` : null;
}

/** How an engine is started; `{ unavailable }` when it is not installed here. */
function command(engine, guest) {
  const e = GUEST_ENGINES[engine];
  if (!e) return { unavailable: `unknown engine ${engine}` };
  if (e.kind === 'ts86') return { cmd: TS86_COMMAND, args: e.args };
  const unavailable = peerUnavailable(e.kind);
  if (unavailable) return { unavailable };
  if (e.kind === 'qemu') {
    return {
      cmd: 'qemu-system-i386',
      args: ['-kernel', guest.kernel, '-initrd', guest.initrd, '-append', 'console=ttyS0', '-display', 'none', '-serial', 'stdio',
        '-monitor', 'none', '-m', '128', '-no-reboot', '-netdev', 'user,id=n0', '-device', 'virtio-net-pci,netdev=n0'],
    };
  }
  // v86 has no PVH loader: it boots the same kernel as a bzImage through SeaBIOS.
  return { cmd: process.execPath, args: [SELF, '--v86-console', guest.bzImage, guest.initrd] };
}

/**
 * Boots `engine` and resolves with a session once the guest's ready line appeared:
 * `run(cmd)` sends one shell command and resolves with its output and the host wall time it took.
 */
export function bootGuest(engine, guest, { timeoutMs = 300_000 } = {}) {
  const c = command(engine, guest);
  if (c.unavailable) return Promise.resolve({ unavailable: c.unavailable });
  return new Promise((resolve) => {
    const child = spawn(c.cmd, c.args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '', err = '', waiter = null, ready = false;
    const fail = (why) => { if (!ready) { ready = true; resolve({ error: why }); } if (waiter) waiter.reject(new Error(why)); };
    const timer = setTimeout(() => { fail(`no ready line within ${timeoutMs / 1000} s`); child.kill('SIGKILL'); }, timeoutMs);
    child.stdout.setEncoding('latin1').on('data', (d) => {
      out += d.replace(/\r/g, '');
      if (!ready && out.includes(`${READY_LINE}\n`)) {
        ready = true; clearTimeout(timer); out = '';
        resolve({ run, close: () => child.kill('SIGKILL') });
      }
      if (waiter) {
        const m = /__BENCH_42_DONE\n/.exec(out);
        if (m) { const w = waiter; waiter = null; const output = out.slice(0, m.index); out = out.slice(m.index + m[0].length); w.resolve({ ms: performance.now() - w.t0, output }); }
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d) => { err += d; });
    child.on('error', (e) => fail(e.message));
    child.on('close', (code) => { clearTimeout(timer); fail(`exited (${code}): ${(err.trim() || out.trim()).split('\n').slice(-3).join(' | ')}`); });
    function run(cmd, runTimeoutMs = 600_000) {
      return new Promise((res, rej) => {
        const t = setTimeout(() => { waiter = null; rej(new Error(`'${cmd}' did not finish within ${runTimeoutMs / 1000} s`)); }, runTimeoutMs);
        // The marker is arithmetic in the command, so the shell's echo of the line never matches it.
        waiter = { t0: performance.now(), resolve: (v) => { clearTimeout(t); res(v); }, reject: (e) => { clearTimeout(t); rej(e); } };
        out = '';
        child.stdin.write(`${cmd}; echo __BENCH_$((6*7))_DONE\n`);
      });
    }
  });
}

/** Busybox ping's summary: transmitted and received counts. */
export function parsePing(output) {
  const m = /(\d+) packets transmitted, (\d+) packets received/.exec(output);
  return m ? { sent: Number(m[1]), received: Number(m[2]) } : null;
}

/**
 * The ping section: `ping -A -q -c COUNT 10.0.2.2` with 56- and 1400-byte payloads, twice per boot
 * (cold, then warm), on every engine; wall-clock pings per second, medians over `runs` boots.
 */
export async function pingSection({ engines, runs = 3, count = 2000 }) {
  const { ensureGuest } = await import(pathToFileURL(join(ROOT, 'scripts', 'build-guest.mjs')).href);
  const guest = await ensureGuest({ quiet: false });
  const sizes = [56, 1400];
  const cells = {};
  for (const e of engines) {
    const rates = Object.fromEntries(sizes.flatMap((s) => [[`${s} cold`, []], [`${s} warm`, []]]));
    for (let i = 0; i < runs && !cells[e]; i++) {
      process.stderr.write(`  ping on ${e} (${i + 1}/${runs})...\n`);
      const s = await bootGuest(e, guest);
      if (s.unavailable) { cells[e] = { note: 'not available', why: s.unavailable }; break; }
      if (s.error) { cells[e] = { error: s.error }; break; }
      try {
        for (const size of sizes) {
          for (const phase of ['cold', 'warm']) {
            const r = await s.run(`ping -A -q -c ${count} -s ${size} 10.0.2.2`);
            const p = parsePing(r.output);
            if (!p || p.received !== p.sent) throw new Error(`ping ${size} B: ${p ? `${p.sent - p.received} of ${p.sent} lost` : `no summary: ${r.output.trim().slice(-200)}`}`);
            rates[`${size} ${phase}`].push(p.received / (r.ms / 1000));
          }
        }
      } catch (err) { cells[e] = { error: err.message }; }
      s.close();
    }
    cells[e] ??= { rates: Object.fromEntries(Object.entries(rates).map(([k, v]) => [k, median(v)])) };
  }

  const W = 20;
  console.log(`\nping throughput: ping -A -q -c ${count} 10.0.2.2 in the default guest, pings/s of host wall time, medians of ${runs} boots`);
  console.log('(cold: first run after boot; warm: the same again; ts86 realtime clock, device model worker|inline, kick by MMIO|hypercall)');
  console.log('payload'.padEnd(12) + engines.map((e) => e.padStart(W)).join(''));
  for (const row of sizes.flatMap((s) => [`${s} cold`, `${s} warm`])) {
    console.log(row.replace(" ", " B ").padEnd(12) + engines.map((e) => {
      const c = cells[e];
      return (c.note ?? (c.error ? 'FAILED' : Math.round(c.rates[row]).toLocaleString('en-US'))).padStart(W);
    }).join(''));
  }
  const ts = engines.filter((e) => e.startsWith('ts86') && cells[e].rates);
  if (ts.length) {
    const best = ts.reduce((a, b) => (cells[a].rates['56 warm'] >= cells[b].rates['56 warm'] ? a : b));
    const parts = engines.filter((e) => !e.startsWith('ts86') && cells[e].rates).map((e) => `${e} ${(cells[best].rates['56 warm'] / cells[e].rates['56 warm']).toFixed(2)}x`);
    if (parts.length) console.log(`  ratios, 56 B warm (${best} / other; above 1 means ts86 is faster): ${parts.join(', ')}`);
  }
  for (const e of engines) {
    if (cells[e].why) console.log(`  ${e}: ${cells[e].why}`);
    if (cells[e].error) console.log(`  ${e} FAILED: ${cells[e].error}`);
  }
  return Object.values(cells).some((c) => c.error);
}

/** CPU-heavy guest workloads (issue: speed), each printing a checksum that every engine must agree on. */
export const WORKLOADS = [
  { name: 'md5', title: 'dd if=/dev/zero bs=1M count=8 | md5sum', cmd: 'dd if=/dev/zero bs=1M count=8 2>/dev/null | md5sum' },
  { name: 'sort', title: 'seq 1 20000 | sort -r | md5sum', cmd: 'seq 1 20000 | sort -r | md5sum' },
  { name: 'gzip', title: 'seq 1 50000 | gzip -6 | md5sum', cmd: 'seq 1 50000 | gzip -6 | md5sum' },
];

/**
 * The guest-workload section: each workload once to warm up, then `runs` more times in the same
 * boot; the median wall time of those warm runs, per engine (ts86 as `ts86` starts, realtime).
 */
export async function workloadSection({ engines, runs = 3 }) {
  const { ensureGuest } = await import(pathToFileURL(join(ROOT, 'scripts', 'build-guest.mjs')).href);
  const guest = await ensureGuest({ quiet: false });
  const cells = {};
  for (const e of engines) {
    process.stderr.write(`  guest workloads on ${e}...\n`);
    const s = await bootGuest(e, guest);
    if (s.unavailable) { cells[e] = { note: 'not available', why: s.unavailable }; continue; }
    if (s.error) { cells[e] = { error: s.error }; continue; }
    cells[e] = {};
    try {
      for (const w of WORKLOADS) {
        const ms = [];
        let sum = null;
        for (let i = 0; i <= runs; i++) {
          const r = await s.run(w.cmd);
          const m = /\b([0-9a-f]{32})\b/.exec(r.output);
          if (!m) throw new Error(`${w.name}: no checksum in ${JSON.stringify(r.output.slice(-200))}`);
          sum = m[1];
          if (i > 0) ms.push(r.ms);
        }
        cells[e][w.name] = { ms: median(ms), sum };
      }
    } catch (err) { cells[e] = { error: err.message }; }
    s.close();
  }
  const W = 20;
  console.log(`\nguest workloads in the booted default guest, warm: median wall time of ${runs} runs after one warm-up, same boot`);
  console.log('workload'.padEnd(40) + engines.map((e) => e.padStart(W)).join(''));
  let disagree = false;
  for (const w of WORKLOADS) {
    console.log(w.title.padEnd(40) + engines.map((e) => {
      const c = cells[e];
      return (c.note ?? (c.error ? 'FAILED' : `${(c[w.name].ms / 1000).toFixed(2)} s`)).padStart(W);
    }).join(''));
    const sums = new Set(engines.filter((e) => cells[e][w.name]).map((e) => cells[e][w.name].sum));
    if (sums.size > 1) { disagree = true; console.log(`  ${w.name}: checksums differ between engines  <-- MISMATCH`); }
  }
  const ts = engines.filter((e) => e.startsWith('ts86') && cells[e][WORKLOADS[0].name]);
  for (const t of ts) {
    const parts = engines.filter((e) => !e.startsWith('ts86') && cells[e][WORKLOADS[0].name])
      .map((e) => `${e} ${WORKLOADS.map((w) => (cells[e][w.name].ms / cells[t][w.name].ms).toFixed(2)).join('/')}`);
    if (parts.length) console.log(`  ratios (other / ${t} time, ${WORKLOADS.map((w) => w.name).join('/')}; above 1 means ts86 is faster): ${parts.join(', ')}`);
  }
  for (const e of engines) {
    if (cells[e].why) console.log(`  ${e}: ${cells[e].why}`);
    if (cells[e].error) console.log(`  ${e} FAILED: ${cells[e].error}`);
  }
  return disagree || Object.values(cells).some((c) => c.error);
}

/** v86 booting the default guest through Debian's SeaBIOS, as every bench section starts it. */
export async function startV86(kernelPath, initrdPath, extra = {}) {
  const { V86 } = await import('v86');
  const file = (p) => { const b = readFileSync(p); return { buffer: b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) }; };
  return new V86({
    wasm_path: join(dirname(createRequire(import.meta.url).resolve('v86')), 'v86.wasm'),
    bios: file('/usr/share/seabios/bios.bin'), vga_bios: file('/usr/share/seabios/vgabios-stdvga.bin'),
    bzimage: file(kernelPath), initrd: file(initrdPath), cmdline: 'console=ttyS0',
    memory_size: 128 << 20, autostart: true, log_level: 0,
    disable_keyboard: true, disable_mouse: true, disable_speaker: true,
    ...extra,
  });
}

/** v86 in this process, its serial console on stdin/stdout (what bootGuest drives). */
async function v86Console(kernelPath, initrdPath) {
  const emulator = await startV86(kernelPath, initrdPath, {
    net_device: { type: 'virtio', relay_url: 'fetch', router_ip: '10.0.2.2', vm_ip: '10.0.2.15' },
  });
  let pending = '';
  emulator.add_listener('serial0-output-byte', (b) => {
    pending += String.fromCharCode(b);
    if (b === 10 || pending.length > 256) { process.stdout.write(pending, 'latin1'); pending = ''; }
  });
  process.stdin.on('data', (d) => emulator.serial0_send(d.toString('latin1')));
}

if (process.argv[2] === '--v86-console') await v86Console(process.argv[3], process.argv[4]);
