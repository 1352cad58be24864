// TCP through the user network against real host sockets on 127.0.0.1: the test plays the guest's
// TCP, a Node server or client plays the host side, tcpdump checks every segment sent to the guest.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { UserNetwork } from '../../host/net/user-network.js';
import { nodeProvider } from '../../host/net/node-provider.js';
import type { NetProvider, TcpEvents } from '../../host/net/provider.js';
import { TCP, guestIp, tcp, tcpdump, arpRequest, GUEST_MAC } from './frames.js';
import { freePort } from './ports.js';

interface Seg { sport: number; dport: number; seq: number; ack: number; flags: number; win: number; data: Uint8Array; frame: Uint8Array }

/** The guest's side: segments the network sent, and a way to wait for one. */
class Guest {
  segs: Seg[] = [];
  frames: Uint8Array[] = [];
  private waiters: (() => void)[] = [];
  drop = 0;
  constructor(readonly net: UserNetwork) {
    net.onReceive = (f) => {
      if (this.drop > 0) { this.drop--; return; }
      const c = f.slice();
      this.frames.push(c);
      if (c[23] !== 6) return;
      const p = 14 + (c[14]! & 15) * 4, dv = new DataView(c.buffer);
      const ipLen = dv.getUint16(16), off = (c[p + 12]! >> 4) * 4;
      this.segs.push({ sport: dv.getUint16(p), dport: dv.getUint16(p + 2), seq: dv.getUint32(p + 4), ack: dv.getUint32(p + 8), flags: c[p + 13]!, win: dv.getUint16(p + 14), data: c.slice(p + off, 14 + ipLen), frame: c });
      for (const w of this.waiters.splice(0)) w();
    };
  }
  async next(pred: (s: Seg) => boolean, what: string, ms = 3000): Promise<Seg> {
    const end = Date.now() + ms;
    for (;;) {
      const i = this.segs.findIndex(pred);
      if (i >= 0) return this.segs.splice(i, 1)[0]!;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; have ${JSON.stringify(this.segs.map((s) => [s.flags, s.seq, s.data.length]))}`);
      await new Promise<void>((r) => { this.waiters.push(r); setTimeout(r, 50); });
    }
  }
  send(dst: string, sport: number, dport: number, seq: number, ack: number, flags: number, data: number[] | Uint8Array = [], o: { window?: number; mss?: number } = {}): void {
    this.net.send(guestIp('10.0.2.15', dst, 6, tcp('10.0.2.15', sport, dst, dport, seq, ack, flags, [...data], o)));
  }
}

const listen = (s: Server): Promise<number> => new Promise((r) => s.listen(0, '127.0.0.1', () => r((s.address() as { port: number }).port)));
const until = async (cond: () => boolean, what: string, ms = 3000) => {
  const end = Date.now() + ms;
  while (!cond()) { if (Date.now() > end) throw new Error(`timed out: ${what}`); await new Promise((r) => setTimeout(r, 10)); }
};
const u32 = (n: number) => n >>> 0;

test('guest -> 10.0.2.2:PORT reaches a host server on 127.0.0.1: handshake with MSS, data both ways, retransmit trimmed, FIN both ways', async () => {
  let server!: Socket; let got = ''; let ended = false;
  const srv = createServer({ allowHalfOpen: true }, (s) => { server = s; s.on('error', () => {}); s.on('data', (d) => { got += d; }); s.on('end', () => { ended = true; }); });
  const port = await listen(srv);
  const net = new UserNetwork({ provider: nodeProvider });
  const g = new Guest(net);
  const isn = 1000;
  g.send('10.0.2.2', 40000, port, isn, 0, TCP.SYN, [], { mss: 1460 });
  const sa = await g.next((s) => s.flags === (TCP.SYN | TCP.ACK), 'SYN-ACK');
  assert.is(sa.ack, isn + 1);
  assert.is(sa.sport, port); assert.is(sa.dport, 40000);
  assert.match(tcpdump([sa.frame])[0]!, /10\.0\.2\.2\.\d+ > 10\.0\.2\.15\.40000: Flags \[S\.\], cksum 0x[0-9a-f]+ \(correct\), seq \d+, ack 1001, win \d+, options \[mss 1460\]/);
  let s = isn + 1; const r = u32(sa.seq + 1);
  g.send('10.0.2.2', 40000, port, s, r, TCP.ACK);
  g.send('10.0.2.2', 40000, port, s, r, TCP.ACK | TCP.PSH, [...Buffer.from('hello ')]);
  await g.next((x) => x.ack === s + 6, 'ACK of hello');
  // The guest resends what was already acknowledged, overlapping new data: only the new part goes on.
  g.send('10.0.2.2', 40000, port, s, r, TCP.ACK | TCP.PSH, [...Buffer.from('hello world')]);
  s += 11;
  await g.next((x) => x.ack === s, 'ACK of world');
  await until(() => got === 'hello world', 'server got hello world once');
  server.write('from host');
  const d = await g.next((x) => x.data.length > 0, 'data from host');
  assert.is(Buffer.from(d.data).toString(), 'from host');
  assert.is(d.seq, r); assert.is(d.flags, TCP.ACK | TCP.PSH);
  g.send('10.0.2.2', 40000, port, s, u32(r + 9), TCP.ACK | TCP.FIN);
  await until(() => ended, 'server sees the guest FIN');
  const finAck = await g.next((x) => x.ack === s + 1, 'ACK of FIN');
  assert.is(finAck.flags & TCP.FIN, 0);
  server.end();
  const fin = await g.next((x) => (x.flags & TCP.FIN) !== 0, 'FIN from host');
  assert.is(fin.seq, u32(r + 9));
  g.send('10.0.2.2', 40000, port, s + 1, u32(r + 10), TCP.ACK);
  assert.is(net.tcp.connections, 0);
  for (const l of tcpdump(g.frames)) assert.match(l, /\(correct\)/);
  net.close(); srv.close();
});

test('host -> guest bulk: 300 KB in MSS-sized segments within the guest window, in order, intact; lost segments are resent', async () => {
  const blob = new Uint8Array(300_000);
  for (let i = 0; i < blob.length; i++) blob[i] = (i * 31 + (i >> 8)) & 255;
  const srv = createServer((s) => { s.on('error', () => {}); s.end(blob); });
  const port = await listen(srv);
  const net = new UserNetwork({ provider: nodeProvider });
  const g = new Guest(net);
  g.send('10.0.2.2', 40001, port, 5, 0, TCP.SYN, [], { mss: 1000, window: 8000 });
  const sa = await g.next((x) => x.flags === (TCP.SYN | TCP.ACK), 'SYN-ACK');
  let rcv = u32(sa.seq + 1);
  g.send('10.0.2.2', 40001, port, 6, rcv, TCP.ACK, [], { window: 8000 });
  const received: number[] = [];
  let maxInFlight = 0, dropped = false;
  for (;;) {
    const seg = await g.next(() => true, `segment at ${received.length}`);
    assert.ok(seg.data.length <= 1000, 'MSS respected');
    if (seg.seq !== rcv) continue; // a go-back-N resend of what we already have
    maxInFlight = Math.max(maxInFlight, seg.data.length);
    if (!dropped && received.length > 100_000) { dropped = true; g.drop = 3; continue; } // the NIC had no buffers for these
    received.push(...seg.data);
    rcv = u32(rcv + seg.data.length + (seg.flags & TCP.FIN ? 1 : 0));
    g.send('10.0.2.2', 40001, port, 6, rcv, TCP.ACK, [], { window: 8000 });
    if (seg.flags & TCP.FIN) break;
  }
  assert.is(received.length, blob.length);
  assert.ok(Buffer.from(received).equals(Buffer.from(blob)), 'intact and in order');
  g.send('10.0.2.2', 40001, port, 6, rcv, TCP.ACK | TCP.FIN, [], { window: 8000 });
  await until(() => net.tcp.connections === 0, 'closed');
  net.close(); srv.close();
});

test('SYN to a closed host port, to 10.0.2.3, or a stray segment gets a RST; with no provider everything is refused', async () => {
  const port = await freePort();
  const net = new UserNetwork({ provider: nodeProvider });
  const g = new Guest(net);
  g.send('10.0.2.2', 40002, port, 77, 0, TCP.SYN);
  const rst = await g.next((x) => (x.flags & TCP.RST) !== 0, 'RST');
  assert.is(rst.ack, 78);
  g.send('10.0.2.3', 40003, 80, 99, 0, TCP.SYN);
  assert.is((await g.next((x) => (x.flags & TCP.RST) !== 0, 'RST from 10.0.2.3')).ack, 100);
  g.send('10.0.2.2', 40004, 80, 5, 12345, TCP.ACK);
  assert.is((await g.next((x) => (x.flags & TCP.RST) !== 0, 'RST for no connection')).seq, 12345);
  assert.is(net.tcp.connections, 0);
  const bare = new UserNetwork();
  const g2 = new Guest(bare);
  g2.send('10.0.2.2', 40005, 80, 1, 0, TCP.SYN);
  assert.is((await g2.next((x) => (x.flags & TCP.RST) !== 0, 'RST without provider')).ack, 2);
  net.close();
});

test('--hostfwd: a host client reaches a server in the guest; data both ways, closes cleanly', async () => {
  const hostPort = await freePort();
  const net = new UserNetwork({ provider: nodeProvider });
  const g = new Guest(net);
  net.send(arpRequest(GUEST_MAC, '10.0.2.15', '10.0.2.2')); // the gateway learns the guest's MAC
  await net.start([{ hostAddr: '127.0.0.1', hostPort, guestAddr: '10.0.2.15', guestPort: 8080 }]);
  let reply = ''; let closed = false;
  const client = connect(hostPort, '127.0.0.1');
  client.on('error', () => {});
  client.on('data', (d) => { reply += d; });
  client.on('close', () => { closed = true; });
  client.write('GET / HTTP/1.0\r\n\r\n');
  const syn = await g.next((x) => x.flags === TCP.SYN && x.dport === 8080, 'SYN into the guest');
  assert.match(tcpdump([syn.frame])[0]!, /10\.0\.2\.2\.\d+ > 10\.0\.2\.15\.8080: Flags \[S\], cksum 0x[0-9a-f]+ \(correct\).*options \[mss 1460\]/);
  const gs = 7000;
  g.send('10.0.2.2', 8080, syn.sport, gs, u32(syn.seq + 1), TCP.SYN | TCP.ACK, [], { mss: 1460 });
  const hsAck = await g.next((x) => x.flags === TCP.ACK && x.data.length === 0, 'ACK of SYN-ACK');
  assert.is(hsAck.ack, gs + 1);
  const req = await g.next((x) => x.data.length > 0, 'request from the host client');
  assert.is(Buffer.from(req.data).toString(), 'GET / HTTP/1.0\r\n\r\n');
  const rcv = u32(req.seq + req.data.length);
  const body = [...Buffer.from('HTTP/1.0 200 OK\r\n\r\nhi')];
  g.send('10.0.2.2', 8080, syn.sport, gs + 1, rcv, TCP.ACK | TCP.PSH | TCP.FIN, body);
  await until(() => reply === 'HTTP/1.0 200 OK\r\n\r\nhi', 'client got the reply');
  await g.next((x) => x.ack === gs + 2 + body.length, 'ACK of reply and FIN');
  client.end();
  const fin = await g.next((x) => (x.flags & TCP.FIN) !== 0, 'FIN after the client ends');
  g.send('10.0.2.2', 8080, syn.sport, gs + 2 + body.length, u32(fin.seq + 1), TCP.ACK);
  await until(() => closed && net.tcp.connections === 0, 'all closed');
  net.close();
});

test('--hostfwd on a port already in use fails with a readable message', async () => {
  const busy = createServer();
  const port = await listen(busy);
  const net = new UserNetwork({ provider: nodeProvider });
  try {
    await net.start([{ hostAddr: '127.0.0.1', hostPort: port, guestAddr: '10.0.2.15', guestPort: 80 }]);
    assert.unreachable('should reject');
  } catch (e) { assert.match((e as Error).message, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: EADDRINUSE`)); }
  net.close(); busy.close();
});

