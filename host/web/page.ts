/**
 * The ts86 page: a serial terminal, boot progress, live status and controls around a Machine that
 * runs in the CPU worker. Opening the page boots the default guest that `ts86 serve` offers at
 * guest/kernel and guest/initrd; `?kernel=URL&initrd=URL&append=CMDLINE&mem=MIB` presets other
 * images (an empty `initrd=` boots without one), and files from disk boot through the form or by
 * dropping them on the page. `?net=ws://HOST:PORT` puts the card on a `ts86 switch` instead of the
 * user-mode network.
 */
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import { DEFAULT_APPEND, detectKernel } from '../../firmware/index.js';
import { DEFAULT_MAC } from '../../devices/virtio-net/index.js';
import type { FromNetWorker, FromWorker, PacketCounts, Stats, ToNetWorker, ToWorker } from './messages.js';
import { checkNetSpec } from './page-network.js';

interface Image { name: string; data: Uint8Array }
interface BootSet { kernel: Image; initrd: Image | null; cmdline: string; memoryMiB: number }

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const stageEl = byId<HTMLSpanElement>('stage');
const progressEl = byId<HTMLProgressElement>('progress');
const messageEl = byId<HTMLDivElement>('message');
const pauseBtn = byId<HTMLButtonElement>('pause');
const resetBtn = byId<HTMLButtonElement>('reset');
const cmdlineInput = byId<HTMLInputElement>('cmdline');

// ---------------------------------------------------------------- terminal

const term = new Terminal({
  scrollback: 10_000, cursorBlink: true, fontSize: 14, screenReaderMode: true,
  // Room below the baseline: at 1.0 the DOM renderer's rows clip underscores.
  lineHeight: 1.2,
  fontFamily: '"DejaVu Sans Mono", "Liberation Mono", monospace',
  theme: { background: '#14161a', foreground: '#d8dde4' },
});
const fit = new FitAddon();
term.loadAddon(fit);
term.open(byId('terminal'));
fit.fit();
new ResizeObserver(() => fit.fit()).observe(byId('terminal'));
term.focus();

// Ctrl+C copies when text is selected (and is ^C for the guest otherwise); Ctrl+Shift+C copies,
// Ctrl+Shift+V is left to the browser, whose paste event the terminal turns into input.
term.attachCustomKeyEventHandler((e) => {
  if (e.type !== 'keydown' || !e.ctrlKey) return true;
  const key = e.key.toLowerCase();
  if (key === 'c' && (e.shiftKey || term.hasSelection())) {
    void navigator.clipboard?.writeText(term.getSelection()).catch(() => {});
    term.clearSelection();
    e.preventDefault();
    return false;
  }
  return !(key === 'v' && e.shiftKey);
});

const encoder = new TextEncoder();
term.onData((s) => send({ kind: 'input', bytes: encoder.encode(s) }));

// ---------------------------------------------------------------- messages and progress

function showMessage(kind: 'error' | 'warning', text: string): void {
  messageEl.hidden = false;
  messageEl.className = kind;
  messageEl.textContent = text;
}
function clearMessage(): void { messageEl.hidden = true; messageEl.textContent = ''; }

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

/** Fetches `url` with a byte count on the progress line; one clear error when it is not there. */
async function download(url: string, what: string): Promise<Image> {
  const name = decodeURIComponent(url.split('/').pop() || url);
  let res: Response;
  try { res = await fetch(url); } catch (e) { throw new Error(`${what} ${url}: the download failed (${(e as Error).message})`); }
  if (res.status === 404) throw new Error(`${what} ${url}: image not found on the server (HTTP 404)`);
  if (!res.ok || !res.body) throw new Error(`${what} ${url}: the server answered HTTP ${res.status} ${res.statusText}`);
  const total = Number(res.headers.get('content-length')) || 0;
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let got = 0;
  progressEl.hidden = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    got += value.length;
    stageEl.textContent = `Downloading ${what} ${name}: ${mb(got)}${total ? ` of ${mb(total)}` : ''}`;
    if (total) { progressEl.max = total; progressEl.value = got; } else progressEl.removeAttribute('value');
  }
  progressEl.hidden = true;
  if (got === 0) throw new Error(`${what} ${url}: the file is empty`);
  const data = new Uint8Array(got);
  let at = 0;
  for (const c of chunks) { data.set(c, at); at += c.length; }
  return { name, data };
}

/**
 * Boot stages, recognised in the guest's console output. Each stage counts once any later marker
 * shows (a small kernel log buffer can lose early lines before the serial console replays it).
 */
const STAGES: Array<[string, string]> = [
  ['', 'kernel running'],
  ['Unpacking initramfs', 'unpacking the initramfs'],
  ['Run /init', 'running /init'],
  ['ts86-guest: ready', 'shell ready'],
];
let stage = -1;
let tail = '';
let bootStart = 0;
const latin1 = new TextDecoder('latin1');

