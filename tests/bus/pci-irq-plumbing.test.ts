// PCI functions plumbed through channels as on KVM: BAR ioeventfds that follow BAR moves, the MSI
// shim (MSI-X table -> GSI routes, per-vector irqfds, masking and the PBA) and the INTx -> MSI-X
// -> reset re-plumbing, observed as the vectors the real local APIC delivers. MSI-X behaviour is
// PCI Local Bus 3.0 section 6.8.2; the guest side is programmed in the order Linux uses
// (msix_capability_init: enable with function mask, program and unmask entries, clear the mask).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ChannelSpace, LocalEventChannel, type EventChannel } from '../../channels/event-channel.js';
import { Injector } from '../../channels/injector.js';
import { Irqfd } from '../../channels/irqfd.js';
import { MsixRouting, PciBus, PciFunction, type BarHandler } from '../../bus/pci/index.js';
import { pciIntxGsi } from '../../firmware/index.js';
import { initPicLinux, ioapicWrite, lapicWrite, machine, type TestMachine } from '../irqchip/helpers.js';

const CF8 = 0xcf8, CFC = 0xcfc;
const DEV = 3;
const MSIX_CAP = 0x40, T = 0xc0020000, PBA = T + 0x800, REGS = 0xc0040000;

class Regs implements BarHandler {
  readonly log: string[] = [];
  read(off: number, size: number): number { this.log.push(`r${off.toString(16)}/${size}`); return 0; }
  write(off: number, size: number, v: number): void { this.log.push(`w${off.toString(16)}/${size}=${v.toString(16)}`); }
}

class TestNic extends PciFunction {
  readonly io = new Regs();
  readonly mmio = new Regs();
  readonly moves: [number, number][] = [];
  constructor() {
    super({ vendorId: 0x1af4, deviceId: 0x1041, classCode: 0x020000, interruptPin: 1 });
    this.defineBar(0, { kind: 'io', size: 0x20, handler: this.io });
    this.defineBar(1, { kind: 'mem', size: 0x1000 });
    this.defineBar(2, { kind: 'mem', size: 0x4000, is64: true, prefetchable: true, handler: this.mmio });
    this.addMsix({ vectors: 3, bar: 1, tableOffset: 0, pbaOffset: 0x800 });
  }
  override barMapped(i: number, a: number): void { this.moves.push([i, a]); }
}

function setup() {
  const m = machine();
  const logs: string[] = [];
  const bus = new PciBus({
    io: m.io, mem: m.mem, log: (l) => logs.push(l),
    // As host/machine.ts wires it: the MP table's INTx routing.
    setIntx: (device, _fn, pin, level) => m.router.setLevel(pciIntxGsi(device, pin - 1), level),
    sendMsi: (lo, hi, data) => { if (hi === 0) m.router.sendMsi(lo, data); },
  });
  const nic = new TestNic();
  bus.add(nic, DEV);
  const cfgRead = (reg: number, size: 1 | 2 | 4 = 4): number => { m.io.write(CF8, 4, (0x80000000 | (DEV << 11) | (reg & 0xfc)) >>> 0); return m.io.read(CFC + (reg & 3), size); };
  const cfgWrite = (reg: number, size: 1 | 2 | 4, v: number): void => { m.io.write(CF8, 4, (0x80000000 | (DEV << 11) | (reg & 0xfc)) >>> 0); m.io.write(CFC + (reg & 3), size, v); };
  return { m, bus, nic, logs, cfgRead, cfgWrite };
}

/** Linux with the IOAPIC in charge and the LAPIC enabled. */
function apicMode(m: TestMachine): void {
  initPicLinux(m.io);
  lapicWrite(m, 0xf0, 0x1ff);
  lapicWrite(m, 0x350, 0x10700);
}
function take(m: TestMachine): number[] {
  const got: number[] = [];
  while (m.lapic.hasInterrupt() && got.length < 16) got.push(m.lapic.acknowledge());
  for (let i = 0; i < got.length; i++) lapicWrite(m, 0xb0, 0); // EOI each
  return got;
}
const entry = (m: TestMachine, v: number, addr: number, data: number, masked: boolean): void => {
  m.mem.write(T + v * 16, 4, addr);
  m.mem.write(T + v * 16 + 4, 4, 0);
  m.mem.write(T + v * 16 + 8, 4, data);
  m.mem.write(T + v * 16 + 12, 4, masked ? 1 : 0);
};