test('floods: SYNs past the table bound are reset and counted; half-open connections stay bounded; the host sockets they opened are closed with the network', async () => {
  let opened = 0, destroyed = 0, connectNow = false;
  const pending: TcpEvents[] = [];
  const provider: NetProvider = {
    connectTcp(_ip, _port, ev) {
      opened++;
      if (connectNow) queueMicrotask(() => ev.onConnect()); else pending.push(ev);
      return { write: () => true, buffered: 0, end() {}, destroy() { destroyed++; }, pause() {}, resume() {} };
    },
    listenTcp: async () => ({ close() {} }),
    bindUdp: () => ({ send() {}, close() {} }),
    lookup: async () => [],
  };
  const net = new UserNetwork({ provider });
  const g = new Guest(net);
  // Host connects that never complete: at most 64 are pending at once.
  for (let k = 0; k < 200; k++) g.send('10.0.2.2', 10000 + k, 80, k, 0, TCP.SYN);
  assert.is(opened, 64);
  assert.is(net.stats.dropTableFull, 136);
  assert.is(g.segs.filter((x) => x.flags === (TCP.RST | TCP.ACK)).length, 136, 'each refused SYN got its RST');
  // Connections whose guest never answers our SYN-ACK: the table stops at 256.
  connectNow = true;
  for (const ev of pending) ev.onConnect();
  for (let k = 0; k < 1000; k++) { g.send('10.0.2.2', 20000 + k, 80, k, 0, TCP.SYN); await Promise.resolve(); }
  assert.is(net.tcp.connections, 256);
  assert.is(opened, 64 + 192);
  net.close();
  assert.is(net.tcp.connections, 0);
  assert.is(destroyed, 256, 'every host socket closed');
});

