/** The virtio-net data path and its split virtqueues against rings written by a test driver (virtio 1.2, 2.7 and 5.1.6). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LocalEventChannel } from '../../../channels/event-channel.js';
import { CALL, CB, STAT, newControlBlock } from '../../../devices/virtio-net/control-block.js';
import { VirtioNetDataPath } from '../../../devices/virtio-net/data-path.js';
import { DmaRam } from '../../../devices/virtio-net/dma.js';
import type { NetBackend } from '../../../devices/net-backend.js';
import { F_INDIRECT, F_NEXT, F_WRITE, TestRing } from './driver.js';

const HOLE = 0xa0000; // 0xA0000-0xFFFFF is not RAM, as on the PC
const F_MRG = 1 << 15, F_INDIRECT_DESC = 1 << 28, F_EVENT_IDX = 1 << 29, HI_VERSION_1 = 1;

function setup(featuresLo = F_MRG | F_INDIRECT_DESC, size = 16) {
  const ram = new Uint8Array(1 << 20);
  const pages = new Uint8Array(256).fill(1).fill(0, HOLE >>> 12);
  const writes: [number, number][] = [];
  const dma = new DmaRam(ram, pages, { written: (a, n) => writes.push([a, n]) });
  const block = newControlBlock(false);
  const l = () => new LocalEventChannel();
  const ch = { kick: [l(), l()], vectors: [l(), l(), l()], intx: l(), control: l(), needsReset: l() };
  const sent: Uint8Array[] = [];
  const backend: NetBackend = { send: (f) => { sent.push(f.slice()); }, onReceive: null, close: () => {} };
  const dp = new VirtioNetDataPath(dma, block, ch, backend, () => {});
  const rx = TestRing.at(ram, size, 0x10000), tx = TestRing.at(ram, size, 0x14000);
  block[CB.FEATURES_LO] = featuresLo; block[CB.FEATURES_HI] = HI_VERSION_1;
  [rx, tx].forEach((r, q) => {
    const at = CB.QUEUE + q * CB.QUEUE_STRIDE;
    block[at + CB.Q_ENABLE] = 1; block[at + CB.Q_SIZE] = r.size;
    block[at + CB.Q_DESC] = r.desc; block[at + CB.Q_AVAIL] = r.avail; block[at + CB.Q_USED] = r.used;
    block[at + CB.Q_CALL] = CALL.VECTOR0 + q; // queue q notifies through vector q's irqfd
  });
  block[CB.STATUS] = 0x0f;
  block[CB.SEQ]++;
  ch.control.signal();
  dp.poll();
  const kickTx = () => { ch.kick[1]!.signal(); while (dp.poll()); };
  return { ram, dma, block, ch, sent, backend, dp, rx, tx, writes, kickTx };
}

const frame = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);

test('TX: header and frame gathered from two descriptors reach the backend; used length 0; interrupt', () => {
  const t = setup();
  const f = frame(60);
  t.ram.set(f, 0x20000 + 12);
  t.tx.setDesc(0, 0x20000, 12, F_NEXT, 1);
  t.tx.setDesc(1, 0x20000 + 12, 60, 0);
  t.tx.offer(0);
  t.kickTx();
  assert.equal(t.sent.length, 1);
  assert.equal([...t.sent[0]!], [...f]);
  assert.equal(t.tx.takeUsed(), [[0, 0]]);
  assert.is(t.ch.vectors[1]!.read(), 1);
  assert.is(t.block[STAT.tx_packets], 1);
  assert.is(t.block[STAT.tx_kicks], 1);
});

test('TX: INDIRECT_DESC table; VRING_AVAIL_F_NO_INTERRUPT suppresses the interrupt', () => {
  const t = setup();
  const f = frame(100, 3);
  t.ram.set(f, 0x21000);
  t.tx.setDesc(0, 0x22000, 32, F_INDIRECT);
  t.tx.setDesc(0, 0x20000, 12, F_NEXT, 1, 0x22000);
  t.tx.setDesc(1, 0x21000, 100, 0, 0, 0x22000);
  t.tx.setAvailFlags(1);
  t.tx.offer(0);
  t.kickTx();
  assert.equal([...t.sent[0]!], [...f]);
  assert.equal(t.tx.takeUsed(), [[0, 0]]);
  assert.is(t.ch.vectors[1]!.read(), 0);
});

test('notifications go to the irqfd the control block names: a vector, INTx (ISR bit 0 first), or none', () => {
  const t = setup();
  const txCall = CB.QUEUE + 1 * CB.QUEUE_STRIDE + CB.Q_CALL;
  const send = (head: number) => { t.tx.setDesc(head, 0x20000 + 0x100 * head, 72, 0); t.tx.offer(head); t.kickTx(); };
  t.block[txCall] = CALL.VECTOR0 + 2;
  send(0);
  assert.equal(t.ch.vectors.map((c) => c.read()), [0, 0, 1]);
  t.block[txCall] = CALL.INTX;
  send(1);
  assert.is(t.block[CB.ISR], 1);
  assert.is(t.ch.intx.read(), 1);
  t.block[txCall] = CALL.NONE;
  send(2);
  t.block[txCall] = CALL.VECTOR0 + 3; // past the vectors: nothing, no exception
  send(3);
  assert.equal([...t.ch.vectors.map((c) => c.read()), t.ch.intx.read()], [0, 0, 0, 0]);
  assert.is(t.block[STAT.tx_interrupts], 4, 'the driver asked each time');
  assert.is(t.sent.length, 4);
});

test('RX with MRG_RXBUF: a frame spans three chains, num_buffers = 3, used lengths per chain', () => {
  const t = setup();
  for (let i = 0; i < 4; i++) { t.rx.setDesc(i, 0x30000 + i * 0x1000, 1000, F_WRITE); t.rx.offer(i); }
  const f = frame(2500, 9);
  t.dp.receive(f);
  const used = t.rx.takeUsed();
  assert.equal(used, [[0, 1000], [1, 1000], [2, 512]]);
  const hdr = t.ram.subarray(0x30000, 0x3000c);
  assert.is(hdr[10]! | (hdr[11]! << 8), 3);
  const got = new Uint8Array(2500);
  got.set(t.ram.subarray(0x3000c, 0x30000 + 1000), 0);
  got.set(t.ram.subarray(0x31000, 0x31000 + 1000), 988);
  got.set(t.ram.subarray(0x32000, 0x32000 + 512), 1988);
  assert.equal([...got], [...f]);
  assert.is(t.ch.vectors[0]!.read(), 1);
  // The fourth buffer is still there for the next frame.
  t.dp.receive(frame(60));
  assert.equal(t.rx.takeUsed(), [[3, 72]]);
});

test('RX: no buffers or too few -> dropped, buffers kept for later frames', () => {
  const t = setup();
  t.dp.receive(frame(60));
  assert.is(t.block[STAT.rx_dropped], 1);
  t.rx.setDesc(0, 0x30000, 100, F_WRITE); t.rx.offer(0);
  t.dp.receive(frame(500));
  assert.is(t.block[STAT.rx_dropped], 2);
  assert.equal(t.rx.takeUsed(), []);
  t.dp.receive(frame(80));
  assert.equal(t.rx.takeUsed(), [[0, 92]]);
  // Without MRG_RXBUF the header has num_buffers 0 and a frame must fit one chain.
  const u = setup(F_INDIRECT_DESC);
  u.rx.setDesc(0, 0x30000, 100, F_WRITE); u.rx.offer(0);
  u.rx.setDesc(1, 0x31000, 100, F_WRITE); u.rx.offer(1);
  u.dp.receive(frame(150));
  assert.is(u.block[STAT.rx_dropped], 1);
  u.dp.receive(frame(60));
  assert.equal(u.rx.takeUsed(), [[0, 72]]);
  assert.is(u.ram[0x30000 + 10], 0);
});

test('EVENT_IDX: interrupts only when used_event is crossed; avail_event follows the device', () => {
  const t = setup(F_MRG | F_EVENT_IDX);
  t.tx.setUsedEvent(2);
  for (let i = 0; i < 4; i++) {
    t.ram.set(frame(60), 0x20000 + 12);
    t.tx.setDesc(i, 0x20000, 72, 0);
    t.tx.offer(i);
    t.kickTx();
    assert.is(t.tx.availEvent, i + 1);
    assert.is(t.ch.vectors[1]!.read(), i === 2 ? 1 : 0, `interrupt after used ${i + 1}`);
  }
});

test('malformed chains are returned unused (length 0) and the queue goes on', () => {
  const t = setup();
  const good = () => { t.ram.set(frame(60), 0x20000 + 12); };
  good();
  const cases: [string, () => void][] = [
    ['buffer in the legacy hole', () => t.tx.setDesc(0, HOLE + 0x100, 72, 0)],
    ['buffer past the top of RAM', () => t.tx.setDesc(0, 0xfffff0, 72, 0)],
    ['huge length', () => t.tx.setDesc(0, 0x20000, 0xffffffff, 0)],
    ['zero length', () => t.tx.setDesc(0, 0x20000, 0, 0)],
    ['loop', () => { t.tx.setDesc(0, 0x20000, 72, F_NEXT, 1); t.tx.setDesc(1, 0x20000, 72, F_NEXT, 0); }],
    ['next beyond the queue', () => t.tx.setDesc(0, 0x20000, 72, F_NEXT, 99)],
    ['nested indirect', () => { t.tx.setDesc(0, 0x22000, 16, F_INDIRECT); t.tx.setDesc(0, 0x22000, 16, F_INDIRECT, 0, 0x22000); }],
    ['indirect with NEXT', () => t.tx.setDesc(0, 0x22000, 16, F_INDIRECT | F_NEXT, 1)],
    ['indirect table length not a multiple of 16', () => t.tx.setDesc(0, 0x22000, 20, F_INDIRECT)],
    ['writable buffer in a TX chain', () => t.tx.setDesc(0, 0x20000, 72, F_WRITE)],
    ['frame shorter than an Ethernet header', () => t.tx.setDesc(0, 0x20000, 20, 0)],
  ];
  for (const [name, make] of cases) {
    make();
    t.tx.offer(0);
    t.kickTx();
    assert.equal(t.tx.takeUsed(), [[0, 0]], name);
  }
  assert.is(t.sent.length, 0);
  assert.is(t.block[CB.NEEDS_RESET], 0);
  t.tx.setDesc(0, 0x20000, 72, 0);
  t.tx.offer(0);
  t.kickTx();
  assert.is(t.sent.length, 1, 'still working');
  // RX: a device-readable buffer returns the chains taken for the frame unused.
  t.rx.setDesc(0, 0x30000, 40, F_WRITE); t.rx.offer(0);
  t.rx.setDesc(1, 0x31000, 4000, 0); t.rx.offer(1);
  t.dp.receive(frame(200));
  assert.equal(t.rx.takeUsed(), [[0, 0], [1, 0]]);
});

test('a wild avail index or head breaks the queue: DEVICE_NEEDS_RESET is requested once', () => {
  for (const breakIt of [(r: TestRing) => r.setAvailIdx(r.size + 1), (r: TestRing) => { r.setDesc(0, 0x20000, 72, 0); r.offer(200); }]) {
    const t = setup();
    breakIt(t.tx);
    t.kickTx();
    t.kickTx();
    assert.is(t.block[CB.NEEDS_RESET], 1);
    assert.is(t.ch.needsReset.read(), 1);
    assert.is(t.sent.length, 0);
  }
});

test('a queue enabled with a bad layout is not used and asks for a reset', () => {
  for (const [size, desc] of [[3, 0x10000], [16, 0x10008], [16, HOLE - 0x80], [512, 0x10000], [16, 0xfffff000]] as const) {
    const t = setup();
    const at = CB.QUEUE + CB.QUEUE_STRIDE;
    t.block[CB.RESETS]++;
    t.block[at + CB.Q_SIZE] = size; t.block[at + CB.Q_DESC] = desc;
    t.block[CB.SEQ]++;
    t.ch.control.signal();
    t.dp.poll();
    assert.is(t.block[CB.NEEDS_RESET], 1, `size ${size} desc 0x${desc.toString(16)}`);
    t.kickTx();
    assert.is(t.sent.length, 0);
  }
});

test('every DMA write is reported and lies in RAM', () => {
  const t = setup();
  for (let i = 0; i < 4; i++) { t.rx.setDesc(i, 0x30000 + i * 0x1000, 1000, F_WRITE); t.rx.offer(i); }
  t.dp.receive(frame(1500));
  assert.ok(t.writes.some(([a, n]) => a === 0x30000 && n === 1000));
  assert.ok(t.writes.some(([a]) => a === t.rx.used + 2));
  for (const [a, n] of t.writes) assert.ok(t.dma.ok(a, n));
});

test.run();
