import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { advance, initPicLinux, lapicRead, lapicWrite, machine, type TestMachine } from './helpers.js';

const SVR = 0xf0, TPR = 0x80, PPR = 0xa0, EOI = 0xb0, ESR = 0x280, ICR = 0x300, ICR_HI = 0x310;
const LVT_TIMER = 0x320, LVT_LINT0 = 0x350, LVT_LINT1 = 0x360, LVT_ERR = 0x370;
const INIT_COUNT = 0x380, CUR_COUNT = 0x390, DIVIDE = 0x3e0;

function enabled(): TestMachine {
  const m = machine();
  lapicWrite(m, SVR, 0x1ff); // software enable, spurious vector 0xFF
  return m;
}
/** Self-IPI, fixed delivery: what Linux's send_IPI_self does. */
const selfIpi = (m: TestMachine, vector: number) => lapicWrite(m, ICR, 0x40000 | vector);
const irrBit = (m: TestMachine, v: number) => (lapicRead(m, 0x200 + (v >>> 5) * 0x10) >>> (v & 31)) & 1;
const isrBit = (m: TestMachine, v: number) => (lapicRead(m, 0x100 + (v >>> 5) * 0x10) >>> (v & 31)) & 1;
const tmrBit = (m: TestMachine, v: number) => (lapicRead(m, 0x180 + (v >>> 5) * 0x10) >>> (v & 31)) & 1;

test('reset values (SDM 10.4.7.1) and version register', () => {
  const m = machine();
  assert.is(lapicRead(m, 0x20), 0);
  assert.is(lapicRead(m, 0x30), 0x00050014);
  assert.is(lapicRead(m, 0x30) >>> 16 & 0xff, 5, 'max LVT entry = 5: six LVTs');
  assert.is(lapicRead(m, SVR), 0xff);
  assert.is(lapicRead(m, 0xe0), 0xffffffff, 'DFR flat model');
  assert.is(lapicRead(m, LVT_TIMER), 0x10000);
  assert.is(lapicRead(m, LVT_LINT1), 0x10000);
  assert.is(lapicRead(m, LVT_ERR), 0x10000);
  assert.is(lapicRead(m, LVT_LINT0), 0x700, 'BSP in virtual wire mode (ExtINT, unmasked)');
  assert.is(m.lapic.readApicBase(), 0xfee00900n, 'base 0xFEE00000, BSP, global enable');
});

test('virtual wire: PIC INTR reaches the CPU through LINT0 ExtINT, INTA returns the PIC vector', () => {
  const m = machine();
  initPicLinux(m.io);
  m.io.write(0x21, 1, 0xfe);
  assert.not.ok(m.lapic.hasInterrupt());
  m.router.setLevel(0, true);
  assert.ok(m.lapic.hasInterrupt());
  assert.is(m.lapic.acknowledge(), 0x30);
  assert.not.ok(m.lapic.hasInterrupt());
});

test('LINT0 masked blocks the PIC; globally disabled APIC passes it straight to INTR', () => {
  const m = enabled();
  initPicLinux(m.io);
  m.io.write(0x21, 1, 0xfe);
  lapicWrite(m, LVT_LINT0, 0x10700);
  m.router.setLevel(0, true);
  assert.not.ok(m.lapic.hasInterrupt());
  assert.ok(m.lapic.writeApicBase(0xfee00100n)); // clear bit 11
  assert.is(m.lapic.readApicBase(), 0xfee00100n);
  assert.ok(m.lapic.hasInterrupt());
  assert.is(m.lapic.acknowledge(), 0x30);
  assert.ok(m.lapic.writeApicBase(0xfee00900n));
  assert.is(lapicRead(m, SVR), 0xff, 'disable returned the APIC to its reset state');
});

test('software disable masks every LVT and the mask cannot be cleared', () => {
  const m = enabled();
  lapicWrite(m, LVT_LINT1, 0x400);
  assert.is(lapicRead(m, LVT_LINT1), 0x400);
  lapicWrite(m, SVR, 0xff);
  assert.is(lapicRead(m, LVT_LINT1), 0x10400);
  lapicWrite(m, LVT_LINT1, 0x400);
  assert.is(lapicRead(m, LVT_LINT1), 0x10400);
});

