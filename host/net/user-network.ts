/**
 * The user-mode network (`--net user`, like QEMU's slirp): a virtual gateway at 10.0.2.2 and DNS
 * at 10.0.2.3 on 10.0.2.0/24. Frame in (`send`), frame out (`onReceive`). ARP, ICMP echo and the
 * IPv4 checks live here; DHCP, DNS, UDP and TCP in their own files. Replies that need no host I/O
 * (ARP, ping, DHCP) are delivered synchronously inside `send`, so the virtual clock stays
 * deterministic. Outgoing frames are built in one reused buffer: `onReceive` must copy what it
 * keeps and must not call `send` from inside the call. Browser-safe: host sockets come only
 * through a NetProvider (none in a page).
 */
import type { NetBackend } from '../../devices/net-backend.js';
import { GuestLog, type LogSink } from '../../bus/pci/guest-log.js';
import {
  BROADCAST_IP, DNS_IP, DNS_MAC, ETH_HLEN, ETHERTYPE_ARP, ETHERTYPE_IPV4, GATEWAY_IP, GATEWAY_MAC,
  MAX_FRAME, NET_ADDR, PROTO_ICMP, PROTO_TCP, PROTO_UDP, fold, inNet, pseudoSum, rd16, rd32, sum16, wr16, wr32,
} from './packet.js';
import { newNetStats, type NetStats } from './stats.js';
import type { NetProvider } from './provider.js';
import { DhcpServer } from './dhcp.js';
import { DnsServer } from './dns.js';
import { UdpNat } from './udp-nat.js';
import { TcpNat, type HostForward } from './tcp.js';

const IP_OFF = ETH_HLEN;
/** Where the payload of an IPv4 packet without options starts in an outgoing frame. */
export const IP_PAYLOAD = ETH_HLEN + 20;
export const UDP_PAYLOAD = IP_PAYLOAD + 8;
const ETH_MIN = 60;

/** What the protocol modules use to send: they write their payload into `out` first. */
export interface IpOutput {
  readonly out: Uint8Array;
  readonly stats: NetStats;
  readonly log: GuestLog;
  /** Sends `out[IP_PAYLOAD, IP_PAYLOAD + len)` as an IPv4 packet; false when the destination's MAC is unknown. */
  emitIp(proto: number, src: number, dst: number, len: number, dstMac?: Uint8Array): boolean;
  /** Sends `out[UDP_PAYLOAD, UDP_PAYLOAD + len)` as a UDP datagram. */
  emitUdp(src: number, sport: number, dst: number, dport: number, len: number, dstMac?: Uint8Array): boolean;
}

export interface UserNetworkOptions {
  /** Host sockets and name lookups; without one only the gateway itself answers (a browser page). */
  provider?: NetProvider | null;
  /** Where rate-limited diagnostics go (default console.warn). */
  log?: LogSink;
}

export class UserNetwork implements NetBackend, IpOutput {
  onReceive: ((frame: Uint8Array) => void) | null = null;
  readonly stats: NetStats = newNetStats();
  readonly out = new Uint8Array(MAX_FRAME);
  readonly log: GuestLog;
  /** Views of `out` by length, made once each, so sending allocates nothing. */
  private readonly views: (Uint8Array | undefined)[] = [];
  /** MAC addresses of hosts on 10.0.2.0/24, by last octet (learned from ARP and IPv4 sources). */
  private readonly arp = new Uint8Array(256 * 6);
  private readonly arpKnown = new Uint8Array(256);
  private ipId = 0;
  readonly dhcp: DhcpServer;
  private readonly dns: DnsServer;
  private readonly udp: UdpNat;
  readonly tcp: TcpNat;

  constructor(opts: UserNetworkOptions = {}) {
    this.log = new GuestLog('net user', opts.log);
    const provider = opts.provider ?? null;
    this.dhcp = new DhcpServer(this);
    this.dns = new DnsServer(this, provider);
    this.udp = new UdpNat(this, provider);
    this.tcp = new TcpNat(this, provider);
  }