test('half-open: a guest that stops answering is retried with backoff, then reset and its host socket closed', async () => {
  let destroyed = 0;
  const provider: NetProvider = {
    connectTcp(_ip, _port, ev) { queueMicrotask(() => ev.onConnect()); return { write: () => true, buffered: 0, end() {}, destroy() { destroyed++; }, pause() {}, resume() {} }; },
    listenTcp: async () => ({ close() {} }),
    bindUdp: () => ({ send() {}, close() {} }),
    lookup: async () => [],
  };
  const net = new UserNetwork({ provider });
  const g = new Guest(net);
  g.send('10.0.2.2', 30000, 80, 1, 0, TCP.SYN); // and never a word more
  await Promise.resolve();
  const synAcks = () => g.segs.filter((x) => x.flags === (TCP.SYN | TCP.ACK)).length;
  assert.is(synAcks(), 1);
  let t = Date.now();
  const times: number[] = [];
  for (let step = 0; step < 400 && net.tcp.connections; step++) {
    t += 100;
    const before = synAcks();
    net.tcp.tick(t);
    if (synAcks() > before) times.push(t);
  }
  assert.is(net.tcp.connections, 0, 'given up');
  assert.is(times.length, 8, 'eight resends');
  const gaps = times.slice(1).map((x, i) => x - times[i]!);
  assert.ok(gaps.every((d, i) => i === 0 || d >= gaps[i - 1]!), `backoff grows: ${gaps}`);
  assert.ok(g.segs.some((x) => (x.flags & TCP.RST) !== 0), 'the guest is told');
  assert.is(destroyed, 1);
  assert.ok(net.stats.tcpResets >= 1);
  net.close();
});

