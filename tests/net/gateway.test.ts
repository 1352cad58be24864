// The user network's gateway: ARP (RFC 826) and ICMP echo (RFC 792), read back by tcpdump -vv,
// which verifies every checksum it can.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ensurePackages } from '../../scripts/deps.mjs';
import { UserNetwork } from '../../host/net/user-network.js';
import { GUEST_MAC, arpRequest, guestIp, icmpEcho, tcpdump } from './frames.js';

ensurePackages(['tcpdump'], 'the network tests');

function collect(net: UserNetwork): Uint8Array[] {
  const got: Uint8Array[] = [];
  net.onReceive = (f) => got.push(f.slice());
  return got;
}

test('ARP: who-has 10.0.2.2 and 10.0.2.3 are answered with slirp-style MACs; other addresses are not', () => {
  const net = new UserNetwork();
  const got = collect(net);
  net.send(arpRequest(GUEST_MAC, '10.0.2.15', '10.0.2.2'));
  net.send(arpRequest(GUEST_MAC, '10.0.2.15', '10.0.2.3'));
  net.send(arpRequest(GUEST_MAC, '10.0.2.15', '10.0.2.99'));
  assert.is(got.length, 2);
  const lines = tcpdump(got);
  assert.match(lines[0]!, /52:55:0a:00:02:02 > 52:54:00:12:34:56, ethertype ARP \(0x0806\), length 60: Ethernet \(len 6\), IPv4 \(len 4\), Reply 10\.0\.2\.2 is-at 52:55:0a:00:02:02/);
  assert.match(lines[1]!, /Reply 10\.0\.2\.3 is-at 52:55:0a:00:02:03/);
  assert.is(net.stats.arpReplies, 2);
  assert.is(net.stats.dropNotForUs, 1);
});

test('ICMP echo to the gateway: a reply with the same id, sequence and payload, valid checksums', () => {
  const net = new UserNetwork();
  const got = collect(net);
  const data = Array.from({ length: 56 }, (_, i) => (i * 7 + 3) & 255);
  for (const [dst, seq] of [['10.0.2.2', 1], ['10.0.2.3', 2]] as const) net.send(guestIp('10.0.2.15', dst, 1, icmpEcho(0x1234, seq, data)));
  assert.is(got.length, 2);
  const lines = tcpdump(got);
  assert.match(lines[0]!, /52:55:0a:00:02:02 > 52:54:00:12:34:56, ethertype IPv4.*ttl 64.*proto ICMP \(1\), length 84\) 10\.0\.2\.2 > 10\.0\.2\.15: ICMP echo reply, id 4660, seq 1, length 64/);
  assert.match(lines[1]!, /52:55:0a:00:02:03 > .*10\.0\.2\.3 > 10\.0\.2\.15: ICMP echo reply, id 4660, seq 2/);
  for (const l of lines) assert.not.match(l, /bad|wrong|incorrect/i);
  assert.equal([...got[0]!.subarray(42, 42 + 56)], data, 'payload echoed');
  // 1472-byte payload: the largest echo that fits the 1500-byte MTU unfragmented.
  got.length = 0;
  net.send(guestIp('10.0.2.15', '10.0.2.2', 1, icmpEcho(7, 9, new Array(1472).fill(0xa5))));
  assert.is(got[0]!.length, 1514);
  assert.match(tcpdump(got)[0]!, /ICMP echo reply, id 7, seq 9, length 1480/);
});

test('ICMP echo in a packet with IP options is answered (reply without options, checksums valid)', () => {
  const net = new UserNetwork();
  const got = collect(net);
  const plain = guestIp('10.0.2.15', '10.0.2.2', 1, icmpEcho(3, 4, [9, 8, 7, 6, 5]));
  // Four option bytes (three NOPs and an end of list) after the 20-byte header: IHL 6.
  const f = new Uint8Array(plain.length + 4);
  f.set(plain.subarray(0, 34)); f.set([1, 1, 1, 0], 34); f.set(plain.subarray(34), 38);
  f[14] = 0x46; f[17]! += 4; f[24] = f[25] = 0;
  let sum = 0;
  for (let i = 14; i < 38; i += 2) sum += (f[i]! << 8) | f[i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  f[24] = (~sum >> 8) & 255; f[25] = ~sum & 255;
  assert.match(tcpdump([f])[0]!, /options \(NOP,NOP,NOP,EOL\).*ICMP echo request, id 3, seq 4/);
  net.send(f);
  assert.is(got.length, 1);
  const l = tcpdump(got)[0]!;
  assert.match(l, /10\.0\.2\.2 > 10\.0\.2\.15: ICMP echo reply, id 3, seq 4, length 13/);
  assert.not.match(l, /bad|wrong|incorrect|options/);
  assert.equal([...got[0]!.subarray(42, 47)], [9, 8, 7, 6, 5]);
});

test('ping path: replies reuse one buffer (no per-packet allocation of frames)', () => {
  const net = new UserNetwork();
  const frames: Uint8Array[] = [];
  net.onReceive = (f) => frames.push(f);
  const req = guestIp('10.0.2.15', '10.0.2.2', 1, icmpEcho(1, 1, new Array(56).fill(1)));
  for (let k = 0; k < 100; k++) net.send(req);
  assert.is(frames.length, 100);
  assert.ok(frames.every((f) => f === frames[0]), 'the same view every time');
  assert.is(frames[0]!.buffer, net.out.buffer);
});

test('ICMP with a bad checksum, to an outside address, or not an echo request is dropped and counted', () => {
  const net = new UserNetwork();
  const got = collect(net);
  const bad = icmpEcho(1, 1, [1, 2, 3, 4]);
  bad[2]! ^= 0xff;
  net.send(guestIp('10.0.2.15', '10.0.2.2', 1, bad));
  net.send(guestIp('10.0.2.15', '192.0.2.1', 1, icmpEcho(1, 1, [])));
  net.send(guestIp('10.0.2.15', '10.0.2.2', 1, icmpEcho(1, 1, [], 0)));
  assert.is(got.length, 0);
  assert.is(net.stats.dropBadChecksum, 1);
  assert.is(net.stats.dropUnreachable, 1);
  assert.is(net.stats.dropUnknown, 1);
});

test.run();
