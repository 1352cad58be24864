/**
 * The virtio-net PCI transport in a Machine (virtio 1.2, 4.1): capabilities found by config
 * cycles, feature negotiation, reset, MMIO notify through the ioeventfd, hypercall notify, and
 * interrupts by MSI-X (vectors, NO_VECTOR, mask + PBA) and by INTx (ISR read-to-clear, level
 * line held across EOI while the ISR is set).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Machine, VIRTIO_NET_SLOT } from '../../../host/machine.js';
import { Reg } from '../../../cpu/index.js';
import { pciIntxGsi } from '../../../firmware/index.js';
import type { NetBackend } from '../../../devices/net-backend.js';
import { F_NEXT, F_WRITE, TestRing } from './driver.js';

const DEV = VIRTIO_NET_SLOT;
const COMMON = { DFSELECT: 0x00, DF: 0x04, GFSELECT: 0x08, GF: 0x0c, MSIX: 0x10, NUMQ: 0x12, STATUS: 0x14, GEN: 0x15, QSELECT: 0x16, QSIZE: 0x18, QVECTOR: 0x1a, QENABLE: 0x1c, QNOTIFYOFF: 0x1e, QDESC: 0x20, QAVAIL: 0x28, QUSED: 0x30 };

function machine(notifyMode: 'mmio' | 'hypercall' = 'mmio') {
  const sent: Uint8Array[] = [];
  const backend: NetBackend = { send: (f) => { sent.push(f.slice()); }, onReceive: null, close: () => {} };
  const m = new Machine({ clock: 'virtual', memoryMiB: 4, virtioNet: { backend, notify: notifyMode } });
  const msis: [number, number][] = [];
  const router = m.chips.router;
  const sendMsi = router.sendMsi.bind(router);
  router.sendMsi = (a, d) => { msis.push([a, d]); sendMsi(a, d); };
  const gsi = pciIntxGsi(DEV, 0);
  const line: boolean[] = [];
  const setLevel = router.setLevel.bind(router);
  router.setLevel = (g, l) => { if (g === gsi) line.push(l); setLevel(g, l); };
  const cfg = (off: number, size: 1 | 2 | 4 = 4) => m.pci.configRead(0, DEV, 0, off, size);
  const cfgw = (off: number, size: 1 | 2 | 4, v: number) => m.pci.configWrite(0, DEV, 0, off, size, v);
  cfgw(0x04, 2, 0x6); // memory decoding, bus master
  // Walk the capability list.
  const caps: { at: number; id: number; type: number; bar: number; offset: number; length: number }[] = [];
  for (let p = cfg(0x34, 1); p; p = cfg(p + 1, 1)) caps.push({ at: p, id: cfg(p, 1), type: cfg(p + 3, 1), bar: cfg(p + 4, 1), offset: cfg(p + 8), length: cfg(p + 12) });
  const region = (type: number) => {
    const c = caps.find((x) => x.id === 9 && x.type === type)!;
    return (cfg(0x10 + 4 * c.bar) & ~0xf) + c.offset;
  };
  const common = region(1), notify = region(2), isr = region(3), device = region(4);
  const msixCap = caps.find((c) => c.id === 0x11)!;
  const msixBar = cfg(0x10 + 4 * (cfg(msixCap.at + 4) & 7)) & ~0xf;
  const rd = (a: number, s: 1 | 2 | 4) => m.mem.read(a, s);
  const wr = (a: number, s: 1 | 2 | 4, v: number) => m.mem.write(a, s, v);
  const rings = [TestRing.at(m.mem.ram, 16, 0x100000), TestRing.at(m.mem.ram, 16, 0x104000)];
  /** A driver's bring-up (virtio 1.2, 3.1.1) with MRG_RXBUF and VERSION_1. */
  const bringUp = (vectors?: [number, number, number]) => {
    wr(common + COMMON.STATUS, 1, 0);
    wr(common + COMMON.STATUS, 1, 1); wr(common + COMMON.STATUS, 1, 3);
    wr(common + COMMON.GFSELECT, 4, 0); wr(common + COMMON.GF, 4, 1 << 15);
    wr(common + COMMON.GFSELECT, 4, 1); wr(common + COMMON.GF, 4, 1);
    wr(common + COMMON.STATUS, 1, 0xb);
    if (vectors) wr(common + COMMON.MSIX, 2, vectors[0]);
    rings.forEach((r, q) => {
      wr(common + COMMON.QSELECT, 2, q);
      wr(common + COMMON.QSIZE, 2, r.size);
      if (vectors) wr(common + COMMON.QVECTOR, 2, vectors[q + 1]);
      wr(common + COMMON.QDESC, 4, r.desc); wr(common + COMMON.QDESC + 4, 4, 0);
      wr(common + COMMON.QAVAIL, 4, r.avail); wr(common + COMMON.QAVAIL + 4, 4, 0);
      wr(common + COMMON.QUSED, 4, r.used); wr(common + COMMON.QUSED + 4, 4, 0);
      wr(common + COMMON.QENABLE, 2, 1);
    });
    wr(common + COMMON.STATUS, 1, 0xf);
  };
  const msixEntry = (v: number, vector: number, masked = false) => {
    wr(msixBar + 16 * v, 4, 0xfee00000); wr(msixBar + 16 * v + 4, 4, 0);
    wr(msixBar + 16 * v + 8, 4, vector); wr(msixBar + 16 * v + 12, 4, masked ? 1 : 0);
  };
  const tx = (n = 60) => {
    const t = rings[1]!;
    m.mem.ram.fill(0x11, 0x110000, 0x110000 + 12 + n);
    t.setDesc(0, 0x110000, 12 + n, 0); t.offer(0);
    // virtio 1.2, 4.1.4.4: cap.offset + queue_notify_off * notify_off_multiplier.
    wr(common + COMMON.QSELECT, 2, 1);
    wr(notify + rd(common + COMMON.QNOTIFYOFF, 2) * cfg(caps.find((c) => c.id === 9 && c.type === 2)!.at + 16), 2, 1);
  };
  const postRx = () => { const r = rings[0]!; r.setDesc(0, 0x120000, 2048, F_WRITE); r.offer(0); };
  return { m, sent, backend, msis, line, gsi, cfg, cfgw, caps, common, notify, isr, device, msixCap, msixBar, rd, wr, rings, bringUp, msixEntry, tx, postRx };
}

