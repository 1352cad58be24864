import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IoBus } from '../../bus/io.js';
import { Pit } from '../../devices/pit.js';
import { advance, virtualClock } from '../irqchip/helpers.js';

const HZ = 1193182;
/** Guest ns at which the PIT input clock has ticked `t` times (first instant, datasheet clock = 1.193182 MHz). */
const nsOfTick = (t: number) => Math.ceil(t * 1e9 / HZ);

function setup() {
  const io = new IoBus();
  const clock = virtualClock();
  const edges: { level: boolean; ns: number }[] = [];
  const pit = new Pit(io, clock, { irq0: (level) => edges.push({ level, ns: clock.now() }) });
  edges.length = 0;
  return { io, clock, pit, edges };
}
const rising = (edges: { level: boolean; ns: number }[]) => edges.filter((e) => e.level).map((e) => e.ns);

test('mode 2 rate generator (Linux HZ=100, LATCH 11932): IRQ 0 rises every N clocks after one low clock', () => {
  const { io, clock, edges } = setup();
  io.write(0x43, 1, 0x34); // channel 0, lobyte/hibyte, mode 2, binary
  io.write(0x40, 1, 11932 & 0xff);
  io.write(0x40, 1, 11932 >> 8); // written at tick 0: loaded on clock 1
  advance(clock, 1e9);
  // Datasheet: OUT goes low when the count reaches 1 (N clocks after the write) and high one
  // clock later when the count is reloaded.
  const r = rising(edges);
  assert.is(r.length, Math.floor((HZ - 1) / 11932));
  for (let k = 1; k <= r.length; k++) assert.is(r[k - 1], nsOfTick(1 + 11932 * k), `rising edge ${k}`);
  const falls = edges.filter((e) => !e.level).map((e) => e.ns);
  assert.is(falls[0], nsOfTick(11932));
});

test('mode 2 counter reads N..1 and the latch command freezes the read value', () => {
  const { io, clock } = setup();
  io.write(0x43, 1, 0x34);
  io.write(0x40, 1, 0x00);
  io.write(0x40, 1, 0x10); // 4096
  advance(clock, nsOfTick(101));
  io.write(0x43, 1, 0x00); // latch channel 0
  advance(clock, nsOfTick(200) - clock.now());
  const lo = io.read(0x40, 1), hi = io.read(0x40, 1);
  assert.is(lo | (hi << 8), 4096 - 100, 'loaded on clock 1, 100 clocks counted');
  const lo2 = io.read(0x40, 1), hi2 = io.read(0x40, 1);
  assert.is(lo2 | (hi2 << 8), 4096 - 199, 'after the latch is read, reads are live');
  advance(clock, nsOfTick(1 + 4096 + 5) - clock.now());
  io.write(0x43, 1, 0x00);
  assert.is(io.read(0x40, 1) | (io.read(0x40, 1) << 8), 4096 - 5, 'reloaded after a period');
});

test('mode 0: OUT rises N+1 clocks after the count is written and stays high', () => {
  const { io, clock, edges } = setup();
  io.write(0x43, 1, 0x30);
  assert.equal(edges.map((e) => e.level), [false], 'control word sets OUT low in mode 0');
  io.write(0x40, 1, 1000 & 0xff);
  io.write(0x40, 1, 1000 >> 8);
  advance(clock, 10_000_000);
  assert.equal(rising(edges), [nsOfTick(1001)]);
  io.write(0x43, 1, 0x00);
  const c = io.read(0x40, 1) | (io.read(0x40, 1) << 8);
  assert.is(c, (1000 - (Math.floor(10_000_000 * HZ / 1e9) - 1) + 0x10000 * 100) % 0x10000, 'counter wraps and keeps counting');
});

test('mode 0 rewrite: the first byte stops counting, the second reloads', () => {
  const { io, clock, edges } = setup();
  io.write(0x43, 1, 0x30);
  io.write(0x40, 1, 100); io.write(0x40, 1, 0);
  advance(clock, nsOfTick(50));
  io.write(0x40, 1, 200);
  advance(clock, nsOfTick(500) - clock.now());
  assert.equal(rising(edges), [], 'stopped');
  io.write(0x40, 1, 0);
  const t = Math.floor(clock.now() * HZ / 1e9);
  advance(clock, 1e6);
  assert.equal(rising(edges), [nsOfTick(t + 201)]);
});

test('mode 3 square wave: even count high N/2 low N/2; odd count high (N+1)/2 low (N-1)/2', () => {
  for (const n of [4, 5, 1000, 1001]) {
    const { io, clock, edges } = setup();
    io.write(0x43, 1, 0x36);
    io.write(0x40, 1, n & 0xff); io.write(0x40, 1, n >> 8);
    advance(clock, nsOfTick(1 + 3 * n));
    const hi = (n + 1) >> 1;
    assert.equal(edges, [
      { level: false, ns: nsOfTick(1 + hi) }, { level: true, ns: nsOfTick(1 + n) },
      { level: false, ns: nsOfTick(1 + n + hi) }, { level: true, ns: nsOfTick(1 + 2 * n) },
      { level: false, ns: nsOfTick(1 + 2 * n + hi) }, { level: true, ns: nsOfTick(1 + 3 * n) },
    ], `count ${n}`);
  }
});