function watchStages(bytes: Uint8Array): void {
  if (stage === STAGES.length - 1) return;
  tail = (tail + latin1.decode(bytes)).slice(-512);
  let reached = stage;
  for (let k = stage + 1; k < STAGES.length; k++) if (tail.includes(STAGES[k]![0])) reached = k;
  if (reached === stage) return;
  stage = reached;
  if (stage < STAGES.length - 1) { stageEl.textContent = `Booting: ${STAGES[stage]![1]}`; return; }
  // From opening the page (downloads included) to the guest's ready line.
  const now = performance.now();
  stageEl.dataset.readyMs = String(Math.round(now));
  stageEl.textContent = `Shell ready: ${((now - bootStart) / 1000).toFixed(1)} s from boot start, ${(now / 1000).toFixed(1)} s from opening the page`;
}

// ---------------------------------------------------------------- status

let packetsIn = 0, packetsOut = 0;

function showStats(s: Stats): void {
  const mips = s.wallMs > 0 ? s.instructions / s.wallMs / 1000 : 0;
  byId('mips').textContent = paused ? 'paused' : mips.toFixed(1);
  byId('guest-time').textContent = `${(s.guestMs / 1000).toFixed(1)} s`;
  const perSec = s.interrupts
    .map((r) => ({ source: r.source, rate: s.wallMs > 0 ? Math.round(r.count * 1000 / s.wallMs) : 0 }))
    .filter((r) => r.rate > 0)
    .sort((a, b) => b.rate - a.rate);
  byId('irqs').textContent = perSec.length ? perSec.map((r) => `${r.source} ${r.rate}`).join(' · ') : 'none';
  if (s.packets) showPackets(s.packets, s.wallMs);
}

function showPackets(p: PacketCounts, wallMs: number): void {
  packetsIn += p.packetsIn; packetsOut += p.packetsOut;
  const rate = (n: number) => (wallMs > 0 ? Math.round(n * 1000 / wallMs) : 0);
  const where = netWorker ? 'data path in its own worker' : 'data path in the CPU worker';
  byId('net').textContent = `${net === 'user' ? 'user-mode, gateway 10.0.2.2' : `switch ${net}`} (${where}): `
    + `packets in ${packetsIn} (${rate(p.packetsIn)}/s), out ${packetsOut} (${rate(p.packetsOut)}/s)`;
}

// ---------------------------------------------------------------- the machine

let worker: Worker | null = null;
/** The device-model worker (cross-origin isolated pages only). */
let netWorker: Worker | null = null;
let netReportAt = 0;
let current: BootSet | null = null;
let paused = false;

function send(m: ToWorker): void { worker?.postMessage(m); }

function onWorkerMessage(m: FromWorker): void {
  switch (m.kind) {
    case 'started':
      if (m.remote) startNetWorker({ remote: m.remote, net });
      byId('ram').textContent = `${current!.memoryMiB} MiB, ${m.sharedRam ? 'SharedArrayBuffer' : 'ArrayBuffer (not shared)'}`;
      stageEl.textContent = `Booting ${current!.kernel.name} (${({ bzimage: 'Linux bzImage', pvh: 'Linux PVH kernel' } as Record<string, string>)[m.kernelKind] ?? 'Multiboot kernel'})`;
      pauseBtn.disabled = false;
      break;
    case 'serial': watchStages(m.bytes); term.write(m.bytes); break;
    case 'stats': showStats(m); break;
    case 'stopped':
      pauseBtn.disabled = true;
      byId('mips').textContent = 'stopped';
      stageEl.textContent = 'Stopped';
      showMessage(/triple fault/.test(m.reason) ? 'error' : 'warning', `${m.reason[0]!.toUpperCase()}${m.reason.slice(1)}. Reset boots it again.`);
      break;
    case 'no-network': noNetwork(m.message); break;
    case 'error':
      pauseBtn.disabled = true;
      stageEl.textContent = 'Not booted';
      showMessage('error', `Cannot boot ${current!.kernel.name}: ${m.message}`);
      break;
  }
}

/** Boots `set` in a fresh CPU worker (a reset is exactly this, with the same images). */
function start(set: BootSet): void {
  worker?.terminate();
  netWorker?.terminate();
  netWorker = null;
  current = set;
  paused = false;
  pauseBtn.textContent = 'Pause';
  resetBtn.disabled = false;
  stage = -1; tail = '';
  packetsIn = packetsOut = 0;
  stageEl.textContent = 'Starting the CPU worker';
  delete stageEl.dataset.readyMs;
  bootStart = performance.now();
  term.reset();
  clearMessage();
  noteIsolation();
  worker = new Worker(new URL('cpu-worker.js', import.meta.url), { type: 'module' });
  worker.onmessage = (e: MessageEvent<FromWorker>) => onWorkerMessage(e.data);
  worker.onerror = (e) => { showMessage('error', `The CPU worker failed: ${e.message || 'it could not be loaded'}`); e.preventDefault(); };
  // Copies, not transfers: the page keeps the images for Reset.
  send({ kind: 'boot', kernel: set.kernel.data, initrd: set.initrd?.data ?? null, initrdName: set.initrd?.name ?? '', cmdline: set.cmdline, memoryMiB: set.memoryMiB, net, mac });
  term.focus();
}