  /** Listens on the host for each `--hostfwd`; rejects with a readable message. */
  async start(hostfwd: readonly HostForward[]): Promise<void> {
    for (const f of hostfwd) await this.tcp.forward(f);
  }

  send(frame: Uint8Array): void {
    this.stats.rxFrames++;
    try { this.input(frame); } catch (e) {
      // A bug, not the guest's fault; counted so the fuzz test can insist on zero.
      this.stats.internalErrors++;
      this.log.warn(`internal error on a ${frame.length}-byte frame: ${(e as Error).stack ?? e}`);
    }
  }

  close(): void {
    this.udp.close();
    this.tcp.close();
    this.dns.close();
    this.onReceive = null;
  }

  /** The MAC learned for an address of 10.0.2.0/24, or null. */
  macOf(ip: number): Uint8Array | null {
    const i = ip & 255;
    return inNet(ip) && this.arpKnown[i] ? this.arp.subarray(i * 6, i * 6 + 6) : null;
  }

  private learn(ip: number, f: Uint8Array, macOff: number): void {
    if (!inNet(ip) || ip === GATEWAY_IP || ip === DNS_IP || (ip & 255) === 0 || (ip & 255) === 255) return;
    if (f[macOff]! & 1) return; // a multicast MAC is nobody's address
    const i = ip & 255, a = this.arp;
    for (let k = 0; k < 6; k++) a[i * 6 + k] = f[macOff + k]!; // no subarray view: this runs for every frame
    this.arpKnown[i] = 1;
  }

  private input(f: Uint8Array): void {
    const n = f.length, s = this.stats;
    if (n < ETH_HLEN) { s.dropShort++; return; }
    if (n > MAX_FRAME) { s.dropOversized++; return; }
    if (!(isBroadcast(f) || macIs(f, 0, GATEWAY_MAC) || macIs(f, 0, DNS_MAC))) { s.dropNotForUs++; return; }
    const type = rd16(f, 12);
    if (type === ETHERTYPE_ARP) this.arpInput(f, n);
    else if (type === ETHERTYPE_IPV4) this.ipInput(f, n);
    else s.dropEthertype++;
  }

  /** RFC 826: answer requests for the gateway and DNS addresses, learn every sender. */
  private arpInput(f: Uint8Array, n: number): void {
    const s = this.stats;
    if (n < ETH_HLEN + 28) { s.dropShort++; return; }
    const a = ETH_HLEN;
    if (rd16(f, a) !== 1 || rd16(f, a + 2) !== ETHERTYPE_IPV4 || f[a + 4] !== 6 || f[a + 5] !== 4) { s.dropBadHeader++; return; }
    const op = rd16(f, a + 6), spa = rd32(f, a + 14), tpa = rd32(f, a + 24);
    if (op !== 1 && op !== 2) { s.dropBadHeader++; return; }
    this.learn(spa, f, a + 8);
    if (op !== 1) return;
    const mac = tpa === GATEWAY_IP ? GATEWAY_MAC : tpa === DNS_IP ? DNS_MAC : null;
    if (!mac) { s.dropNotForUs++; return; }
    if (f[a + 8]! & 1) { s.dropBadHeader++; return; }
    const o = this.out;
    o.set(f.subarray(a + 8, a + 14), 0);
    o.set(mac, 6);
    wr16(o, 12, ETHERTYPE_ARP);
    wr16(o, a, 1); wr16(o, a + 2, ETHERTYPE_IPV4); o[a + 4] = 6; o[a + 5] = 4; wr16(o, a + 6, 2);
    o.set(mac, a + 8); wr32(o, a + 14, tpa);
    o.set(f.subarray(a + 8, a + 14), a + 18); wr32(o, a + 24, spa);
    o.fill(0, a + 28, ETH_MIN);
    s.arpReplies++;
    this.deliver(ETH_MIN);
  }