test('BAR ioeventfds follow decode enables and BAR moves; the device handler never sees matched writes', () => {
  const { m, nic, logs, cfgWrite } = setup();
  const kickIo = new LocalEventChannel(), kickMem = new LocalEventChannel();
  nic.addBarIoEventFd(0, { offset: 0x10, length: 2, channel: kickIo });
  const removeMem = nic.addBarIoEventFd(2, { offset: 0x3000, length: 2, data: 1, channel: kickMem });
  assert.throws(() => nic.addBarIoEventFd(0, { offset: 0x1f, length: 2, channel: kickIo }), RangeError);
  assert.throws(() => nic.addBarIoEventFd(4, { offset: 0, channel: kickIo }), RangeError);
  cfgWrite(0x10, 4, 0xc040);
  cfgWrite(0x18, 4, REGS); cfgWrite(0x1c, 4, 0);
  m.io.write(0xc050, 2, 0);
  m.mem.write(REGS + 0x3000, 2, 1);
  assert.is(kickIo.pending || kickMem.pending, false, 'not decoded yet: nothing registered');
  cfgWrite(0x04, 2, 0x0003);
  m.io.write(0xc050, 2, 0);
  m.mem.write(REGS + 0x3000, 2, 1);
  m.mem.write(REGS + 0x3000, 2, 0); // data mismatch: the device's
  assert.is(kickIo.read(), 1);
  assert.is(kickMem.read(), 1);
  assert.equal(nic.io.log, []);
  assert.equal(nic.mmio.log, ['w3000/2=0']);
  // The guest moves both BARs (Linux: decode off, write, decode on).
  cfgWrite(0x04, 2, 0);
  cfgWrite(0x10, 4, 0xd000);
  cfgWrite(0x18, 4, REGS + 0x10000);
  cfgWrite(0x04, 2, 0x0003);
  m.io.write(0xc050, 2, 0);
  m.mem.write(REGS + 0x3000, 2, 1);
  assert.is(kickIo.pending || kickMem.pending, false, 'old addresses are dead');
  m.io.write(0xd010, 2, 0);
  m.mem.write(REGS + 0x13000, 2, 1);
  assert.is(kickIo.read(), 1);
  assert.is(kickMem.read(), 1);
  assert.equal(nic.moves, [[0, 0xc040], [2, REGS], [0, -1], [2, -1], [0, 0xd000], [2, REGS + 0x10000]]);
  removeMem();
  m.mem.write(REGS + 0x13000, 2, 1);
  assert.is(kickMem.pending, false);
  assert.equal(nic.mmio.log.at(-1), 'w3000/2=1', 'removed: the handler gets the write');
  // A BAR moved onto an ioeventfd registered outside any BAR: logged, the guest write completes.
  nic.addBarIoEventFd(2, { offset: 0x3000, length: 2, data: 1, channel: kickMem });
  const other = new LocalEventChannel();
  m.mem.addIoEventFd({ addr: REGS + 0x23000, length: 2, channel: other });
  cfgWrite(0x18, 4, REGS + 0x20000);
  assert.equal(logs, [`pci: ioeventfd at 0x${(REGS + 0x23000).toString(16)}: ioeventfd at 0x${(REGS + 0x23000).toString(16)} overlaps an existing one`]);
  m.mem.write(REGS + 0x23000, 2, 1);
  assert.is(other.read(), 1);
  nic.pciReset();
  m.io.write(0xd010, 2, 0);
  assert.is(kickIo.pending, false, 'function reset: BARs undecoded, ioeventfds gone');
  cfgWrite(0x10, 4, 0xe000); cfgWrite(0x04, 2, 0x0001);
  m.io.write(0xe010, 2, 0);
  assert.is(kickIo.read(), 1, 'and back where the guest puts the BAR again');
});