function startNetWorker(m: ToNetWorker): void {
  netWorker = new Worker(new URL('net-worker.js', import.meta.url), { type: 'module' });
  netReportAt = performance.now();
  netWorker.onmessage = (e: MessageEvent<FromNetWorker>) => {
    const r = e.data;
    if (r.kind === 'no-network') { noNetwork(r.message); return; }
    const now = performance.now();
    showPackets(r, now - netReportAt);
    netReportAt = now;
  };
  netWorker.onerror = (e) => { showMessage('error', `The device-model worker failed: ${e.message || 'it could not be loaded'}`); e.preventDefault(); };
  netWorker.postMessage(m);
}

function noNetwork(reason: string): void {
  showMessage('error', `The network card is unplugged: ${reason}. The guest runs without a network.`);
}

function noteIsolation(): void {
  if (crossOriginIsolated) return;
  showMessage('warning', 'No SharedArrayBuffer: this page is not cross-origin isolated (serve it with COOP/COEP headers, as `ts86 serve` does). '
    + 'The guest still boots, with its RAM in a plain ArrayBuffer and the network card\'s data path inside the CPU worker.');
}

pauseBtn.onclick = () => {
  paused = !paused;
  send({ kind: paused ? 'pause' : 'resume' });
  pauseBtn.textContent = paused ? 'Resume' : 'Pause';
  if (paused) byId('mips').textContent = 'paused';
  term.focus();
};
resetBtn.onclick = () => { if (current) start(current); };

// ---------------------------------------------------------------- choosing images

const query = new URLSearchParams(location.search);
const memoryMiB = Number(query.get('mem') ?? 128);
cmdlineInput.value = query.get('append') ?? DEFAULT_APPEND;
const net = query.get('net') || 'user';
/** On a switch each page gets its own MAC (other guests there have QEMU's default one). */
const mac = net === 'user' ? DEFAULT_MAC : Uint8Array.of(0x52, 0x54, 0x00, ...crypto.getRandomValues(new Uint8Array(3)));

async function readFile(f: File): Promise<Image> { return { name: f.name, data: new Uint8Array(await f.arrayBuffer()) }; }

/** Boots files from disk: the one that is a kernel, and the other as its initrd. */
async function bootFiles(files: File[]): Promise<void> {
  const images = await Promise.all(files.map(readFile));
  const problems = images.map((i) => { try { detectKernel(i.data); return null; } catch (e) { return `${i.name}: ${(e as Error).message}`; } });
  const kernels = images.filter((_, k) => problems[k] === null);
  if (kernels.length !== 1 || images.length > 2) {
    showMessage('error', kernels.length === 0
      ? `None of the dropped files is a kernel (${problems.join('; ')})`
      : `Drop one kernel and at most one initrd (got ${images.map((i) => i.name).join(', ')})`);
    return;
  }
  start({ kernel: kernels[0]!, initrd: images.find((i) => i !== kernels[0]) ?? null, cmdline: cmdlineInput.value, memoryMiB });
}

byId<HTMLFormElement>('boot-form').onsubmit = async (e) => {
  e.preventDefault();
  const k = byId<HTMLInputElement>('kernel-file').files?.[0];
  const i = byId<HTMLInputElement>('initrd-file').files?.[0];
  // Without a kernel file the current kernel boots again, with the chosen initrd and command line.
  const kernel = k ? await readFile(k) : current?.kernel;
  if (!kernel) { showMessage('error', 'Choose a kernel file first'); return; }
  start({ kernel, initrd: i ? await readFile(i) : k ? null : current?.initrd ?? null, cmdline: cmdlineInput.value, memoryMiB });
  (byId('choose') as HTMLDetailsElement).open = false;
};

const dropHint = byId('drop-hint');
addEventListener('dragover', (e) => { e.preventDefault(); dropHint.hidden = false; });
addEventListener('dragleave', (e) => { if (!e.relatedTarget) dropHint.hidden = true; });
addEventListener('drop', (e) => {
  e.preventDefault();
  dropHint.hidden = true;
  const files = [...(e.dataTransfer?.files ?? [])];
  if (files.length) void bootFiles(files);
});

/** What opening the page boots: the server's default guest, or the images the query names. */
async function bootFromQuery(): Promise<void> {
  const kernelUrl = query.get('kernel') || 'guest/kernel';
  const initrdUrl = query.has('initrd') ? query.get('initrd')! : query.has('kernel') ? '' : 'guest/initrd';
  if (!Number.isInteger(memoryMiB) || memoryMiB < 2 || memoryMiB > 2048) {
    showMessage('error', `mem=${query.get('mem')}: give a whole number of MiB between 2 and 2048`);
    return;
  }
  const netProblem = checkNetSpec(net);
  if (netProblem) { showMessage('error', netProblem); return; }
  try {
    const kernel = await download(kernelUrl, 'kernel');
    const initrd = initrdUrl ? await download(initrdUrl, 'initrd') : null;
    start({ kernel, initrd, cmdline: cmdlineInput.value, memoryMiB });
  } catch (e) {
    progressEl.hidden = true;
    stageEl.textContent = 'Not booted';
    showMessage('error', (e as Error).message);
  }
}

noteIsolation();
void bootFromQuery();
