// Frames as a guest would send them, built independently of host/net (own checksum), and tcpdump as
// the independent reader of what the stack sends back.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const GUEST_MAC = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
export const GW_MAC = [0x52, 0x55, 0x0a, 0x00, 0x02, 0x02];
export const BCAST = [255, 255, 255, 255, 255, 255];
export const ip = (s: string): number[] => s.split('.').map(Number);

function csum(bytes: number[]): number {
  let s = 0;
  for (let i = 0; i < bytes.length; i += 2) s += (bytes[i]! << 8) + (bytes[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}
const be16 = (v: number) => [(v >> 8) & 255, v & 255];
const be32 = (v: number) => [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];

export function eth(dst: number[], src: number[], type: number, payload: number[]): Uint8Array {
  return Uint8Array.from([...dst, ...src, ...be16(type), ...payload]);
}

export function ipv4(src: string, dst: string, proto: number, payload: number[], o: { id?: number; frag?: number; ttl?: number } = {}): number[] {
  const h = [0x45, 0, ...be16(20 + payload.length), ...be16(o.id ?? 1), ...be16(o.frag ?? 0x4000), o.ttl ?? 64, proto, 0, 0, ...ip(src), ...ip(dst)];
  const c = csum(h);
  h[10] = c >> 8; h[11] = c & 255;
  return [...h, ...payload];
}

export function icmpEcho(id: number, seq: number, data: number[], type = 8): number[] {
  const m = [type, 0, 0, 0, ...be16(id), ...be16(seq), ...data];
  const c = csum(m);
  m[2] = c >> 8; m[3] = c & 255;
  return m;
}

function pseudo(src: string, dst: string, proto: number, len: number): number[] {
  return [...ip(src), ...ip(dst), 0, proto, ...be16(len)];
}

export function udp(src: string, sport: number, dst: string, dport: number, data: number[]): number[] {
  const m = [...be16(sport), ...be16(dport), ...be16(8 + data.length), 0, 0, ...data];
  const c = csum([...pseudo(src, dst, 17, m.length), ...m]) || 0xffff;
  m[6] = c >> 8; m[7] = c & 255;
  return m;
}

export const TCP = { FIN: 1, SYN: 2, RST: 4, PSH: 8, ACK: 16 };
export function tcp(src: string, sport: number, dst: string, dport: number, seq: number, ack: number, flags: number, data: number[] = [], o: { window?: number; mss?: number } = {}): number[] {
  const opts = o.mss ? [2, 4, ...be16(o.mss)] : [];
  const hl = 20 + opts.length;
  const m = [...be16(sport), ...be16(dport), ...be32(seq), ...be32(ack), (hl / 4) << 4, flags, ...be16(o.window ?? 65535), 0, 0, 0, 0, ...opts, ...data];
  const c = csum([...pseudo(src, dst, 6, m.length), ...m]);
  m[16] = c >> 8; m[17] = c & 255;
  return m;
}

export function arpRequest(senderMac: number[], senderIp: string, targetIp: string): Uint8Array {
  return eth(BCAST, senderMac, 0x0806, [0, 1, 8, 0, 6, 4, 0, 1, ...senderMac, ...ip(senderIp), 0, 0, 0, 0, 0, 0, ...ip(targetIp)]);
}

export const guestIp = (src: string, dst: string, proto: number, payload: number[], o?: Parameters<typeof ipv4>[4]) =>
  eth(GW_MAC, GUEST_MAC, 0x0800, ipv4(src, dst, proto, payload, o));

/** Writes frames to a pcap file (independent writer, big-endian header) and returns tcpdump's decoding, one line per frame. */
export function tcpdump(frames: Uint8Array[], extra: string[] = []): string[] {
  const parts: number[] = [0xa1, 0xb2, 0xc3, 0xd4, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 1];
  for (const f of frames) parts.push(...be32(0), ...be32(0), ...be32(f.length), ...be32(f.length), ...f);
  const dir = mkdtempSync(join(tmpdir(), 'ts86-net-'));
  try {
    writeFileSync(join(dir, 'x.pcap'), Uint8Array.from(parts));
    return tcpdumpFile(join(dir, 'x.pcap'), extra);
  } finally { rmSync(dir, { recursive: true, force: true }); }
}

/** tcpdump -vv's reading of a capture file: one line per packet (continuation lines joined). */
export function tcpdumpFile(path: string, extra: string[] = []): string[] {
  const r = spawnSync('tcpdump', ['-r', path, '-nn', '-e', '-vv', '-t', ...extra], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tcpdump failed: ${r.stderr}`);
  const lines: string[] = [];
  for (const l of r.stdout.split('\n')) {
    if (!l) continue;
    if (/^\s/.test(l) && lines.length) lines[lines.length - 1] += ' ' + l.trim();
    else lines.push(l);
  }
  return lines;
}
