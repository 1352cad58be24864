// The WebSocket switch on 127.0.0.1: learning, flooding, the NAT port, junk, stalled and vanished
// clients, and the client's error when the switch is not there.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { EthernetSwitch } from '../../host/net/switch.js';
import { WsBackend, type WebSocketCtor } from '../../host/net/ws-client.js';
import { UserNetwork } from '../../host/net/user-network.js';
import { arpRequest, eth, guestIp, icmpEcho } from './frames.js';
import { freePort } from './ports.js';

const WS = WebSocket as unknown as WebSocketCtor;
const quiet = () => {};
const MAC_A = [2, 0, 0, 0, 0, 0xa], MAC_B = [2, 0, 0, 0, 0, 0xb], MAC_C = [2, 0, 0, 0, 0, 0xc];
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) { if (Date.now() > end) throw new Error(`timed out: ${what}`); await wait(5); }
}
async function join(sw: EthernetSwitch): Promise<{ b: WsBackend; got: Uint8Array[] }> {
  const b = await WsBackend.connect(`ws://127.0.0.1:${sw.port}`, WS, quiet);
  const got: Uint8Array[] = [];
  b.onReceive = (f) => got.push(f.slice());
  return { b, got };
}
const frame = (dst: number[], src: number[], tag: number) => eth(dst, src, 0x88b5, new Array(46).fill(tag));

test('learning: broadcast floods, unicast goes only to the port that owns the MAC', async () => {
  const sw = await EthernetSwitch.start({ port: 0, log: quiet });
  const a = await join(sw), b = await join(sw), c = await join(sw);
  await until(() => sw.portList.length === 3, 'three ports');
  a.b.send(frame([255, 255, 255, 255, 255, 255], MAC_A, 1));
  await until(() => b.got.length === 1 && c.got.length === 1, 'flooded to B and C');
  b.b.send(frame(MAC_A, MAC_B, 2));
  await until(() => a.got.length === 1, 'B -> A');
  c.b.send(frame(MAC_B, MAC_C, 3)); // B is known: only B gets it
  await until(() => b.got.length === 2, 'C -> B');
  await wait(50);
  assert.is(a.got.length, 1, 'A did not see C -> B');
  assert.is(c.got.length, 1);
  assert.is(b.got[1]![14], 3);
  const counters = sw.portList.map((p) => p.counters.rxFrames).sort();
  assert.equal(counters, [1, 1, 1]);
  for (const x of [a, b, c]) x.b.close();
  await sw.close();
});

test('--nat: the user network is a port: ARP and ping of 10.0.2.2 through the switch', async () => {
  const sw = await EthernetSwitch.start({ port: 0, nat: new UserNetwork(), log: quiet });
  const a = await join(sw);
  a.b.send(arpRequest(MAC_A, '10.0.2.15', '10.0.2.2'));
  await until(() => a.got.length === 1, 'ARP reply');
  assert.equal([...a.got[0]!.subarray(0, 6)], MAC_A);
  const ping = guestIp('10.0.2.15', '10.0.2.2', 1, icmpEcho(5, 6, [1, 2, 3]));
  ping.set(MAC_A, 6);
  a.b.send(ping);
  await until(() => a.got.length === 2, 'echo reply');
  assert.is(a.got[1]![34], 0, 'ICMP echo reply');
  a.b.close();
  await sw.close();
});