test('NAT: an address other than 10.0.2.2 is reached as itself (a server on this host\'s own non-loopback address), replies come from it', async () => {
  const own = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
  if (!own) { console.log('    (no non-loopback IPv4 address on this host: NAT test not run)'); return; }
  let got = '';
  const srv = createServer((s) => { s.on('error', () => {}); s.on('data', (d) => { got += d; s.end('ok'); }); });
  const port = await new Promise<number>((r) => srv.listen(0, own, () => r((srv.address() as { port: number }).port)));
  const net = new UserNetwork({ provider: nodeProvider });
  const g = new Guest(net);
  g.send(own, 41000, port, 100, 0, TCP.SYN);
  const sa = await g.next((x) => x.flags === (TCP.SYN | TCP.ACK), 'SYN-ACK');
  assert.match(tcpdump([sa.frame])[0]!, new RegExp(`${own.replace(/\./g, '\\.')}\\.${port} > 10\\.0\\.2\\.15\\.41000: Flags \\[S\\.\\], cksum 0x[0-9a-f]+ \\(correct\\)`));
  g.send(own, 41000, port, 101, u32(sa.seq + 1), TCP.ACK | TCP.PSH, [...Buffer.from('hi')]);
  const d = await g.next((x) => x.data.length > 0, 'answer');
  assert.is(Buffer.from(d.data).toString(), 'ok');
  assert.is(got, 'hi');
  net.close(); srv.close();
});

test.run();
