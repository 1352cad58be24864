/**
 * Ethernet/IPv4 frame layout, the user-mode network's addresses and the Internet checksum
 * (RFC 791, 792, 793, 768, 826, 1071). Browser-safe: no Node built-ins.
 */

/** Largest frame accepted or produced: 14-byte Ethernet header + 1500-byte MTU (no FCS, no VLAN tag). */
export const MAX_FRAME = 1514;
export const MTU = 1500;
export const ETH_HLEN = 14;

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_IPV6 = 0x86dd;

export const PROTO_ICMP = 1;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;

/** QEMU's user network (design.md §4). Addresses are unsigned 32-bit numbers. */
export const NET_ADDR = 0x0a000200;
export const NET_MASK = 0xffffff00;
export const GATEWAY_IP = 0x0a000202;
export const DNS_IP = 0x0a000203;
export const GUEST_IP = 0x0a00020f;
export const BROADCAST_IP = 0xffffffff;
/** As slirp: 52:55 followed by the IPv4 address it stands for. */
export const GATEWAY_MAC = Uint8Array.of(0x52, 0x55, 0x0a, 0x00, 0x02, 0x02);
export const DNS_MAC = Uint8Array.of(0x52, 0x55, 0x0a, 0x00, 0x02, 0x03);

export const rd16 = (b: Uint8Array, o: number): number => (b[o]! << 8) | b[o + 1]!;
export const rd32 = (b: Uint8Array, o: number): number => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
export function wr16(b: Uint8Array, o: number, v: number): void { b[o] = v >>> 8; b[o + 1] = v; }
export function wr32(b: Uint8Array, o: number, v: number): void { b[o] = v >>> 24; b[o + 1] = v >>> 16; b[o + 2] = v >>> 8; b[o + 3] = v; }

export const inNet = (ip: number): boolean => ((ip & NET_MASK) >>> 0) === NET_ADDR;

/** One's-complement sum of 16-bit words (odd trailing byte padded with zero), not folded. */
export function sum16(b: Uint8Array, off: number, len: number, acc = 0): number {
  const end = off + (len & ~1);
  for (let i = off; i < end; i += 2) acc += (b[i]! << 8) | b[i + 1]!;
  if (len & 1) acc += b[end]! << 8;
  return acc;
}

/** Folds a sum to 16 bits and complements it: the value to store in a checksum field. */
export function fold(acc: number): number {
  while (acc > 0xffff) acc = (acc & 0xffff) + Math.floor(acc / 0x10000);
  return ~acc & 0xffff;
}

/** Sum of the TCP/UDP pseudo-header (RFC 793 §3.1, RFC 768). */
export function pseudoSum(src: number, dst: number, proto: number, len: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + proto + len;
}

export function ipToString(ip: number): string {
  return `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
}

/** Dotted-quad IPv4 text to a number, or -1 when it is not one. */
export function parseIpv4(s: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return -1;
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const n = Number(m[i]);
    if (n > 255) return -1;
    v = v * 256 + n;
  }
  return v;
}

export const macToString = (b: Uint8Array, o = 0): string =>
  Array.from(b.subarray(o, o + 6), (x) => x.toString(16).padStart(2, '0')).join(':');
