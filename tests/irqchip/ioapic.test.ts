import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeMsi } from '../../irqchip/router.js';
import { initPicLinux, ioapicRead, ioapicWrite, lapicRead, lapicWrite, machine, type TestMachine } from './helpers.js';

const EOI = 0xb0;
const LEVEL = 1 << 15, MASKED = 1 << 16, REMOTE_IRR = 1 << 14;

function setup(): TestMachine {
  const m = machine();
  lapicWrite(m, 0xf0, 0x1ff);
  return m;
}
const irrBit = (m: TestMachine, v: number) => (lapicRead(m, 0x200 + (v >>> 5) * 0x10) >>> (v & 31)) & 1;
const redir = (m: TestMachine, pin: number, low: number, high = 0) => {
  ioapicWrite(m, 0x11 + 2 * pin, high);
  ioapicWrite(m, 0x10 + 2 * pin, low);
};
const rteLow = (m: TestMachine, pin: number) => ioapicRead(m, 0x10 + 2 * pin);

test('identification registers (82093AA): ID, version 0x11 with 24 entries, arbitration', () => {
  const m = setup();
  assert.is(ioapicRead(m, 0), 0);
  assert.is(ioapicRead(m, 1), 0x00170011);
  ioapicWrite(m, 0, 0x0f000000 | 0x00ffffff);
  assert.is(ioapicRead(m, 0), 0x0f000000, 'only bits 27:24 are the ID');
  assert.is(ioapicRead(m, 2), 0x0f000000, 'arbitration ID loaded from the ID');
  ioapicWrite(m, 1, 0);
  assert.is(ioapicRead(m, 1), 0x00170011, 'version is read-only');
  m.mem.write(0xfec00000, 1, 0x01);
  assert.is(m.mem.read(0xfec00000, 4), 0x01, 'IOREGSEL reads back');
});

test('redirection entries reset masked; Remote IRR and delivery status are read-only', () => {
  const m = setup();
  for (let pin = 0; pin < 24; pin++) assert.is(rteLow(m, pin) & MASKED, MASKED);
  ioapicWrite(m, 0x10, 0xffffffff);
  assert.is(rteLow(m, 0), 0x1afff);
  ioapicWrite(m, 0x11, 0xffffffff);
  assert.is(ioapicRead(m, 0x11), 0xff000000);
});

test('edge pin: delivered once per rising edge; masked edges are lost', () => {
  const m = setup();
  redir(m, 4, 0x34);
  m.ioapic.setPin(4, true);
  assert.is(irrBit(m, 0x34), 1);
  assert.is(m.lapic.acknowledge(), 0x34);
  m.ioapic.setPin(4, true);
  assert.is(irrBit(m, 0x34), 0, 'no new edge');
  lapicWrite(m, EOI, 0);
  m.ioapic.setPin(4, false);
  redir(m, 4, 0x34 | MASKED);
  m.ioapic.setPin(4, true);
  redir(m, 4, 0x34);
  assert.is(irrBit(m, 0x34), 0, 'edge while masked is not held pending');
});

test('level pin: Remote IRR until EOI, re-delivered at EOI while still asserted', () => {
  const m = setup();
  const broadcasts: number[] = [];
  redir(m, 16, LEVEL | 0x51 | (1 << 13));
  m.ioapic.setPin(16, true);
  assert.is(irrBit(m, 0x51), 1);
  assert.is(rteLow(m, 16) & REMOTE_IRR, REMOTE_IRR);
  assert.is(m.lapic.acknowledge(), 0x51);
  m.ioapic.setPin(16, true);
  assert.is(irrBit(m, 0x51), 0, 'Remote IRR blocks re-delivery');
  lapicWrite(m, EOI, 0); // line still asserted
  assert.is(irrBit(m, 0x51), 1, 're-delivered');
  assert.is(rteLow(m, 16) & REMOTE_IRR, REMOTE_IRR);
  assert.is(m.lapic.acknowledge(), 0x51);
  m.ioapic.setPin(16, false);
  lapicWrite(m, EOI, 0);
  assert.is(rteLow(m, 16) & REMOTE_IRR, 0);
  assert.is(irrBit(m, 0x51), 0);
  assert.equal(broadcasts, []);
});

test('level pin asserted while masked is delivered on unmask', () => {
  const m = setup();
  redir(m, 17, LEVEL | MASKED | 0x61);
  m.ioapic.setPin(17, true);
  assert.is(irrBit(m, 0x61), 0);
  redir(m, 17, LEVEL | 0x61);
  assert.is(irrBit(m, 0x61), 1);
});

test('destination: physical ID must match the local APIC; logical uses LDR', () => {
  const m = setup();
  redir(m, 5, 0x45, 0x01000000);
  m.ioapic.setPin(5, true);
  assert.is(irrBit(m, 0x45), 0);
  lapicWrite(m, 0xd0, 0x01000000);
  redir(m, 6, 0x46 | (1 << 11), 0x01000000);
  m.ioapic.setPin(6, true);
  assert.is(irrBit(m, 0x46), 1);
});

test('NMI delivery mode', () => {
  const m = setup();
  redir(m, 7, 0x400);
  m.ioapic.setPin(7, true);
  assert.is(m.nmis, 1);
});

