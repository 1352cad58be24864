/**
 * Ping-throughput regression tests: the default guest pings the user-mode network's gateway with
 * `ping -A` (adaptive: the next echo leaves as soon as the reply is in) under the virtual clock,
 * so guest time per ping is a deterministic function of the guest instructions a round trip takes.
 * Each path must lose nothing and reach the floor in ping-floors.json: a change that makes a round
 * trip cost more guest work (or wait on a timer) fails here. Raise a floor when a path gets faster.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bootAndRun, parseInterrupts } from './guest.js';
import type { MachineOptions } from '../../host/machine.js';

const FLOORS: Record<string, number> = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), 'ping-floors.json'), 'utf8'));
const COUNT = 1000;
// Marks after each ping (written as arithmetic so the shell's echo of the command never matches):
// each ping is timed from the command's start or the mark before it to the mark after it.
const MARK = '__PING_2', MARK_END = '__PING_3';
const ping = (size: number) => `ping -A -q -c ${COUNT} -s ${size} 10.0.2.2`;

interface Path { name: string; cmdline?: string; machine?: Partial<MachineOptions>; chip: RegExp }
const PATHS: Path[] = [
  { name: 'msix-mmio', chip: /PCI-MSI/ },
  { name: 'intx-mmio', cmdline: 'console=ttyS0 pci=nomsi', chip: /IO-APIC/ },
  { name: 'msix-hypercall', machine: { virtioNet: { notify: 'hypercall' } }, chip: /PCI-MSI/ },
];

function summary(text: string, size: number): { sent: number; received: number } {
  const m = /(\d+) packets transmitted, (\d+) packets received/.exec(text);
  assert.ok(m, `no ping summary for ${size} B in:\n${text}`);
  return { sent: Number(m![1]), received: Number(m![2]) };
}

for (const p of PATHS) {
  test(`ping throughput, ${p.name}: 0% loss and at or above the floors (guest time)`, async () => {
    const r = await bootAndRun(`${ping(56)}; echo __PING_$((1+1)); ${ping(1400)}; echo __PING_$((1+2)); cat /proc/interrupts`, { cmdline: p.cmdline, machine: p.machine, guestSeconds: 120 });
    assert.is(r.status, 0, r.output);
    const [small, rest] = r.output.split(`${MARK}\n`) as [string, string | undefined];
    const [large, irqText] = (rest ?? '').split(`${MARK_END}\n`) as [string, string | undefined];
    const markNs = r.lineNs(MARK), endNs = r.lineNs(MARK_END);
    assert.ok(markNs !== undefined && endNs !== undefined && irqText !== undefined, `no marks after the two pings:\n${r.output}`);
    const rates: Record<number, number> = {};
    for (const [size, text, ns] of [[56, small, markNs!], [1400, large, endNs! - markNs!]] as const) {
      const s = summary(text, size);
      assert.is(s.sent, COUNT, `${size} B: sent`);
      assert.is(s.received, COUNT, `${size} B: ${COUNT - s.received} lost`);
      rates[size] = COUNT / (ns / 1e9);
      console.log(`    ${p.name} ${size} B: ${rates[size]!.toFixed(0)} pings/s of guest time`);
      const floor = FLOORS[`${p.name}-${size}`];
      assert.ok(floor !== undefined, `ping-floors.json has no ${p.name}-${size}`);
      assert.ok(rates[size]! >= floor!, `${p.name} ${size} B: ${rates[size]!.toFixed(0)} pings/s of guest time, floor ${floor}`);
    }
    // The traffic went through the path named: the card's queue interrupts are on that chip.
    const irqs = [...parseInterrupts(irqText!).values()].filter((l) => /virtio0/.test(l.name));
    assert.ok(irqs.length > 0, `no virtio0 interrupt lines:\n${irqText}`);
    for (const l of irqs) assert.match(l.chip, p.chip, `${l.name} is on ${l.chip}`);
    assert.ok(irqs.reduce((n, l) => n + l.count, 0) >= COUNT, 'fewer virtio interrupts than pings');
  });
}

test.run();
