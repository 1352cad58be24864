/**
 * Fixtures for the real-guest tests: the default guest (built on first use), a boot driven
 * in-process through the Machine class with the whole serial stream recorded, and the built CLI
 * run as a child process.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cachedGuest, ensureGuest, type GuestPaths } from '../../scripts/build-guest.mjs';
import { Machine, type MachineOptions } from '../../host/machine.js';
import { RunSession } from '../../host/main.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = join(ROOT, 'host', 'bin', 'ts86');

let guest: Promise<GuestPaths> | null = null;
/** The default guest's files; the first call builds it if the cache lacks it (about 5 minutes). */
export function defaultGuest(): Promise<GuestPaths> {
  guest ??= Promise.resolve(cachedGuest()).then((g) => {
    if (g) return g;
    process.stderr.write('linux tests: building the default guest first (progress below)\n');
    return ensureGuest({ quiet: false });
  });
  return guest;
}

export interface GuestRun {
  /** Every byte the guest wrote to COM1, boot log included. */
  serial: Uint8Array;
  /** The command's output and status, as `ts86 --run` reports them. */
  output: string;
  status: number;
  instructions: number;
  guestNs: number;
  /** Guest time from sending the command to its status line. */
  commandNs: number;
  /** Guest time from sending the command to the first serial line equal to `line`, if it came. */
  lineNs(line: string): number | undefined;
  /** The machine after the run (device statistics). */
  machine: Machine;
}

/**
 * Boots the guest with the virtual clock and runs `command` the way `ts86 --run` does. Fails
 * rather than hangs: a guest that stops, or runs `guestSeconds` without finishing, throws.
 */
export async function bootAndRun(command: string, opts: { cmdline?: string; budget?: number; guestSeconds?: number; machine?: Partial<MachineOptions> } = {}): Promise<GuestRun> {
  const g = await defaultGuest();
  const serial: number[] = [];
  let session: RunSession | null = null;
  const m = new Machine({
    clock: 'virtual',
    kernel: new Uint8Array(readFileSync(g.kernel)),
    initrd: new Uint8Array(readFileSync(g.initrd)),
    cmdline: opts.cmdline,
    ...opts.machine,
    onSerial: (b) => {
      serial.push(b); session!.feed(b);
      // Timed at the status line itself: the slice it came in may go on into an idle skip.
      if (session!.done && doneNs < 0) doneNs = m.clock.now();
      if (b !== 10) { line += String.fromCharCode(b); return; }
      line = line.replace(/\r$/, '');
      if (sends >= 2 && !lines.has(line)) lines.set(line, m.clock.now() - sentNs);
      line = '';
    },
  });
  // RunSession sends twice: the quiet set-up, then the command, whose guest time is measured.
  let sends = 0, sentNs = 0, doneNs = -1, line = '';
  const lines = new Map<string, number>();
  session = new RunSession(command, (s) => { if (++sends === 2) sentNs = m.clock.now(); m.serialInput(new TextEncoder().encode(s)); });
  const limitNs = (opts.guestSeconds ?? 60) * 1e9;
  const text = () => new TextDecoder('latin1').decode(Uint8Array.from(serial));
  for (let slices = 1; !session.done; slices++) {
    // Let the event loop turn now and then, so child processes started by the tests move on.
    if (slices % 100 === 0) await new Promise((r) => setImmediate(r));
    const r = m.runSlice(opts.budget ?? 100_000);
    if (r !== 'running') throw new Error(`guest ${r} (${m.shutdownReason ?? 'no timer left'}) before the command finished; serial tail:\n${text().slice(-2000)}`);
    if (m.clock.now() > limitNs) throw new Error(`command unfinished after ${limitNs / 1e9} s of guest time; serial tail:\n${text().slice(-2000)}`);
  }
  return { serial: Uint8Array.from(serial), output: session.output, status: session.status, instructions: m.cpu.instructions, guestNs: m.clock.now(), commandNs: doneNs - sentNs, lineNs: (l) => lines.get(l), machine: m };
}

export interface CliResult { status: number | null; signal: string | null; stdout: string; stderr: string }

/** Runs `ts86 ARGS` (host/bin/ts86); killed after `wallSeconds` so a hang fails the test. */
export function runCli(args: string[], wallSeconds = 180): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(CLI, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.setEncoding('latin1').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), wallSeconds * 1000);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (status, signal) => { clearTimeout(timer); resolve({ status, signal, stdout: stdout.replace(/\r/g, ''), stderr }); });
  });
}

/** Kernel log lines that mean something went wrong, whatever the platform path. */
export const DMESG_PROBLEMS: [RegExp, string][] = [
  [/Oops/, 'an Oops'],
  [/\bBUG\b/, 'a BUG'],
  [/WARNING/, 'a WARNING'],
  [/Kernel panic/, 'a panic'],
  [/IO-APIC \+ timer doesn't work/, 'the IO-APIC timer check failing'],
  [/clocksource.*unstable/i, 'an unstable clocksource'],
  [/Marking clocksource/, 'a clocksource marked unstable'],
];

export function dmesgProblems(log: string): string[] {
  return log.split('\n').filter((l) => DMESG_PROBLEMS.some(([re]) => re.test(l)));
}

/** Splits output of commands separated by `echo ====`. */
export const SEP = 'echo ====';
export function sections(output: string): string[] {
  return output.split(/^====\n/m);
}

export interface IrqLine { irq: string; count: number; chip: string; name: string }

/** Parses /proc/interrupts (one CPU): numbered lines carry count, chip, hwirq-type and name. */
export function parseInterrupts(text: string): Map<string, IrqLine> {
  const out = new Map<string, IrqLine>();
  for (const line of text.split('\n')) {
    const m = /^\s*(\w+):\s+(\d+)\s*(.*)$/.exec(line);
    if (!m) continue;
    const rest = m[3]!.trim().split(/\s+/);
    const name = rest.length ? rest[rest.length - 1]! : '';
    out.set(m[1]!, { irq: m[1]!, count: Number(m[2]), chip: /^\d+$/.test(m[1]!) ? rest[0] ?? '' : '', name });
  }
  return out;
}