test('IA32_APIC_BASE: reserved bits fault, relocation is refused', () => {
  const m = machine();
  assert.not.ok(m.lapic.writeApicBase(0xfee00901n), 'bit 0 reserved');
  assert.not.ok(m.lapic.writeApicBase(0xfee00d00n), 'x2APIC enable not supported');
  assert.not.ok(m.lapic.writeApicBase(0x10fee00900n), 'above MAXPHYADDR 36');
  assert.ok(m.lapic.writeApicBase(0xfe000900n));
  assert.is(m.lapic.readApicBase(), 0xfee00900n);
});

test('fixed interrupt: IRR -> ISR on acknowledge, EOI clears the highest ISR bit', () => {
  const m = enabled();
  selfIpi(m, 0x41);
  assert.is(irrBit(m, 0x41), 1);
  assert.ok(m.lapic.hasInterrupt());
  assert.is(m.lapic.acknowledge(), 0x41);
  assert.is(irrBit(m, 0x41), 0);
  assert.is(isrBit(m, 0x41), 1);
  assert.is(lapicRead(m, PPR), 0x40, 'PPR = ISRV class');
  lapicWrite(m, EOI, 0);
  assert.is(isrBit(m, 0x41), 0);
  assert.is(lapicRead(m, PPR), 0);
});

test('TPR masks interrupts whose class is not above TPR[7:4] (SDM 10.8.3)', () => {
  const m = enabled();
  lapicWrite(m, TPR, 0x50);
  selfIpi(m, 0x45);
  assert.not.ok(m.lapic.hasInterrupt());
  lapicWrite(m, TPR, 0x40);
  assert.not.ok(m.lapic.hasInterrupt(), 'same class is blocked');
  assert.is(lapicRead(m, PPR), 0x40);
  lapicWrite(m, TPR, 0x3f);
  assert.ok(m.lapic.hasInterrupt());
  assert.is(lapicRead(m, PPR), 0x3f, 'PPR = TPR when TPR class >= ISRV class');
  assert.is(m.lapic.acknowledge(), 0x45);
});

test('APR (SDM 10.8.3.1): TPR when it covers IRRV and ISRV, else the highest class of the three', () => {
  const m = enabled();
  lapicWrite(m, TPR, 0x25);
  selfIpi(m, 0x45);
  assert.is(lapicRead(m, 0x90), 0x40);
  lapicWrite(m, TPR, 0x55);
  assert.is(lapicRead(m, 0x90), 0x55);
});

test('in-service class blocks the same and lower classes; higher classes nest; highest IRR first', () => {
  const m = enabled();
  selfIpi(m, 0x61);
  selfIpi(m, 0x52);
  assert.is(m.lapic.acknowledge(), 0x61);
  selfIpi(m, 0x6f);
  assert.not.ok(m.lapic.hasInterrupt(), '0x6F is the same class as 0x61 in service; 0x52 is lower');
  selfIpi(m, 0x71);
  assert.is(m.lapic.acknowledge(), 0x71);
  lapicWrite(m, EOI, 0); // ends 0x71
  lapicWrite(m, EOI, 0); // ends 0x61
  assert.is(m.lapic.acknowledge(), 0x6f);
  lapicWrite(m, EOI, 0);
  assert.is(m.lapic.acknowledge(), 0x52);
});

test('spurious vector when nothing is deliverable at acknowledge; ISR untouched', () => {
  const m = enabled();
  lapicWrite(m, SVR, 0x13f);
  selfIpi(m, 0x45);
  assert.ok(m.lapic.hasInterrupt());
  lapicWrite(m, TPR, 0xf0); // raised between INTR and INTA
  assert.is(m.lapic.acknowledge(), 0x3f);
  assert.is(isrBit(m, 0x45), 0);
  assert.is(irrBit(m, 0x45), 1);
});

test('level-triggered acceptance sets TMR and its EOI is broadcast to the IOAPIC', () => {
  const m = enabled();
  const seen: number[] = [];
  m.lapic.onEoiBroadcast = (v) => seen.push(v);
  m.lapic.deliver(0, false, 0, 0x55, true);
  assert.is(tmrBit(m, 0x55), 1);
  m.lapic.acknowledge();
  lapicWrite(m, EOI, 0);
  m.lapic.deliver(0, false, 0, 0x56, false);
  assert.is(tmrBit(m, 0x56), 0);
  m.lapic.acknowledge();
  lapicWrite(m, EOI, 0);
  assert.equal(seen, [0x55]);
});