test('mode 3 counter decrements by two', () => {
  const { io, clock } = setup();
  io.write(0x43, 1, 0x36);
  io.write(0x40, 1, 100); io.write(0x40, 1, 0);
  advance(clock, nsOfTick(1 + 10));
  const read = () => { io.write(0x43, 1, 0x00); return io.read(0x40, 1) | (io.read(0x40, 1) << 8); };
  assert.is(read(), 80);
  advance(clock, nsOfTick(1 + 60) - clock.now());
  assert.is(read(), 100 - 2 * 10, 'second half cycle restarts from N');
});

test('read-back command: status byte (OUT, NULL COUNT, RW, mode, BCD) and count', () => {
  const { io, clock } = setup();
  io.write(0x43, 1, 0x34);
  io.write(0x43, 1, 0xe2); // read-back status of channel 0
  assert.is(io.read(0x40, 1), 0x80 | 0x40 | 0x34, 'OUT high, null count until loaded');
  io.write(0x40, 1, 0x00); io.write(0x40, 1, 0x01);
  advance(clock, nsOfTick(3));
  io.write(0x43, 1, 0xc2); // count and status
  assert.is(io.read(0x40, 1), 0x80 | 0x34, 'count loaded: NULL COUNT clear');
  assert.is(io.read(0x40, 1) | (io.read(0x40, 1) << 8), 256 - 2);
});

test('lobyte-only and hibyte-only access modes', () => {
  const { io, clock } = setup();
  io.write(0x43, 1, 0x90); // channel 2, LSB only, mode 0
  io.write(0x42, 1, 0x80);
  io.write(0x61, 1, 0x01); // gate on
  advance(clock, nsOfTick(20));
  io.write(0x43, 1, 0x80);
  assert.is(io.read(0x42, 1), 0x80 - 19);
  io.write(0x43, 1, 0xa0); // channel 2, MSB only, mode 0
  io.write(0x42, 1, 0x02); // count 0x200
  advance(clock, nsOfTick(20 + 0x80) - clock.now()); // loaded at clock 21: count 0x181
  assert.is(io.read(0x42, 1), 0x01, 'MSB of a count between 0x100 and 0x1ff');
});

test('BCD counting: count written and read as decimal digits', () => {
  const { io, clock } = setup();
  io.write(0x43, 1, 0x31); // mode 0, BCD
  io.write(0x40, 1, 0x34); io.write(0x40, 1, 0x12); // 1234 decimal
  advance(clock, nsOfTick(1 + 35));
  io.write(0x43, 1, 0x00);
  assert.is(io.read(0x40, 1) | (io.read(0x40, 1) << 8), 0x1199);
});

test('port 0x61: gate 2 controls channel 2 (Linux PIT calibration), OUT2 in bit 5', () => {
  const { io, clock } = setup();
  io.write(0x61, 1, (io.read(0x61, 1) & ~0x02) | 0x01);
  io.write(0x43, 1, 0xb0); // channel 2, lobyte/hibyte, mode 0
  io.write(0x42, 1, 0xff); io.write(0x42, 1, 0xff);
  assert.is(io.read(0x61, 1) & 0x20, 0, 'OUT2 low in mode 0');
  const t0 = Math.floor(clock.now() * HZ / 1e9);
  advance(clock, 1_000_000); // 1 ms = 1193 clocks
  const elapsed = Math.floor(clock.now() * HZ / 1e9) - (t0 + 1);
  const msb = () => { io.read(0x42, 1); return io.read(0x42, 1); };
  assert.is(msb(), (0xffff - elapsed) >> 8);
  io.write(0x61, 1, 0x00); // gate off: count holds
  io.write(0x43, 1, 0x80);
  const held = io.read(0x42, 1) | (io.read(0x42, 1) << 8);
  advance(clock, 1_000_000);
  io.write(0x43, 1, 0x80);
  assert.is(io.read(0x42, 1) | (io.read(0x42, 1) << 8), held);
  io.write(0x61, 1, 0x01);
  advance(clock, nsOfTick(held + 2) + 1);
  assert.is(io.read(0x61, 1) & 0x21, 0x21, 'terminal count: OUT2 high');
});

test('port 0x61 bit 4 toggles with refresh every 15.085 us', () => {
  const { io, clock } = setup();
  const a = io.read(0x61, 1) & 0x10;
  advance(clock, 15085);
  const b = io.read(0x61, 1) & 0x10;
  advance(clock, 15085);
  assert.is.not(a, b);
  assert.is(io.read(0x61, 1) & 0x10, a);
});

test('power-on: channel 0 in mode 3 with count 65536 (about 18.2 Hz)', () => {
  const { clock, edges } = setup();
  advance(clock, 1e9);
  assert.is(rising(edges).length, 18);
});

test('guest garbage never throws or schedules a timer in the past', () => {
  const { io, clock } = setup();
  let seed = 5;
  const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 8;
  for (let i = 0; i < 20000; i++) {
    const port = [0x40, 0x41, 0x42, 0x43, 0x61][rnd() % 5]!;
    if (rnd() & 1) io.write(port, 1, rnd() & 0xff); else io.read(port, 1);
    if ((rnd() & 7) === 0) advance(clock, rnd() % 100000);
    assert.ok(clock.nextDeadline() >= clock.now() || clock.nextDeadline() === Infinity);
  }
});

test.run();
