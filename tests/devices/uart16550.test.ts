import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IoBus } from '../../bus/io.js';
import { Uart16550 } from '../../devices/uart16550.js';
import { advance, virtualClock } from '../irqchip/helpers.js';

const RBR = 0, IER = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7;

function setup() {
  const io = new IoBus();
  const clock = virtualClock();
  const sent: number[] = [];
  const irq = { level: false, edges: 0 };
  const uart = new Uart16550(io, clock, { irq: (l) => { irq.level = l; if (l) irq.edges++; }, onTransmit: (b) => sent.push(b) });
  const rd = (r: number) => io.read(0x3f8 + r, 1);
  const wr = (r: number, v: number) => io.write(0x3f8 + r, 1, v);
  return { io, clock, uart, sent, irq, rd, wr };
}

/** What Linux's serial8250 set_termios does for 115200 8N1 with FIFO trigger 8. */
function linuxSetup(wr: (r: number, v: number) => void) {
  wr(LCR, 0x83); wr(0, 1); wr(1, 0); wr(LCR, 0x03);
  wr(FCR, 0x01 | 0x80);
  wr(MCR, 0x0b); // DTR, RTS, OUT2
}

test('reset values (PC16550D table)', () => {
  const { rd } = setup();
  assert.equal([IER, IIR, LCR, MCR, LSR].map(rd), [0x00, 0x01, 0x00, 0x00, 0x60]);
  assert.is(rd(MSR), 0xb0, 'CTS, DSR, DCD from the attached peer, no deltas');
});

test('divisor latch behind DLAB; scratch register', () => {
  const { rd, wr } = setup();
  wr(LCR, 0x83); wr(0, 0x34); wr(1, 0x12);
  assert.is(rd(0), 0x34); assert.is(rd(1), 0x12);
  wr(LCR, 0x03);
  assert.is(rd(IER), 0);
  wr(SCR, 0xa5);
  assert.is(rd(SCR), 0xa5);
});

test('Linux probe: IER holds 0x0F; loopback maps MCR outputs to MSR inputs (MCR 1Ah -> MSR 90h)', () => {
  const { rd, wr } = setup();
  wr(IER, 0x0f);
  assert.is(rd(IER), 0x0f);
  wr(IER, 0xff);
  assert.is(rd(IER), 0x0f, 'upper bits are zero');
  wr(IER, 0);
  wr(MCR, 0x1a);
  assert.is(rd(MSR) & 0xf0, 0x90);
  wr(MCR, 0x1f);
  assert.is(rd(MSR) & 0xf0, 0xf0);
  wr(FCR, 0x01);
  assert.is(rd(IIR) >> 6, 3, 'FIFOs enabled: 16550A');
});

test('loopback: transmitted bytes come back through the receiver, nothing leaves', () => {
  const { rd, wr, sent, irq } = setup();
  wr(FCR, 0x07);
  wr(MCR, 0x1b); // loopback + OUT2
  wr(IER, 0x01);
  for (const b of [1, 2, 3, 0xff]) wr(RBR, b);
  assert.equal(sent, []);
  assert.is(rd(LSR) & 0x01, 1);
  assert.not.ok(irq.level, 'OUT2 is forced inactive in loopback: no IRQ on a PC');
  assert.is(rd(IIR), 0xc4, 'the UART itself has RDA pending');
  assert.equal([rd(RBR), rd(RBR), rd(RBR), rd(RBR)], [1, 2, 3, 0xff]);
  assert.is(rd(LSR) & 0x01, 0);
});

test('OUT2 gates the interrupt line', () => {
  const { uart, rd, wr, irq } = setup();
  wr(IER, 0x01);
  uart.receive([0x41]);
  assert.is(rd(IIR), 0x04);
  assert.not.ok(irq.level);
  wr(MCR, 0x08);
  assert.ok(irq.level);
  assert.is(rd(RBR), 0x41);
  assert.not.ok(irq.level);
});

test('THRE interrupt: set when ETBEI is enabled, cleared by reading IIR, set again after a THR write', () => {
  const { rd, wr, irq, sent } = setup();
  wr(MCR, 0x08);
  wr(IER, 0x02);
  assert.ok(irq.level);
  assert.is(rd(IIR), 0x02);
  assert.is(rd(IIR), 0x01);
  assert.not.ok(irq.level);
  wr(RBR, 0x55);
  assert.equal(sent, [0x55]);
  assert.is(rd(LSR) & 0x60, 0x60, 'THRE and TEMT');
  assert.is(rd(IIR), 0x02);
  wr(IER, 0x00); wr(IER, 0x02);
  assert.is(rd(IIR), 0x02, 're-enabling ETBEI re-arms THRE');
});