test('MSI shim: routes mirror the table; per-vector irqfds deliver; masking collects PBA bits', () => {
  const { m, nic, cfgWrite, cfgRead } = setup();
  apicMode(m);
  const inj = new Injector();
  const space = new ChannelSpace(8);
  const ch: EventChannel[] = [new LocalEventChannel(), space.alloc(), space.alloc()];
  const logs: string[] = [];
  const r = new MsixRouting({ fn: nic, router: m.router, injector: inj, firstGsi: 24, channels: ch, log: (l) => logs.push(l) });
  const gsis = [0, 1, 2].map((v) => r.gsi(v));
  const routes = () => gsis.map((g) => m.router.getRoute(g));
  cfgWrite(0x14, 4, T); cfgWrite(0x04, 2, 0x0006); // memory decode, bus master
  assert.equal(routes(), [null, null, null], 'disabled: no routes');
  ch[0]!.signal();
  assert.equal(take(m), [], 'disabled: lost');
  cfgWrite(MSIX_CAP + 2, 2, 0xc000); // enable + function mask
  entry(m, 0, 0xfee00000, 0x41, false);
  entry(m, 1, 0xfee00000, 0x42, false);
  entry(m, 2, 0xfee00000, 0x43, true);
  assert.equal(routes(), [null, null, null], 'function masked: no routes');
  ch[0]!.signal();
  assert.is(m.mem.read(PBA, 4), 0b001, 'held in the PBA');
  assert.equal(take(m), []);
  cfgWrite(MSIX_CAP + 2, 2, 0x8000); // clear the function mask
  assert.equal(take(m), [0x41], 'pending vector delivered on unmask');
  assert.is(m.mem.read(PBA, 4), 0);
  assert.equal(routes(), [{ kind: 'msi', address: 0xfee00000, data: 0x41 }, { kind: 'msi', address: 0xfee00000, data: 0x42 }, null]);
  ch[1]!.signal(2);
  assert.equal(take(m), [], 'shared channel: consumed at the next poll');
  assert.is(inj.poll(), true);
  assert.equal(take(m), [0x42]);
  ch[2]!.signal(); inj.poll();
  assert.equal(take(m), [], 'vector 2 masked');
  assert.is(m.mem.read(PBA, 4), 0b100);
  m.mem.write(T + 2 * 16 + 8, 4, 0x44); // new data while masked: still not routed
  assert.is(m.router.getRoute(gsis[2]!), null);
  m.mem.write(T + 2 * 16 + 12, 4, 0);
  assert.equal(take(m), [0x44], 'unmasked with the new data');
  assert.equal(m.router.getRoute(gsis[2]!), { kind: 'msi', address: 0xfee00000, data: 0x44 });
  // Re-targeting an unmasked vector re-routes its GSI (Linux's irq affinity/vector moves).
  m.mem.write(T + 8, 4, 0x51);
  ch[0]!.signal();
  assert.equal(take(m), [0x51]);
  // Bus master off: an MSI-X message is a memory write the function may not issue.
  cfgWrite(0x04, 2, 0x0002);
  assert.equal(routes(), [null, null, null]);
  ch[0]!.signal();
  assert.equal(take(m), []);
  cfgWrite(0x04, 2, 0x0006);
  // Addresses above 4 GiB do not reach the APIC on this platform.
  m.mem.write(T + 4, 4, 1);
  assert.is(m.router.getRoute(gsis[0]!), null);
  assert.equal(logs, ['msix: 03.0 vector 0: address 0x1:fee00000 is above 4 GiB; not routed']);
  m.mem.write(T + 4, 4, 0);
  // Disable: nothing routed, nothing pending, signals lost.
  cfgWrite(MSIX_CAP + 2, 2, 0);
  assert.equal(routes(), [null, null, null]);
  ch[0]!.signal();
  assert.is(m.mem.read(PBA, 4), 0);
  assert.equal(take(m), []);
  assert.is(cfgRead(MSIX_CAP + 2, 2) & 0x8000, 0);
  r.close();
  assert.throws(() => new MsixRouting({ fn: nic, router: m.router, injector: inj, firstGsi: 20 }), RangeError, 'IOAPIC pins are not MSI GSIs');
  m.router.setRoute(30, { kind: 'msi', address: 0xfee00000, data: 0x30 });
  assert.throws(() => new MsixRouting({ fn: nic, router: m.router, injector: inj, firstGsi: 28 }), /already routed/);
});

test('INTx -> MSI-X -> function reset: each mode leaves nothing on the other path', () => {
  const { m, nic, cfgWrite } = setup();
  apicMode(m);
  const gsi = pciIntxGsi(DEV, 0);
  assert.is(gsi, 19);
  ioapicWrite(m, 0x11 + gsi * 2, 0);
  ioapicWrite(m, 0x10 + gsi * 2, 0x61 | (1 << 15) | (1 << 13)); // level, active low as the MP table says
  const inj = new Injector();
  const intx = new LocalEventChannel(), resample = new LocalEventChannel();
  const vec = [new LocalEventChannel(), new LocalEventChannel()];
  new Irqfd({ router: m.router, gsi, channel: intx, resample, injector: inj, line: (l) => nic.setIntx(l) });
  new MsixRouting({ fn: nic, router: m.router, injector: inj, firstGsi: 40, channels: vec });
  cfgWrite(0x14, 4, T); cfgWrite(0x04, 2, 0x0006);

  // 1. The driver starts on INTx (pin mode).
  intx.signal();
  assert.is(nic.configRead(0x06, 1) & 0x08, 0x08, 'status: interrupt pending');
  assert.equal(take(m), [0x61]);
  assert.is(resample.read(), 1, 'EOI de-asserted the line and resampled');
  assert.is(nic.configRead(0x06, 1) & 0x08, 0);

  // 2. It switches to MSI-X (Linux also sets Interrupt Disable for MSI-X).
  cfgWrite(MSIX_CAP + 2, 2, 0xc000);
  entry(m, 0, 0xfee00000, 0x71, false);
  entry(m, 1, 0xfee00000, 0x72, false);
  cfgWrite(MSIX_CAP + 2, 2, 0x8000);
  cfgWrite(0x04, 2, 0x0406);
  vec[1]!.signal();
  assert.equal(take(m), [0x72]);
  intx.signal();
  assert.equal(take(m), [], 'INTx path: nothing reaches the IOAPIC');
  assert.equal(m.router.getRoute(41), { kind: 'msi', address: 0xfee00000, data: 0x72 });

  // 3. Reset (FLR / driver unbind + reset): power-on state, back on INTx, no MSI route left.
  nic.pciReset();
  assert.is(m.router.getRoute(40), null);
  assert.is(m.router.getRoute(41), null);
  vec[0]!.signal(); vec[1]!.signal();
  assert.equal(take(m), [], 'MSI-X path: nothing');
  cfgWrite(0x14, 4, T); cfgWrite(0x04, 2, 0x0006);
  intx.signal();
  assert.equal(take(m), [0x61], 'INTx again');
  assert.is(resample.read(), 1);
});

test.run();