test('ESR: errors become visible only after a write; illegal vectors are not delivered', () => {
  const m = enabled();
  lapicWrite(m, LVT_ERR, 0xfe);
  selfIpi(m, 0x05);
  assert.is(lapicRead(m, ESR), 0, 'not yet latched');
  assert.is(irrBit(m, 0xfe), 1, 'error LVT interrupt');
  lapicWrite(m, ESR, 0);
  assert.is(lapicRead(m, ESR), 0x20, 'send illegal vector');
  lapicWrite(m, ESR, 0);
  assert.is(lapicRead(m, ESR), 0);
  m.lapic.deliver(0, false, 0, 0x0e, false);
  lapicWrite(m, ESR, 0);
  assert.is(lapicRead(m, ESR), 0x40, 'receive illegal vector');
  lapicRead(m, 0x2f0); // no CMCI LVT with six LVTs
  lapicWrite(m, ESR, 0);
  assert.is(lapicRead(m, ESR), 0x80, 'illegal register address');
});

test('destination matching: physical ID, broadcast, flat and cluster logical', () => {
  const m = enabled();
  lapicWrite(m, 0x20, 0x03000000);
  assert.not.ok(m.lapic.deliver(0, false, 0, 0x40, false));
  assert.ok(m.lapic.deliver(3, false, 0, 0x40, false));
  assert.ok(m.lapic.deliver(0xff, false, 0, 0x40, false));
  lapicWrite(m, 0xd0, 0x01000000); // logical ID bit 0
  assert.ok(m.lapic.deliver(0x01, true, 0, 0x40, false));
  assert.not.ok(m.lapic.deliver(0x02, true, 0, 0x40, false));
  lapicWrite(m, 0xe0, 0x0fffffff); // cluster model
  lapicWrite(m, 0xd0, 0x21000000); // cluster 2, member bit 0
  assert.ok(m.lapic.deliver(0x21, true, 0, 0x40, false));
  assert.not.ok(m.lapic.deliver(0x11, true, 0, 0x40, false));
  assert.ok(m.lapic.deliver(0xf1, true, 0, 0x40, false), 'cluster 15 = all clusters');
  lapicWrite(m, ICR_HI, 0x21000000);
  lapicWrite(m, ICR, 0x0800 | 0x77); // logical, no shorthand
  assert.is(irrBit(m, 0x77), 1);
});

test('ICR shorthands: self and all-including-self deliver here, all-excluding-self does not', () => {
  const m = enabled();
  lapicWrite(m, ICR, 0x80000 | 0x81);
  assert.is(irrBit(m, 0x81), 1);
  lapicWrite(m, ICR, 0xc0000 | 0x82);
  assert.is(irrBit(m, 0x82), 0);
  assert.is(lapicRead(m, ICR) & 0x1000, 0, 'delivery status idle');
  lapicWrite(m, ICR, 0x40000 | 0x400);
  assert.is(m.nmis, 1, 'NMI IPI to self');
});

test('LINT1 programmed as NMI delivers an NMI on the rising edge', () => {
  const m = enabled();
  lapicWrite(m, LVT_LINT1, 0x400);
  m.lapic.setLint(1, true);
  m.lapic.setLint(1, true);
  m.lapic.setLint(1, false);
  assert.is(m.nmis, 1);
});

test('timer one-shot: count 1000 with divide 16 at 1 GHz expires after 16 us', () => {
  const m = enabled();
  lapicWrite(m, DIVIDE, 0x3); // divide by 16
  lapicWrite(m, LVT_TIMER, 0x20ef);
  lapicWrite(m, INIT_COUNT, 1000);
  assert.is(lapicRead(m, CUR_COUNT), 1000);
  advance(m.clock, 8000);
  assert.is(lapicRead(m, CUR_COUNT), 500);
  advance(m.clock, 7999);
  assert.is(lapicRead(m, CUR_COUNT), 1);
  assert.is(irrBit(m, 0xef), 0);
  advance(m.clock, 1);
  assert.is(irrBit(m, 0xef), 1);
  assert.is(lapicRead(m, CUR_COUNT), 0);
  assert.is(lapicRead(m, INIT_COUNT), 1000);
  m.lapic.acknowledge(); lapicWrite(m, EOI, 0);
  advance(m.clock, 100000);
  assert.is(irrBit(m, 0xef), 0, 'one-shot does not reload');
});

test('timer divide configuration encodings (SDM figure 10-10)', () => {
  const m = enabled();
  const expect: [number, number][] = [[0x0, 2], [0x1, 4], [0x2, 8], [0x3, 16], [0x8, 32], [0x9, 64], [0xa, 128], [0xb, 1]];
  for (const [code, div] of expect) {
    lapicWrite(m, DIVIDE, code);
    lapicWrite(m, INIT_COUNT, 100000);
    advance(m.clock, 10 * div);
    assert.is(lapicRead(m, CUR_COUNT), 100000 - 10, `divide code ${code}`);
  }
  assert.is(lapicRead(m, DIVIDE), 0xb);
});