test('junk is dropped and counted; an oversized message closes that client only; a vanished client is forgotten', async () => {
  const sw = await EthernetSwitch.start({ port: 0, log: quiet });
  const a = await join(sw);
  const raw = new WebSocket(`ws://127.0.0.1:${sw.port}`);
  await new Promise((r) => raw.once('open', r));
  await until(() => sw.portList.length === 2, 'two ports');
  raw.send('hello'); // text
  raw.send(new Uint8Array(10)); // runt
  raw.send(new Uint8Array(2000)); // over the frame limit
  raw.send(Uint8Array.from(frame(MAC_A, [1, 0, 0, 0, 0, 1], 0))); // multicast source address
  await until(() => sw.portList.some((p) => p.counters.dropJunk === 4), 'four junk frames counted');
  assert.is(a.got.length, 0);
  const closed = new Promise((r) => raw.once('close', r));
  raw.send(new Uint8Array(100_000)); // over maxPayload
  await closed;
  await until(() => sw.portList.length === 1, 'the oversized sender is gone');
  // A learned MAC whose client vanished is flooded again, not sent into the void.
  const b = await join(sw);
  b.b.send(frame(MAC_A, MAC_B, 7));
  await until(() => a.got.length === 1, 'B -> A');
  b.b.close();
  await until(() => sw.portList.length === 1, 'B left');
  const c = await join(sw);
  a.b.send(frame(MAC_B, MAC_A, 8));
  await until(() => c.got.length === 1, 'B unknown again: flooded to C');
  a.b.close(); c.b.close();
  await sw.close();
});

test('a stalled client: frames for it are dropped once its queue is full; the others keep flowing', async () => {
  const sw = await EthernetSwitch.start({ port: 0, log: quiet });
  const a = await join(sw), b = await join(sw);
  const stalled = new WebSocket(`ws://127.0.0.1:${sw.port}`);
  await new Promise((r) => stalled.once('open', r));
  (stalled as unknown as { _socket: { pause(): void } })._socket.pause(); // stops reading: TCP backs up
  await until(() => sw.portList.length === 3, 'three ports');
  const big = frame([255, 255, 255, 255, 255, 255], MAC_A, 9);
  const bigger = new Uint8Array(1514); bigger.set(big.subarray(0, 14));
  let sent = 0;
  for (let round = 0; round < 40 && !sw.portList.some((p) => p.counters.dropQueueFull > 0); round++) {
    for (let k = 0; k < 500; k++) { a.b.send(bigger); sent++; }
    await until(() => b.got.length === sent, 'B keeps receiving', 10_000);
  }
  const stalledPort = sw.portList.find((p) => p.counters.dropQueueFull > 0);
  assert.ok(stalledPort, 'the stalled port drops');
  assert.is(b.got.length, sent, 'B got every frame');
  a.b.close(); b.b.close(); stalled.terminate();
  await sw.close();
});

test('a switch that is not there: one readable error', async () => {
  const port = await freePort();
  try {
    await WsBackend.connect(`ws://127.0.0.1:${port}`, WS, quiet);
    assert.unreachable('connected');
  } catch (e) {
    assert.match((e as Error).message, new RegExp(`^cannot reach the switch at ws://127\\.0\\.0\\.1:${port}: connect ECONNREFUSED`));
  }
  const busy = await EthernetSwitch.start({ port: 0, log: quiet });
  try {
    await EthernetSwitch.start({ port: busy.port, log: quiet });
    assert.unreachable('listened twice');
  } catch (e) { assert.match((e as Error).message, /cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE/); }
  await busy.close();
});

test('a client whose switch restarts says so in one line, reconnects, and frames flow again', async () => {
  let sw = await EthernetSwitch.start({ port: 0, log: quiet });
  const port = sw.port;
  const lines: string[] = [];
  const a = await WsBackend.connect(`ws://127.0.0.1:${port}`, WS, (l) => lines.push(l));
  const b = await join(sw);
  await sw.close();
  await until(() => lines.length === 1, 'the loss is reported');
  assert.match(lines[0]!, new RegExp(`^ts86: lost the switch at ws://127\\.0\\.0\\.1:${port} \\(\\d+\\); reconnecting$`));
  a.send(frame([255, 255, 255, 255, 255, 255], MAC_A, 1)); // dropped while down, counted
  assert.is(a.stats.dropBackedUp, 1);
  sw = await EthernetSwitch.start({ port, log: quiet });
  await until(() => lines.length === 2, 'reconnected', 5000);
  assert.is(lines[1], `ts86: reconnected to the switch at ws://127.0.0.1:${port}`);
  const c = await join(sw);
  a.send(frame([255, 255, 255, 255, 255, 255], MAC_A, 2));
  await until(() => c.got.length === 1, 'frames flow again');
  assert.is(c.got[0]![14], 2);
  a.close(); b.b.close(); c.b.close();
  await sw.close();
});

test.run();
