/**
 * The virtio-net PCI transport in a Machine (virtio 1.2, 4.1): capabilities found by config
 * cycles, feature negotiation, reset, MMIO notify through the ioeventfd, hypercall notify, and
 * interrupts by MSI-X (vectors, NO_VECTOR, mask + PBA) and by INTx (ISR read-to-clear, level
 * line held across EOI while the ISR is set). MSI-X goes through the MSI shim: each vector's
 * GSI route (GsiRouter.getRoute) follows the table, and a driver's switches between INTx and
 * MSI-X (and a function reset) leave nothing on the old path; also with the data path's
 * channels shared, as in the worker placement.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Machine, VIRTIO_NET_SLOT } from '../../../host/machine.js';
import { Reg } from '../../../cpu/index.js';
import { pciIntxGsi } from '../../../firmware/index.js';
import type { NetBackend } from '../../../devices/net-backend.js';
import { remoteDataPath } from '../../../devices/virtio-net/index.js';
import { F_NEXT, F_WRITE, TestRing } from './driver.js';

const DEV = VIRTIO_NET_SLOT;
/** GSI of the card's MSI-X vector 0 (the first past the IOAPIC's 24 pins). */
const MSIX_GSI = 24;
const COMMON = { DFSELECT: 0x00, DF: 0x04, GFSELECT: 0x08, GF: 0x0c, MSIX: 0x10, NUMQ: 0x12, STATUS: 0x14, GEN: 0x15, QSELECT: 0x16, QSIZE: 0x18, QVECTOR: 0x1a, QENABLE: 0x1c, QNOTIFYOFF: 0x1e, QDESC: 0x20, QAVAIL: 0x28, QUSED: 0x30 };

/**
 * A Machine with the card; `remote`: the data path's channels and RAM are shared as for a worker,
 * and the data path runs here only when `pump()` says (then the CPU side consumes its signals).
 * `'late'`: shared too, with no data path until `attach()` (a worker started after the boot).
 */