  /** RFC 791 checks, then the transport. Fragments are dropped (the guest's MTU is the link's). */
  private ipInput(f: Uint8Array, n: number): void {
    const s = this.stats, i = IP_OFF;
    if (n < i + 20) { s.dropShort++; return; }
    const vihl = f[i]!, ihl = (vihl & 15) * 4, total = rd16(f, i + 2);
    if (vihl >> 4 !== 4 || ihl < 20 || total < ihl || i + total > n) { s.dropBadHeader++; return; }
    if (fold(sum16(f, i, ihl)) !== 0) { s.dropBadChecksum++; return; }
    if (rd16(f, i + 6) & 0x3fff) { s.dropFragment++; return; }
    const proto = f[i + 9]!, src = rd32(f, i + 12), dst = rd32(f, i + 16);
    this.learn(src, f, 6);
    const p = i + ihl, len = total - ihl;
    if (proto === PROTO_ICMP) this.icmpInput(f, src, dst, p, len);
    else if (proto === PROTO_UDP) this.udpInput(f, src, dst, p, len);
    else if (proto === PROTO_TCP) {
      if (len < 20 || fold(sum16(f, p, len, pseudoSum(src, dst, PROTO_TCP, len))) !== 0) { s.dropBadChecksum++; return; }
      if (!this.fromGuest(src) || !unicast(dst)) { s.dropBadHeader++; return; }
      this.tcp.input(f, src, dst, p, len);
    }
    else s.dropUnknown++;
  }

  /** A source address a guest on this segment may use for connections. */
  private fromGuest(ip: number): boolean {
    return inNet(ip) && ip !== GATEWAY_IP && ip !== DNS_IP && (ip & 255) !== 0 && (ip & 255) !== 255;
  }

  /** RFC 792 echo: the gateway and the DNS address answer; nothing else is reachable by ICMP. */
  private icmpInput(f: Uint8Array, src: number, dst: number, p: number, len: number): void {
    const s = this.stats;
    if (len < 8) { s.dropShort++; return; }
    if (f[p] !== 8 || f[p + 1] !== 0) { s.dropUnknown++; return; }
    if (dst !== GATEWAY_IP && dst !== DNS_IP) { s.dropUnreachable++; return; }
    if (!this.fromGuest(src)) { s.dropBadHeader++; return; }
    if (len > MAX_FRAME - IP_PAYLOAD) { s.dropOversized++; return; }
    if (fold(sum16(f, p, len)) !== 0) { s.dropBadChecksum++; return; }
    const o = this.out;
    // Without IP options the message sits where the reply needs it: copy the whole frame (no
    // view to allocate) and rewrite the headers around it.
    if (p === IP_PAYLOAD) o.set(f);
    else o.set(f.subarray(p, p + len), IP_PAYLOAD);
    // Echo reply: type 8 -> 0, so the checksum grows by 0x0800 (RFC 1624 incremental update).
    o[IP_PAYLOAD] = 0;
    const c = (~rd16(o, IP_PAYLOAD + 2) & 0xffff) - 0x0800;
    wr16(o, IP_PAYLOAD + 2, ~(c < 0 ? c + 0xffff : c) & 0xffff);
    s.icmpEchoReplies++;
    for (let m = 0; m < 6; m++) o[m] = f[6 + m]!; // back to the sender's MAC even before ARP has taught it
    this.emitIpTo(PROTO_ICMP, dst, src, len);
  }

  /** RFC 768: checksum 0 means none; DHCP and DNS are answered here, the rest goes out through NAT. */
  private udpInput(f: Uint8Array, src: number, dst: number, p: number, len: number): void {
    const s = this.stats;
    if (len < 8) { s.dropShort++; return; }
    const ulen = rd16(f, p + 4);
    if (ulen < 8 || ulen > len) { s.dropBadHeader++; return; }
    if (rd16(f, p + 6) !== 0 && fold(sum16(f, p, ulen, pseudoSum(src, dst, PROTO_UDP, ulen))) !== 0) { s.dropBadChecksum++; return; }
    const sport = rd16(f, p), dport = rd16(f, p + 2);
    s.udpIn++;
    if (dport === 67 && (dst === BROADCAST_IP || dst === GATEWAY_IP || dst === (NET_ADDR | 255))) {
      this.dhcp.input(f, p + 8, ulen - 8);
      return;
    }
    if (!this.fromGuest(src) || !unicast(dst)) { s.dropBadHeader++; return; }
    if (dst === DNS_IP) {
      if (dport === 53) this.dns.input(f, src, sport, p + 8, ulen - 8);
      else s.dropUnreachable++;
      return;
    }
    this.udp.input(f, src, sport, dst, dport, p + 8, ulen - 8);
  }

