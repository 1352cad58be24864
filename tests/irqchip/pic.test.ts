import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IoBus } from '../../bus/io.js';
import { DualPic } from '../../irqchip/pic.js';
import { initPicLinux } from './helpers.js';

function setup(autoEoi = false) {
  const io = new IoBus();
  const changes: boolean[] = [];
  const eois: number[] = [];
  const pic = new DualPic(io, { onIntrChange: (l) => changes.push(l), onEoi: (irq) => eois.push(irq) });
  initPicLinux(io, autoEoi);
  io.write(0x21, 1, 0x00); // unmask all
  io.write(0xa1, 1, 0x00);
  return { io, pic, changes, eois };
}
const readIsr = (io: IoBus, base: number) => { io.write(base, 1, 0x0b); return io.read(base, 1); };
const readIrr = (io: IoBus, base: number) => { io.write(base, 1, 0x0a); return io.read(base, 1); };

test('power-on state is what PC firmware leaves: vectors 08h/70h, all but the cascade masked', () => {
  const io = new IoBus();
  const pic = new DualPic(io, { onIntrChange: () => {} });
  assert.is(io.read(0x21, 1), 0xfb);
  assert.is(io.read(0xa1, 1), 0xff);
  io.write(0x21, 1, 0xfe);
  pic.setIrq(0, true);
  assert.ok(pic.intr);
  assert.is(pic.acknowledge(), 0x08);
});

test('ICW sequence sets the vector base; IRQ 1 is delivered as base+1 and held in ISR until EOI', () => {
  const { io, pic, eois } = setup();
  pic.setIrq(1, true);
  assert.ok(pic.intr);
  assert.is(readIrr(io, 0x20), 0x02);
  assert.is(pic.acknowledge(), 0x31);
  assert.is(readIsr(io, 0x20), 0x02);
  assert.is(readIrr(io, 0x20), 0x00, 'edge request cleared by INTA');
  assert.not.ok(pic.intr);
  io.write(0x20, 1, 0x20); // non-specific EOI
  assert.is(readIsr(io, 0x20), 0);
  assert.equal(eois, [1]);
});

test('fully nested priority: lower IRQs wait for EOI, higher ones nest', () => {
  const { io, pic } = setup();
  pic.setIrq(3, true);
  pic.setIrq(1, true);
  assert.is(pic.acknowledge(), 0x31);
  assert.not.ok(pic.intr, 'IRQ 3 is blocked while IRQ 1 is in service');
  pic.setIrq(0, true);
  assert.ok(pic.intr, 'IRQ 0 has higher priority');
  assert.is(pic.acknowledge(), 0x30);
  assert.is(readIsr(io, 0x20), 0x03);
  io.write(0x20, 1, 0x20); // clears IRQ 0 (highest in service)
  assert.is(readIsr(io, 0x20), 0x02);
  assert.not.ok(pic.intr);
  io.write(0x20, 1, 0x61); // specific EOI for IRQ 1
  assert.ok(pic.intr);
  assert.is(pic.acknowledge(), 0x33);
});

test('cascade: slave IRQ 10 arrives through master IR2 with the slave vector', () => {
  const { io, pic, eois } = setup();
  pic.setIrq(10, true);
  assert.ok(pic.intr);
  assert.is(pic.acknowledge(), 0x3a);
  assert.is(readIsr(io, 0x20), 0x04, 'master has IR2 in service');
  assert.is(readIsr(io, 0xa0), 0x04, 'slave has IR2 (IRQ 10) in service');
  io.write(0xa0, 1, 0x20);
  io.write(0x20, 1, 0x20);
  assert.is(readIsr(io, 0x20), 0);
  assert.is(readIsr(io, 0xa0), 0);
  assert.equal(eois, [10, 2]);
});

test('a level request withdrawn before INTA gives spurious IRQ 7 without setting ISR', () => {
  const { io, pic } = setup();
  io.write(0x4d0, 1, 0x08); // IRQ 3 level-triggered
  pic.setIrq(3, true);
  assert.ok(pic.intr);
  pic.setIrq(3, false);
  assert.not.ok(pic.intr);
  assert.is(pic.acknowledge(), 0x37);
  assert.is(readIsr(io, 0x20), 0);
});

test('masking between INTR and INTA also gives spurious IRQ 7', () => {
  const { io, pic } = setup();
  pic.setIrq(4, true);
  io.write(0x21, 1, 0x10);
  assert.is(pic.acknowledge(), 0x37);
  assert.is(readIsr(io, 0x20), 0);
});

test('withdrawn slave level request gives spurious IRQ 15, with master IR2 in service', () => {
  const { io, pic } = setup();
  io.write(0x4d1, 1, 0x04); // IRQ 10 level
  pic.setIrq(10, true);
  pic.setIrq(10, false);
  assert.ok(pic.intr, 'master IR2 is edge-latched');
  assert.is(pic.acknowledge(), 0x3f);
  assert.is(readIsr(io, 0xa0), 0);
  assert.is(readIsr(io, 0x20), 0x04);
});

