// irqfd (edge), resample irqfd (level), EOI notifier and the CPU-side Injector, against the real
// 8259 pair, IOAPIC and local APIC: what the guest sees is the vector the LAPIC delivers.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ChannelSpace, LocalEventChannel, type EventChannel } from '../../channels/event-channel.js';
import { Injector } from '../../channels/injector.js';
import { EoiNotifier, Irqfd } from '../../channels/irqfd.js';
import { tsWorker } from './ts-worker.js';
import { initPicLinux, ioapicRead, ioapicWrite, lapicWrite, machine, type TestMachine } from '../irqchip/helpers.js';

const EDGE = 0, LEVEL = 1 << 15, REMOTE_IRR = 1 << 14;

/** Linux with the IOAPIC in charge: 8259 inputs masked, LAPIC enabled, LINT0 masked. */
function apicMachine(): TestMachine {
  const m = machine();
  initPicLinux(m.io);
  lapicWrite(m, 0xf0, 0x1ff);
  lapicWrite(m, 0x350, 0x10700);
  return m;
}
const route = (m: TestMachine, pin: number, vector: number, trigger: number): void => {
  ioapicWrite(m, 0x11 + pin * 2, 0);
  ioapicWrite(m, 0x10 + pin * 2, vector | trigger);
};
/** Everything the LAPIC would deliver now, in order (the CPU's INTA cycles). */
function take(m: TestMachine): number[] {
  const got: number[] = [];
  while (m.lapic.hasInterrupt() && got.length < 16) got.push(m.lapic.acknowledge());
  return got;
}
const lapicEoi = (m: TestMachine): void => lapicWrite(m, 0xb0, 0);

const kinds: [string, () => EventChannel][] = [['local', () => new LocalEventChannel()], ['shared', () => new ChannelSpace(8).alloc()]];

for (const [kind, make] of kinds) {
  test(`irqfd (${kind}): a signal is one edge on the GSI's IOAPIC pin`, () => {
    const m = apicMachine();
    route(m, 10, 0x41, EDGE);
    const inj = new Injector();
    const ch = make();
    new Irqfd({ router: m.router, gsi: 10, channel: ch, injector: inj });
    ch.signal(3); // coalesced, like an eventfd: one interrupt
    if (kind === 'shared') {
      assert.equal(take(m), [], 'a shared channel waits for the CPU thread to poll');
      assert.is(inj.poll(), true);
    }
    assert.equal(take(m), [0x41]);
    assert.is(inj.poll(), false, 'nothing left');
    lapicEoi(m);
    ch.signal();
    inj.poll();
    assert.equal(take(m), [0x41], 'a later signal is a new edge');
  });
}

test('irqfd: on an MSI route (GSI 24) the signal sends the message', () => {
  const m = apicMachine();
  const inj = new Injector();
  const ch = new LocalEventChannel();
  m.router.setRoute(24, { kind: 'msi', address: 0xfee00000, data: 0x51 });
  const fd = new Irqfd({ router: m.router, gsi: 24, channel: ch, injector: inj });
  ch.signal();
  assert.equal(take(m), [0x51]);
  lapicEoi(m);
  m.router.setRoute(24, null);
  ch.signal();
  assert.equal(take(m), [], 'no route: the signal is lost, as in KVM');
  fd.close();
  m.router.setRoute(24, { kind: 'msi', address: 0xfee00000, data: 0x52 });
  ch.signal();
  assert.equal(take(m), [], 'closed irqfd does not consume');
  assert.throws(() => new Irqfd({ router: m.router, gsi: 4096, channel: new LocalEventChannel(), injector: inj }), RangeError);
});

test('resample irqfd through the IOAPIC: level until EOI, then de-asserted and resample signalled', () => {
  const m = apicMachine();
  route(m, 19, 0x61, LEVEL);
  const inj = new Injector();
  const ch = new LocalEventChannel(), resample = new LocalEventChannel();
  new Irqfd({ router: m.router, gsi: 19, channel: ch, injector: inj, resample });
  ch.signal();
  assert.equal(take(m), [0x61]);
  assert.ok(ioapicRead(m, 0x10 + 19 * 2) & REMOTE_IRR, 'level interrupt in service');
  assert.equal(take(m), [], 'no redelivery while Remote IRR is set');
  assert.is(resample.pending, false);
  lapicEoi(m);
  assert.is(resample.read(), 1, 'EOI signalled the resample channel');
  assert.is(ioapicRead(m, 0x10 + 19 * 2) & REMOTE_IRR, 0);
  assert.equal(take(m), [], 'the line was de-asserted before Remote IRR cleared: no second interrupt');
  lapicEoi(m);
  assert.is(resample.read(), 0, 'an EOI without an assertion does not resample');
});

for (const [kind, make] of kinds) {
  test(`resample irqfd (${kind}): a device that still needs service re-asserts from the resample signal`, () => {
    const m = apicMachine();
    route(m, 19, 0x61, LEVEL);
    const inj = new Injector();
    const ch = make();
    const resample = new LocalEventChannel();
    let work = 2; // the device has two events; each interrupt handles one
    // In-thread, the re-assertion happens inside the EOI, before the IOAPIC clears Remote IRR.
    resample.onSignal = () => { resample.read(); if (work > 0) ch.signal(); };
    new Irqfd({ router: m.router, gsi: 19, channel: ch, injector: inj, resample });
    ch.signal();
    const seen: number[] = [];
    for (let slice = 0; slice < 10; slice++) {
      inj.poll();
      for (const v of take(m)) { seen.push(v); work--; lapicEoi(m); }
    }
    assert.equal(seen, [0x61, 0x61]);
    assert.is(work, 0);
  });
}

