/**
 * The CPU worker: the Machine runs here, in slices, so the page stays responsive. When the page is
 * cross-origin isolated, guest RAM is a SharedArrayBuffer and the network card's data path runs in
 * the device-model worker (net-worker.ts) that the page starts from the descriptor posted with
 * 'started'; otherwise RAM is a plain ArrayBuffer and the data path runs inline here.
 */
import { Machine } from '../machine.js';
import { detectKernel } from '../../firmware/index.js';
import { InterruptStats } from './interrupt-stats.js';
import type { PacketCounter } from './packet-counter.js';
import { createPageNetwork } from './page-network.js';
import type { BootRequest, FromWorker, ToWorker } from './messages.js';

declare const self: {
  onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
  postMessage(m: FromWorker, transfer?: Transferable[]): void;
  crossOriginIsolated?: boolean;
};

const post = (m: FromWorker, transfer?: Transferable[]) => self.postMessage(m, transfer);
/** How often the page gets a status report. */
const STATS_MS = 500;
/** Host time the loop runs before it yields to input and pause messages. */
const SLICE_MS = 15;

let machine: Machine | null = null;
let irqs: InterruptStats | null = null;
let packets: PacketCounter | null = null;
let paused = false;
let scheduled = false;
let stopped = false;

// Guest output is posted once per loop turn, not once per byte.
let out = new Uint8Array(4096);
let outLen = 0;
const onSerial = (b: number) => {
  if (outLen === out.length) { const grown = new Uint8Array(out.length * 2); grown.set(out); out = grown; }
  out[outLen++] = b;
};
const flush = () => {
  if (outLen === 0) return;
  const bytes = out.slice(0, outLen);
  outLen = 0;
  post({ kind: 'serial', bytes }, [bytes.buffer]);
};

let statsAt = 0, statsInstructions = 0;
function report(now: number): void {
  const m = machine!;
  post({
    kind: 'stats', wallMs: now - statsAt, instructions: m.cpu.instructions - statsInstructions, guestMs: m.clock.now() / 1e6,
    interrupts: irqs!.take(), packets: packets && { packetsIn: packets.framesIn, packetsOut: packets.framesOut },
  });
  if (packets) packets.framesIn = packets.framesOut = 0;
  statsAt = now;
  statsInstructions = m.cpu.instructions;
}

// A zero-delay yield: setTimeout(0) is clamped to 4 ms once nested, a message port is not.
const wake = new MessageChannel();
wake.port1.onmessage = () => run();
function schedule(sleepMs: number): void {
  if (scheduled || paused || stopped) return;
  scheduled = true;
  if (sleepMs < 1) wake.port2.postMessage(null);
  // A device-model worker's signal (a packet for the guest) ends the sleep early.
  else if (machine?.virtioNet?.remote) void machine.injector.waitSet.waitAsync(sleepMs).then(run);
  else setTimeout(run, sleepMs);
}

function run(): void {
  scheduled = false;
  const m = machine;
  if (!m || paused || stopped) return;
  const start = performance.now();
  let sleepMs = 0;
  for (;;) {
    const r = m.runSlice(100_000);
    if (r === 'shutdown' || m.exitStatus !== null) {
      flush();
      stopped = true;
      report(performance.now());
      post({ kind: 'stopped', reason: m.shutdownReason ?? `the guest ended the run with status ${m.exitStatus}` });
      return;
    }
    if (r === 'idle') {
      // Realtime clock: a halted CPU sleeps until its next timer (or input, which wakes the loop).
      sleepMs = Math.max(0, Math.min(10, (m.clock.nextDeadline() - m.clock.now()) / 1e6));
      break;
    }
    if (performance.now() - start > SLICE_MS) break;
  }
  flush();
  const now = performance.now();
  if (now - statsAt >= STATS_MS) report(now);
  schedule(sleepMs);
}

async function boot(req: BootRequest): Promise<void> {
  let kernelKind: string;
  try { kernelKind = detectKernel(req.kernel); } catch (e) { post({ kind: 'error', message: (e as Error).message }); return; }
  const sharedRam = self.crossOriginIsolated === true && typeof SharedArrayBuffer === 'function';
  if (!sharedRam) {
    const { network, problem } = await createPageNetwork(req.net, (line) => console.warn(line));
    packets = network;
    if (problem) post({ kind: 'no-network', message: problem });
  }
  try {
    machine = new Machine({
      virtioNet: { placement: sharedRam ? 'remote' : 'inline', backend: packets ?? undefined, mac: req.mac },
      kernel: req.kernel, initrd: kernelKind !== 'multiboot' ? req.initrd ?? undefined : undefined,
      modules: kernelKind === 'multiboot' && req.initrd ? [{ data: req.initrd, cmdline: req.initrdName }] : undefined,
      cmdline: req.cmdline, memoryMiB: req.memoryMiB, sharedRam, clock: 'realtime',
      // Bare-metal test kernels print on QEMU's debug console (port 0xE9): it shares the terminal.
      onSerial, onDebugcon: onSerial,
    });
  } catch (e) { packets?.close(); post({ kind: 'error', message: (e as Error).message }); return; }
  irqs = InterruptStats.attach(machine);
  statsAt = performance.now();
  post({ kind: 'started', kernelKind, sharedRam, remote: machine.virtioNet?.remote ?? null });
  schedule(0);
}

self.onmessage = (e) => {
  const msg = e.data;
  switch (msg.kind) {
    case 'boot': if (!machine) void boot(msg); break;
    case 'input': machine?.serialInput(msg.bytes); schedule(0); break;
    case 'pause': paused = true; break;
    case 'resume':
      if (!paused) break;
      paused = false;
      // The realtime clock kept going while paused; the guest sees one long stall, as a stopped VM does.
      statsAt = performance.now(); statsInstructions = machine?.cpu.instructions ?? 0;
      schedule(0);
      break;
  }
};