test('receiver FIFO trigger level 8 and character timeout after 4 character times', () => {
  const { uart, rd, wr, irq, clock } = setup();
  linuxSetup(wr);
  wr(IER, 0x01);
  uart.receive([1, 2, 3, 4, 5, 6, 7]);
  assert.is(rd(IIR), 0xc1, '7 bytes are below the trigger level');
  uart.receive([8]);
  assert.is(rd(IIR), 0xc4);
  assert.ok(irq.level);
  for (let i = 0; i < 6; i++) rd(RBR);
  assert.is(rd(IIR), 0xc1, 'below trigger again');
  // 115200 baud 8N1: 10 bits per character; timeout = 4 characters = 347.2 us.
  const timeout = 4 * 10 / 115200 * 1e9;
  advance(clock, Math.floor(timeout));
  assert.is(rd(IIR), 0xc1);
  advance(clock, 1);
  assert.is(rd(IIR), 0xcc, 'character timeout');
  assert.ok(irq.level);
  assert.is(rd(RBR), 7);
  assert.is(rd(IIR), 0xc1, 'reading a character clears the timeout');
  advance(clock, Math.ceil(timeout));
  assert.is(rd(IIR), 0xcc);
  assert.is(rd(RBR), 8);
  advance(clock, timeout * 2);
  assert.is(rd(IIR), 0xc1, 'no timeout with an empty FIFO');
});

test('character timeout scales with the frame format (7E2 at 9600 baud)', () => {
  const { uart, rd, wr, clock } = setup();
  wr(LCR, 0x80); wr(0, 12); wr(1, 0); wr(LCR, 0x02 | 0x04 | 0x08); // 7 data, 2 stop, parity
  wr(FCR, 0xc1); wr(IER, 0x01);
  uart.receive([0x11]);
  const timeout = 4 * (1 + 7 + 1 + 2) * 12 * 16 / 1843200 * 1e9;
  advance(clock, Math.floor(timeout) - 1);
  assert.is(rd(IIR), 0xc1);
  advance(clock, 2);
  assert.is(rd(IIR), 0xcc);
});

test('overrun in loopback: 17th character is lost, OE reported as line status (highest priority)', () => {
  const { rd, wr } = setup();
  wr(FCR, 0x01);
  wr(MCR, 0x10);
  wr(IER, 0x07);
  for (let i = 0; i < 17; i++) wr(RBR, i);
  assert.is(rd(IIR), 0xc6);
  assert.is(rd(LSR) & 0x03, 0x03, 'DR and OE');
  assert.is(rd(LSR) & 0x02, 0, 'OE clears when LSR is read');
  const got = Array.from({ length: 16 }, () => rd(RBR));
  assert.equal(got, Array.from({ length: 16 }, (_, i) => i));
});

test('non-FIFO (16450) mode: one holding register, overrun overwrites it', () => {
  const { rd, wr, uart } = setup();
  wr(MCR, 0x10);
  wr(RBR, 1); wr(RBR, 2);
  assert.is(rd(IIR) & 0xc0, 0);
  assert.is(rd(LSR) & 0x03, 0x03);
  assert.is(rd(RBR), 2);
  wr(MCR, 0x00);
  uart.receive([7, 8]);
  assert.is(uart.pendingInput, 1);
  assert.is(rd(RBR), 7);
  assert.is(rd(RBR), 8);
});

test('host input is back-pressured: queued beyond the FIFO, delivered in order as the guest reads', () => {
  const { uart, rd, wr } = setup();
  linuxSetup(wr);
  const data = Array.from({ length: 1000 }, (_, i) => (i * 7) & 0xff);
  uart.receive(data.slice(0, 600));
  uart.receive(data.slice(600));
  assert.is(uart.pendingInput, 1000 - 16);
  const got: number[] = [];
  while (rd(LSR) & 1) got.push(rd(RBR));
  assert.equal(got, data);
  assert.is(rd(LSR) & 0x02, 0, 'never an overrun');
  wr(MCR, 0x10);
  uart.receive([1, 2]);
  assert.is(rd(LSR) & 1, 0, 'serial input is disconnected in loopback');
  wr(MCR, 0x00);
  assert.equal([rd(RBR), rd(RBR)], [1, 2]);
});

test('FCR: RX reset empties the FIFO; disabling the FIFO clears it', () => {
  const { uart, rd, wr } = setup();
  wr(FCR, 0x01);
  wr(MCR, 0x10);
  wr(RBR, 1); wr(RBR, 2);
  wr(FCR, 0x03);
  assert.is(rd(LSR) & 1, 0);
  wr(RBR, 3);
  wr(FCR, 0x00);
  assert.is(rd(LSR) & 1, 0);
  assert.is(uart.pendingInput, 0);
});

test('modem status interrupt on delta bits (loopback RTS toggle), cleared by reading MSR', () => {
  const { rd, wr } = setup();
  wr(MCR, 0x10);
  rd(MSR);
  wr(IER, 0x08);
  wr(MCR, 0x12);
  assert.is(rd(IIR), 0x00);
  assert.is(rd(MSR), 0x10 | 0x01, 'CTS with DCTS');
  assert.is(rd(IIR), 0x01);
  wr(MCR, 0x14); // RTS off, OUT1 (RI) on
  assert.is(rd(MSR), 0x40 | 0x01);
  wr(MCR, 0x10); // RI trailing edge
  assert.is(rd(MSR) & 0x0f, 0x04);
});

test('guest garbage never throws', () => {
  const { io, uart, clock } = setup();
  let seed = 11;
  const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 8;
  for (let i = 0; i < 20000; i++) {
    const p = 0x3f8 + (rnd() & 7);
    if (rnd() & 1) io.write(p, 1, rnd() & 0xff); else io.read(p, 1);
    if ((rnd() & 31) === 0) uart.receive([rnd() & 0xff, rnd() & 0xff]);
    if ((rnd() & 15) === 0) advance(clock, rnd() % 1e6);
  }
});

test.run();
