/**
 * Outbound UDP: each guest (address, port) gets a host UDP socket; datagrams to 10.0.2.2 reach the
 * host's 127.0.0.1, the rest go where the guest sent them, and replies come back from the address
 * the guest used. Bindings are bounded and expire when idle.
 */
import { GATEWAY_IP, ipToString, parseIpv4 } from './packet.js';
import { UDP_PAYLOAD, type IpOutput } from './user-network.js';
import type { NetProvider, UdpHandle } from './provider.js';

const MAX_BINDINGS = 64;
const IDLE_MS = 60_000;

interface Binding { socket: UdpHandle; guestIp: number; guestPort: number; lastUse: number }

/** The host address the guest means by `ip`. */
export const hostAddressFor = (ip: number): string => (ip === GATEWAY_IP ? '127.0.0.1' : ipToString(ip));
/** The address the guest should see for a host address (the host's loopback is the gateway). */
export function guestAddressFor(host: string): number {
  const ip = parseIpv4(host.startsWith('::ffff:') ? host.slice(7) : host);
  return ip >>> 24 === 127 ? GATEWAY_IP : ip;
}

export class UdpNat {
  private readonly bindings = new Map<string, Binding>();

  constructor(private readonly net: IpOutput, private readonly provider: NetProvider | null) {}

  input(f: Uint8Array, src: number, sport: number, dst: number, dport: number, p: number, len: number): void {
    const s = this.net.stats;
    if (!this.provider) { s.dropUnreachable++; return; }
    if (dport === 0) { s.dropBadHeader++; return; }
    const key = `${src}:${sport}`;
    let b = this.bindings.get(key);
    const now = Date.now();
    if (!b) {
      this.expire(now);
      if (this.bindings.size >= MAX_BINDINGS) { s.dropTableFull++; return; }
      const binding: Binding = {
        guestIp: src, guestPort: sport, lastUse: now,
        socket: this.provider.bindUdp((data, ip, port) => this.reply(binding, data, ip, port)),
      };
      this.bindings.set(key, b = binding);
    }
    b.lastUse = now;
    b.socket.send(f.slice(p, p + len), hostAddressFor(dst), dport);
  }

  close(): void {
    for (const b of this.bindings.values()) b.socket.close();
    this.bindings.clear();
  }

  private reply(b: Binding, data: Uint8Array, ip: string, port: number): void {
    const from = guestAddressFor(ip);
    if (from < 0 || data.length > this.net.out.length - UDP_PAYLOAD) { this.net.stats.dropOversized++; return; }
    b.lastUse = Date.now();
    this.net.out.set(data, UDP_PAYLOAD);
    this.net.emitUdp(from, port, b.guestIp, b.guestPort, data.length);
  }

  private expire(now: number): void {
    for (const [k, b] of this.bindings) {
      if (now - b.lastUse > IDLE_MS) { b.socket.close(); this.bindings.delete(k); }
    }
  }
}
