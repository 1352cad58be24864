/** Devices, router and interrupt controllers together, programmed the way Linux programs them. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Pit } from '../../devices/pit.js';
import { Rtc } from '../../devices/rtc.js';
import { Uart16550 } from '../../devices/uart16550.js';
import { advance, initPicLinux, ioapicWrite, lapicWrite, machine, type TestMachine } from './helpers.js';

function platform() {
  const m = machine();
  const pit = new Pit(m.io, m.clock, { irq0: (l) => m.router.setLevel(0, l) });
  const rtc = new Rtc(m.io, m.clock, { irq: (l) => m.router.setLevel(8, l), epochSeconds: 1.7e9, ramSize: 128 << 20 });
  const tx: number[] = [];
  const uart = new Uart16550(m.io, m.clock, { irq: (l) => m.router.setLevel(4, l), onTransmit: (b) => tx.push(b) });
  return { m, pit, rtc, uart, tx };
}

/** Run guest time in 10 us slices; between slices the "CPU" takes every pending interrupt. */
function run(m: TestMachine, ns: number, handler: (vector: number) => void): void {
  for (let t = 0; t < ns; t += 10_000) {
    advance(m.clock, Math.min(10_000, ns - t));
    while (m.lapic.hasInterrupt()) handler(m.lapic.acknowledge());
  }
}

function linuxIoApicMode(m: TestMachine): void {
  initPicLinux(m.io); // every 8259 input masked
  lapicWrite(m, 0xf0, 0x1ff);
  lapicWrite(m, 0x350, 0x10700); // LINT0 ExtINT masked: the IOAPIC is in charge
  lapicWrite(m, 0x360, 0x400); // LINT1 NMI
}

test('PIT HZ=100 through IOAPIC pin 2 (MP override) reaches the local APIC 100 times a second', () => {
  const { m } = platform();
  linuxIoApicMode(m);
  ioapicWrite(m, 0x15, 0); ioapicWrite(m, 0x14, 0x30); // pin 2: vector 0x30, edge, fixed, dest 0
  m.io.write(0x43, 1, 0x34); m.io.write(0x40, 1, 11932 & 0xff); m.io.write(0x40, 1, 11932 >> 8);
  let ticks = 0;
  run(m, 1e9, (v) => { assert.is(v, 0x30); ticks++; lapicWrite(m, 0xb0, 0); });
  assert.is(ticks, Math.floor((1193182 - 1) / 11932), 'one per 11932 PIT clocks');
});

test('virtual wire: PIT through the 8259 and LINT0 ExtINT before the APIC is set up', () => {
  const { m } = platform();
  initPicLinux(m.io);
  m.io.write(0x21, 1, 0xfe);
  m.io.write(0x43, 1, 0x34); m.io.write(0x40, 1, 11932 & 0xff); m.io.write(0x40, 1, 11932 >> 8);
  let ticks = 0;
  run(m, 0.5e9, (v) => { assert.is(v, 0x30); ticks++; m.io.write(0x20, 1, 0x20); });
  assert.is(ticks, Math.floor((596591 - 1) / 11932));
});

test('RTC periodic interrupt at 1024 Hz through IOAPIC pin 8', () => {
  const { m } = platform();
  linuxIoApicMode(m);
  ioapicWrite(m, 0x21, 0); ioapicWrite(m, 0x20, 0x38);
  m.io.write(0x70, 1, 0x0b); m.io.write(0x71, 1, 0x42); // PIE, 24h
  let ticks = 0;
  run(m, 1e9, (v) => {
    assert.is(v, 0x38);
    ticks++;
    m.io.write(0x70, 1, 0x0c); m.io.read(0x71, 1); // acknowledge in the RTC
    lapicWrite(m, 0xb0, 0);
  });
  assert.is(ticks, 1024);
});

test('serial console: THRE interrupts through IOAPIC pin 4 drive transmission', () => {
  const { m, tx } = platform();
  linuxIoApicMode(m);
  ioapicWrite(m, 0x19, 0); ioapicWrite(m, 0x18, 0x34);
  const io = m.io;
  io.write(0x3fb, 1, 0x83); io.write(0x3f8, 1, 1); io.write(0x3f9, 1, 0); io.write(0x3fb, 1, 0x03);
  io.write(0x3fa, 1, 0x81);
  io.write(0x3fc, 1, 0x0b);
  const message = [...'login: '].map((c) => c.charCodeAt(0));
  let next = 0;
  io.write(0x3f9, 1, 0x03); // RDA + THRE
  run(m, 1e6, (v) => {
    assert.is(v, 0x34);
    for (let iir = io.read(0x3fa, 1); (iir & 1) === 0; iir = io.read(0x3fa, 1)) {
      if ((iir & 0x0e) === 0x02) {
        if (next < message.length) io.write(0x3f8, 1, message[next++]!);
        else io.write(0x3f9, 1, 0x01); // nothing left: stop TX interrupts
      }
    }
    lapicWrite(m, 0xb0, 0);
  });
  assert.equal(tx, message);
});

test('level-triggered PCI INTx on pin 16 with an EOI resampler (irqfd resample semantics)', () => {
  const { m } = platform();
  linuxIoApicMode(m);
  ioapicWrite(m, 0x31, 0); ioapicWrite(m, 0x30, 0xa000 | 0x41); // level, active low
  let deviceWork = 3;
  // The device keeps the line asserted while it has work; on EOI the line is resampled.
  m.router.addEoiListener(16, () => { m.router.setLevel(16, false); if (deviceWork > 0) m.router.setLevel(16, true); });
  m.router.setLevel(16, true);
  let handled = 0;
  run(m, 1e5, (v) => { assert.is(v, 0x41); handled++; deviceWork--; lapicWrite(m, 0xb0, 0); });
  assert.is(handled, 3);
});

test.run();
