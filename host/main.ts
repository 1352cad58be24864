/** The `ts86` command: terminal console, `--run`, timeouts and exit statuses. */
import { HELP, UsageError, machineFromOptions, parseArgs, type CliOptions } from './cli.js';
import type { Machine } from './machine.js';
import { VirtioNetWorkerStart } from './device-model.js';

/** The default guest's /init prints this before starting its shell. */
export const READY_LINE = 'ts86-guest: ready';
const CTRL_A = 0x01;

/**
 * Drives `--run`: waits for the guest's ready line, silences the shell (no echo, no prompt),
 * sends the command and collects its output up to a marker carrying `$?`. The marker is written
 * as arithmetic in the command so the shell's own echo of it can never match.
 */
export class RunSession {
  private buf = '';
  /** Where the line being received starts in `buf`. */
  private lineStart = 0;
  private phase: 'boot' | 'quiet' | 'run' | 'done' = 'boot';
  output = '';
  status = -1;
  constructor(private readonly command: string, private readonly send: (s: string) => void) {}

  feed(byte: number): void {
    if (this.phase === 'done') return;
    if (byte === 13) return;
    this.buf += String.fromCharCode(byte);
    // Markers end a line: only a finished line is looked at (looking at the whole buffer on every
    // byte made a long boot log or command output quadratic).
    if (byte !== 10) return;
    const line = this.buf.slice(this.lineStart);
    if (this.phase === 'run') {
      const m = /^__TS86_42_RC_(\d+)\n$/.exec(line);
      if (m) {
        this.output = this.buf.slice(0, this.lineStart);
        this.status = Number(m[1]);
        this.phase = 'done';
      } else this.lineStart = this.buf.length;
      return;
    }
    // Before the command runs, nothing is kept.
    this.buf = '';
    if (this.phase === 'boot' && line.endsWith(READY_LINE + '\n')) {
      this.phase = 'quiet';
      this.send("stty -echo; PS1=''; PS2=''; echo __TS86_$((6*7))_QUIET\n");
    } else if (this.phase === 'quiet' && line.endsWith('__TS86_42_QUIET\n')) {
      this.phase = 'run';
      // A subshell keeps `exit N` (or a crash of the command) from ending the login shell that
      // must still print the status line.
      this.send(`(\n${this.command}\n)\necho __TS86_$((6*7))_RC_$?\n`);
    }
  }
  get done(): boolean { return this.phase === 'done'; }
  /** What the command has printed so far (for a run that ends before it finishes). */
  get partialOutput(): string { return this.phase === 'run' ? this.buf : ''; }
}