test('ExtINT through IOAPIC pin 0 runs the PIC INTA cycle', () => {
  const m = setup();
  lapicWrite(m, 0x350, 0x10700); // LINT0 masked, as Linux does when it uses the IOAPIC
  initPicLinux(m.io);
  m.io.write(0x21, 1, 0xfe);
  redir(m, 0, 0x700);
  m.router.setLevel(0, true);
  assert.ok(m.lapic.hasInterrupt());
  assert.is(m.lapic.acknowledge(), 0x30);
  assert.not.ok(m.lapic.hasInterrupt());
});

test('router: ISA IRQ 0 goes to PIC IRQ 0 and IOAPIC pin 2; others identity; 16-23 IOAPIC only', () => {
  const m = setup();
  initPicLinux(m.io); // leaves every 8259 input masked, so its INT output (pin 0) stays low
  redir(m, 2, 0x30);
  redir(m, 0, 0x20);
  m.router.setLevel(0, true);
  assert.is(irrBit(m, 0x30), 1);
  assert.is(irrBit(m, 0x20), 0);
  redir(m, 4, 0x34);
  m.router.setLevel(4, true);
  assert.is(irrBit(m, 0x34), 1);
  assert.equal(m.router.getRoute(2), null);
  assert.equal(m.router.getRoute(19), { kind: 'irqchip', pic: null, ioapic: 19 });
  m.io.write(0x21, 1, 0x00);
  assert.is(irrBit(m, 0x20), 1, 'IOAPIC pin 0 follows the 8259 INT output');
  assert.is(m.pic.acknowledge(), 0x30, 'PIC sees IRQ 0');
  m.io.write(0x20, 1, 0x20);
  assert.is(m.pic.acknowledge(), 0x34, 'and IRQ 4');
});

test('router: GSIs sharing a pin are ORed (wired-OR INTx)', () => {
  const m = setup();
  m.router.setRoute(30, { kind: 'irqchip', pic: null, ioapic: 16 });
  redir(m, 16, LEVEL | 0x51);
  m.router.setLevel(16, true);
  m.router.setLevel(30, true);
  m.lapic.acknowledge();
  m.router.setLevel(16, false);
  lapicWrite(m, EOI, 0);
  assert.is(irrBit(m, 0x51), 1, 'pin still asserted by GSI 30');
  m.lapic.acknowledge();
  m.router.setLevel(30, false);
  lapicWrite(m, EOI, 0);
  assert.is(irrBit(m, 0x51), 0);
});

test('router: EOI listeners fire for IOAPIC broadcasts and PIC EOIs of their GSI', () => {
  const m = setup();
  let fired = 0;
  const off = m.router.addEoiListener(16, () => { fired++; m.router.setLevel(16, false); });
  redir(m, 16, LEVEL | 0x51);
  m.router.setLevel(16, true);
  m.lapic.acknowledge();
  lapicWrite(m, EOI, 0);
  assert.is(fired, 1);
  assert.is(irrBit(m, 0x51), 0, 'the resampler lowered the line before Remote IRR was checked');
  let picFired = 0;
  m.router.addEoiListener(0, () => picFired++);
  initPicLinux(m.io);
  m.io.write(0x21, 1, 0xfe);
  m.router.setLevel(0, true);
  m.pic.acknowledge();
  m.io.write(0x20, 1, 0x20);
  assert.is(picFired, 1, 'PIC IRQ 0 maps back to GSI 0');
  off();
  m.router.setLevel(16, true);
  m.lapic.acknowledge();
  lapicWrite(m, EOI, 0);
  assert.is(fired, 1);
});

test('MSI decode follows SDM 10.11.1', () => {
  assert.equal(decodeMsi(0xfee03000 | 0x4, 0xc000 | 0x100 | 0x42), {
    dest: 3, logical: true, mode: 1, vector: 0x42, levelTriggered: true, assert: true,
  });
  assert.is(decodeMsi(0xfed00000, 0x42), null);
});

test('router: MSI routes deliver the message on assertion', () => {
  const m = setup();
  m.router.setRoute(40, { kind: 'msi', address: 0xfee00000, data: 0x0041 });
  m.router.setLevel(40, true);
  assert.is(irrBit(m, 0x41), 1);
  m.router.sendMsi(0xfee01000, 0x42);
  assert.is(irrBit(m, 0x42), 0, 'destination ID 1 is not this APIC');
  m.router.sendMsi(0xfee00000, 0x400);
  assert.is(m.nmis, 1);
  m.router.sendMsi(0xfee00000, 0x8000 | 0x43);
  assert.is(irrBit(m, 0x43), 0, 'level deassert message ignored');
  m.router.sendMsi(0x12345678, 0x44);
  assert.is(irrBit(m, 0x44), 0, 'not an APIC address');
  m.router.setRoute(40, null);
  m.router.setLevel(40, true);
});

test('guest garbage on IOAPIC registers never throws', () => {
  const m = setup();
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0);
  for (let i = 0; i < 20000; i++) {
    const off = rnd() & 0xff, size = ([1, 2, 4] as const)[rnd() % 3]!;
    if (rnd() & 1) m.mem.write(0xfec00000 + off, size, rnd()); else m.mem.read(0xfec00000 + off, size);
    if ((rnd() & 3) === 0) m.router.setLevel(rnd() % 24, (rnd() & 1) === 1);
    if (m.lapic.hasInterrupt()) m.lapic.acknowledge();
    if ((rnd() & 3) === 0) lapicWrite(m, EOI, 0);
  }
});

test.run();
