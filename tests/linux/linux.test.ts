/**
 * The default Linux guest booted for real with the virtual clock; the assertions are on what
 * Linux itself reports. Boots are few and combined: three in-process (the default platform, a
 * repeat for determinism, a repeat with another slice size) and three of the built CLI, which run
 * as child processes alongside the in-process boots (one at a time, so two cores at most).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  SEP, bootAndRun, defaultGuest, dmesgProblems, parseInterrupts, runCli, sections, type CliResult, type GuestRun,
} from './guest.js';

// The guest waits on an empty FIFO with a timeout (poll) to let time pass; `sleep` is checked on its own.
const DEFAULT_COMMAND = [
  'cat /proc/interrupts', SEP,
  'mkfifo /tmp/wait; read -t 1 x <> /tmp/wait; grep LOC /proc/interrupts', SEP,
  'cat /proc/uptime; sleep 1; cat /proc/uptime', SEP,
  'dmesg',
].join('; ');
const PIC_COMMAND = `cat /proc/interrupts; ${SEP}; dmesg`;
/** Guest seconds after which a CLI boot gives up (status 124) instead of hanging. */
const GUEST_LIMIT = ['--timeout', '30'];

/**
 * With the TSC-deadline timer (advertised by default) Linux never programs the PIT, so the boots
 * that prove the PIT's path through the IO-APIC or the 8259 turn TSC-deadline off.
 */
const PIT_APPEND = 'console=ttyS0 lapic=notscdeadline';

let cliBoots: Promise<{ exit3: CliResult; pit: CliResult; noapic: CliResult; nolapic: CliResult }> | null = null;
function startCliBoots() {
  cliBoots ??= defaultGuest().then(async () => ({
    exit3: await runCli(['--clock', 'virtual', ...GUEST_LIMIT, '--run', 'exit 3']),
    pit: await runCli(['--clock', 'virtual', ...GUEST_LIMIT, '--append', PIT_APPEND, '--run', PIC_COMMAND]),
    noapic: await runCli(['--clock', 'virtual', ...GUEST_LIMIT, '--append', `${PIT_APPEND} noapic`, '--run', PIC_COMMAND]),
    nolapic: await runCli(['--clock', 'virtual', ...GUEST_LIMIT, '--append', 'console=ttyS0 nolapic', '--run', PIC_COMMAND]),
  }));
  // Started early and awaited later: a failure is reported by the tests that await it, not as an unhandled rejection.
  cliBoots.catch(() => {});
  return cliBoots;
}

let first: Promise<GuestRun> | null = null;
/** The default boot, shared by the tests that check it (a failed boot fails each of them once). */
function defaultBoot(): Promise<GuestRun> {
  first ??= bootAndRun(DEFAULT_COMMAND);
  return first;
}

const text = (b: Uint8Array) => new TextDecoder('latin1').decode(b);

function firstDifference(a: Uint8Array, b: Uint8Array): string {
  const la = text(a).split('\n'), lb = text(b).split('\n');
  for (let k = 0; k < Math.max(la.length, lb.length); k++) {
    if (la[k] !== lb[k]) return `line ${k + 1}:\n  first:  ${JSON.stringify(la[k])}\n  second: ${JSON.stringify(lb[k])}`;
  }
  return 'none';
}

function assertNoProblems(log: string, what: string) {
  assert.ok(log.includes('Linux version'), `${what}: no kernel log in the output:\n${log.slice(0, 1000)}`);
  const bad = dmesgProblems(log);
  assert.equal(bad, [], `${what}: dmesg reports problems:\n  ${bad.join('\n  ')}`);
}

test('default guest: timer and ttyS0 on the IO-APIC, local APIC timer counting', async () => {
  startCliBoots();
  const r = await defaultBoot();
  assert.is(r.status, 0, `the command failed:\n${r.output}`);
  const [interrupts, loc] = sections(r.output);
  const irqs = parseInterrupts(interrupts ?? '');
  const timer = irqs.get('0'), tty = irqs.get('4'), loc1 = irqs.get('LOC'), loc2 = parseInterrupts(loc ?? '').get('LOC');
  // The clock events come from the TSC-deadline local timer here; the PIT's own path is the next test.
  assert.ok(timer && timer.name === 'timer' && timer.chip === 'IO-APIC', `IRQ 0 is not the timer on the IO-APIC:\n${interrupts}`);
  assert.ok(tty && tty.name === 'ttyS0' && tty.chip === 'IO-APIC', `IRQ 4 is not ttyS0 on the IO-APIC:\n${interrupts}`);
  assert.ok(tty!.count > 0, `ttyS0 never interrupted:\n${interrupts}`);
  assert.ok(loc1 && loc1.count > 0, `no local timer interrupts:\n${interrupts}`);
  assert.ok(loc2 && loc2.count > loc1!.count, `LOC did not increase over a 1 s wait: ${loc1?.count} then ${loc2?.count}`);
});

