import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IoBus } from '../../bus/io.js';
import { Rtc } from '../../devices/rtc.js';
import { advance, virtualClock } from '../irqchip/helpers.js';

const LEAP_EVE = Date.UTC(2024, 1, 29, 23, 59, 58) / 1000; // Thursday 2024-02-29 23:59:58 UTC

function setup(epochSeconds = LEAP_EVE, ramSize = 128 << 20) {
  const io = new IoBus();
  const clock = virtualClock();
  const irqs: { level: boolean; ns: number }[] = [];
  const rtc = new Rtc(io, clock, { irq: (level) => irqs.push({ level, ns: clock.now() }), epochSeconds, ramSize });
  const rd = (i: number) => { io.write(0x70, 1, i); return io.read(0x71, 1); };
  const wr = (i: number, v: number) => { io.write(0x70, 1, i); io.write(0x71, 1, v); };
  return { io, clock, rtc, irqs, rd, wr };
}

test('time and date registers in BCD, 24-hour mode (power-on register B = 02h)', () => {
  const { rd, clock } = setup();
  assert.equal([0, 2, 4, 6, 7, 8, 9].map(rd), [0x58, 0x59, 0x23, 0x05, 0x29, 0x02, 0x24]);
  assert.is(rd(0x32), 0x20, 'century byte');
  advance(clock, 2e9);
  assert.equal([0, 2, 4, 6, 7, 8, 9].map(rd), [0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x24], 'Friday 2024-03-01 00:00:00');
});

test('binary and 12-hour modes (register B DM and 24/12 bits)', () => {
  const { rd, wr, clock } = setup();
  wr(0x0b, 0x04); // binary, 12-hour
  assert.is(rd(4), 0x80 | 11, '23h is 11 PM');
  assert.is(rd(0), 58);
  advance(clock, 2e9);
  assert.is(rd(4), 12, 'midnight is 12 AM');
  wr(0x0b, 0x00); // BCD, 12-hour
  wr(4, 0x81); // 1 PM
  assert.is(rd(4), 0x81);
  wr(0x0b, 0x02);
  assert.is(rd(4), 0x13);
});

test('register A rate select 6: periodic interrupt at 1024 Hz', () => {
  const { rd, wr, clock, irqs } = setup();
  wr(0x0b, 0x02 | 0x40); // PIE
  let count = 0;
  const handler = () => { count++; rd(0x0c); };
  const start = irqs.length;
  for (let i = 0; i < 1024 * 2; i++) {
    advance(clock, 1e9 / 1024 / 2);
    if (irqs.length > start && irqs[irqs.length - 1]!.level) handler();
  }
  assert.is(count, 1024);
  const rises = irqs.filter((e) => e.level).map((e) => e.ns);
  assert.is(rises[1]! - rises[0]!, 976562.5, 'period 976.5625 us');
});

test('rate select table: RS 3 = 122.070 us, RS 15 = 500 ms, RS 1 = 3.90625 ms', () => {
  for (const [rs, periodNs] of [[3, 122070.3125], [15, 500e6], [1, 3906250], [2, 7812500]] as const) {
    const { rd, wr, clock, irqs } = setup();
    wr(0x0a, 0x20 | rs);
    wr(0x0b, 0x02 | 0x40);
    advance(clock, periodNs * 3);
    const rises = irqs.filter((e) => e.level).map((e) => e.ns);
    assert.is(rises[0], periodNs, `RS ${rs}`);
    rd(0x0c);
    advance(clock, periodNs);
    assert.is(irqs.filter((e) => e.level).length, 2, 'IRQ 8 rises again after register C was read');
  }
});

test('register C: flags set without their enable are visible but do not interrupt; reading clears', () => {
  const { rd, clock, irqs } = setup();
  advance(clock, 1e9); // one update cycle and many 1024 Hz periods
  assert.is(irqs.length, 0);
  assert.is(rd(0x0c), 0x40 | 0x10, 'PF and UF, no IRQF');
  assert.is(rd(0x0c), 0x00);
});

test('update-ended interrupt once per second; register C reads 90h and releases IRQ 8', () => {
  const { rd, wr, clock, irqs } = setup(LEAP_EVE + 0.25);
  wr(0x0b, 0x02 | 0x10);
  advance(clock, 0.75e9 - 1);
  assert.is(irqs.length, 0);
  advance(clock, 1);
  assert.equal(irqs, [{ level: true, ns: 0.75e9 }]);
  assert.is(rd(0), 0x59);
  assert.is(rd(0x0c) & 0xb0, 0x90, 'IRQF and UF (PF also runs, unenabled)');
  assert.equal(irqs[1], { level: false, ns: 0.75e9 });
});

test('alarm interrupt: exact time, and the don\'t-care (C0h-FFh) codes', () => {
  const { rd, wr, clock, irqs } = setup();
  wr(1, 0x03); wr(3, 0x00); wr(5, 0x00); // 00:00:03
  wr(0x0b, 0x02 | 0x20);
  advance(clock, 4e9);
  assert.is(irqs.length, 0);
  advance(clock, 1e9);
  assert.equal(irqs, [{ level: true, ns: 5e9 }], '23:59:58 + 5 s');
  assert.is(rd(0x0c), 0x80 | 0x20 | 0x10 | 0x40);
  wr(1, 0x10); wr(3, 0xc0); wr(5, 0xff); // second 10 of every minute
  advance(clock, 120e9);
  assert.is(irqs.filter((e) => e.level).length, 2, 'first match at 00:00:10 (not yet read again)');
});

