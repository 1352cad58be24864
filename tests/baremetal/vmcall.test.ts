// Reaching the virtio-net device model by VMCALL (issue 7's proof, contract.md's vendor
// capability): vmcall.asm finds the card by config cycles, reads the hypercall numbers from its
// vendor capability, kicks both queues by VMCALL only and sees an ARP request leave and the user
// network's reply (RFC 826) arrive; the host's --debug virtio counters show the kicks arrived as
// hypercalls. Unknown and KVM numbers keep KVM's meaning (Documentation/virt/kvm/x86/hypercalls.rst).
// No QEMU run: QEMU's virtio-net-pci has no ts86 vendor capability, and under TCG VMCALL raises #UD
// rather than reaching a hypervisor, so there is nothing of QEMU's to compare with.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { build, lines, ts86 } from './harness.js';

const KERNEL = build('vmcall', 'flat');
const hex = (n: number) => (n >>> 0).toString(16).padStart(8, '0');

/** The report with the hypercall numbers checked and masked (they are assigned at run time). */
function report(stdout: string): string[] {
  const out = lines(stdout);
  const nrs = out.map((l) => /^queue (\d) hypercall ([0-9a-f]{8})$/.exec(l)).filter((m) => m).map((m) => parseInt(m![2]!, 16));
  assert.is(nrs.length, 2, stdout);
  assert.ok(nrs.every((n) => n >= 0x10000) && nrs[0] !== nrs[1], `hypercall numbers ${nrs.map(hex)}: distinct, clear of KVM's`);
  return out.map((l) => l.replace(/^(queue \d hypercall) [0-9a-f]{8}$/, '$1 N'));
}

const EXPECTED = [
  '1af4:1041 at device 3', // 00:03.0, as QEMU places its first NIC
  'vendor cap: len 16 version 1 queues 2', // 8 + 4 per queue
  'queue 0 hypercall N',
  'queue 1 hypercall N',
  'features ok',
  `rx kick ${hex(0)}`, // a dynamic hypercall returns 0
  `tx used before kick ${hex(0)}`,
  `tx kick ${hex(0)}`,
  `tx used ${hex(1)}`,
  // ARP reply from 10.0.2.2: at least header + 42 bytes, at most header + the 60-byte Ethernet minimum
  /^rx used 00000001 len 000000(3[6-9a-f]|4[0-8])$/,
  'reply ethertype 00000806 op 00000002 from 0a000202',
  `unknown ${hex(-1000)}`, // -KVM_ENOSYS
  `vapic_poll_irq ${hex(0)}`,
  `clock_pairing ${hex(0)} filled`,
  `clock_pairing type 1 ${hex(-95)}`, // -KVM_EOPNOTSUPP
  'exit 00000035',
];

function check(r: { stdout: string; stderr: string; status: number | null }): void {
  const got = report(r.stdout);
  assert.is(got.length, EXPECTED.length, r.stdout);
  EXPECTED.forEach((e, i) => { if (typeof e === 'string') assert.is(got[i], e); else assert.match(got[i]!, e); });
  assert.is(r.status, (0x35 << 1) | 1, r.stderr);
  // The host side saw exactly one kick per queue, both by hypercall (no MMIO notify happened).
  const m = /^ts86: virtio-net (\{.*\})$/m.exec(r.stderr);
  assert.ok(m, r.stderr);
  const s = JSON.parse(m![1]!) as Record<string, number | number[]>;
  assert.equal(s.hypercallKicks, [1, 1]);
  assert.equal([s.rx_kicks, s.tx_kicks, s.tx_packets, s.rx_packets], [1, 1, 1, 1]);
}

test('VMCALL with the vendor capability\'s numbers kicks the queues (virtual clock, data path inline)', () => {
  check(ts86(['--kernel', KERNEL, '--clock', 'virtual', '--virtio-notify', 'hypercall', '--debug', 'virtio']));
});

test('the same with the data path in its worker (realtime clock)', () => {
  check(ts86(['--kernel', KERNEL, '--device-model', 'worker', '--virtio-notify', 'hypercall', '--debug', 'virtio']));
});

test('without --virtio-notify hypercall the card carries no vendor capability', () => {
  const r = ts86(['--kernel', KERNEL, '--clock', 'virtual']);
  assert.equal(lines(r.stdout), ['1af4:1041 at device 3', 'FAIL no ts86 vendor capability']);
  assert.is(r.status, (0x7f << 1) | 1);
});

test.run();
