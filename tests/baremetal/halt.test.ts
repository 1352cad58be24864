// A halted guest and the end of a run (README, Running): a CPU halted with interrupts disabled
// and no NMI source ends the run at once with a message, whatever timers still tick; an NMI route
// keeps it alive; --timeout always ends a run with status 124 and everything printed so far.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { build, ts86 } from './harness.js';

const kernel = (mode: number) => build('halt', 'flat', { MODE: mode });

for (const clock of ['virtual', 'realtime']) {
  test(`cli; hlt with a timer ticking (${clock} clock): ends at once, status 1, output kept`, () => {
    const r = ts86(['--kernel', kernel(1), '--no-default-devices', '--clock', clock, '--timeout', '600']);
    assert.is(r.stdout, 'halting\n');
    assert.match(r.stderr, /halted with interrupts disabled and no NMI source \(cli; hlt\): nothing can wake it/);
    assert.is(r.status, 1);
  });
}

test('cli; hlt with the PIT routed as NMI through the IOAPIC: the NMI wakes the CPU', () => {
  const r = ts86(['--kernel', kernel(3), '--no-default-devices', '--clock', 'virtual', '--timeout', '600']);
  assert.is(r.stdout, 'halting\nwoken by NMI\nexit 00000021\n');
  assert.is(r.status, (0x21 << 1) | 1, r.stderr);
});

test('sti; hlt with a timer ticking and --timeout 5 (virtual clock): status 124 after 5 s of guest time, output kept', () => {
  const r = ts86(['--kernel', kernel(2), '--no-default-devices', '--clock', 'virtual', '--timeout', '5']);
  assert.is(r.stdout, 'halting\n');
  assert.match(r.stderr, /timeout after 5 s of guest time/);
  assert.is(r.status, 124);
});

test.run();
