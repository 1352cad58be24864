// DHCP (RFC 2131/2132), DNS (RFC 1035) and UDP NAT of the user network, decoded by tcpdump -vv.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createSocket } from 'node:dgram';
import { UserNetwork } from '../../host/net/user-network.js';
import { nodeProvider } from '../../host/net/node-provider.js';
import { BCAST, GUEST_MAC, eth, ipv4, udp, guestIp, tcpdump } from './frames.js';

const be16 = (v: number) => [(v >> 8) & 255, v & 255];

function dhcp(type: number, xid: number, mac: number[], extra: number[] = [], flags = 0): Uint8Array {
  const m = new Array(240).fill(0);
  m[0] = 1; m[1] = 1; m[2] = 6;
  m[4] = xid >>> 24; m[5] = (xid >> 16) & 255; m[6] = (xid >> 8) & 255; m[7] = xid & 255;
  m[10] = flags >> 8;
  mac.forEach((b, i) => { m[28 + i] = b; });
  m.splice(236, 4, 99, 130, 83, 99);
  const body = [...m, 53, 1, type, ...extra, 255];
  return eth(BCAST, mac, 0x0800, ipv4('0.0.0.0', '255.255.255.255', 17, udp('0.0.0.0', 68, '255.255.255.255', 67, body)));
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let t = 0; !cond(); t += 10) { if (t > 3000) throw new Error(`timed out: ${what}`); await wait(10); }
}

test('DHCP: DISCOVER -> OFFER 10.0.2.15 with router, DNS, mask, lease; REQUEST -> ACK; a second MAC gets .16; a wrong REQUEST is NAKed', () => {
  const net = new UserNetwork();
  const got: Uint8Array[] = [];
  net.onReceive = (f) => got.push(f.slice());
  net.send(dhcp(1, 0xabcd0001, GUEST_MAC));
  net.send(dhcp(3, 0xabcd0002, GUEST_MAC, [50, 4, 10, 0, 2, 15, 54, 4, 10, 0, 2, 2]));
  const other = [0x52, 0x54, 0, 0, 0, 0x99];
  net.send(dhcp(1, 0xabcd0003, other, [], 0x8000));
  net.send(dhcp(3, 0xabcd0004, other, [50, 4, 10, 0, 2, 15]));
  assert.is(got.length, 4);
  const l = tcpdump(got);
  assert.match(l[0]!, /52:55:0a:00:02:02 > 52:54:00:12:34:56, .*10\.0\.2\.2\.67 > 255\.255\.255\.255\.68: \[udp sum ok\] BOOTP\/DHCP, Reply, length 300, xid 0xabcd0001.*Your-IP 10\.0\.2\.15 Server-IP 10\.0\.2\.2 Client-Ethernet-Address 52:54:00:12:34:56.*DHCP-Message \(53\), length 1: Offer.*Server-ID \(54\), length 4: 10\.0\.2\.2.*Lease-Time \(51\), length 4: 86400.*Subnet-Mask \(1\), length 4: 255\.255\.255\.0.*Default-Gateway \(3\), length 4: 10\.0\.2\.2.*Domain-Name-Server \(6\), length 4: 10\.0\.2\.3/);
  assert.match(l[1]!, /xid 0xabcd0002.*Your-IP 10\.0\.2\.15.*DHCP-Message \(53\), length 1: ACK/);
  assert.match(l[2]!, /> ff:ff:ff:ff:ff:ff, .*xid 0xabcd0003, Flags \[Broadcast\].*Your-IP 10\.0\.2\.16.*: Offer/);
  assert.match(l[3]!, /xid 0xabcd0004.*DHCP-Message \(53\), length 1: NACK/);
  for (const x of l) assert.not.match(x, /bad|incorrect/);
  assert.is(net.stats.dhcpReplies, 4);
});

test('DNS at 10.0.2.3: A queries answered through the host resolver (localhost), unknown names NXDOMAIN; without sockets REFUSED', async () => {
  const query = (id: number, name: string, qtype = 1) => {
    const q = [...be16(id), 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for (const part of name.split('.')) q.push(part.length, ...Buffer.from(part));
    q.push(0, ...be16(qtype), 0, 1);
    return guestIp('10.0.2.15', '10.0.2.3', 17, udp('10.0.2.15', 5353, '10.0.2.3', 53, q));
  };
  const net = new UserNetwork({ provider: nodeProvider });
  const got: Uint8Array[] = [];
  net.send(guestIp('10.0.2.15', '10.0.2.2', 1, [8, 0, 0xf7, 0xff, 0, 0, 0, 0])); // teaches the guest's MAC
  net.onReceive = (f) => got.push(f.slice());
  net.send(query(0x1111, 'localhost'));
  net.send(query(0x2222, 'no-such-name.invalid'));
  net.send(query(0x3333, 'localhost', 28));
  await until(() => got.length === 3, 'three answers');
  const l = tcpdump(got).join('\n'); // answers come in the order the lookups finish
  assert.match(l, /10\.0\.2\.3\.53 > 10\.0\.2\.15\.5353: \[udp sum ok\] 4369 q: A\? localhost\. 1\/0\/0 localhost\. A 127\.0\.0\.1/);
  assert.match(l, /\[udp sum ok\] 8738 NXDomain q: A\? no-such-name\.invalid\. 0\/0\/0/);
  assert.match(l, /\[udp sum ok\] 13107 q: AAAA\? localhost\. 0\/0\/0/);
  const bare = new UserNetwork();
  const g2: Uint8Array[] = [];
  bare.send(guestIp('10.0.2.15', '10.0.2.2', 1, [8, 0, 0xf7, 0xff, 0, 0, 0, 0]));
  bare.onReceive = (f) => g2.push(f.slice());
  bare.send(query(0x4444, 'localhost'));
  assert.match(tcpdump(g2)[0]!, /17476 Refused q: A\? localhost\./);
  net.close();
});

test('UDP to 10.0.2.2:PORT reaches a host socket on 127.0.0.1 and the reply comes back from 10.0.2.2:PORT', async () => {
  const srv = createSocket('udp4');
  srv.on('message', (m, r) => srv.send(Buffer.concat([Buffer.from('echo:'), m]), r.port, r.address));
  await new Promise<void>((r) => srv.bind(0, '127.0.0.1', () => r()));
  const port = srv.address().port;
  const net = new UserNetwork({ provider: nodeProvider });
  const got: Uint8Array[] = [];
  net.onReceive = (f) => got.push(f.slice());
  net.send(guestIp('10.0.2.15', '10.0.2.2', 17, udp('10.0.2.15', 33333, '10.0.2.2', port, [...Buffer.from('ping')])));
  await until(() => got.length === 1, 'the echo');
  assert.match(tcpdump(got)[0]!, new RegExp(`10\\.0\\.2\\.2\\.${port} > 10\\.0\\.2\\.15\\.33333: \\[udp sum ok\\] UDP, length 9`));
  assert.is(Buffer.from(got[0]!.subarray(42, 51)).toString(), 'echo:ping');
  assert.is(got[0]!.length, 60, 'padded to the Ethernet minimum');
  net.close(); srv.close();
});

test.run();