  emitUdp(src: number, sport: number, dst: number, dport: number, len: number, dstMac?: Uint8Array): boolean {
    const o = this.out, u = IP_PAYLOAD, ulen = len + 8;
    wr16(o, u, sport); wr16(o, u + 2, dport); wr16(o, u + 4, ulen); wr16(o, u + 6, 0);
    const c = fold(sum16(o, u, ulen, pseudoSum(src, dst, PROTO_UDP, ulen)));
    wr16(o, u + 6, c === 0 ? 0xffff : c); // RFC 768: a computed zero is sent as all ones
    this.stats.udpOut++;
    return this.emitIp(PROTO_UDP, src, dst, ulen, dstMac);
  }

  emitIp(proto: number, src: number, dst: number, len: number, dstMac?: Uint8Array): boolean {
    const mac = dstMac ?? this.macOf(dst);
    if (!mac) {
      this.stats.dropNoHost++;
      this.requestArp(dst);
      return false;
    }
    this.out.set(mac, 0);
    this.emitIpTo(proto, src, dst, len);
    return true;
  }

  /** Writes the Ethernet source, type and a 20-byte IPv4 header; the destination MAC is already in place. */
  private emitIpTo(proto: number, src: number, dst: number, len: number): void {
    const o = this.out, i = IP_OFF;
    o.set(src === DNS_IP ? DNS_MAC : GATEWAY_MAC, 6);
    wr16(o, 12, ETHERTYPE_IPV4);
    o[i] = 0x45; o[i + 1] = 0; wr16(o, i + 2, 20 + len);
    this.ipId = (this.ipId + 1) & 0xffff;
    wr16(o, i + 4, this.ipId);
    wr16(o, i + 6, proto === PROTO_TCP ? 0x4000 : 0); // DF on TCP: its segments fit the MTU
    o[i + 8] = 64; o[i + 9] = proto;
    wr16(o, i + 10, 0); wr32(o, i + 12, src); wr32(o, i + 16, dst);
    wr16(o, i + 10, fold(sum16(o, i, 20)));
    let end = IP_PAYLOAD + len;
    if (end < ETH_MIN) { o.fill(0, end, ETH_MIN); end = ETH_MIN; }
    this.deliver(end);
  }

  /** Asks who has `ip` (the answer is learned by arpInput), for traffic the gateway starts itself. */
  private requestArp(ip: number): void {
    if (!inNet(ip)) return;
    const o = this.out, a = ETH_HLEN;
    o.fill(0xff, 0, 6); o.set(GATEWAY_MAC, 6); wr16(o, 12, ETHERTYPE_ARP);
    wr16(o, a, 1); wr16(o, a + 2, ETHERTYPE_IPV4); o[a + 4] = 6; o[a + 5] = 4; wr16(o, a + 6, 1);
    o.set(GATEWAY_MAC, a + 8); wr32(o, a + 14, GATEWAY_IP);
    o.fill(0, a + 18, a + 24); wr32(o, a + 24, ip);
    o.fill(0, a + 28, ETH_MIN);
    this.deliver(ETH_MIN);
  }

  private deliver(len: number): void {
    const cb = this.onReceive;
    if (!cb) return;
    this.stats.txFrames++;
    cb(this.views[len] ??= this.out.subarray(0, len));
  }
}

const isBroadcast = (f: Uint8Array): boolean => (f[0]! & f[1]! & f[2]! & f[3]! & f[4]! & f[5]!) === 0xff;
const unicast = (ip: number): boolean => ip !== BROADCAST_IP && ip !== (NET_ADDR | 255) && (ip >>> 28) !== 14 && ip !== 0;

function macIs(f: Uint8Array, o: number, mac: Uint8Array): boolean {
  for (let k = 0; k < 6; k++) if (f[o + k] !== mac[k]) return false;
  return true;
}
