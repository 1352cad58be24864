// Seeded fuzz of the user network: malformed, mutated and truncated frames of every protocol it
// speaks (checksums repaired on part of them so they reach the deep layers), against a scripted
// socket provider whose connects, data, ends and errors arrive in random order. Zero host
// exceptions, every frame sent back well-formed, tables bounded. TS86_NET_FUZZ=N for more frames.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UserNetwork } from '../../host/net/user-network.js';
import type { NetProvider, TcpEvents } from '../../host/net/provider.js';
import { GUEST_MAC, GW_MAC, BCAST, arpRequest, eth, guestIp, icmpEcho, ipv4, tcp, udp, TCP } from './frames.js';

const FRAMES = Number(process.env.TS86_NET_FUZZ ?? 100_000);

function rng(seed: number) {
  let s = seed >>> 0 || 1;
  const next = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s; };
  return { next, int: (n: number) => next() % n, chance: (p: number) => next() / 2 ** 32 < p };
}

/** A provider whose host side is scripted by the same generator: events queue and fire in random order. */
function scriptedProvider(r: ReturnType<typeof rng>) {
  const events: (() => void)[] = [];
  const live: TcpEvents[] = [];
  const provider: NetProvider = {
    connectTcp(_ip, _port, ev) {
      live.push(ev);
      events.push(r.chance(0.8) ? () => ev.onConnect() : () => ev.onClose('ECONNREFUSED'));
      return { write: () => r.chance(0.9), get buffered() { return r.int(70_000); }, end() {}, destroy() {}, pause() {}, resume() {} };
    },
    listenTcp: async () => ({ close() {} }),
    bindUdp: (onMessage) => ({
      send: (data, ip, port) => { if (r.chance(0.5)) events.push(() => onMessage(data.subarray(0, r.int(data.length + 1)), r.chance(0.5) ? '127.0.0.1' : ip, port)); },
      close() {},
    }),
    lookup: (name) => new Promise((res, rej) => events.push(() => (r.chance(0.5) ? res([`10.${r.int(256)}.0.1`, '127.0.0.1']) : rej(Object.assign(new Error(name), { code: 'ENOTFOUND' }))))),
  };
  const hostActivity = () => {
    for (let k = events.length; k > 0; k--) events.splice(r.int(events.length), 1)[0]!();
    for (const ev of live.splice(0, r.int(live.length + 1))) {
      const pick = r.int(4);
      if (pick === 0) ev.onData(new Uint8Array(r.int(5000)).fill(0x41));
      else if (pick === 1) ev.onEnd();
      else if (pick === 2) ev.onClose(r.chance(0.5) ? 'ECONNRESET' : null);
      else { ev.onDrain(); live.push(ev); }
    }
  };
  return { provider, hostActivity };
}

/** Valid frames of every kind the guest could send, as seeds for mutation. */
function seeds(r: ReturnType<typeof rng>): Uint8Array[] {
  const port = () => 1 + r.int(65535);
  const dst = () => ['10.0.2.2', '10.0.2.3', '93.184.216.34', '10.0.2.99', '255.255.255.255'][r.int(5)]!;
  const seq = () => r.next();
  const bytes = (n: number) => Array.from({ length: n }, () => r.int(256));
  const dns = [0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 7, ...Buffer.from('example'), 3, ...Buffer.from('com'), 0, 0, 1, 0, 1];
  const dhcp = [1, 1, 6, 0, ...bytes(24), ...GUEST_MAC, ...new Array(202).fill(0), 99, 130, 83, 99, 53, 1, 1 + r.int(8), 50, 4, 10, 0, 2, 15, 255];
  const d = dst();
  const sp = 1024 + r.int(8), dp = r.chance(0.5) ? 80 : port();
  return [
    arpRequest(GUEST_MAC, '10.0.2.15', r.chance(0.7) ? '10.0.2.2' : dst()),
    guestIp('10.0.2.15', d, 1, icmpEcho(r.int(65536), r.int(65536), bytes(r.int(1472)))),
    guestIp('10.0.2.15', '10.0.2.3', 17, udp('10.0.2.15', port(), '10.0.2.3', 53, dns)),
    eth(BCAST, GUEST_MAC, 0x800, ipv4('0.0.0.0', '255.255.255.255', 17, udp('0.0.0.0', 68, '255.255.255.255', 67, dhcp))),
    guestIp('10.0.2.15', d, 17, udp('10.0.2.15', port(), d, port(), bytes(r.int(1400)))),
    guestIp('10.0.2.15', d, 6, tcp('10.0.2.15', sp, d, dp, seq(), seq(), TCP.SYN, [], { mss: r.int(3000) })),
    guestIp('10.0.2.15', d, 6, tcp('10.0.2.15', sp, d, dp, seq(), seq(), [TCP.ACK, TCP.ACK | TCP.PSH, TCP.FIN | TCP.ACK, TCP.RST, TCP.SYN | TCP.ACK, r.int(256)][r.int(6)]!, bytes(r.int(1460)), { window: r.int(65536) })),
    eth(GW_MAC, GUEST_MAC, [0x86dd, 0x8100, 0x0806, 0x0800][r.int(4)]!, bytes(r.int(1600))),
  ];
}

