// Eventfd semantics (counter; signal adds; read returns and clears) for both backings, the
// postMessage descriptor, and WaitSet wake-ups within a thread and across a real Worker.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ChannelSpace, LocalEventChannel, SharedEventChannel, WaitSet, type EventChannel } from '../../channels/event-channel.js';
import { tsWorker } from './ts-worker.js';

const backings: [string, () => EventChannel][] = [
  ['local', () => new LocalEventChannel()],
  ['shared', () => new ChannelSpace(4).alloc()],
];

for (const [name, make] of backings) {
  test(`${name}: signal adds, read returns the count and clears`, () => {
    const c = make();
    assert.is(c.pending, false);
    assert.is(c.read(), 0);
    c.signal();
    c.signal(5);
    assert.is(c.pending, true);
    assert.is(c.read(), 6);
    assert.is(c.pending, false);
    assert.is(c.read(), 0);
  });
}

test('local: onSignal runs synchronously inside signal()', () => {
  const c = new LocalEventChannel();
  const seen: number[] = [];
  c.onSignal = () => seen.push(c.read());
  c.signal(3);
  assert.equal(seen, [3]);
  assert.is(c.pending, false);
});

test('shared: channels of a space are independent; the space fills up', () => {
  const s = new ChannelSpace(2);
  const a = s.alloc(), b = s.alloc();
  a.signal(2);
  assert.is(b.pending, false);
  assert.is(a.read(), 2);
  assert.throws(() => s.alloc(), /full/);
  assert.throws(() => new ChannelSpace(0), RangeError);
});

test('shared: a descriptor rebuilds the same channel; bad descriptors are refused', () => {
  const s = new ChannelSpace(4);
  const a = s.alloc();
  const copy = structuredClone(a.descriptor);
  const b = SharedEventChannel.from(copy);
  b.signal(7);
  assert.is(a.read(), 7);
  assert.ok(b.space.sameAs(a.space));
  assert.not.ok(new ChannelSpace(4).sameAs(a.space));
  assert.throws(() => SharedEventChannel.from({ sab: s.sab, slot: 0 }), RangeError);
  assert.throws(() => SharedEventChannel.from({ sab: s.sab, slot: 1e6 }), RangeError);
  assert.throws(() => SharedEventChannel.from({ sab: new ArrayBuffer(64) as unknown as SharedArrayBuffer, slot: 4 }), TypeError);
});

test('WaitSet: one space per set', () => {
  const ws = new WaitSet([new ChannelSpace(1).alloc()]);
  assert.throws(() => ws.add(new ChannelSpace(1).alloc()), /one ChannelSpace/);
});

test('WaitSet.wait: pending returns at once, idle times out, remove works', () => {
  const s = new ChannelSpace(2);
  const a = s.alloc(), l = new LocalEventChannel();
  const ws = new WaitSet([a, l]);
  assert.is(ws.wait(5), false);
  l.signal();
  assert.is(ws.wait(1000), true);
  l.read();
  a.signal();
  assert.is(ws.wait(1000), true);
  ws.remove(a);
  assert.is(ws.pending, false);
  assert.is(ws.wait(1), false);
});

test('WaitSet.waitAsync: woken by a later in-thread signal, times out when idle', async () => {
  const l = new LocalEventChannel();
  const ws = new WaitSet([l]);
  assert.is(await ws.waitAsync(5), false);
  setTimeout(() => l.signal(), 5);
  assert.is(await ws.waitAsync(), true);
  assert.is(l.read(), 1);
});

test('WaitSet.waitAsync: mixed set woken by a local signal still wakes on a shared one afterwards', async () => {
  const s = new ChannelSpace(2);
  const a = s.alloc(), l = new LocalEventChannel();
  const ws = new WaitSet([a, l]);
  setTimeout(() => l.signal(), 2);
  assert.is(await ws.waitAsync(10_000), true);
  l.read();
  setTimeout(() => a.signal(4), 2);
  assert.is(await ws.waitAsync(10_000), true);
  assert.is(a.read(), 4);
});

function startWorker(s: ChannelSpace) {
  const req = s.alloc(), resp = s.alloc(), stop = s.alloc();
  const w = tsWorker(new URL('./echo-worker.ts', import.meta.url), { req: req.descriptor, resp: resp.descriptor, stop: stop.descriptor });
  const msgs: unknown[] = [];
  let wake: (() => void) | null = null;
  w.on('message', (m) => { msgs.push(m); wake?.(); });
  const next = async (): Promise<unknown> => {
    while (!msgs.length) await new Promise<void>((r) => { wake = r; });
    return msgs.shift();
  };
  return { w, req, resp, stop, next };
}

test('across a Worker: blocking wait there, async wait here, no lost wake-ups', async () => {
  const s = new ChannelSpace(8);
  const { w, req, resp, stop, next } = startWorker(s);
  assert.is(await next(), 'ready');
  const ws = new WaitSet([resp]);
  let sum = 0;
  for (let i = 1; i <= 300; i++) {
    req.signal(i % 3 + 1);
    assert.is(await ws.waitAsync(10_000), true, `round ${i}`);
    const got = resp.read();
    assert.is(got, 1000 + (i % 3 + 1));
    sum += i % 3 + 1;
  }
  stop.signal();
  assert.equal(await next(), { total: sum });
  await w.terminate();
});

test('across a Worker: blocking wait on the main thread', async () => {
  const s = new ChannelSpace(8);
  const { w, req, resp, stop, next } = startWorker(s);
  assert.is(await next(), 'ready');
  const ws = new WaitSet([resp]);
  for (let i = 0; i < 100; i++) {
    req.signal();
    assert.is(ws.wait(10_000), true);
    assert.is(resp.read(), 1001);
  }
  stop.signal();
  assert.equal(await next(), { total: 100 });
  await w.terminate();
});

test.run();
