/**
 * Seeded fuzz of the virtio-net data path: malformed queue states (ring placement, descriptor
 * tables, indirect tables, avail indexes and heads, frames from the backend) driven through the
 * device. Zero host exceptions; every DMA write lands in RAM; the legacy hole stays untouched.
 * FUZZ_ITERATIONS (default 100000) and FUZZ_SEED choose the run.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LocalEventChannel } from '../../../channels/event-channel.js';
import { CB, STAT, newControlBlock } from '../../../devices/virtio-net/control-block.js';
import { VirtioNetDataPath } from '../../../devices/virtio-net/data-path.js';
import { DmaRam } from '../../../devices/virtio-net/dma.js';
import { rng } from './driver.js';

const ITERATIONS = Number(process.env.FUZZ_ITERATIONS ?? 100_000);
const SEED = Number(process.env.FUZZ_SEED ?? 0x7486);
const RAM = 1 << 20, HOLE = 0xa0000, CANARY = 0xa5;

test(`${ITERATIONS} malformed queue states (seed ${SEED}): no exception, no write outside RAM`, () => {
  const r = rng(SEED);
  const pick = <T>(xs: readonly T[]): T => xs[r() % xs.length]!;
  const ram = new Uint8Array(RAM);
  ram.fill(CANARY, HOLE);
  const pages = new Uint8Array(RAM >>> 12).fill(1).fill(0, HOLE >>> 12);
  const dv = new DataView(ram.buffer);
  let badWrites = 0;
  const dma = new DmaRam(ram, pages, { written: (a, n) => { if (!dma.ok(a, n)) badWrites++; } });
  const block = newControlBlock(false);
  const l = () => new LocalEventChannel();
  const ch = { kick: [l(), l()], vectors: [l(), l(), l()], intx: l(), control: l(), needsReset: l() };
  let sent = 0;
  const dp = new VirtioNetDataPath(dma, block, ch, { send: () => { sent++; }, onReceive: null, close: () => {} }, () => {});
  const frame = new Uint8Array(70000);

  const addr = (): number => pick([
    () => (r() % HOLE) & ~15, () => r() % HOLE, () => HOLE - (r() % 64), () => HOLE + (r() % 0x60000),
    () => RAM - (r() % 4096), () => RAM + (r() % 4096), () => r() >>> 0, () => 0xfffff000, () => 0,
  ])();
  const len = (): number => pick([() => r() % 2048, () => 12 + (r() % 100), () => 0, () => 0xffffffff, () => r() >>> 0, () => 16 * (r() % 300), () => 65536 + (r() % 100)])();
  const queues = [{ size: 0, desc: 0, avail: 0, used: 0 }, { size: 0, desc: 0, avail: 0, used: 0 }];

  const configure = (): void => {
    block[CB.RESETS]!++;
    block[CB.FEATURES_LO] = r() | 0;
    block[CB.FEATURES_HI] = r() & 1;
    block[CB.STATUS] = r() % 3 === 0 ? 0 : 0x0f;
    for (let q = 0; q < 2; q++) {
      const at = CB.QUEUE + q * CB.QUEUE_STRIDE;
      // Mostly plausible layouts, so the fuzz reaches the descriptors; sometimes nonsense.
      const size = pick([1, 2, 4, 8, 16, 64, 256, 256, 0, 3, 512, 1024, r() & 0xffff]);
      const base = r() % 4 === 0 ? addr() : (r() % (HOLE - 0x6000)) & ~0xfff;
      const q0 = { size, desc: base, avail: base + 16 * size, used: (base + 16 * size + 6 + 2 * size + 3) & ~3 };
      if (r() % 8 === 0) q0.avail = addr();
      if (r() % 8 === 0) q0.used = addr();
      queues[q] = q0;
      block[at + CB.Q_ENABLE] = r() % 6 === 0 ? 0 : 1;
      block[at + CB.Q_SIZE] = size; block[at + CB.Q_DESC] = q0.desc; block[at + CB.Q_AVAIL] = q0.avail; block[at + CB.Q_USED] = q0.used;
      block[at + CB.Q_CALL] = (r() % 7) - 1; // none, INTx, the three vectors, and values past them
    }
    block[CB.NEEDS_RESET] = 0;
    block[CB.SEQ]!++;
    ch.control.signal();
  };

  const put16 = (a: number, v: number): void => { if (a >= 0 && a + 2 <= HOLE) dv.setUint16(a, v, true); };
  const scribble = (): void => {
    const q = queues[r() & 1]!;
    const size = Math.max(1, Math.min(q.size, 256));
    for (let n = r() % 8; n >= 0; n--) {
      // A descriptor in the ring or in some table an indirect descriptor may point at.
      const d = r() % 3 === 0 ? (r() % (HOLE - 16)) & ~15 : q.desc + 16 * (r() % size);
      if (d < 0 || d + 16 > HOLE) continue;
      dv.setUint32(d, addr(), true);
      dv.setUint32(d + 4, r() % 16 === 0 ? r() : 0, true);
      dv.setUint32(d + 8, len(), true);
      dv.setUint16(d + 12, r() & 7, true);
      dv.setUint16(d + 14, r() % 4 === 0 ? r() & 0xffff : r() % size, true);
    }
    put16(q.avail + 4 + 2 * (r() % size), r() % 5 === 0 ? r() & 0xffff : r() % size);
    if (r() % 3 === 0) {
      const idx = q.avail + 2 >= 0 && q.avail + 4 <= HOLE ? dv.getUint16(q.avail + 2, true) : 0;
      put16(q.avail + 2, r() % 10 === 0 ? r() & 0xffff : idx + 1 + (r() % 3));
    }
    if (r() % 4 === 0) put16(q.avail, r() & 1);
    if (r() % 4 === 0) put16(q.avail + 4 + 2 * size, r() & 0xffff);
  };

  for (let i = 0; i < ITERATIONS; i++) {
    if (i % 64 === 0 || r() % 200 === 0) configure();
    scribble();
    const what = r() % 3;
    if (what === 0) { ch.kick[1]!.signal(); for (let k = 0; k < 4 && dp.poll(); k++); }
    else if (what === 1) dp.receive(frame.subarray(0, pick([0, 13, 14, 60, 1514, r() % 4000, 65549, 65550, 70000])));
    else { ch.kick[0]!.signal(); dp.poll(); }
  }
  assert.is(badWrites, 0, 'DMA writes outside RAM');
  for (let a = HOLE; a < RAM; a++) if (ram[a] !== CANARY) assert.unreachable(`byte 0x${a.toString(16)} in the hole changed`);
  // The run exercised both the good and the bad paths.
  assert.ok(sent > 0 && block[STAT.rx_packets]! > 0 && block[STAT.bad_chains]! > 0, `sent ${sent}, rx ${block[STAT.rx_packets]}, bad ${block[STAT.bad_chains]}`);
});

test.run();