test('default guest: sleep 1 takes a second of guest time', async () => {
  const r = await defaultBoot();
  const up = (sections(r.output)[2] ?? '').trim().split('\n').map((l) => Number(l.split(' ')[0]));
  assert.is(up.length, 2, `unexpected /proc/uptime output:\n${sections(r.output)[2]}`);
  const slept = up[1]! - up[0]!;
  assert.ok(slept >= 0.99 && slept < 1.5, `uptime went from ${up[0]} to ${up[1]} over 'sleep 1'`);
});

test('default guest: dmesg clean, kvm-clock in use', async () => {
  const r = await defaultBoot();
  const dmesg = sections(r.output)[3] ?? '';
  assertNoProblems(dmesg, 'default boot');
  assert.ok(/clocksource: Switched to clocksource kvm-clock|kvm-clock: Using msrs/.test(dmesg),
    `dmesg does not report kvm-clock:\n${dmesg.split('\n').filter((l) => /clock/i.test(l)).join('\n')}`);
});

test('virtual clock: a second boot prints the byte-identical serial stream', async () => {
  const a = await defaultBoot();
  const b = await bootAndRun(DEFAULT_COMMAND);
  assert.ok(text(a.serial).includes('ts86-guest: ready'), 'the serial stream lacks the ready line');
  assert.ok(a.serial.length === b.serial.length && Buffer.compare(a.serial, b.serial) === 0,
    `serial streams differ (${a.serial.length} and ${b.serial.length} bytes), first difference at ${firstDifference(a.serial, b.serial)}`);
  assert.is(b.instructions, a.instructions, 'guest instruction counts differ');
});

test('virtual clock: the serial stream does not depend on how the host slices the run', async () => {
  // Guest time is a function of retired instructions, so a host running shorter slices (another
  // event loop, a browser frame budget) must see the same guest.
  const a = await defaultBoot();
  const b = await bootAndRun(DEFAULT_COMMAND, { budget: 37_771 });
  assert.ok(Buffer.compare(a.serial, b.serial) === 0,
    `serial streams differ between slices of 100000 and 37771 instructions, first difference at ${firstDifference(a.serial, b.serial)}`);
});

test('virtual clock: the same serial stream and instruction count with the code generator off and eager', async () => {
  // Compiled code retires exactly the instructions the interpreter would, block for block.
  // The default boot compiles in the background; these compile at once, with both back ends.
  const a = await defaultBoot();
  const configs = [{ compileThreshold: Infinity }, { compileThreshold: 40, compileAsync: false }, { compileThreshold: 40, backEnd: 'js' as const }];
  for (const machine of configs) {
    const b = await bootAndRun(DEFAULT_COMMAND, { machine });
    const what = `compile threshold ${machine.compileThreshold} (${machine.backEnd ?? 'default back end'})`;
    assert.ok(Buffer.compare(a.serial, b.serial) === 0, `serial streams differ with ${what}, first difference at ${firstDifference(a.serial, b.serial)}`);
    assert.is(b.instructions, a.instructions, `guest instruction counts differ with ${what}`);
  }
});

test('lapic=notscdeadline: the PIT interrupts through the IO-APIC, dmesg clean', async () => {
  const { pit } = await startCliBoots();
  assert.is(pit.status, 0, `ts86 ended with status ${pit.status}; stderr: ${pit.stderr.trim()}`);
  const [interrupts, dmesg] = sections(pit.stdout);
  const timer = parseInterrupts(interrupts ?? '').get('0');
  assert.ok(timer && timer.name === 'timer' && timer.chip === 'IO-APIC', `IRQ 0 is not the timer on the IO-APIC:\n${interrupts}`);
  assert.ok(timer!.count > 0, `the timer never interrupted through the IO-APIC:\n${interrupts}`);
  assertNoProblems(dmesg ?? '', 'lapic=notscdeadline boot');
});

test('ts86 --run: the exit status of the command is the exit status of ts86', async () => {
  const { exit3 } = await startCliBoots();
  assert.is(exit3.status, 3, `ts86 --run 'exit 3' ended with status ${exit3.status}${exit3.signal ? ` (${exit3.signal})` : ''}; stderr: ${exit3.stderr.trim()}`);
});

