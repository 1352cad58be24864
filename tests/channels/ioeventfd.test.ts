// ioeventfd on the port bus and on MMIO pages: a matching write signals the channel and never
// reaches the device; anything else (other sizes, values, reads, RAM) is untouched.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IoBus } from '../../bus/io.js';
import { PhysicalMemory } from '../../bus/memory.js';
import { LocalEventChannel } from '../../channels/event-channel.js';

class Recorder {
  readonly log: string[] = [];
  read(off: number, size: number): number { this.log.push(`r${off.toString(16)}/${size}`); return 0x5a; }
  write(off: number, size: number, v: number): void { this.log.push(`w${off.toString(16)}/${size}=${v.toString(16)}`); }
}

test('port ioeventfd: any length and value', () => {
  const io = new IoBus();
  const dev = new Recorder();
  io.register(0xc000, 0x20, dev, 'dev');
  const ch = new LocalEventChannel();
  const remove = io.addIoEventFd({ addr: 0xc010, channel: ch });
  io.write(0xc010, 2, 0x1234);
  io.write(0xc010, 1, 7);
  assert.is(ch.read(), 2);
  assert.equal(dev.log, [], 'the device handler is not called');
  io.write(0xc011, 1, 1); // not the registered address
  assert.is(io.read(0xc010, 2), 0x5a, 'reads are the device\'s');
  assert.equal(dev.log, ['wc011/1=1', 'rc010/2']);
  remove();
  io.write(0xc010, 2, 3);
  assert.is(ch.pending, false);
  assert.equal(dev.log.at(-1), 'wc010/2=3');
});

test('port ioeventfd: length and data match, several on one port, on an unclaimed port', () => {
  const io = new IoBus();
  const dev = new Recorder();
  io.register(0xc000, 0x20, dev, 'dev');
  const q0 = new LocalEventChannel(), q1 = new LocalEventChannel();
  io.addIoEventFd({ addr: 0xc010, length: 2, data: 0, channel: q0 });
  io.addIoEventFd({ addr: 0xc010, length: 2, data: 1, channel: q1 });
  io.write(0xc010, 2, 1);
  io.write(0xc010, 2, 0x10000); // masked to the access size: 0
  assert.is(q0.read(), 1);
  assert.is(q1.read(), 1);
  io.write(0xc010, 2, 2);
  io.write(0xc010, 4, 1); // wrong size
  assert.equal(dev.log, ['wc010/2=2', 'wc010/4=1']);
  assert.throws(() => io.addIoEventFd({ addr: 0xc010, length: 2, data: 1, channel: q0 }), /overlaps/);
  assert.throws(() => io.addIoEventFd({ addr: 0xc010, channel: q0 }), /overlaps/);
  assert.throws(() => io.addIoEventFd({ addr: 0xc010, data: 1, channel: q0 }), /length/);
  assert.throws(() => io.addIoEventFd({ addr: 0xffff, length: 2, channel: q0 }), RangeError);
  assert.throws(() => io.addIoEventFd({ addr: 0x10, length: 3 as 2, channel: q0 }), RangeError);
  const free = new LocalEventChannel();
  io.addIoEventFd({ addr: 0x500, length: 1, channel: free });
  io.write(0x500, 1, 9);
  assert.is(free.read(), 1, 'works where no device decodes');
});

test('MMIO ioeventfd: matching writes signal, the region handler does not see them; RAM is unaffected', () => {
  const mem = new PhysicalMemory(0x100000);
  const dev = new Recorder();
  mem.mapMmio(0xc0000000, 0x2000, dev, 'dev');
  const ch = new LocalEventChannel();
  const remove = mem.addIoEventFd({ addr: 0xc0001004, length: 2, channel: ch });
  mem.write(0xc0001004, 2, 0);
  mem.write(0xc0001004, 2, 5);
  assert.is(ch.read(), 2);
  mem.write(0xc0001004, 4, 0);
  mem.write(0xc0001006, 2, 0);
  assert.equal(dev.log, ['w1004/4=0', 'w1006/2=0']);
  const ram = new LocalEventChannel();
  mem.addIoEventFd({ addr: 0x2000, channel: ram });
  mem.write(0x2000, 4, 0x11223344);
  assert.is(ram.pending, false, 'RAM writes are plain stores');
  assert.is(mem.read(0x2000, 4), 0x11223344);
  remove();
  mem.write(0xc0001004, 2, 1);
  assert.equal(dev.log.at(-1), 'w1004/2=1');
  assert.is(ch.pending, false);
});

test.run();