function csum(b: Uint8Array, off: number, len: number, acc = 0): number {
  for (let i = 0; i < len; i += 2) acc += (b[off + i]! << 8) | (i + 1 < len ? b[off + i + 1]! : 0);
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
  return ~acc & 0xffff;
}

/** Makes the IPv4 header and transport checksums right again after a mutation (if the lengths allow). */
function repair(f: Uint8Array): void {
  if (f.length < 34 || f[12] !== 8 || f[13] !== 0) return;
  const ihl = (f[14]! & 15) * 4, total = (f[16]! << 8) | f[17]!;
  if (ihl < 20 || 14 + ihl > f.length) return;
  f[24] = f[25] = 0;
  const c = csum(f, 14, ihl); f[24] = c >> 8; f[25] = c & 255;
  const p = 14 + ihl, len = Math.min(total, f.length - 14) - ihl, proto = f[23]!;
  const field = proto === 6 ? 16 : proto === 17 ? 6 : proto === 1 ? 2 : -1;
  if (field < 0 || len < field + 2) return;
  f[p + field] = f[p + field + 1] = 0;
  const pseudo = proto === 1 ? 0 : ((f[26]! << 8) | f[27]!) + ((f[28]! << 8) | f[29]!) + ((f[30]! << 8) | f[31]!) + ((f[32]! << 8) | f[33]!) + proto + len;
  const t = csum(f, p, len, pseudo); f[p + field] = t >> 8; f[p + field + 1] = t & 255;
}

function mutate(r: ReturnType<typeof rng>, seed: Uint8Array): Uint8Array {
  const kind = r.int(6);
  if (kind === 0) return Uint8Array.from({ length: r.int(1600) }, () => r.int(256)); // noise
  let f = seed.slice();
  if (kind === 1) f = f.slice(0, r.int(f.length + 1)); // truncated
  else if (kind === 2) { const g = new Uint8Array(f.length + 1 + r.int(2000)); g.set(f); f = g; } // padded or oversized
  const flips = kind === 5 ? 0 : 1 + r.int(4);
  for (let k = 0; k < flips && f.length; k++) {
    // Headers are where the parsing is: bias mutations into the first 60 bytes.
    const at = r.chance(0.8) ? r.int(Math.min(60, f.length)) : r.int(f.length);
    f[at] = r.chance(0.5) ? r.int(256) : f[at]! ^ (1 << r.int(8));
  }
  if (r.chance(0.6)) repair(f);
  return f;
}

test(`${FRAMES} malformed frames: no host exception, every reply well-formed, tables bounded`, async () => {
  const r = rng(0x7586);
  const { provider, hostActivity } = scriptedProvider(r);
  const logs: string[] = [];
  const net = new UserNetwork({ provider, log: (l) => logs.push(l) });
  let replies = 0, maxConns = 0;
  net.onReceive = (f) => {
    replies++;
    if (f.length < 60 || f.length > 1514) throw new Error(`reply of ${f.length} bytes`);
    if (f[12] === 8 && f[13] === 0) {
      const ihl = (f[14]! & 15) * 4, total = (f[16]! << 8) | f[17]!;
      if (csum(f, 14, ihl) !== 0) throw new Error('reply with a bad IPv4 header checksum');
      if (14 + total > f.length) throw new Error('reply shorter than its IPv4 length');
    }
  };
  let pool = seeds(r);
  for (let i = 0; i < FRAMES; i++) {
    if (i % 64 === 0) pool = seeds(r);
    const f = r.chance(0.15) ? pool[r.int(pool.length)]! : mutate(r, pool[r.int(pool.length)]!);
    net.send(f);
    if (i % 37 === 0) hostActivity();
    if (i % 1000 === 0) await Promise.resolve(); // DNS answers settle
    maxConns = Math.max(maxConns, net.tcp.connections);
  }
  for (let k = 0; k < 10; k++) { hostActivity(); await new Promise((res) => setTimeout(res, 0)); }
  assert.is(net.stats.internalErrors, 0, logs.join('\n'));
  assert.ok(maxConns <= 256, `connections bounded (${maxConns})`);
  assert.ok(replies > 1000, `the stack answered (${replies} frames)`);
  const s = net.stats;
  if (process.env.TS86_NET_FUZZ_STATS) console.log(s, maxConns, replies);
  for (const k of ['dropShort', 'dropOversized', 'dropBadChecksum', 'dropBadHeader', 'dropEthertype', 'tcpConnections', 'icmpEchoReplies', 'arpReplies', 'dhcpReplies', 'dnsQueries'] as const) {
    assert.ok(s[k] > 0, `${k} exercised`);
  }
  net.close();
});

test.run();