test('noapic: the timer and ttyS0 on the XT-PIC, dmesg clean', async () => {
  const { noapic } = await startCliBoots();
  assert.is(noapic.status, 0, `ts86 ended with status ${noapic.status}; stderr: ${noapic.stderr.trim()}`);
  const [interrupts, dmesg] = sections(noapic.stdout);
  const irqs = parseInterrupts(interrupts ?? '');
  assert.ok(irqs.get('0')?.chip === 'XT-PIC' && irqs.get('0')?.name === 'timer' && irqs.get('0')!.count > 0, `timer not counting on the XT-PIC:\n${interrupts}`);
  assert.ok(irqs.get('4')?.chip === 'XT-PIC' && irqs.get('4')?.name === 'ttyS0', `ttyS0 not on the XT-PIC:\n${interrupts}`);
  assert.ok((dmesg ?? '').includes(`Kernel command line: ${PIT_APPEND} noapic`), 'noapic did not reach the kernel');
  assertNoProblems(dmesg ?? '', 'noapic boot');
});

test('nolapic: the timer on the XT-PIC, no local timer, dmesg clean', async () => {
  const { nolapic } = await startCliBoots();
  assert.is(nolapic.status, 0, `ts86 ended with status ${nolapic.status}; stderr: ${nolapic.stderr.trim()}`);
  const [interrupts, dmesg] = sections(nolapic.stdout);
  const irqs = parseInterrupts(interrupts ?? '');
  assert.ok(irqs.get('0')?.chip === 'XT-PIC' && irqs.get('0')?.name === 'timer' && irqs.get('0')!.count > 0, `timer not counting on the XT-PIC:\n${interrupts}`);
  assert.is(irqs.get('LOC')?.count, 0, `local APIC timer interrupts with nolapic:\n${interrupts}`);
  assert.ok((dmesg ?? '').includes('APIC disabled via kernel command line'), `nolapic not honoured:\n${(dmesg ?? '').slice(0, 3000)}`);
  assertNoProblems(dmesg ?? '', 'nolapic boot');
});

test('ts86 with a bad option: one line on stderr, non-zero status', async () => {
  const r = await runCli(['--no-such-option'], 60);
  assert.ok(r.status !== 0 && r.status !== null, `status ${r.status}`);
  assert.is(r.stdout, '');
  assert.is(r.stderr.trimEnd().split('\n').length, 1, `stderr is not one line:\n${r.stderr}`);
  assert.ok(r.stderr.includes('--no-such-option'), `the message does not name the option: ${r.stderr}`);
});

test('--mac sets the address the guest reads from the card', async () => {
  const r = await runCli(['--clock', 'virtual', ...GUEST_LIMIT, '--mac', '52:54:00:ab:cd:ef', '--run', 'cat /sys/class/net/eth0/address']);
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout.trim(), '52:54:00:ab:cd:ef');
});

test("the default guest's /init: filesystems mounted, host name and network set (design.md §4)", async () => {
  const r = await runCli(['--clock', 'virtual', ...GUEST_LIMIT, '--run',
    "hostname; cut -d' ' -f1-3 /proc/mounts; ip -4 addr show dev eth0; ip route; cat /etc/resolv.conf; ip link show lo"]);
  assert.is(r.status, 0, r.stderr);
  const out = r.stdout;
  assert.is(out.split('\n')[0], 'ts86', out);
  for (const m of ['proc /proc proc', 'sysfs /sys sysfs', 'devtmpfs /dev devtmpfs']) assert.ok(out.includes(m), `${m} not mounted:\n${out}`);
  assert.match(out, /inet 10\.0\.2\.15\/24 /);
  assert.match(out, /^default via 10\.0\.2\.2 dev eth0/m);
  assert.match(out, /^nameserver 10\.0\.2\.3$/m);
  assert.match(out, /lo: <LOOPBACK,UP,/);
});

test('ts86 with a missing kernel file: one clear line, non-zero status', async () => {
  const path = '/nonexistent/ts86-test/bzImage';
  const r = await runCli(['--kernel', path], 60);
  assert.ok(r.status !== 0 && r.status !== null, `status ${r.status}`);
  assert.is(r.stdout, '');
  assert.is(r.stderr.trimEnd().split('\n').length, 1, `stderr is not one line:\n${r.stderr}`);
  assert.match(r.stderr, path);
  assert.match(r.stderr, /no such file|not found|does not exist/i);
});

test.run();
