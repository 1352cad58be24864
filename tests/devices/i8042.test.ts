import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IoBus } from '../../bus/io.js';
import { A20Gate } from '../../devices/a20.js';
import { I8042 } from '../../devices/i8042.js';
import { Port92, PostPort } from '../../devices/port92.js';

function setup() {
  const io = new IoBus();
  const log = { resets: 0, a20: [] as boolean[], irq1: [] as boolean[], irq12: [] as boolean[] };
  const a20 = new A20Gate((on) => log.a20.push(on));
  const kbc = new I8042(io, { irq1: (l) => log.irq1.push(l), irq12: (l) => log.irq12.push(l), onReset: () => log.resets++, a20 });
  const port92 = new Port92(io, { onReset: () => log.resets++, a20 });
  const status = () => io.read(0x64, 1);
  const cmd = (c: number) => io.write(0x64, 1, c);
  const data = () => io.read(0x60, 1);
  const send = (v: number) => io.write(0x60, 1, v);
  return { io, kbc, port92, a20, log, status, cmd, data, send };
}

test('status register: power-on shows system flag, unlocked, output buffer empty', () => {
  const { status, cmd } = setup();
  assert.is(status(), 0x14);
  cmd(0xad);
  assert.is(status() & 0x08, 0x08, 'A2: last write went to the command port');
});

test('controller self-test (AAh -> 55h) and interface tests (ABh, A9h -> 00h)', () => {
  const { status, cmd, data } = setup();
  cmd(0xaa);
  assert.is(status() & 0x01, 1);
  assert.is(data(), 0x55);
  assert.is(status() & 0x01, 0);
  cmd(0xab);
  assert.is(data(), 0x00);
  cmd(0xa9);
  assert.is(data(), 0x00);
});

test('read and write the command byte (20h / 60h), as Linux i8042_controller_init does', () => {
  const { cmd, data, send, status } = setup();
  cmd(0x20);
  assert.is(data(), 0x45, 'translate, system flag, keyboard interrupt');
  cmd(0x60);
  send(0x74);
  cmd(0x20);
  assert.is(data(), 0x74);
  cmd(0x60);
  send(0x00);
  assert.is(status() & 0x04, 0, 'system flag follows the command byte');
  cmd(0xa7);
  cmd(0x20);
  assert.is(data() & 0x20, 0x20, 'A7h disables the auxiliary port');
  cmd(0xa8);
  cmd(0x20);
  assert.is(data() & 0x20, 0);
});

test('IRQ 1 follows the keyboard output buffer; each byte is a new edge', () => {
  const { kbc, data, log } = setup();
  kbc.keyboardInput([0x1e, 0x9e]);
  assert.equal(log.irq1, [true]);
  assert.is(data(), 0x1e);
  assert.equal(log.irq1, [true, false, true]);
  assert.is(data(), 0x9e);
  assert.equal(log.irq1, [true, false, true, false]);
  assert.is(data(), 0x9e, 'an empty buffer reads the last byte');
});

test('keyboard commands: reset (FFh -> FAh AAh), identify (F2h -> FAh ABh 83h), echo, LEDs', () => {
  const { send, data, status } = setup();
  const drain = () => { const r: number[] = []; while (status() & 1) r.push(data()); return r; };
  send(0xff);
  assert.equal(drain(), [0xfa, 0xaa]);
  send(0xf2);
  assert.equal(drain(), [0xfa, 0xab, 0x83]);
  send(0xee);
  assert.equal(drain(), [0xee]);
  send(0xed); send(0x07);
  assert.equal(drain(), [0xfa, 0xfa]);
  send(0xf0); send(0x00);
  assert.equal(drain(), [0xfa, 0xfa, 0x02], 'current scancode set');
  send(0xf5);
  assert.equal(drain(), [0xfa]);
});

test('a disabled keyboard port holds keyboard bytes; controller replies still go out', () => {
  const { kbc, cmd, data, status } = setup();
  cmd(0xad);
  kbc.keyboardInput([0x10]);
  assert.is(status() & 1, 0);
  cmd(0x20);
  assert.is(data() & 0x10, 0x10);
  cmd(0xae);
  assert.is(data(), 0x10);
});

test('auxiliary port: D3h loops a byte back as mouse data with IRQ 12; D4h finds no device', () => {
  const { cmd, send, data, status, log } = setup();
  cmd(0x60); send(0x47); // enable the aux interrupt
  cmd(0xd3); send(0x5a);
  assert.is(status() & 0x21, 0x21, 'OBF with AUXB');
  assert.equal(log.irq12, [true]);
  assert.is(data(), 0x5a);
  cmd(0xd4); send(0xf2);
  assert.is(status() & 0x61, 0x61, 'timeout: nothing attached');
  assert.is(data(), 0xfe);
});

test('D2h writes the keyboard output buffer', () => {
  const { cmd, send, data, status } = setup();
  cmd(0xd2); send(0x99);
  assert.is(status() & 0x21, 0x01);
  assert.is(data(), 0x99);
});

test('pulse reset (FEh) and output port bit 0 reset the system; FFh pulses nothing', () => {
  const { cmd, send, log, data } = setup();
  cmd(0xff);
  assert.is(log.resets, 0);
  cmd(0xfe);
  assert.is(log.resets, 1);
  cmd(0xd0);
  const out = data();
  assert.is(out & 0x03, 0x03, 'reset line inactive, A20 on');
  cmd(0xd1); send(out & ~1);
  assert.is(log.resets, 2);
});

test('A20 through the output port (D1h, DDh/DFh) and port 0x92; the gate ORs both', () => {
  const { cmd, send, io, a20, log } = setup();
  assert.ok(a20.enabled);
  cmd(0xd1); send(0xcd); // A20 off, reset line inactive
  assert.not.ok(a20.enabled);
  io.write(0x92, 1, 0x02);
  assert.ok(a20.enabled);
  assert.is(io.read(0x92, 1), 0x02);
  cmd(0xdf);
  io.write(0x92, 1, 0x00);
  assert.ok(a20.enabled, 'still on through the keyboard controller');
  cmd(0xdd);
  assert.not.ok(a20.enabled);
  assert.equal(log.a20, [false, true, false]);
  assert.is(log.resets, 0);
});

test('port 0x92 bit 0: a 0->1 transition is a fast reset', () => {
  const { io, log } = setup();
  io.write(0x92, 1, 0x01);
  io.write(0x92, 1, 0x01);
  assert.is(log.resets, 1);
  io.write(0x92, 1, 0x00);
  io.write(0x92, 1, 0x03);
  assert.is(log.resets, 2);
});

test('port 0x80 reports POST codes and reads back the last one', () => {
  const io = new IoBus();
  const codes: number[] = [];
  new PostPort(io, (c) => codes.push(c));
  io.write(0x80, 1, 0x12);
  io.write(0x80, 1, 0xab);
  assert.equal(codes, [0x12, 0xab]);
  assert.is(io.read(0x80, 1), 0xab);
});

test('guest garbage never throws', () => {
  const { io, kbc } = setup();
  let seed = 17;
  const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 8;
  for (let i = 0; i < 20000; i++) {
    const p = [0x60, 0x64, 0x92][rnd() % 3]!;
    if (rnd() & 1) io.write(p, 1, rnd() & 0xff); else io.read(p, 1);
    if ((rnd() & 31) === 0) kbc.keyboardInput([rnd() & 0xff]);
  }
});

test.run();