test('level-triggered input re-requests after EOI while still high; edge does not', () => {
  const { io, pic } = setup();
  io.write(0x4d1, 1, 0x08); // IRQ 11 level
  pic.setIrq(11, true);
  assert.is(pic.acknowledge(), 0x3b);
  io.write(0xa0, 1, 0x20); io.write(0x20, 1, 0x20);
  assert.ok(pic.intr, 'still asserted');
  assert.is(pic.acknowledge(), 0x3b);
  pic.setIrq(11, false); // the handler quiets the device before its EOIs
  io.write(0xa0, 1, 0x20); io.write(0x20, 1, 0x20);
  assert.not.ok(pic.intr);
  pic.setIrq(5, true);
  assert.is(pic.acknowledge(), 0x35);
  io.write(0x20, 1, 0x20);
  assert.not.ok(pic.intr, 'edge input stays high without a new edge');
});

test('edge pulse is latched until INTA', () => {
  const { pic } = setup();
  pic.setIrq(6, true);
  pic.setIrq(6, false);
  assert.ok(pic.intr);
  assert.is(pic.acknowledge(), 0x36);
});

test('ELCR: IRQ 0, 1, 2, 8, 13 are edge only', () => {
  const { io } = setup();
  io.write(0x4d0, 1, 0xff);
  io.write(0x4d1, 1, 0xff);
  assert.is(io.read(0x4d0, 1), 0xf8);
  assert.is(io.read(0x4d1, 1), 0xde);
  assert.is(io.read(0x4d0, 2), 0xdef8);
});

test('auto-EOI: ISR is never set', () => {
  const { io, pic, eois } = setup(true);
  pic.setIrq(0, true);
  assert.is(pic.acknowledge(), 0x30);
  assert.is(readIsr(io, 0x20), 0);
  assert.equal(eois, [0]);
  pic.setIrq(0, false);
  pic.setIrq(0, true);
  assert.ok(pic.intr);
});

test('rotate on non-specific EOI makes the serviced IRQ the lowest priority', () => {
  const { io, pic } = setup();
  pic.setIrq(1, true);
  assert.is(pic.acknowledge(), 0x31);
  io.write(0x20, 1, 0xa0); // rotate on non-specific EOI: IRQ 1 lowest, IRQ 2 highest
  pic.setIrq(0, true);
  pic.setIrq(1, false); pic.setIrq(1, true);
  pic.setIrq(3, true);
  assert.is(pic.acknowledge(), 0x33, 'order is now 2,3,..,7,0,1');
  io.write(0x20, 1, 0x63); // specific EOI 3 (no rotation)
  assert.is(pic.acknowledge(), 0x30);
  io.write(0x20, 1, 0x60);
  assert.is(pic.acknowledge(), 0x31);
});

test('set priority command (OCW2 0xC0|n) makes IRQ n the lowest', () => {
  const { io, pic } = setup();
  io.write(0x20, 1, 0xc4); // IRQ 4 lowest: 5 highest
  pic.setIrq(4, true);
  pic.setIrq(5, true);
  assert.is(pic.acknowledge(), 0x35);
});

test('poll command returns 0x80|level and acts as INTA', () => {
  const { io, pic } = setup();
  io.write(0x20, 1, 0x0c);
  assert.is(io.read(0x20, 1), 0x00, 'nothing pending');
  pic.setIrq(5, true);
  io.write(0x20, 1, 0x0c);
  assert.is(io.read(0x20, 1), 0x85);
  assert.is(readIsr(io, 0x20), 0x20);
  assert.is(readIrr(io, 0x20), 0x00);
});

test('special mask mode lets lower priority IRQs through while the serviced level is masked', () => {
  const { io, pic } = setup();
  pic.setIrq(3, true);
  assert.is(pic.acknowledge(), 0x33);
  pic.setIrq(5, true);
  assert.not.ok(pic.intr);
  io.write(0x21, 1, 0x08); // mask IRQ 3
  io.write(0x20, 1, 0x68); // set special mask mode
  assert.ok(pic.intr);
  assert.is(pic.acknowledge(), 0x35);
  io.write(0x20, 1, 0x48); // reset special mask mode
});

test('INTR output edges are reported', () => {
  const { io, pic, changes } = setup();
  changes.length = 0;
  pic.setIrq(1, true);
  pic.acknowledge();
  io.write(0x20, 1, 0x20);
  assert.equal(changes, [true, false]);
});

test('ICW1 clears IMR and ISR, resets the edge sense', () => {
  const { io, pic } = setup();
  pic.setIrq(1, true);
  pic.acknowledge();
  io.write(0x21, 1, 0x55);
  io.write(0x20, 1, 0x11); io.write(0x21, 1, 0x30); io.write(0x21, 1, 0x04); io.write(0x21, 1, 0x01);
  assert.is(io.read(0x21, 1), 0x00, 'ICW1 cleared IMR');
  assert.is(readIsr(io, 0x20), 0);
  assert.not.ok(pic.intr, 'line 1 still high but needs a new rising edge');
});

test('guest garbage never throws', () => {
  const { io, pic } = setup();
  let seed = 12345;
  const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 16;
  const ports = [0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1];
  for (let i = 0; i < 20000; i++) {
    const p = ports[rnd() % ports.length]!;
    if (rnd() & 1) io.write(p, 1, rnd() & 0xff); else io.read(p, 1);
    if ((rnd() & 7) === 0) pic.setIrq([0, 1, 3, 4, 8, 10, 15][rnd() % 7]!, (rnd() & 1) === 1);
    if (pic.intr && (rnd() & 3) === 0) {
      const v = pic.acknowledge();
      assert.ok(v >= 0 && v <= 0xff);
    }
  }
});

test.run();