test('timer periodic: reloads from the initial count every period; masked LVT still counts', () => {
  const m = enabled();
  lapicWrite(m, DIVIDE, 0xb); // divide by 1
  lapicWrite(m, LVT_TIMER, 0x20000 | 0x30);
  lapicWrite(m, INIT_COUNT, 2500);
  let fired = 0;
  for (let i = 0; i < 10; i++) {
    advance(m.clock, 2499);
    assert.is(irrBit(m, 0x30), 0);
    advance(m.clock, 1);
    assert.is(irrBit(m, 0x30), 1, `period ${i}`);
    assert.is(lapicRead(m, CUR_COUNT), 2500);
    m.lapic.acknowledge(); lapicWrite(m, EOI, 0);
    fired++;
  }
  assert.is(fired, 10);
  advance(m.clock, 1000);
  assert.is(lapicRead(m, CUR_COUNT), 1500);
  lapicWrite(m, LVT_TIMER, 0x30000 | 0x30); // mask
  advance(m.clock, 1500);
  assert.is(irrBit(m, 0x30), 0);
  assert.is(lapicRead(m, CUR_COUNT), 2500);
  lapicWrite(m, INIT_COUNT, 0);
  assert.is(lapicRead(m, CUR_COUNT), 0, 'writing 0 stops the timer');
});

test('timer: changing the divider keeps the current count and continues at the new rate', () => {
  const m = enabled();
  lapicWrite(m, DIVIDE, 0xb);
  lapicWrite(m, LVT_TIMER, 0x40);
  lapicWrite(m, INIT_COUNT, 1000);
  advance(m.clock, 400);
  lapicWrite(m, DIVIDE, 0x0); // divide by 2
  assert.is(lapicRead(m, CUR_COUNT), 600);
  advance(m.clock, 1199);
  assert.is(irrBit(m, 0x40), 0);
  advance(m.clock, 1);
  assert.is(irrBit(m, 0x40), 1);
});

test('TSC-deadline mode: fires when the TSC reaches the deadline, then the MSR reads 0', () => {
  const m = enabled();
  m.lapic.writeTscDeadline(5000n);
  assert.is(m.lapic.readTscDeadline(), 0n, 'ignored outside TSC-deadline mode');
  lapicWrite(m, LVT_TIMER, 0x40000 | 0xec);
  lapicWrite(m, INIT_COUNT, 100);
  assert.is(lapicRead(m, CUR_COUNT), 0, 'count registers are inert');
  m.lapic.writeTscDeadline(5000n); // TSC runs at 1 GHz here
  assert.is(m.lapic.readTscDeadline(), 5000n);
  advance(m.clock, 4999);
  assert.is(irrBit(m, 0xec), 0);
  advance(m.clock, 1);
  assert.is(irrBit(m, 0xec), 1);
  assert.is(m.lapic.readTscDeadline(), 0n);
  m.lapic.acknowledge(); lapicWrite(m, EOI, 0);
  m.lapic.writeTscDeadline(1n); // already passed: immediate
  assert.is(irrBit(m, 0xec), 1);
  m.lapic.acknowledge(); lapicWrite(m, EOI, 0);
  m.lapic.writeTscDeadline(BigInt(m.clock.tsc()) + 1000n);
  lapicWrite(m, LVT_TIMER, 0xec); // back to one-shot disarms
  advance(m.clock, 5000);
  assert.is(irrBit(m, 0xec), 0);
  m.lapic.writeTscDeadline(0xffffffffffffffffn);
  assert.is(m.lapic.readTscDeadline(), 0n);
});

test('guest garbage on every register never throws', () => {
  const m = enabled();
  let seed = 99;
  const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0);
  for (let i = 0; i < 20000; i++) {
    const off = rnd() & 0xfff, size = ([1, 2, 4] as const)[rnd() % 3]!;
    if (rnd() & 1) m.mem.write(0xfee00000 + off, size, rnd()); else m.mem.read(0xfee00000 + off, size);
    if ((rnd() & 15) === 0) advance(m.clock, rnd() & 0xffff);
    if (m.lapic.hasInterrupt()) {
      const v = m.lapic.acknowledge();
      assert.ok(v >= 0 && v <= 255);
    }
  }
});

test.run();