test('SET inhibits updates and clears UIE; time written with SET resumes one second later', () => {
  const { rd, wr, clock } = setup();
  wr(0x0b, 0x02 | 0x10);
  wr(0x0b, 0x80 | 0x02 | 0x10);
  assert.is(rd(0x0b), 0x82, 'UIE cleared by SET');
  wr(0, 0x30); wr(2, 0x15); wr(4, 0x08); wr(7, 0x15); wr(8, 0x06); wr(9, 0x31);
  advance(clock, 5e9);
  assert.equal([0, 2, 4, 7, 8, 9].map(rd), [0x30, 0x15, 0x08, 0x15, 0x06, 0x31], 'frozen');
  wr(0x0b, 0x02);
  advance(clock, 1e9 - 1);
  assert.is(rd(0), 0x30);
  advance(clock, 1);
  assert.is(rd(0), 0x31);
  assert.is(rd(6), 0x00 + 1 + ((Math.floor(Date.UTC(2031, 5, 15) / 86400000) + 4) % 7), 'weekday follows the date');
});

test('divider reset: first update half a second after leaving reset', () => {
  const { rd, wr, clock } = setup();
  wr(0x0a, 0x70 | 0x06);
  advance(clock, 3e9);
  assert.is(rd(0), 0x58);
  wr(0x0a, 0x26);
  advance(clock, 0.5e9 - 1);
  assert.is(rd(0), 0x58);
  advance(clock, 1);
  assert.is(rd(0), 0x59);
});

test('UIP is set during the 2228 us before each update, never otherwise', () => {
  const { rd, clock } = setup();
  advance(clock, 1e9 - 2_228_000 - 1);
  assert.is(rd(0x0a) & 0x80, 0);
  advance(clock, 1);
  assert.is(rd(0x0a), 0x80 | 0x26);
  advance(clock, 2_228_000 - 1);
  assert.is(rd(0x0a) & 0x80, 0x80);
  advance(clock, 1);
  assert.is(rd(0x0a), 0x26);
});

test('register D reads VRT; C and D are read-only', () => {
  const { rd, wr } = setup();
  assert.is(rd(0x0d), 0x80);
  wr(0x0d, 0); wr(0x0c, 0xff);
  assert.is(rd(0x0d), 0x80);
  assert.is(rd(0x0c) & 0x80, 0);
});

test('CMOS memory size bytes for 32 MiB, 128 MiB and 1 GiB, and the AT checksum', () => {
  const { rd } = setup(LEAP_EVE, 32 << 20);
  assert.equal([0x15, 0x16].map(rd), [0x80, 0x02], '640 KiB base');
  assert.equal([0x17, 0x18, 0x30, 0x31].map(rd), [0x00, 0x7c, 0x00, 0x7c], '31 MiB = 31744 KiB extended');
  assert.equal([0x34, 0x35].map(rd), [0x00, 0x01], '16 MiB above 16 MiB = 256 x 64 KiB');
  const mid = setup(LEAP_EVE, 128 << 20);
  assert.equal([0x17, 0x18].map(mid.rd), [0xff, 0xff], '130048 KiB is capped at 65535');
  assert.equal([0x34, 0x35].map(mid.rd), [0x00, 0x07], '112 MiB above 16 MiB = 1792 x 64 KiB');
  assert.equal([0x5b, 0x5c, 0x5d].map(rd), [0, 0, 0]);
  let sum = 0;
  for (let i = 0x10; i <= 0x2d; i++) sum += rd(i);
  assert.is((rd(0x2e) << 8) | rd(0x2f), sum);
  const big = setup(LEAP_EVE, 1 << 30);
  assert.equal([0x17, 0x18].map(big.rd), [0xff, 0xff], 'capped at 65535 KiB');
  assert.equal([0x34, 0x35].map(big.rd), [0x00, 0x3f], '1008 MiB above 16 MiB = 0x3F00 x 64 KiB');
});

test('port 0x70 bit 7 masks NMI; CMOS RAM keeps what is written', () => {
  const { io, rtc, rd, wr } = setup();
  io.write(0x70, 1, 0x80 | 0x40);
  assert.ok(rtc.nmiMasked);
  io.write(0x71, 1, 0x5a);
  io.write(0x70, 1, 0x40);
  assert.not.ok(rtc.nmiMasked);
  assert.is(io.read(0x71, 1), 0x5a);
  wr(0x7f, 0x11);
  assert.is(rd(0x7f), 0x11);
});

test('guest garbage never throws', () => {
  const { io, clock } = setup();
  let seed = 3;
  const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 8;
  for (let i = 0; i < 20000; i++) {
    if (rnd() & 1) io.write(0x70 + (rnd() & 1), 1, rnd() & 0xff); else io.read(0x70 + (rnd() & 1), 1);
    if ((rnd() & 15) === 0) advance(clock, rnd() % 3e8);
  }
});

test.run();
