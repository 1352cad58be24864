// Guest-visible timing does not depend on the host's slice size (README, time base): the timers
// program (asm/timers.asm) arms the TSC-deadline, LAPIC one-shot and periodic timers, the PIT and
// the RTC at odd points and checks that each interrupt arrives on the instruction its deadline
// names (the LAPIC's) or within one input-clock tick (PIT, RTC). It runs on the whole machine
// under the virtual clock with slice sizes from 1 instruction to 1 M (its wait loops run long
// enough to be compiled): every check must pass and the serial output (the recorded times) must be
// byte-identical.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Machine } from '../../host/machine.js';
import { assemble, EXIT_PASS } from './harness.js';

const { image } = assemble('timers');

function run(slice: number): { debug: string; serial: string; exit: number | null } {
  let debug = '', serial = '';
  const m = new Machine({
    kernel: image, clock: 'virtual', defaultDevices: false,
    onDebugcon: (b) => { debug += String.fromCharCode(b); },
    onSerial: (b) => { serial += String.fromCharCode(b); },
  });
  while (m.exitStatus === null && m.shutdownReason === null && m.clock.now() < 1e9) m.runSlice(slice);
  assert.is(m.shutdownReason, null, `slice ${slice}: ${m.shutdownReason}`);
  return { debug, serial, exit: m.exitStatus };
}

const reference = run(100_000);

test('timers: every deadline met (TSC-deadline, LAPIC one-shot and periodic to the instruction; PIT, RTC)', () => {
  const failures = reference.debug.split('\n').filter((l) => l.startsWith('FAIL'));
  assert.equal(failures, [], reference.debug);
  assert.is(reference.exit, (EXIT_PASS << 1) | 1);
  assert.ok(reference.serial.split('\n').length > 10, reference.serial);
});

for (const slice of [1, 7, 997, 4096, 65_537, 1_000_000]) {
  test(`timers: slice ${slice}: the same checks pass and the serial output is byte-identical`, () => {
    const r = run(slice);
    assert.fixture(r.debug, reference.debug);
    assert.fixture(r.serial, reference.serial);
  });
}

test.run();
