/**
 * The virtio-net card as the real guest sees it: the PCI device in sysfs with its resources, the
 * MSI-X interrupt lines Linux names after the queues and their counts under traffic, hypercall
 * kicks counted on the host side, the card absent with --no-default-devices, and the data path
 * both in a worker and inline under the realtime clock (through the ts86 command), with the
 * configured network behind it either way (--hostfwd, --pcap).
 * (ping-throughput tests over MSI-X, INTx and hypercall notify are in ping.test.ts.)
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bootAndRun, parseInterrupts, runCli, sections, SEP } from './guest.js';
import { tcpdumpFile } from '../net/frames.js';
import { freePort } from '../net/ports.js';

const DEV = '/sys/bus/pci/devices/0000:00:03.0';
const lossless = (text: string, n: number) => assert.match(text, `${n} packets transmitted, ${n} packets received, 0% packet loss`);

test('MSI-X: virtio0-config/input.0/output.0 on PCI-MSI, counts rise under ping -c 100 (0% loss); sysfs shows the device and its BARs', async () => {
  const r = await bootAndRun(`cat /proc/interrupts; ${SEP}; ping -c 100 -i 0.01 -q 10.0.2.2; ${SEP}; cat /proc/interrupts; ${SEP}; cat ${DEV}/vendor ${DEV}/device ${DEV}/class ${DEV}/resource; ${SEP}; ls /sys/class/net`, { guestSeconds: 120 });
  assert.is(r.status, 0, r.output);
  const [before, ping, after, sysfs, nets] = sections(r.output) as [string, string, string, string, string];
  lossless(ping, 100);
  const a = [...parseInterrupts(before).values()], b = [...parseInterrupts(after).values()];
  for (const name of ['virtio0-config', 'virtio0-input.0', 'virtio0-output.0']) {
    const x = a.find((l) => l.name === name), y = b.find((l) => l.name === name);
    assert.ok(x && y, `${name} missing:\n${after}`);
    assert.match(y!.chip, /PCI-MSI/);
    if (name !== 'virtio0-config') assert.ok(y!.count >= x!.count + 100, `${name}: ${x!.count} -> ${y!.count}`);
  }
  const [vendor, device, cls, ...res] = sysfs.trim().split('\n');
  assert.equal([vendor, device, cls], ['0x1af4', '0x1041', '0x020000']);
  // resource: one "start end flags" line per BAR; BAR1 (MSI-X) 4 KiB and BAR4 16 KiB in the PCI window.
  const bar = (i: number) => res[i]!.split(' ').map((x) => Number(x));
  for (const [i, size] of [[1, 0x1000], [4, 0x4000]] as const) {
    const [start, end] = bar(i) as [number, number];
    assert.ok(start >= 0xc0000000 && start < 0xfec00000 && end - start + 1 === size && start % size === 0, `BAR${i}: ${res[i]}`);
  }
  assert.match(nets, /eth0/);
});

test('hypercall notify: the kernel takes the VMCALL numbers, kicks arrive as hypercalls (host-side counts)', async () => {
  const r = await bootAndRun('dmesg | grep "notify by hypercall"; ping -c 20 -i 0.01 -q 10.0.2.2', { machine: { virtioNet: { notify: 'hypercall' } }, guestSeconds: 60 });
  assert.is(r.status, 0, r.output);
  assert.match(r.output, /queue 0: notify by hypercall 0x1[0-9a-f]{4}/);
  assert.match(r.output, /queue 1: notify by hypercall 0x1[0-9a-f]{4}/);
  lossless(r.output, 20);
  const s = r.machine.virtioNet!.stats();
  assert.ok(s.hypercallKicks[1]! >= 20, `TX hypercall kicks ${s.hypercallKicks}`);
  assert.ok(s.hypercallKicks[0]! >= 1, `RX hypercall kicks ${s.hypercallKicks}`);
  assert.is(s.tx_kicks, s.hypercallKicks[1], 'every TX kick was a hypercall');
});

test('--no-default-devices: no card on the bus, no eth0', async () => {
  const r = await bootAndRun(`ls /sys/bus/pci/devices; ${SEP}; ls /sys/class/net`, { machine: { defaultDevices: false } });
  const [pci, nets] = sections(r.output) as [string, string];
  assert.is(pci.trim(), '0000:00:00.0');
  assert.not.match(nets, /eth0/);
});

for (const model of ['worker', 'inline']) {
  test(`ts86 --device-model ${model} (realtime): ping -A -c 100 with 0% loss; --debug virtio counts`, async () => {
    const r = await runCli(['--device-model', model, '--debug', 'virtio', '--run', 'ping -A -q -c 100 10.0.2.2']);
    assert.is(r.status, 0, r.stdout + r.stderr);
    lossless(r.stdout, 100);
    const m = /ts86: virtio-net (\{.*\})/.exec(r.stderr);
    assert.ok(m, r.stderr);
    const s = JSON.parse(m![1]!) as { tx_packets: number; rx_packets: number; msix: number[] };
    assert.ok(s.tx_packets >= 100 && s.rx_packets >= 100 && s.msix[1]! >= 100, m![1]);
  });
}

/** Connects to 127.0.0.1:port until a server answers (the guest's server comes up after boot). */
async function fetchForwarded(port: number, wallSeconds: number): Promise<string> {
  const end = Date.now() + wallSeconds * 1000;
  for (;;) {
    try {
      return await new Promise<string>((resolve, reject) => {
        const s = connect(port, '127.0.0.1');
        let got = '';
        s.on('data', (d) => { got += d; });
        s.on('error', reject);
        s.on('close', () => (got ? resolve(got) : reject(new Error('closed without an answer'))));
        s.end('ping-from-the-host\n');
      });
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

for (const model of ['worker', 'inline']) {
  test(`ts86 --device-model ${model}: --hostfwd reaches a server in the guest, --pcap holds the connection`, async () => {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'ts86-nic-'));
    const pcap = join(dir, 'nic.pcap');
    const cli = runCli(['--device-model', model, '--hostfwd', `tcp:127.0.0.1:${port}-:8080`, '--pcap', pcap,
      '--run', "echo hello-from-the-guest | nc -l -p 8080"]);
    const answer = await fetchForwarded(port, 150);
    const r = await cli;
    assert.is(r.status, 0, r.stdout + r.stderr);
    assert.is(answer, 'hello-from-the-guest\n');
    assert.match(r.stdout, /^ping-from-the-host$/m, 'the host\'s line reached the guest');
    // Written by the network wherever it ran; complete once the command has exited.
    const lines = tcpdumpFile(pcap);
    assert.ok(lines.some((l) => /10\.0\.2\.2\.\d+ > 10\.0\.2\.15\.8080: Flags \[S\]/.test(l)), `no SYN to the guest in:\n${lines.join('\n')}`);
    assert.ok(lines.some((l) => /10\.0\.2\.15\.8080 > 10\.0\.2\.2\.\d+: Flags \[F?P/.test(l)), 'the guest\'s answer is in the capture');
    rmSync(dir, { recursive: true, force: true });
  });
}

test.run();