test('resample irqfd through the 8259 (level via ELCR): EOI de-asserts and resamples', () => {
  const m = machine(); // LAPIC disabled: the 8259 is the CPU's interrupt controller
  initPicLinux(m.io);
  m.io.write(0x4d1, 1, 0x04); // ELCR: IRQ 10 level
  m.io.write(0x21, 1, 0xfb); m.io.write(0xa1, 1, 0xfb); // unmask cascade and IRQ 10
  const inj = new Injector();
  const ch = new LocalEventChannel(), resample = new LocalEventChannel();
  new Irqfd({ router: m.router, gsi: 10, channel: ch, injector: inj, resample });
  ch.signal();
  assert.equal(take(m), [0x3a]);
  assert.equal(take(m), [], 'in service');
  m.io.write(0xa0, 1, 0x20); // non-specific EOI to the slave: IRQ 10
  assert.is(resample.read(), 1);
  m.io.write(0x20, 1, 0x20);
  assert.equal(take(m), [], 'line low: no new request');
  ch.signal();
  assert.equal(take(m), [0x3a], 'asserted again');
});

test('closing a resample irqfd releases a line it holds', () => {
  const m = apicMachine();
  route(m, 17, 0x62, LEVEL);
  const inj = new Injector();
  const ch = new LocalEventChannel(), resample = new LocalEventChannel();
  const fd = new Irqfd({ router: m.router, gsi: 17, channel: ch, injector: inj, resample });
  ch.signal();
  assert.equal(take(m), [0x62]);
  fd.close();
  lapicEoi(m);
  assert.equal(take(m), [], 'no re-delivery of a released line');
  assert.is(resample.pending, false, 'no resample after close');
});

test('EOI notifier: 8259 EOI of its IRQ and IOAPIC EOI of its pin signal the channel, others do not', () => {
  const m = machine();
  initPicLinux(m.io);
  m.io.write(0x21, 1, 0xdf); // IRQ 5
  const eoi = new LocalEventChannel();
  const n = new EoiNotifier(m.router, 5, eoi);
  m.router.pulse(5);
  assert.equal(take(m), [0x35]);
  m.io.write(0x20, 1, 0x20);
  assert.is(eoi.read(), 1);
  m.router.pulse(3); m.io.write(0x20, 1, 0x63); // specific EOI of IRQ 3
  assert.is(eoi.read(), 0);
  n.close();
  m.router.pulse(5); take(m); m.io.write(0x20, 1, 0x20);
  assert.is(eoi.read(), 0, 'closed');

  const a = apicMachine();
  route(a, 18, 0x70, LEVEL);
  const e2 = new LocalEventChannel();
  new EoiNotifier(a.router, 18, e2);
  a.router.setLevel(18, true);
  assert.equal(take(a), [0x70]);
  a.router.setLevel(18, false);
  lapicEoi(a);
  assert.is(e2.read(), 1);
});

test('Injector: one consumer per channel; detach stops consumption; signals before attach count', () => {
  const inj = new Injector();
  const got: number[] = [];
  const l = new LocalEventChannel();
  l.signal(2);
  const off = inj.attach(l, (n) => got.push(n));
  assert.equal(got, [2]);
  assert.throws(() => inj.attach(l, () => {}), /consumer/);
  off();
  l.signal();
  assert.equal(got, [2]);
  const s = new ChannelSpace(2).alloc();
  const offS = inj.attach(s, (n) => got.push(n * 10));
  assert.throws(() => inj.attach(s, () => {}), /consumer/);
  s.signal(4);
  assert.is(inj.waitSet.pending, true, 'the idle wait would wake');
  assert.is(inj.poll(), true);
  assert.equal(got, [2, 40]);
  offS();
  s.signal();
  assert.is(inj.poll(), false);
  assert.is(inj.waitSet.pending, false);
});

test('idle CPU thread: a worker signals an irqfd, the injector\'s waitAsync wakes, poll injects', async () => {
  const m = apicMachine();
  m.router.setRoute(30, { kind: 'msi', address: 0xfee00000, data: 0x55 });
  const inj = new Injector();
  const space = new ChannelSpace(4);
  const req = space.alloc(), irq = space.alloc(), stop = space.alloc();
  new Irqfd({ router: m.router, gsi: 30, channel: irq, injector: inj });
  // The echo worker answers each request on `irq`: here, a device raising its interrupt.
  const w = tsWorker(new URL('./echo-worker.ts', import.meta.url), { req: req.descriptor, resp: irq.descriptor, stop: stop.descriptor });
  await new Promise((r) => w.once('message', r));
  for (let i = 0; i < 20; i++) {
    assert.is(inj.poll(), false);
    req.signal();
    assert.is(await inj.waitSet.waitAsync(10_000), true, 'woken by the worker');
    assert.is(inj.poll(), true);
    assert.equal(take(m), [0x55]);
    lapicEoi(m);
  }
  stop.signal();
  await w.terminate();
});

test.run();
