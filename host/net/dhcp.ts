/**
 * DHCP server (RFC 2131, options RFC 2132) for the user network: each client MAC gets an address
 * from 10.0.2.15 up (16 of them, as slirp), the gateway as router and server, 10.0.2.3 as DNS.
 */
import { BROADCAST_IP, DNS_IP, GATEWAY_IP, GUEST_IP, NET_MASK, NET_ADDR, rd32, wr16, wr32 } from './packet.js';
import { UDP_PAYLOAD, type IpOutput } from './user-network.js';

const BOOTP_FIXED = 236;
const COOKIE = 0x63825363;
const LEASES = 16;
export const LEASE_SECONDS = 86400;

const DISCOVER = 1, OFFER = 2, REQUEST = 3, DECLINE = 4, ACK = 5, NAK = 6, RELEASE = 7, INFORM = 8;

export class DhcpServer {
  /** Client MAC (as 12 hex digits) per lease slot, '' when free. */
  private readonly leases: string[] = new Array(LEASES).fill('');
  private readonly broadcastMac = new Uint8Array(6).fill(0xff);
  private readonly clientMac = new Uint8Array(6);

  constructor(private readonly net: IpOutput) {}

  /** The address leased to a MAC, or 0. */
  addressOf(mac: string): number {
    const k = this.leases.indexOf(mac);
    return k < 0 ? 0 : GUEST_IP + k;
  }

  input(f: Uint8Array, p: number, len: number): void {
    const s = this.net.stats;
    if (len < BOOTP_FIXED + 4) { s.dropShort++; return; }
    if (f[p] !== 1 || f[p + 1] !== 1 || f[p + 2] !== 6 || rd32(f, p + BOOTP_FIXED) !== COOKIE) { s.dropBadHeader++; return; }
    let type = 0, requested = 0;
    // Options: code, length, value; 0 pads, 255 ends. A truncated option ends the list.
    for (let o = p + BOOTP_FIXED + 4, end = p + len; o < end;) {
      const code = f[o]!;
      if (code === 255) break;
      if (code === 0) { o++; continue; }
      if (o + 2 > end || o + 2 + f[o + 1]! > end) break;
      const l = f[o + 1]!;
      if (code === 53 && l === 1) type = f[o + 2]!;
      if (code === 50 && l === 4) requested = rd32(f, o + 2);
      o += 2 + l;
    }
    if (type === 0) { s.dropBadHeader++; return; }
    const chaddr = f.subarray(p + 28, p + 34);
    if (chaddr[0]! & 1) { s.dropBadHeader++; return; }
    const mac = hex(chaddr);
    const ciaddr = rd32(f, p + 12);
    let slot = this.leases.indexOf(mac);
    switch (type) {
      case DISCOVER: {
        if (slot < 0) slot = this.leases.indexOf('');
        if (slot < 0) { s.dropTableFull++; return; }
        this.leases[slot] = mac;
        this.reply(f, p, OFFER, GUEST_IP + slot);
        return;
      }
      case REQUEST: {
        const want = requested || ciaddr;
        if (slot < 0 && want >= GUEST_IP && want < GUEST_IP + LEASES && this.leases[want - GUEST_IP] === '') {
          slot = want - GUEST_IP; // a client renewing a lease from before a restart
          this.leases[slot] = mac;
        }
        if (slot >= 0 && want === GUEST_IP + slot) this.reply(f, p, ACK, want);
        else this.reply(f, p, NAK, 0);
        return;
      }
      case INFORM: this.reply(f, p, ACK, 0); return;
      case RELEASE: if (slot >= 0) this.leases[slot] = ''; return;
      case DECLINE: return;
      default: s.dropUnknown++;
    }
  }

  private reply(f: Uint8Array, p: number, type: number, yiaddr: number): void {
    const o = this.net.out, b = UDP_PAYLOAD;
    o.fill(0, b, b + 300);
    o[b] = 2; o[b + 1] = 1; o[b + 2] = 6;
    o.set(f.subarray(p + 4, p + 8), b + 4); // xid
    o.set(f.subarray(p + 10, p + 12), b + 10); // flags
    if (type !== NAK) o.set(f.subarray(p + 12, p + 16), b + 12); // ciaddr
    wr32(o, b + 16, yiaddr);
    if (type !== NAK) wr32(o, b + 20, GATEWAY_IP); // siaddr
    o.set(f.subarray(p + 28, p + 44), b + 28); // chaddr
    wr32(o, b + BOOTP_FIXED, COOKIE);
    let q = b + BOOTP_FIXED + 4;
    const opt = (code: number, v: number) => { o[q] = code; o[q + 1] = 4; wr32(o, q + 2, v); q += 6; };
    o[q++] = 53; o[q++] = 1; o[q++] = type;
    opt(54, GATEWAY_IP);
    if (type !== NAK) {
      if (type !== ACK || yiaddr !== 0) opt(51, LEASE_SECONDS);
      opt(1, NET_MASK);
      opt(3, GATEWAY_IP);
      opt(6, DNS_IP);
      opt(28, (NET_ADDR | 255) >>> 0);
      o[q++] = 26; o[q++] = 2; wr16(o, q, 1500); q += 2; // interface MTU
    }
    o[q++] = 255;
    const len = Math.max(300, q - b); // BOOTP's minimum message
    this.clientMac.set(f.subarray(p + 28, p + 34));
    // RFC 2131 §4.1: broadcast when the client asks for it, else to its hardware address.
    const toBroadcast = (f[p + 10]! & 0x80) !== 0 || type === NAK;
    this.net.stats.dhcpReplies++;
    this.net.emitUdp(GATEWAY_IP, 67, BROADCAST_IP, 68, len, toBroadcast ? this.broadcastMac : this.clientMac);
  }
}

const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