function machine(notifyMode: 'mmio' | 'hypercall' = 'mmio', remote: boolean | 'late' = false) {
  const sent: Uint8Array[] = [];
  const backend: NetBackend = { send: (f) => { sent.push(f.slice()); }, onReceive: null, close: () => {} };
  const m = remote
    ? new Machine({ clock: 'realtime', memoryMiB: 4, sharedRam: true, virtioNet: { placement: 'remote', notify: notifyMode } })
    : new Machine({ clock: 'virtual', memoryMiB: 4, virtioNet: { backend, notify: notifyMode } });
  let dp = remote === true ? remoteDataPath(m.virtioNet!.remote!, backend, () => {}).dataPath : null;
  const attach = () => { dp = remoteDataPath(m.virtioNet!.remote!, backend, () => {}).dataPath; };
  const pump = () => { if (dp) { while (dp.poll()); m.injector.poll(); } };
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
  const routes = () => [0, 1, 2].map((v) => router.getRoute(MSIX_GSI + v));
  return { m, sent, backend, msis, line, gsi, cfg, cfgw, caps, common, notify, isr, device, msixCap, msixBar, rd, wr, rings, bringUp, msixEntry, tx, postRx, pump, attach, routes };
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

test('worker placement, data path started late: resets complete without it; once started it serves the queues as the driver left them, and a reset waits for its ACK', () => {
  const t = machine('mmio', 'late');
  t.cfgw(t.msixCap.at + 2, 2, 0x8000);
  [0x40, 0x41, 0x42].forEach((v, i) => t.msixEntry(i, v));
  // bringUp starts with a reset and goes on only as a driver would: nothing has to answer it.
  t.bringUp([0, 1, 2]);
  assert.is(t.rd(t.common + COMMON.STATUS, 1), 0xf, 'DRIVER_OK with no data path');
  t.postRx();
  t.tx();
  t.pump();
  assert.is(t.sent.length, 0, 'nothing moves before a data path starts');
  // The notifications wait in their channels; the frame queued before it started goes out.
  t.attach();
  t.pump();
  assert.is(t.sent.length, 1);
  assert.equal(t.rings[1]!.takeUsed(), [[0, 0]]);
  assert.equal(t.msis.map(([, d]) => d), [0x42]);
  t.backend.onReceive!(new Uint8Array(60).fill(7));
  t.pump();
  assert.equal(t.rings[0]!.takeUsed(), [[0, 72]], 'the receive buffer posted before it started');
  // Now a reset is over only when the data path has let go of its queues.
  t.wr(t.common + COMMON.STATUS, 1, 0);
  assert.is(t.rd(t.common + COMMON.STATUS, 1), 0xf, 'the reset is not over before the data path acknowledges it');
  t.pump();
  assert.is(t.rd(t.common + COMMON.STATUS, 1), 0);
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

const msi = (data: number) => ({ kind: 'msi', address: 0xfee00000, data });

for (const remote of [false, true]) {
  const where = remote ? 'shared channels (worker placement)' : 'inline';
  test(`MSI shim, ${where}: INTx -> MSI-X -> function reset re-plumbs the queues; routes follow the table`, () => {
    const t = machine('mmio', remote);
    const rx = () => { t.postRx(); t.backend.onReceive!(new Uint8Array(60)); t.pump(); };
    // 1. The driver starts in INTx mode: ISR + level line, no MSI routes.
    t.bringUp();
    t.pump();
    rx();
    assert.equal(t.line, [true]);
    assert.equal(t.msis, []);
    assert.equal(t.routes(), [null, null, null]);
    assert.is(t.rd(t.isr, 1), 1);
    t.m.chips.router.ioapicEoi(t.gsi);
    t.pump();
    assert.equal(t.line, [true, false]);

    // 2. It switches to MSI-X as Linux does: enable with the function masked, fill the table,
    // give the queues vectors, unmask; Interrupt Disable on.
    t.cfgw(t.msixCap.at + 2, 2, 0xc000);
    [0x40, 0x41, 0x42].forEach((v, i) => t.msixEntry(i, v));
    assert.equal(t.routes(), [null, null, null], 'function masked: nothing routed');
    t.wr(t.common + COMMON.MSIX, 2, 0);
    [1, 2].forEach((v, q) => { t.wr(t.common + COMMON.QSELECT, 2, q); t.wr(t.common + COMMON.QVECTOR, 2, v); });
    t.cfgw(t.msixCap.at + 2, 2, 0x8000);
    t.cfgw(0x04, 2, 0x406);
    assert.equal(t.routes(), [msi(0x40), msi(0x41), msi(0x42)]);
    rx();
    t.tx(); t.pump();
    assert.equal(t.msis.map(([, d]) => d), [0x41, 0x42], 'RX on vector 1, TX on vector 2');
    assert.equal(t.line, [true, false], 'nothing on the INTx path');
    assert.is(t.rd(t.isr, 1), 0, 'no ISR bits in MSI-X mode');
    // Linux moves a vector (irq affinity): the route follows the new data.
    t.wr(t.msixBar + 16 * 2 + 8, 4, 0x52);
    assert.equal(t.m.chips.router.getRoute(MSIX_GSI + 2), msi(0x52));
    t.tx(); t.pump();
    assert.equal(t.msis.map(([, d]) => d), [0x41, 0x42, 0x52]);
    // A queue moved to another vector signals that vector's irqfd.
    t.wr(t.common + COMMON.QSELECT, 2, 1); t.wr(t.common + COMMON.QVECTOR, 2, 1);
    t.tx(); t.pump();
    assert.equal(t.msis.map(([, d]) => d), [0x41, 0x42, 0x52, 0x41]);

    // 3. Function reset: MSI-X off, no routes left, back on INTx once the driver sets up again.
    const bars = [1, 4].map((b) => [b, t.cfg(0x10 + 4 * b)] as const);
    t.m.pci.function(DEV)!.pciReset();
    assert.equal(t.routes(), [null, null, null]);
    assert.is(t.cfg(t.msixCap.at + 2, 2) & 0xc000, 0);
    t.pump();
    for (const [b, v] of bars) t.cfgw(0x10 + 4 * b, 4, v);
    t.cfgw(0x04, 2, 0x6);
    assert.is(t.rd(t.common + COMMON.STATUS, 1), 0, 'the virtio device was reset with the function');
    assert.is(t.rd(t.common + COMMON.QVECTOR, 2), 0xffff);
    t.bringUp();
    t.pump();
    rx();
    assert.equal(t.line, [true, false, true]);
    assert.is(t.msis.length, 4);
    assert.is(t.rd(t.isr, 1), 1);
    assert.equal(t.m.virtioNet!.stats().msix, [0, 2, 2], 'messages per vector');
  });

  test(`MSI shim, ${where}: masked vector -> route removed, PBA bit; unmask restores the route and delivers`, () => {
    const t = machine('mmio', remote);
    t.cfgw(t.msixCap.at + 2, 2, 0x8000);
    [0x40, 0x41, 0x42].forEach((v, i) => t.msixEntry(i, v));
    t.bringUp([0, 1, 2]);
    t.pump();
    t.wr(t.msixBar + 16 * 2 + 12, 4, 1); // mask vector 2 (TX)
    assert.equal(t.routes(), [msi(0x40), msi(0x41), null]);
    t.tx(); t.pump();
    assert.is(t.sent.length, 1);
    assert.equal(t.msis, []);
    assert.is(t.rd(t.msixBar + 0x800, 4), 0b100, 'pending bit of vector 2');
    t.wr(t.msixBar + 16 * 2 + 12, 4, 0);
    assert.equal(t.msis.map(([, d]) => d), [0x42], 'delivered on unmask');
    assert.equal(t.routes(), [msi(0x40), msi(0x41), msi(0x42)]);
    assert.is(t.rd(t.msixBar + 0x800, 4), 0);
    // Function mask: every route goes, pending bits collect; clearing it delivers them.
    t.cfgw(t.msixCap.at + 2, 2, 0xc000);
    assert.equal(t.routes(), [null, null, null]);
    t.tx(); t.pump();
    t.postRx(); t.backend.onReceive!(new Uint8Array(60)); t.pump();
    assert.is(t.rd(t.msixBar + 0x800, 4), 0b110);
    t.cfgw(t.msixCap.at + 2, 2, 0x8000);
    assert.equal(t.msis.map(([, d]) => d).sort(), [0x41, 0x42, 0x42]);
    // Config interrupt (link change) on the config vector; in INTx mode it sets ISR bit 1.
    t.m.virtioNet!.pci.setLink(false);
    t.pump();
    assert.equal(t.msis.at(-1)![1], 0x40);
    t.cfgw(t.msixCap.at + 2, 2, 0);
    assert.equal(t.routes(), [null, null, null], 'MSI-X disabled: nothing routed');
    t.m.virtioNet!.pci.setLink(true);
    t.pump();
    assert.equal(t.line, [true]);
    assert.is(t.rd(t.isr, 1), 2);
    // The queues follow the switch back too (their vectors stay programmed but unused).
    t.m.chips.router.ioapicEoi(t.gsi);
    t.tx(); t.pump();
    assert.equal(t.line, [true, false, true]);
    assert.is(t.rd(t.isr, 1), 1);
    assert.is(t.msis.length, 4);
    // And forward again without touching the vectors: MSI-X enable alone re-plumbs them.
    t.cfgw(t.msixCap.at + 2, 2, 0x8000);
    t.tx(); t.pump();
    assert.equal(t.msis.map(([, d]) => d).at(-1), 0x42);
    assert.is(t.rd(t.isr, 1), 0);
  });
}

test.run();