test('config space: 1AF4:1041 class 020000, INTA, virtio capabilities in BAR4, MSI-X with 3 vectors', () => {
  const t = machine();
  assert.is(t.cfg(0, 2), 0x1af4);
  assert.is(t.cfg(2, 2), 0x1041);
  assert.is(t.cfg(0x08) >>> 8, 0x020000);
  assert.is(t.cfg(0x3d, 1), 1);
  assert.equal(t.caps.filter((c) => c.id === 9).map((c) => [c.type, c.bar]), [[1, 4], [2, 4], [3, 4], [4, 4]]);
  assert.is((t.cfg(t.msixCap.at + 2, 2) & 0x7ff) + 1, 3);
  assert.ok(t.cfg(0x10 + 16) >>> 0 >= 0xc0000000, 'BAR4 assigned in the PCI window by the firmware');
  // Device config: MAC, link up, one queue pair, MTU 1500.
  assert.equal([0, 1, 2, 3, 4, 5].map((i) => t.rd(t.device + i, 1)), [0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
  assert.is(t.rd(t.device + 6, 2), 1);
  assert.is(t.rd(t.device + 10, 2), 1500);
  assert.is(t.rd(t.common + COMMON.NUMQ, 2), 2);
  assert.not.ok(t.caps.some((c) => c.id === 9 && c.type === 9), 'no hypercall capability with MMIO notify');
  assert.is(new Machine({ clock: 'virtual', memoryMiB: 4, defaultDevices: false }).pci.configRead(0, DEV, 0, 0, 2), 0xffff);
});

test('feature negotiation: FEATURES_OK only for a subset of the offer that includes VERSION_1', () => {
  const t = machine();
  const c = t.common;
  t.wr(c + COMMON.DFSELECT, 4, 0);
  const lo = t.rd(c + COMMON.DF, 4);
  t.wr(c + COMMON.DFSELECT, 4, 1);
  assert.is(t.rd(c + COMMON.DF, 4), 1, 'VERSION_1');
  for (const bit of [3, 5, 15, 16, 28, 29]) assert.ok(lo & (1 << bit), `feature ${bit}`);
  assert.not.ok(lo & 1, 'no checksum offload');
  const negotiate = (glo: number, ghi: number) => {
    t.wr(c + COMMON.STATUS, 1, 0);
    t.wr(c + COMMON.STATUS, 1, 3);
    t.wr(c + COMMON.GFSELECT, 4, 0); t.wr(c + COMMON.GF, 4, glo);
    t.wr(c + COMMON.GFSELECT, 4, 1); t.wr(c + COMMON.GF, 4, ghi);
    t.wr(c + COMMON.STATUS, 1, 0xb);
    return t.rd(c + COMMON.STATUS, 1);
  };
  assert.is(negotiate(1 << 5, 0), 3, 'no VERSION_1');
  assert.is(negotiate(1, 1), 3, 'an unoffered bit');
  assert.is(negotiate(lo, 1), 0xb);
});

test('reset: status 0, queues and vectors back to their defaults', () => {
  const t = machine();
  t.bringUp([0, 1, 2]);
  t.wr(t.common + COMMON.QSELECT, 2, 1);
  assert.is(t.rd(t.common + COMMON.QENABLE, 2), 1);
  t.wr(t.common + COMMON.STATUS, 1, 0);
  assert.is(t.rd(t.common + COMMON.STATUS, 1), 0);
  assert.is(t.rd(t.common + COMMON.QENABLE, 2), 0);
  assert.is(t.rd(t.common + COMMON.QVECTOR, 2), 0xffff);
  assert.is(t.rd(t.common + COMMON.MSIX, 2), 0xffff);
  assert.is(t.rd(t.common + COMMON.QSIZE, 2), 256);
  // A vector the function lacks reads back as NO_VECTOR.
  t.wr(t.common + COMMON.QVECTOR, 2, 7);
  assert.is(t.rd(t.common + COMMON.QVECTOR, 2), 0xffff);
});

test('MSI-X: TX by MMIO notify, RX from the backend; per-queue vectors, NO_VECTOR, mask and PBA', () => {
  const t = machine();
  t.cfgw(t.msixCap.at + 2, 2, 0x8000);
  [0x40, 0x41, 0x42].forEach((v, i) => t.msixEntry(i, v));
  t.bringUp([0, 1, 2]);
  t.tx();
  assert.is(t.sent.length, 1, 'the notify write kicked the data path');
  assert.equal(t.msis.map(([, d]) => d), [0x42]);
  t.postRx();
  t.backend.onReceive!(new Uint8Array(60).fill(7));
  assert.equal(t.msis.map(([, d]) => d), [0x42, 0x41]);
  assert.equal(t.rings[0]!.takeUsed(), [[0, 72]]);
  // Masked: pending in the PBA, sent on unmask.
  t.wr(t.msixBar + 16 * 1 + 12, 4, 1);
  t.postRx();
  t.backend.onReceive!(new Uint8Array(60));
  assert.is(t.msis.length, 2);
  assert.is(t.rd(t.msixBar + 0x800, 4) & 2, 2, 'pending bit');
  t.wr(t.msixBar + 16 * 1 + 12, 4, 0);
  assert.equal(t.msis.map(([, d]) => d), [0x42, 0x41, 0x41]);
  assert.is(t.rd(t.msixBar + 0x800, 4) & 2, 0);
  // NO_VECTOR: the queue raises nothing.
  t.wr(t.common + COMMON.QSELECT, 2, 1);
  t.wr(t.common + COMMON.QVECTOR, 2, 0xffff);
  t.tx();
  assert.is(t.sent.length, 2);
  assert.is(t.msis.length, 3);
  assert.equal(t.line.filter((l) => l), [], 'INTx stays quiet with MSI-X on');
});

test('INTx: ISR bit 0 + level line; read clears the ISR; the line drops at EOI and comes back while the ISR is set', () => {
  const t = machine();
  t.bringUp();
  t.postRx();
  t.backend.onReceive!(new Uint8Array(60));
  assert.equal(t.line, [true]);
  assert.is(t.m.pci.function(DEV)!.config[0x06]! & 8, 8, 'status: interrupt');
  assert.is(t.rd(t.isr, 1), 1);
  assert.is(t.rd(t.isr, 1), 0, 'read to clear');
  t.m.chips.router.ioapicEoi(t.gsi);
  assert.equal(t.line, [true, false]);
  // New work before the EOI: the line is raised again after it.
  t.postRx();
  t.backend.onReceive!(new Uint8Array(60));
  t.tx();
  assert.equal(t.line, [true, false, true]);
  t.m.chips.router.ioapicEoi(t.gsi);
  assert.equal(t.line, [true, false, true, false, true], 'ISR still set: re-asserted');
  assert.is(t.rd(t.isr, 1), 1);
  t.m.chips.router.ioapicEoi(t.gsi);
  assert.equal(t.line.at(-1), false);
  // Interrupt Disable in the command register keeps the line low.
  t.cfgw(0x04, 2, 0x406);
  t.tx();
  assert.equal(t.line.at(-1), false);
});

test('hypercall notify: the vendor capability lists one VMCALL number per queue; a VMCALL kicks the queue', () => {
  const t = machine('hypercall');
  const cap = t.caps.find((c) => c.id === 9 && c.type === 9)!;
  assert.ok(cap);
  assert.is(t.cfg(cap.at + 4, 2), 0x7486);
  assert.is(t.cfg(cap.at + 6, 1), 1);
  assert.is(t.cfg(cap.at + 7, 1), 2);
  assert.ok(t.cfg(cap.at + 2, 1) >= 16);
  const nrs = [t.cfg(cap.at + 8), t.cfg(cap.at + 12)];
  assert.ok(nrs.every((n) => n >= 0x10000) && nrs[0] !== nrs[1]);
  t.bringUp([0, 1, 2]);
  t.rings[1]!.setDesc(0, 0x110000, 72, 0); t.rings[1]!.offer(0);
  const cpu = t.m.cpu;
  cpu.regs[Reg.EAX] = nrs[1]!; cpu.regs[Reg.EBX] = 1;
  cpu.onHypercall(cpu);
  assert.is(cpu.regs[Reg.EAX], 0);
  assert.is(t.sent.length, 1);
  assert.equal(t.m.virtioNet!.stats().hypercallKicks, [0, 1]);
});

test.run();