export async function main(argv: string[]): Promise<number> {
  // The subcommands load their servers (and `ws`) only when asked for.
  if (argv[0] === 'switch') return (await import('./net/switch-main.js')).runSwitch(argv.slice(1));
  if (argv[0] === 'serve') { try { return await (await import('./serve.js')).serveMain(argv.slice(1)); } catch (e) { return usage(e); } }
  let o: CliOptions | 'help';
  try { o = parseArgs(argv); } catch (e) { return usage(e); }
  if (o === 'help') { console.log(HELP); return 0; }
  const out = process.stdout;
  // A reader that goes away (`ts86 | head`) or output that cannot be written (a full disk) ends the
  // run through the shutdown below, which closes the pcap and the worker, instead of an unhandled
  // stream error with a stack trace.
  let outputError: NodeJS.ErrnoException | null = null;
  out.on('error', (e: NodeJS.ErrnoException) => { outputError ??= e; });
  let session: RunSession | null = null;
  // Guest output is written once per slice of the run loop (about 100 k instructions), not once per byte.
  let pending = '';
  const flush = () => { if (pending && outputError === null) { out.write(pending, 'latin1'); pending = ''; } };
  let m: Machine;
  try {
    m = await machineFromOptions(o, {
      onSerial: (b) => { if (session) session.feed(b); else pending += String.fromCharCode(b); },
      onDebugcon: (b) => { pending += String.fromCharCode(b); },
      onPost: o.debugPost ? (code) => process.stderr.write(`POST 0x${code.toString(16).padStart(2, '0')}\n`) : undefined,
    });
  } catch (e) { return usage(e); }
  const machine = m;
  const remote = machine.virtioNet?.remote;
  // The guest runs while the worker loads (or before it starts, see VirtioNetWorkerStart); a
  // network that cannot be set up (an unreachable switch) still ends the run with one line.
  let dataPathFailure: unknown = null;
  const dataPath = remote ? new VirtioNetWorkerStart(remote, o.net, (e) => { dataPathFailure = e; }) : null;
  if (o.run !== undefined) session = new RunSession(o.run, (s) => machine.serialInput(new TextEncoder().encode(s)));

  const tty = process.stdin.isTTY && !session;
  let quit = false;
  let sawCtrlA = false;
  if (tty) {
    process.stdin.setRawMode(true);
    process.stdin.on('data', (d: Buffer) => {
      const input: number[] = [];
      for (const b of d) {
        if (sawCtrlA) {
          sawCtrlA = false;
          if (b === 0x78 || b === 0x58) { quit = true; continue; }
          if (b !== CTRL_A) continue;
        } else if (b === CTRL_A) { sawCtrlA = true; continue; }
        input.push(b);
      }
      machine.serialInput(Uint8Array.from(input));
    });
  } else if (!session) {
    process.stdin.on('data', (d: Buffer) => machine.serialInput(new Uint8Array(d)));
  }
  const restore = () => { if (tty) { process.stdin.setRawMode(false); process.stdin.pause(); } };
  const limitNs = o.timeout !== undefined ? o.timeout * 1e9 : Infinity;

  const status = await new Promise<number>((resolve) => {
    const tick = () => {
      const start = performance.now();
      let sleepMs = 0;
      for (;;) {
        if (quit) return resolve(0);
        if (dataPathFailure !== null) return resolve(usage(dataPathFailure));
        if (outputError !== null) {
          // 141: what a shell reports for a program that SIGPIPE ended.
          if (outputError.code === 'EPIPE') return resolve(141);
          process.stderr.write(`ts86: cannot write the guest's output: ${outputError.message}\n`);
          return resolve(1);
        }
        const r = machine.runSlice(100_000);
        dataPath?.poll(r === 'idle');
        flush();
        if (session?.done) { out.write(session.output); return resolve(session.status); }
        if (machine.exitStatus !== null || r === 'shutdown') {
          if (machine.shutdownReason) process.stderr.write(`\nts86: ${machine.shutdownReason}\n`);
          return resolve(machine.exitStatus ?? 1);
        }
        if (machine.clock.now() >= limitNs) {
          if (session) out.write(session.partialOutput);
          process.stderr.write(`\nts86: timeout after ${o.timeout} s of guest time\n`);
          return resolve(124);
        }
        if (r === 'idle') {
          if (machine.clock.mode === 'virtual') {
            // Halted with no timer armed: only host input can wake the guest.
            if (session || !process.stdin.readable) { process.stderr.write('\nts86: guest halted with nothing left to wake it\n'); return resolve(1); }
            sleepMs = 10;
          } else {
            const next = machine.clock.nextDeadline();
            sleepMs = Math.max(0, Math.min(10, (next - machine.clock.now()) / 1e6));
          }
          break;
        }
        if (performance.now() - start > 15) break;
      }
      // setTimeout cannot sleep less than about 1 ms, so shorter waits (and plain yields to the
      // event loop for input) go through setImmediate.
      // A halted guest also wakes when a device model in a worker signals a channel.
      if (sleepMs >= 1) void machine.injector.waitSet.waitAsync(sleepMs).then(tick); else setImmediate(tick);
    };
    tick();
  });
  restore();
  if (o.debugVirtio && machine.virtioNet) process.stderr.write(`ts86: virtio-net ${JSON.stringify(machine.virtioNet.stats())}\n`);
  const worker = dataPath?.worker;
  if (worker) {
    // A worker terminated while it still loads may never report its exit (seen with short
    // bare-metal runs): let it finish starting first.
    await worker.ready.catch(() => {});
    await worker.worker.terminate();
  }
  machine.opts.virtioNet?.backend?.close();
  return status;
}

function usage(e: unknown): number {
  if (e instanceof UsageError || e instanceof Error) { process.stderr.write(`ts86: ${e.message}\n`); return 2; }
  throw e;
}
